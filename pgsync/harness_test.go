package pgsync

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"github.com/jackc/pgx/v5/pgxpool"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/rebalance"
)

// testNode is a single-node store with the fund's state machine (outbox on) and a syncer.
type testNode struct {
	t      testing.TB
	store  *raftstore.Store
	syncer *Syncer
	dsn    string
}

func newTestNode(t testing.TB, dsn string, mutate ...func(*Config)) *testNode {
	t.Helper()
	logger := testutil.Logger(t, "", slog.LevelWarn)
	info := fund.Info{FundID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", ChainID: 56, Outbox: true}
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
	cfg := DefaultConfig()
	cfg.DSN, cfg.Interval, cfg.MaxBackoff, cfg.MarkInterval = dsn, 20*time.Millisecond, 500*time.Millisecond, 50*time.Millisecond
	cfg.ConnectTimeout, cfg.BatchRows = 2*time.Second, 500
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg, store, Deps{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	return &testNode{t: t, store: store, syncer: s, dsn: dsn}
}

func (n *testNode) propose(cmd []byte) raftstore.Result {
	n.t.Helper()
	res, err := n.store.Propose(context.Background(), cmd)
	if err != nil {
		n.t.Fatal(err)
	}
	if e, ok := res.Value.(error); ok {
		n.t.Fatalf("command refused: %v", e)
	}
	return res
}

// now is the command time: the wall clock, as the server stamps commands (lag is measured
// against it).
func (n *testNode) now() int64 { return time.Now().UnixNano() }

// applyEvents proposes events in commands of at most per events each, as an operator.
func (n *testNode) applyEvents(evs []chainlog.Event, per int) {
	n.t.Helper()
	for len(evs) > 0 {
		k := min(per, len(evs))
		n.propose(fund.EncodeLogs(&fund.LogsCommand{Time: n.now(), Actor: fund.Actor{Name: "ops", Role: "operator", IP: "10.0.0.1"}, Events: evs[:k]}))
		evs = evs[k:]
	}
}

// waitSynced waits until PostgreSQL holds everything applied.
func (n *testNode) waitSynced(timeout time.Duration) {
	n.t.Helper()
	testutil.CheckFor(n.t, timeout, func() error {
		st := n.syncer.Status()
		if applied := n.store.AppliedIndex(); st.LagIndex != 0 || st.SyncedIndex == 0 {
			return fmt.Errorf("synced %d of %d (lag %d, error %q)", st.SyncedIndex, applied, st.LagIndex, st.LastError)
		}
		return nil
	})
}

// verify compares the state with PostgreSQL and fails on any difference.
func (n *testNode) verify(pool *pgxpool.Pool) *Report {
	n.t.Helper()
	v, err := n.store.Read()
	if err != nil {
		n.t.Fatal(err)
	}
	defer v.Close()
	rep, err := Verify(context.Background(), pool, v, v.Index)
	if err != nil {
		n.t.Fatal(err)
	}
	if rep.Differences != 0 {
		n.t.Fatalf("verify:\n%s", rep)
	}
	return rep
}

// removed returns copies of evs marked as withdrawn by a reorg.
func removed(evs []chainlog.Event) []chainlog.Event {
	out := make([]chainlog.Event, len(evs))
	for i, e := range evs {
		e.Removed = true
		out[len(evs)-1-i] = e
	}
	return out
}

func randomEvents(seed int64, n int) []chainlog.Event { return fundtest.RandomEvents(seed, n) }

var testPlanActor = fund.Actor{Name: "token:ops", Role: "operator"}

// proposeTestPlan stores a one-action rebalance plan computed at the current books' ratios and
// executes it with an approval amount of 0 (PENDING_APPROVAL, a REBALANCE ticket); its id.
func (n *testNode) proposeTestPlan(t *testing.T) uint64 {
	t.Helper()
	id := n.storeTestPlan(t)
	n.propose(fund.EncodeRebalanceExecute(&fund.RebalanceExecuteCommand{Time: n.now(), Actor: testPlanActor, PlanID: id}))
	return id
}

// storeTestPlan stores a one-action rebalance plan computed at the current books' ratios
// (PROPOSED); its id.
func (n *testNode) storeTestPlan(t *testing.T) uint64 {
	t.Helper()
	v, err := n.store.Read()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fund.ReadBooks(v)
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	var pre rebalance.State
	for i := range pre.Tiers {
		pre.Tiers[i].Ratio = uint64(max(b.RatioBps(i), 0))
	}
	one := *uint256.NewInt(1e18)
	plan := rebalance.Plan{Pre: pre, TotalAmount: one,
		Actions: []rebalance.Action{{Type: rebalance.Purchase, Tier: 1, Asset: [20]byte{0xa1}, Amount: one, Tokens: one, MinReceived: one, MaxSlippageBps: 50}}}
	res := n.propose(fund.EncodeRebalancePlan(&fund.RebalancePlanCommand{Time: n.now(), Actor: testPlanActor, Targets: [3]uint64{4000, 3000, 3000}, Plan: plan}))
	return res.Value.(*fund.RebalancePlanResult).Plan.ID
}
