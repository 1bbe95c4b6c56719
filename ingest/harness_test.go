package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
	"paimon/raftstore"
	"paimon/readmodel"
)

// testRig is a single node (Raft store, fund machine) ingesting from a simulated chain.
type testRig struct {
	t     testing.TB
	sim   *chainsim.Sim
	store *raftstore.Store
	ing   *Ingester
	cfg   Config
}

func newSim(t testing.TB, rate float64, mutate ...func(*chainsim.Config)) *chainsim.Sim {
	t.Helper()
	cfg := chainsim.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.BlockInterval = 0 // blocks are mined by the test
	cfg.Rate = rate
	cfg.Seed = 42
	cfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	for _, m := range mutate {
		m(&cfg)
	}
	sim, err := chainsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func newRig(t testing.TB, sim *chainsim.Sim, urls []string, mutate ...func(*Config)) *testRig {
	t.Helper()
	logger := testutil.Logger(t, "", slog.LevelWarn)
	info := fund.Info{FundID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", ChainID: chainsim.ChainID}
	machine := fund.NewMachine(info, readmodel.NewViews(info), nil)
	rc := raftstore.DefaultConfig()
	rc.Dir = t.TempDir()
	rc.BindAddr = testutil.FreeAddr(t)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
	store, err := raftstore.New(rc, machine, raftstore.Deps{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if urls == nil {
		urls = []string{sim.URL()}
	}
	cfg := DefaultConfig()
	cfg.ChainID, cfg.RPCURLs, cfg.Confirmations, cfg.PollInterval = chainsim.ChainID, urls, 3, 20*time.Millisecond
	cfg.MaxBlockRange, cfg.RPCTimeout, cfg.ReorgWindow = 50, 2*time.Second, 64
	for _, m := range mutate {
		m(&cfg)
	}
	ing, err := New(cfg, store, Deps{Registry: fundtest.Registry(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ing.Start()
	t.Cleanup(func() { ing.Close() })
	return &testRig{t: t, sim: sim, store: store, ing: ing, cfg: cfg}
}

// mine mines n blocks.
func (r *testRig) mine(n int) {
	r.t.Helper()
	if err := r.sim.Mine(context.Background(), n); err != nil {
		r.t.Fatal(err)
	}
}

// waitApplied waits until the checkpoint reaches the confirmed head.
func (r *testRig) waitApplied(timeout time.Duration) {
	r.t.Helper()
	head, _ := r.sim.Head()
	want := head - r.cfg.Confirmations
	testutil.CheckFor(r.t, timeout, func() error {
		if st := r.ing.Status(); st.LastApplied < want {
			return fmt.Errorf("applied block %d of %d (error %q, halted %v)", st.LastApplied, want, st.LastError, st.Halted)
		}
		return nil
	})
}

// checkReplay compares the node's state with a replay of the simulated chain's canonical logs
// up to the node's checkpoint.
func (r *testRig) checkReplay() {
	r.t.Helper()
	logs, err := r.sim.Canonical(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	v, err := r.store.Read()
	if err != nil {
		r.t.Fatal(err)
	}
	defer v.Close()
	cp, _, err := fund.ReadIngestCheckpoint(v)
	if err != nil {
		r.t.Fatal(err)
	}
	var raws []chainlog.RawLog
	for i := range logs {
		if logs[i].BlockNumber <= cp.Block.Number {
			raws = append(raws, chainsim.RawLog(&logs[i]))
		}
	}
	replay, err := fundtest.Replay(fundtest.Registry(), raws)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := fundtest.CompareChainRecords(v, replay); err != nil {
		r.t.Fatalf("the node's state differs from a replay of the canonical chain: %v", err)
	}
}
