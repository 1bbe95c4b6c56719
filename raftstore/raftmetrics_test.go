package raftstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestWritePathMetrics checks that a write's stages reach /metrics: Propose's own histogram on
// the leader, and hashicorp/raft's timings (the leader's log append, replication, the commit,
// a follower's log append, the hand-off to the state machine) through the process-wide sink,
// which feeds the store opened last. Without the sink every Raft timing stays at 0.
func TestWritePathMetrics(t *testing.T) {
	sets := make([]*metrics.Set, 3)
	stores := openTestClusterWith(t, 3, func(i int, _ *Config, deps *Deps) {
		sets[i] = metrics.NewSet()
		deps.Metrics = sets[i]
	})
	l := leaderOf(stores)
	var leaderSet *metrics.Set
	for i, s := range stores {
		if s == l {
			leaderSet = sets[i]
		}
	}
	const writes = 20
	before := histCount(t, leaderSet, "paimon_raft_propose_seconds") // the leader's own entries
	for i := range writes {
		if _, err := l.Propose(context.Background(), encodeSet(fmt.Sprintf("k%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	if n := histCount(t, leaderSet, "paimon_raft_propose_seconds") - before; n != writes {
		t.Errorf("leader: %v proposals timed, want %d", n, writes)
	}
	last := sets[len(sets)-1] // the sink feeds the store opened last
	checkFor(t, 5*time.Second, func() error {
		for _, name := range []string{"paimon_raft_leader_append_seconds", "paimon_raft_commit_seconds",
			"paimon_raft_replication_rpc_seconds", "paimon_raft_follower_store_seconds", "paimon_raft_follower_append_seconds",
			"paimon_raft_fsm_enqueue_seconds"} {
			if n := histCount(t, last, name); n == 0 {
				return fmt.Errorf("%s: nothing timed", name)
			}
		}
		// Raft times each committed entry: the writes and the leader's own entries.
		if n := histCount(t, last, "paimon_raft_commit_seconds"); n < writes {
			return fmt.Errorf("%v commits timed, want at least %d", n, writes)
		}
		return nil
	})
}

// histCount reads a histogram's _count from set's exposition.
func histCount(t *testing.T, set *metrics.Set, name string) float64 {
	t.Helper()
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(line, name+"_count "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}
