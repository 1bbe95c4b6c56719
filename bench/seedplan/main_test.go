package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"paimon/bench/internal/benchkit"
)

// TestTinyPlan runs the whole plan at a tiny scale: three real paimon processes, a throwaway
// PostgreSQL, the chain simulator, reads over every endpoint, price writes, chain events and
// WebSocket clients, for a few seconds. It checks that every row of the table was measured
// (counts and latencies), that every acknowledged write is on every node and in PostgreSQL,
// and that PostgreSQL equals the leader's state. The targets themselves are not asserted: the
// rates are a fraction of the report's and the machine is shared.
func TestTinyPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes, PostgreSQL and a chain for about 40 s (as bench/approvals' test, -short skips it)")
	}
	out := filepath.Join(t.TempDir(), "seedplan.json")
	o, err := parseFlags([]string{"-scale", "0.005", "-read-rate", "1000", "-write-rate", "100", "-event-rate", "100",
		"-ws-conns", "60", "-ws-price-clients", "6", "-ws-event-clients", "3", "-read-workers", "40", "-write-workers", "20",
		"-confirmations", "2", "-block-interval", "200ms", "-drain", "30s", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runPlan(ctx, o, benchkit.CommandLine("./bench/seedplan", nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.Count == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.Margin <= 0 || r.Measured == "" {
			t.Errorf("row %q not filled: %+v", r.Target, r)
		}
	}
	v := rep.Verify
	if v.Acknowledged == 0 || v.Lost != 0 || len(v.Problems) > 0 || len(v.Checked) != 4 {
		t.Errorf("verify: %+v", v)
	}
	if rep.Rows[4].Count != int64(v.Acknowledged) || !rep.Rows[4].Met {
		t.Errorf("writes row %+v, verify %+v", rep.Rows[4], v)
	}
	if len(rep.Usage.Nodes) != 3 || rep.Usage.PGLagSamples == 0 || rep.Usage.PostgresCPU <= 0 {
		t.Errorf("resources: %+v", rep.Usage)
	}
	for _, n := range rep.Usage.Nodes {
		if n.CPUSeconds <= 0 || n.PeakRSSMiB <= 0 || n.FSMBusy <= 0 || n.FSMBusy > 1 || n.FSMEntriesPerBatch < 1 {
			t.Errorf("node resources: %+v", n)
		}
	}
	// Where the writes' time went: the leader timed its proposals, log appends, commits, a
	// follower its appends, every node its answers and batches (raftstore's Raft timings).
	stages := map[string]bool{}
	for _, n := range rep.Usage.Nodes {
		for _, st := range n.WritePath {
			if st.Count > 0 && st.AvgMs > 0 {
				stages[st.Stage] = true
			}
		}
	}
	for _, st := range writeStages {
		if !stages[st.stage] {
			t.Errorf("write path stage %q (%s) timed by no node: %+v", st.stage, st.metric, rep.Usage.Nodes)
		}
	}
	if rep.WS["opened"] != int64(60) || rep.WS["dropped"] != 0 {
		t.Errorf("websocket: %v", rep.WS)
	}
	var reads int64
	for _, e := range rep.Endpoints {
		reads += e.Count
		if e.Count == 0 {
			t.Errorf("endpoint %s never read", e.Name)
		}
	}
	if reads != rep.Rows[0].Count {
		t.Errorf("%d reads by endpoint, %d in the table", reads, rep.Rows[0].Count)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Errorf("-out: %v", err)
	}
}
