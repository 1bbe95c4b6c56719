package main

import (
	"strings"
	"testing"
	"time"
)

const wrkSample = `Running 10s test @ http://127.0.0.1:8080/v1/fund/overview
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   636.01us    1.07ms  28.31ms   93.64%
    Req/Sec    62.39k     7.33k   80.05k    71.00%
  Latency Distribution
     50%  358.00us
     75%  586.00us
     90%    1.15ms
     99%    5.53ms
  1241837 requests in 10.00s, 1.05GB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec: 124111.52
Transfer/sec:    107.21MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	if r.RequestsPerSec != 124111.52 || r.Requests != 1241837 || r.Seconds != 10 {
		t.Errorf("throughput: %+v", r)
	}
	for k, want := range map[string]float64{"p50": 0.358, "p75": 0.586, "p90": 1.15, "p99": 5.53, "avg": 0.63601, "max": 28.31} {
		if got := r.LatencyMs[k]; got < want*0.9999 || got > want*1.0001 {
			t.Errorf("%s = %v ms, want %v", k, got, want)
		}
	}
	if r.Non2xx != 5 || r.errors() != 20 {
		t.Errorf("errors: non2xx %d, total %d", r.Non2xx, r.errors())
	}
	if _, err := parseWrk(strings.Replace(wrkSample, "     99%    5.53ms\n", "", 1)); err == nil {
		t.Error("accepted a report without P99")
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("accepted a failed run")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"358.00us": 358 * time.Microsecond, "1.15ms": 1150 * time.Microsecond, "2.00s": 2 * time.Second, "1.50m": 90 * time.Second,
	} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDuration("3.0x"); err == nil {
		t.Error("accepted an unknown unit")
	}
}
