package main

import (
	"net/netip"
	"testing"
)

func TestSourceAddrsRespectThePerIPLimit(t *testing.T) {
	const n, perIP = 20000, 1000
	count := map[netip.Addr]int{}
	for i := range n {
		a, err := workerSource(i, perIP)
		if err != nil {
			t.Fatal(err)
		}
		if !a.IsLoopback() || a.As4()[3] == 0 || a.As4()[3] == 255 || a == netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("connection %d from %s", i, a)
		}
		count[a]++
	}
	if len(count) != sourcesNeeded(n, perIP) {
		t.Errorf("%d addresses used, sourcesNeeded says %d", len(count), sourcesNeeded(n, perIP))
	}
	for a, c := range count {
		if c > perIP {
			t.Errorf("%s has %d connections", a, c)
		}
	}
}

func TestSplitConns(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{19800, 3}, {20000, 3}, {500, 1}, {7, 3}, {3, 3}} {
		spans := splitConns(tc.n, tc.workers)
		next, lo, hi := 0, tc.n, 0
		for _, s := range spans {
			if s.First != next {
				t.Fatalf("%+v: span %+v does not start at %d", tc, s, next)
			}
			next += s.Count
			lo, hi = min(lo, s.Count), max(hi, s.Count)
		}
		if next != tc.n || hi-lo > 1 || len(spans) != tc.workers {
			t.Errorf("%+v: %+v", tc, spans)
		}
	}
	for _, tc := range [][2]int{{1, 1}, {9000, 1}, {9001, 2}, {19800, 3}, {20000, 3}, {27001, 4}} {
		if got := defaultWorkers(tc[0]); got != tc[1] {
			t.Errorf("defaultWorkers(%d) = %d, want %d", tc[0], got, tc[1])
		}
	}
}
