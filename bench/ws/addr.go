package main

import (
	"fmt"
	"net/netip"
)

// maxPerWorker is the most connections one worker process holds by default: the machine's
// open-file limit (RLIMIT_NOFILE, 20,000 here and not raisable) is per process, and a worker
// also needs descriptors of its own.
const maxPerWorker = 9000

// maxSources is how many loopback source addresses sourceAddr can name (127.0.0.1 to
// 127.255.255.254 without those ending in .0 or .255).
const maxSources = 254 * 256 * 256

// sourceAddr returns the loopback address that connection i (numbered from 0 over every
// worker) dials from: the first perIP connections from 127.0.0.1, the next perIP from
// 127.0.0.2, and so on, skipping addresses that end in .0 or .255. The node admits at most
// push.max_conns_per_ip connections per address; spreading them keeps the node's defaults.
// Linux routes the whole of 127.0.0.0/8 to the loopback interface, so every such address can
// be bound without configuration.
func sourceAddr(i, perIP int) (netip.Addr, error) {
	if i < 0 || perIP < 1 {
		return netip.Addr{}, fmt.Errorf("source address of connection %d with %d per address", i, perIP)
	}
	k := i / perIP
	if k >= maxSources {
		return netip.Addr{}, fmt.Errorf("connection %d needs source address %d; 127.0.0.0/8 has %d usable ones", i, k+1, maxSources)
	}
	block := k / 254
	return netip.AddrFrom4([4]byte{127, byte(block >> 8), byte(block), byte(k%254 + 1)}), nil
}

// sourcesNeeded is how many source addresses n connections use.
func sourcesNeeded(n, perIP int) int { return (n + perIP - 1) / perIP }

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
