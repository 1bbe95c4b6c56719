package main

import (
	"net/netip"
	"testing"
)

func TestSourceAddr(t *testing.T) {
	for _, tc := range []struct {
		i, perIP int
		want     string
	}{
		{0, 1000, "127.0.0.1"},
		{999, 1000, "127.0.0.1"},
		{1000, 1000, "127.0.0.2"},
		{19799, 1000, "127.0.0.20"},
		{253, 1, "127.0.0.254"},
		{254, 1, "127.0.1.1"}, // .255 and .0 are skipped
		{254*256 + 3, 1, "127.1.0.4"},
		{maxSources - 1, 1, "127.255.255.254"},
	} {
		got, err := sourceAddr(tc.i, tc.perIP)
		if err != nil || got.String() != tc.want {
			t.Errorf("sourceAddr(%d, %d) = %v, %v; want %s", tc.i, tc.perIP, got, err, tc.want)
		}
	}
	for _, bad := range [][2]int{{-1, 10}, {0, 0}, {maxSources, 1}} {
		if a, err := sourceAddr(bad[0], bad[1]); err == nil {
			t.Errorf("sourceAddr(%d, %d) = %v", bad[0], bad[1], a)
		}
	}
}

func TestSourceAddrsRespectThePerIPLimit(t *testing.T) {
	const n, perIP = 20000, 1000
	count := map[netip.Addr]int{}
	for i := range n {
		a, err := sourceAddr(i, perIP)
		if err != nil {
			t.Fatal(err)
		}
		if !a.IsLoopback() || a.As4()[3] == 0 || a.As4()[3] == 255 {
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
