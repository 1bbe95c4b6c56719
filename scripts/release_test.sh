#!/usr/bin/env bash
# Checks that the release is reproducible: builds it twice, from two copies of the tree in two
# folders (no .git, different paths), and compares the SHA256SUMS; each
# binary must be static and print the stamped version. Slow (two builds per architecture, minutes
# on a cold cache): run by hand or by `go test ./systest -run TestReleaseReproducible -release`.
#
#   scripts/release_test.sh          (ARCHES as in release.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/paimon-release-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

export RELEASE=${RELEASE:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
export COMMIT=${COMMIT:-$(git rev-parse HEAD)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

# Two copies of the working tree as it is now (tracked and new files, not ignored ones: a dirty
# tree compares too), in two folders without .git; each builds the release.
for d in src1 src2; do
	mkdir -p "$tmp/$d"
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/$d/" 2>/dev/null || true
done
(cd "$tmp/src1" && scripts/release.sh "$tmp/a" >/dev/null)
(cd "$tmp/src2" && scripts/release.sh "$tmp/b" >/dev/null)

if ! cmp -s "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS"; then
	echo "release_test: the two builds differ" >&2
	diff "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS" >&2 || true
	exit 1
fi
for f in "$tmp"/a/paimon-*; do
	if ! go version -m "$f" | grep -q "CGO_ENABLED=0"; then
		echo "release_test: $f is not a static (CGO_ENABLED=0) build" >&2
		exit 1
	fi
done
native="$tmp/a/paimon-$RELEASE-linux-$(go env GOARCH)"
if [ -x "$native" ]; then
	got=$("$native" version)
	case "$got" in
	*"paimon $RELEASE (commit $COMMIT, built "*) ;;
	*) echo "release_test: paimon version printed: $got" >&2; exit 1 ;;
	esac
	echo "release_test: $got"
fi
echo "release_test: reproducible:"
cat "$tmp/a/SHA256SUMS"
