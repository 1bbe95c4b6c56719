#!/usr/bin/env bash
# Builds the release binaries: static (CGO_ENABLED=0), reproducible (-trimpath, no build id, no
# VCS stamp, the build date taken from the commit, fixed file times), for linux/amd64 and
# linux/arm64, with the release, commit and build date stamped into version/ (`paimon version`),
# and a SHA256SUMS file. The same commit gives the same bytes wherever it is built (same Go
# version): scripts/release_test.sh checks that.
#
#   scripts/release.sh [OUT]          (default OUT: dist/)
#
# Environment: RELEASE (default: git describe), COMMIT (default: git rev-parse HEAD),
# SOURCE_DATE_EPOCH (default: the commit's time), ARCHES (default: "amd64 arm64").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}

RELEASE=${RELEASE:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
ARCHES=${ARCHES:-amd64 arm64}
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$out"
out=$(cd "$out" && pwd)
ldflags="-s -w -buildid= -X paimon/version.release=$RELEASE -X paimon/version.commit=$COMMIT -X paimon/version.date=$DATE"
files=()
for arch in $ARCHES; do
	name="paimon-$RELEASE-linux-$arch"
	echo "release: $name (commit $COMMIT, date $DATE)" >&2
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS= \
		go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/$name" ./cmd/paimon
	touch -d "@$SOURCE_DATE_EPOCH" "$out/$name"
	files+=("$name")
done
(cd "$out" && sha256sum "${files[@]}" >SHA256SUMS && touch -d "@$SOURCE_DATE_EPOCH" SHA256SUMS)
cat "$out/SHA256SUMS"
