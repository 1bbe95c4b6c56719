package main

import (
	"net/netip"

	"paimon/bench/internal/benchkit"
)

// maxPerWorker is the most connections one worker process holds by default: the machine's
// open-file limit (RLIMIT_NOFILE, 20,000 here and not raisable) is per process, and a worker
// also needs descriptors of its own.
const maxPerWorker = 9000

// sourcesNeeded is how many source addresses n connections use.
func sourcesNeeded(n, perIP int) int { return (n + perIP - 1) / perIP }

// workerSource is the address connection i dials from: 127.0.0.2 onwards, perIP each. The
// runner's own requests (the writes, /metrics) come from 127.0.0.1: sharing it with
// connections would spend the node's http.max_conns_per_ip on them and refuse writes (429).
func workerSource(i, perIP int) (netip.Addr, error) {
	return benchkit.SourceAddr(i+perIP, perIP)
}

// span is the connections one worker opens: numbers first to first+count-1.
type span struct {
	First int `json:"first"`
	Count int `json:"count"`
}

// splitConns spreads n connections over workers as evenly as possible (counts differ by at
// most one), in order.
func splitConns(n, workers int) []span {
	spans := make([]span, workers)
	first := 0
	for w := range spans {
		c := n / workers
		if w < n%workers {
			c++
		}
		spans[w] = span{First: first, Count: c}
		first += c
	}
	return spans
}

// defaultWorkers is the fewest workers that hold n connections with at most maxPerWorker each.
func defaultWorkers(n int) int { return max(1, (n+maxPerWorker-1)/maxPerWorker) }
