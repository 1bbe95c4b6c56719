package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
	"paimon/version"
)

// TestLeaderKilledDuringIngest stops the leader while it ingests a live chain: the new leader
// resumes from the replicated checkpoint, and in the end every node's state equals a replay of
// the canonical chain (no event missing, none applied twice).
func TestLeaderKilledDuringIngest(t *testing.T) {
	scfg := chainsim.DefaultConfig()
	// Blocks are mined by the test (5 events each) so that it can stop the chain.
	scfg.Addr, scfg.BlockInterval, scfg.Rate, scfg.Seed = "127.0.0.1:0", 0, 5, 7
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	var mining sync.WaitGroup
	stopMining := make(chan struct{})
	startMining := make(chan struct{})
	mining.Add(1)
	go func() {
		select {
		case <-startMining:
		case <-stopMining:
		}
		defer mining.Done()
		for {
			select {
			case <-stopMining:
				return
			case <-time.After(30 * time.Millisecond):
			}
			if err := sim.Mine(context.Background(), 1); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() {
		select {
		case <-stopMining:
		default:
			close(stopMining)
		}
		mining.Wait()
	}()

	c := newCluster(t, 3)
	for _, cfg := range c.cfgs {
		cfg.Ingest.ChainID = chainsim.ChainID
		cfg.Ingest.RPCURLs = []string{sim.URL()}
		cfg.Ingest.Confirmations = 2
		cfg.Ingest.PollInterval = time.Duration(20 * time.Millisecond)
		cfg.Ingest.MaxBlockRange = 20
	}
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	// The chain's events start once the cluster runs this release's cluster version, so that
	// every range is applied with the books, as the replay applies it (ranges ingested before,
	// while a v0.1.0 member might remain, keep v0.1.0's NAV point totals).
	checkFor(t, 20*time.Second, func() error {
		if v := c.nodes[l].Store().ClusterVersion(); v != version.Cluster {
			return fmt.Errorf("cluster version %s", v)
		}
		return nil
	})
	close(startMining)
	applied := func(i int) uint64 {
		v, err := c.nodes[i].Store().Read()
		if err != nil {
			return 0
		}
		defer v.Close()
		cp, _, _ := fund.ReadIngestCheckpoint(v)
		return cp.Block.Number
	}
	checkFor(t, 20*time.Second, func() error {
		if a := applied(l); a < 20 {
			return fmt.Errorf("ingested up to block %d", a)
		}
		return nil
	})
	killedAt := applied(l)
	c.stop(l)
	l2 := c.waitLeaderAmong(l, 15*time.Second)
	checkFor(t, 20*time.Second, func() error {
		if a := applied(l2); a < killedAt+20 {
			return fmt.Errorf("the new leader ingested up to block %d (the old one stopped at %d)", a, killedAt)
		}
		// The leader now, which a starved machine may have moved on from l2 by another
		// election (the full suite at load 15: l2 stepped down, its ingester stopped).
		cur := c.leader()
		if cur < 0 {
			return errors.New("no leader")
		}
		if st := c.nodes[cur].Ingester().Status(); !st.Running || st.RunningOn != c.cfgs[cur].Node.ID {
			return fmt.Errorf("ingest status on the leader node%d: %+v", cur+1, st)
		}
		return nil
	})
	// Stop the chain and let every node catch up, then compare each with a replay.
	close(stopMining)
	mining.Wait()
	head, _ := sim.Head()
	final := head - 2
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		checkFor(t, 10*time.Second, func() error {
			if a := applied(i); a != final {
				return fmt.Errorf("node%d at block %d, leader at %d", i+1, a, final)
			}
			return nil
		})
	}
	canonical, err := sim.Canonical(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var logs []chainlog.RawLog
	for i := range canonical {
		if canonical[i].BlockNumber <= final {
			logs = append(logs, chainsim.RawLog(&canonical[i]))
		}
	}
	replay, err := fundtest.Replay(fundtest.Registry(), logs)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		v, err := n.Store().Read()
		if err != nil {
			t.Fatal(err)
		}
		err = fundtest.CompareChainRecords(v, replay)
		v.Close()
		if err != nil {
			t.Fatalf("node%d differs from a replay of the canonical chain: %v", i+1, err)
		}
	}
}
