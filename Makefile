# Shortcuts; the README's two commands work without make.

.PHONY: run test build bench bench-http bench-go

run:
	go run ./cmd/paimon serve

test:
	./scripts/test.sh

build:
	go build -o paimon ./cmd/paimon

# Go benchmarks (handler, FSM apply, log stores) and the wrk-based HTTP runner.
bench: bench-go bench-http

bench-go:
	go test -run XXX -bench . -benchtime 2s ./server/ ./cache/
	go test -run XXX -bench 'FSMApply|LogStore' ./raftstore/

bench-http:
	go run ./bench/httpbench
