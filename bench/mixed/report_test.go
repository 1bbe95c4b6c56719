package main

import (
	"strings"
	"testing"

	"paimon/bench/internal/benchkit"
)

func TestVerdict(t *testing.T) {
	ok := func(rate int) *report {
		return &report{Planned: int64(rate) * 30, Sent: int64(rate) * 30, Generator: generatorResult{KeptUp: true},
			Overall: kindResult{RatePerSec: float64(rate), LatencyMs: benchkit.LatencyMs{P99: 1.2}}}
	}
	for _, tc := range []struct {
		name   string
		rate   int
		change func(r *report)
		met    bool
		want   string
	}{
		{"met", 2000, func(*report) {}, true, "MET: P99 1.20ms < 5 ms at 2,000 req/s"},
		{"above the target's rate", 5000, func(*report) {}, true, "MET"},
		{"below the target's rate", 1000, func(*report) {}, false, "the target is at 2,000 req/s"},
		{"slow", 2000, func(r *report) { r.Overall.LatencyMs.P99 = 5 }, false, "NOT MET at 2,000 req/s: P99 5.00ms ≥ 5 ms"},
		{"errors", 2000, func(r *report) { r.Overall.Non2xx, r.Overall.Transport = 2, 1 }, false, "3 failed requests"},
		{"rate not held", 2000, func(r *report) { r.Overall.RatePerSec = 1900 }, false, "rate was not held (1,900 of 2,000"},
		{"generator behind", 2000, func(r *report) { r.Generator.KeptUp = false }, true, "MET: P99 1.20ms < 5 ms at 2,000 req/s of mixed load, no errors (the generator sent late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok(tc.rate)
			tc.change(r)
			r.setVerdict(tc.rate)
			if r.Met != tc.met || !strings.Contains(r.Verdict, tc.want) {
				t.Errorf("met %v, verdict %q; want %v and %q", r.Met, r.Verdict, tc.met, tc.want)
			}
		})
	}
}

func TestCacheCounters(t *testing.T) {
	const metrics = `# TYPE paimon_cache_requests_total counter
paimon_cache_requests_total{result="hit"} 2606
paimon_cache_requests_total{result="miss"} 169
paimon_cache_requests_total{result="stale"} 1.5e3
paimon_cache_bytes 12345
`
	got := cacheCounters([]byte(metrics))
	if len(got) != 3 || got["hit"] != 2606 || got["miss"] != 169 || got["stale"] != 1500 {
		t.Errorf("got %v", got)
	}
}
