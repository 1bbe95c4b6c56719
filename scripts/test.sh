#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run) and as the README shows it.
#
# It starts a throwaway PostgreSQL cluster (initdb/pg_ctl as the postgres user, in a temp folder,
# on a free port on 127.0.0.1), exports its DSN as PAIMON_TEST_POSTGRES for the tests that need
# a real PostgreSQL, runs gofmt, checks that go.mod and go.sum are tidy, go vet and
# `go test -race ./...`, and stops and removes the cluster afterwards, also on failure or
# Ctrl-C. Extra arguments go to `go test`, e.g.
#   scripts/test.sh -run TestKill9 -count=1
set -euo pipefail
cd "$(dirname "$0")/.."

pgbin() {
	local b
	for b in "${PGBIN:-}" "$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || true)" 2>/dev/null)" 2>/dev/null)" /usr/lib/postgresql/*/bin; do
		if [ -n "$b" ] && [ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}
PGBIN=$(pgbin) || {
	echo "test.sh: PostgreSQL binaries (initdb, pg_ctl) not found; install PostgreSQL 15 (Debian: apt-get install -y postgresql-15) or set PGBIN" >&2
	exit 1
}
export PAIMON_TEST_PGBIN="$PGBIN"

# The console's browser tests (package console) drive Debian's headless Chromium; they fail,
# never skip, without it. Install it when missing and we may (root with apt-get).
if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing chromium for the console's browser tests"
		apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
	else
		echo "test.sh: chromium not found; the console's browser tests need it (Debian: apt-get install -y chromium)" >&2
		exit 1
	fi
fi

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pgdir=$(mktemp -d /tmp/paimon-test-pg.XXXXXX)
chmod 755 "$pgdir"
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
stop_pg() {
	as_postgres "$PGBIN/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$pgdir"
}
trap stop_pg EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "test.sh: starting a throwaway PostgreSQL ($PGBIN) on 127.0.0.1:$port in $pgdir"
as_postgres "$PGBIN/initdb" -D "$pgdir/data" -U postgres -A trust --no-sync >"$pgdir/initdb.log" 2>&1 || {
	cat "$pgdir/initdb.log" >&2
	exit 1
}
as_postgres "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 30 \
	-o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null || {
	cat "$pgdir/postgres.log" >&2
	exit 1
}
export PAIMON_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

echo "test.sh: gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "test.sh: go mod tidy"
# go.mod and go.sum list exactly what the code imports (direct dependencies not marked indirect).
if ! go mod tidy -diff; then
	echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result" >&2
	exit 1
fi
echo "test.sh: go vet"
go vet ./...
echo "test.sh: go test -race ./..."
go test -race -timeout 15m ./... "$@"
