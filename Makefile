# Shortcuts; the README's two commands work without make.

.PHONY: run test build release bench bench-http bench-go contracts

run:
	go run ./cmd/paimon serve

test:
	./scripts/test.sh

# The release is the nearest tag (v0.1.0, or v0.1.0-3-gabcdef1 between tags); `paimon version`
# prints it with the commit and the build date. Without make, `go build` falls back to the commit
# and time Go stamps into the binary and the release "devel".
RELEASE ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X paimon/version.release=$(RELEASE) -X paimon/version.commit=$(COMMIT) -X paimon/version.date=$(DATE)

# Rebuilds the fund contracts' committed ABIs and bytecode from contracts/*.sol (needs node and
# npm: solc is installed from npm into a cache folder the first time).
contracts:
	go generate ./internal/fundchain

build:
	go build -ldflags "$(LDFLAGS)" -o paimon ./cmd/paimon

# Reproducible static binaries for linux/amd64 and linux/arm64 in dist/, with SHA256SUMS: the
# build date is the commit's (SOURCE_DATE_EPOCH), so building the same commit twice gives the
# same bytes (scripts/release_test.sh checks it).
release:
	RELEASE=$(RELEASE) COMMIT=$(COMMIT) ./scripts/release.sh dist

# Go benchmarks (handler, FSM apply, log stores) and the wrk-based HTTP runner.
bench: bench-go bench-http

bench-go:
	go test -run XXX -bench . -benchtime 2s ./server/ ./cache/
	go test -run XXX -bench 'FSMApply|LogStore' ./raftstore/

bench-http:
	go run ./bench/httpbench
