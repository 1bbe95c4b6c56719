package main

import (
	"strings"
	"testing"
)

func TestVerdicts(t *testing.T) {
	r := &result{Load: &loadResult{Rate: 100},
		Idle:     idleResult{RSSPerConn: 25400, HeapStackPerConn: 24400},
		Delivery: deliveryResult{Subscribed: 20000, LatencyMs: latencyMs{P99: 80}}}
	got := strings.Join(r.verdicts(), "\n")
	if !strings.Contains(got, "idle memory: met (25.4 KB") || !strings.Contains(got, "latency: met (P99 80.00ms)") || strings.Contains(got, "not the target") {
		t.Errorf("a run that meets both:\n%s", got)
	}

	r.Idle.HeapStackPerConn = 31000
	r.Delivery = deliveryResult{Subscribed: 19800, Missing: 5, LatencyMs: latencyMs{P99: 80}}
	got = strings.Join(r.verdicts(), "\n")
	for _, want := range []string{"idle memory: NOT met (31.0 KB", "latency: NOT met", "5 messages never arrived", "to 19,800 connections, not the target's"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.conns != 20000 || o.rate != 100 || o.duration.Seconds() != 60 || o.workers != 0 || o.perIP != 1000 {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	t.Setenv("PAIMON_TOKEN", "")
	for _, bad := range [][]string{
		{"-conns", "0"}, {"-rate", "0"}, {"-duration", "500ms"}, {"-per-ip", "0"}, {"-drain", "0s"},
		{"-node", "localhost:8080", "-token", "t"}, {"-node", "http://127.0.0.1:8080"}, {"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	t.Setenv("PAIMON_TOKEN", "secret")
	if o, err := parseFlags([]string{"-node", "http://127.0.0.1:8080/"}); err != nil || o.token != "secret" || o.node != "http://127.0.0.1:8080" {
		t.Errorf("-node with $PAIMON_TOKEN: %+v, %v", o, err)
	}
}
