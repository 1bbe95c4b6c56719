package main

import (
	"math"
	"testing"
)

func TestOpenFilesLimit(t *testing.T) {
	const limits = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"this machine", limits, 20000},
		{"soft below hard", "Max open files            1024                 524288               files\n", 1024},
		{"unlimited", "Max open files            unlimited            unlimited            files\n", 0},
		{"missing", "Max processes 10 10 processes\n", 0},
		{"no value", "Max open files\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := openFilesLimit([]byte(tc.text)); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// scrape is a shortened /metrics of a node after a run.
const scrape = `# HELP something
paimon_push_connections_opened_total 500
paimon_push_connections_closed_total 3
paimon_push_delivery_seconds_bucket{vmrange="1.000e-03...1.136e-03"} 10
paimon_push_delivery_seconds_bucket{vmrange="2.154e-03...2.448e-03"} 80
paimon_push_delivery_seconds_bucket{vmrange="8.799e-03...1.000e-02"} 10
paimon_push_delivery_seconds_sum 0.3
paimon_push_delivery_seconds_count 100
paimon_http_request_seconds_bucket{route="ws",le="0.005"} 4
process_resident_memory_bytes 5.2e+07
go_memstats_heap_inuse_bytes 15765504
go_memstats_stack_inuse_bytes 3014656
garbage line
also garbage here x
`

func TestParseMetrics(t *testing.T) {
	m := parseMetrics([]byte(scrape))
	if m["paimon_push_connections_opened_total"] != 500 || m["process_resident_memory_bytes"] != 52e6 ||
		m[`paimon_http_request_seconds_bucket{route="ws",le="0.005"}`] != 4 {
		t.Errorf("parsed %v", m)
	}
	if _, ok := m["garbage"]; ok || len(m) != 11 {
		t.Errorf("%d series: %v", len(m), m)
	}
	if mem := memoryOf(m); mem.HeapStack != 15765504+3014656 || mem.RSS != 52e6 {
		t.Errorf("memory %+v", mem)
	}

	b := m.vmHistogram("paimon_push_delivery_seconds")
	if len(b) != 3 || b[0].Lo != 1e-3 || b[2].Hi != 1e-2 || b[1].Count != 80 {
		t.Fatalf("buckets %+v", b)
	}
	if got := vmQuantile(b, 0.5); got != 2.448e-3 {
		t.Errorf("P50 = %v", got)
	}
	if got := vmQuantile(b, 0.99); got != 1e-2 {
		t.Errorf("P99 = %v", got)
	}
	if vmQuantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}

	// The same histogram scraped before the load: only what was added counts.
	before := []vmBucket{{Lo: 1e-3, Hi: 1.136e-3, Count: 10}, {Lo: 2.154e-3, Hi: 2.448e-3, Count: 30}}
	d := subBuckets(b, before)
	if len(d) != 2 || d[0].Count != 50 || d[1].Count != 10 {
		t.Errorf("difference %+v", d)
	}
	l := vmLatency(d)
	if l.N != 60 || math.Abs(l.P50-2.448) > 1e-9 || math.Abs(l.Max-10) > 1e-9 {
		t.Errorf("latency %+v", l)
	}
}

func TestProcStatBusy(t *testing.T) {
	const stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n"
	if got := procStatBusy([]byte(stat)); math.Abs(got-1.61) > 1e-9 {
		t.Errorf("busy %v s, want 1.61", got)
	}
	if procStatBusy([]byte("cpu 1 2\n")) != 0 || procStatBusy(nil) != 0 {
		t.Error("a short line is not a measurement")
	}
}
