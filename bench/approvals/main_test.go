package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.nodes != 3 || o.tickets != 1000 || o.clients != 8 || o.blockInterval != time.Second || o.out != "" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-nodes", "3", "-tickets", "5", "-duration", "30s", "-out", "x.json"})
	if err != nil || o.tickets != 5 || o.duration != 30*time.Second || o.out != "x.json" {
		t.Fatalf("flags: %+v %v", o, err)
	}
	for _, bad := range [][]string{
		{"-nodes", "1"}, {"-tickets", "0"}, {"-clients", "0"}, {"-duration", "1s"},
		{"-block-interval", "1ms"}, {"-ticket-rate", "-1"}, {"-confirmations", "0"}, {"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRunTiny runs the whole benchmark at a tiny scale (three paimon processes, four tickets)
// and checks that its figures agree with each other: every ticket EXECUTED on every node by
// exactly one transaction (one log, one intent, one nonce each), every request acknowledged,
// and a ticket mined before it is EXECUTED. It builds the node, so it takes some 20 s; -short
// skips it.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the node and runs three processes")
	}
	o, err := parseFlags([]string{"-tickets", "4", "-clients", "2", "-block-interval", "200ms", "-confirmations", "2", "-duration", "3m"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench(context.Background(), o, "test")
	if res != nil {
		var sb strings.Builder
		res.print(&sb)
		t.Log(sb.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	const tickets = 4
	switch {
	case len(res.Problems) > 0:
		t.Fatalf("problems: %v", res.Problems)
	case res.Executed != tickets || res.Intents != tickets || res.Logs != tickets || res.ExecutorNonce != tickets:
		t.Fatalf("executed %d, intents %d, logs %d, executor nonce %d: want %d each", res.Executed, res.Intents, res.Logs, res.ExecutorNonce, tickets)
	case res.Baseline.Requests != 2*tickets || res.Decisions.Requests != 2*tickets || res.Baseline.Failed+res.Decisions.Failed != 0:
		t.Fatalf("requests: baseline %+v, decisions %+v", res.Baseline, res.Decisions)
	case res.ToMined.N != tickets || res.ToExecuted.N != tickets:
		t.Fatalf("latencies of %d and %d tickets, want %d", res.ToMined.N, res.ToExecuted.N, tickets)
	case !(res.ToMined.P50 > 0 && res.ToMined.Max < res.ToExecuted.Max && res.ToMined.P50 < res.ToExecuted.P50):
		t.Fatalf("to mined %+v, to executed %+v: a ticket is EXECUTED only after its transaction is mined", res.ToMined, res.ToExecuted)
	case !(res.Ratio > 0) || res.BodyBytes[0] != res.BodyBytes[1]:
		t.Fatalf("ratio %g, bodies %v", res.Ratio, res.BodyBytes)
	}
}
