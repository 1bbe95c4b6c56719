package main

import (
	"paimon/bench/internal/benchkit"
	"strings"
	"testing"
	"time"
)

func TestVerdicts(t *testing.T) {
	r := &result{Load: &loadResult{Rate: 100},
		Idle:     idleResult{RSSPerConn: 25400, HeapStackPerConn: 24400},
		Delivery: deliveryResult{Subscribed: 20000, LatencyMs: benchkit.LatencyMs{P99: 80}}}
	got := strings.Join(r.verdicts(), "\n")
	if !strings.Contains(got, "idle memory: met (25.4 KB") || !strings.Contains(got, "latency: met (P99 80.00ms)") || strings.Contains(got, "not the target") {
		t.Errorf("a run that meets both:\n%s", got)
	}

	r.Idle.HeapStackPerConn = 31000
	r.Delivery = deliveryResult{Subscribed: 19800, Missing: 5, DrainEnded: drainTimeout, LatencyMs: benchkit.LatencyMs{P99: 80}}
	got = strings.Join(r.verdicts(), "\n")
	for _, want := range []string{"idle memory: NOT met (31.0 KB", "latency: NOT met", "5 messages not received: still arriving",
		"to 19,800 connections, not the target's"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	r.Delivery.DrainEnded = drainQuiet
	if got = strings.Join(r.verdicts(), "\n"); !strings.Contains(got, "5 messages not received: none arrived in the last 3 s") {
		t.Errorf("quiet drain:\n%s", got)
	}
}

func TestDrainEnded(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		recv, expected        uint64
		sinceLast, sinceStart time.Duration
		want                  string
	}{
		{10, 10, 0, 0, drainComplete},
		{11, 10, 5 * s, 90 * s, drainComplete},
		{9, 10, 4 * s, 1 * s, drainQuiet},
		{9, 10, 4 * s, 90 * s, drainQuiet},
		{9, 10, 1 * s, 61 * s, drainTimeout},
		{9, 10, 1 * s, 30 * s, ""},
	} {
		if got := drainEnded(c.recv, c.expected, c.sinceLast, c.sinceStart, 60*s); got != c.want {
			t.Errorf("drainEnded(%d, %d, %s, %s) = %q, want %q", c.recv, c.expected, c.sinceLast, c.sinceStart, got, c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.conns != 20000 || o.rate != 100 || o.duration.Seconds() != 60 || o.workers != 0 || o.perIP != 250 {
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
