package raftstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// openTestCluster starts n stores over real TCP on 127.0.0.1, bootstrapped together, each with
// its own counterSM, and returns them once one leads.
func openTestCluster(tb testing.TB, n int) []*Store {
	tb.Helper()
	return openTestClusterWith(tb, n, nil)
}

// openTestClusterWith is openTestCluster with mutate applied to each store's config and deps
// (nil: none).
func openTestClusterWith(tb testing.TB, n int, mutate func(i int, cfg *Config, deps *Deps)) []*Store {
	tb.Helper()
	stores := make([]*Store, n)
	var servers []raft.Server
	for i := range stores {
		cfg := testConfig(tb, tb.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.Bootstrap = false
		cfg.Secret = []byte("bench-secret-0123456789")
		deps := testDeps(tb)
		if mutate != nil {
			mutate(i, &cfg, &deps)
		}
		s, err := New(cfg, &counterSM{}, deps)
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.Open(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		stores[i] = s
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.BindAddr)})
	}
	if err := stores[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		tb.Fatal(err)
	}
	checkFor(tb, 10*time.Second, func() error {
		for _, s := range stores {
			if s.IsLeader() && s.settledTerm.Load() == s.raft.CurrentTerm() {
				return nil
			}
		}
		return fmt.Errorf("no settled leader")
	})
	return stores
}

func leaderOf(stores []*Store) *Store {
	for _, s := range stores {
		if s.IsLeader() {
			return s
		}
	}
	return nil
}

// BenchmarkReplicatedProposals measures consensus itself on a three-node loopback cluster: many
// clients propose small commands to the leader concurrently (Raft batches them: one log append,
// one fsync, one replication round and one Pebble commit per batch), and a single client
// proposes sequentially (commit latency). The state machine is trivial, so this is the
// replication layer's ceiling; the fund's commands cost more to apply (see FSMApply) and HTTP
// more to carry (bench/cluster).
//
//	go test ./raftstore -run XXX -bench ReplicatedProposals -benchtime 5s
func BenchmarkReplicatedProposals(b *testing.B) {
	for _, clients := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			stores := openTestCluster(b, 3)
			l := leaderOf(stores)
			var next atomic.Int64
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := l.Propose(context.Background(), encodeSet(fmt.Sprintf("k%d", i), "value-of-32-bytes-0123456789abc")); err != nil {
							b.Error(err)
							return
						}
						lat[c] = append(lat[c], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			if len(all) > 0 {
				b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commands/s")
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
			}
		})
	}
}

// TestLeaderHandsOverOnClose checks that a leader that stops transfers leadership first: another
// member leads within a small fraction of the heartbeat timeout (200 ms here), which followers
// would otherwise have to wait out before even starting an election.
func TestLeaderHandsOverOnClose(t *testing.T) {
	stores := openTestCluster(t, 3)
	l := leaderOf(stores)
	term := l.raft.CurrentTerm()
	if _, err := l.Propose(context.Background(), encodeSet("k", "v")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var next *Store
	checkFor(t, 100*time.Millisecond, func() error {
		for _, s := range stores {
			if s != l && s.IsLeader() {
				next = s
				return nil
			}
		}
		return fmt.Errorf("no member leads: leadership was not handed over")
	})
	if next.raft.CurrentTerm() != term+1 {
		t.Fatalf("new leader in term %d, want %d (one transfer, no election rounds)", next.raft.CurrentTerm(), term+1)
	}
	checkFor(t, 2*time.Second, func() error {
		if v, _ := readKey(t, next, "k"); v != "v" {
			return fmt.Errorf("new leader lacks the last write: %q", v)
		}
		return nil
	})
}
