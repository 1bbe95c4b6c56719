package report

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
	"paimon/rebalance"
)

// TestReportCountsRebalances: on 2025-03-10 one plan completes (its last purchase's block) and
// one fails (its first redemption's transaction fails); a third, executed that day, fails the
// next day. The day's report counts 1 completed and 1 failed, the next day's 0 and 1, a day
// without plans 0 and 0, and the week the sum of its days.
func TestReportCountsRebalances(t *testing.T) {
	day0 := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC).Unix()
	f := newPlanFund(t)
	l2, l3 := common.Address{0x60}, common.Address{0x61}
	f.logs(day0+3600, ev(t, "Deposit", l2, l2, fundtest.E18(100), fundtest.E18(100)), ev(t, "AssetAdded", l2, uint8(1), u256(10_000)),
		ev(t, "AssetAdded", l3, uint8(2), u256(10_000)), ev(t, "PriceSet", l2, fundtest.E18(1), u256(uint64(day0)), uint8(1)),
		ev(t, "PriceSet", l3, fundtest.E18(1), u256(uint64(day0)), uint8(1)))

	done := f.preview(day0+3700, [3]uint64{4000, 3000, 3000})
	f.execute(day0+3800, done)
	for i, a := range done.Actions { // each action's transaction, its purchase mined
		tx := common.Hash{byte(i + 1)}
		f.intent(day0+3900, done, i, tx)
		f.logsFrom(tx, day0+4000+int64(i), ev(t, "AssetPurchased", common.Address(a.Asset), a.Tier, &a.Amount, &a.Tokens))
	}
	if p := f.plan(done.ID); p.Status != fund.PlanCompleted || p.FinishedAt != (day0+4001)*1e9 {
		t.Fatalf("first plan: %s finished %d", p.Status, p.FinishedAt)
	}
	failed := f.preview(day0+5000, [3]uint64{5000, 2500, 2500})
	f.execute(day0+5100, failed)
	f.fail(day0+5200, f.intent(day0+5150, failed, 0, common.Hash{0xf1}))
	late := f.preview(day0+6000, [3]uint64{5000, 2500, 2500})
	f.execute(day0+6100, late)
	f.fail(day0+86400+60, f.intent(day0+6150, late, 0, common.Hash{0xf2}))
	for _, p := range []fund.PlanRecord{failed, late} {
		if got := f.plan(p.ID); got.Status != fund.PlanFailed {
			t.Fatalf("plan %d: %s", p.ID, got.Status)
		}
	}

	for _, tc := range []struct {
		kind              Kind
		date              time.Time
		completed, failed int64
	}{
		{Daily, time.Unix(day0, 0), 1, 1},
		{Daily, time.Unix(day0+86400, 0), 0, 1},
		{Daily, time.Unix(day0-86400, 0), 0, 0},
		{Weekly, time.Unix(day0+3*86400, 0), 1, 2},
		{Monthly, time.Unix(day0, 0), 1, 2},
	} {
		rep, err := Build(f.st, PeriodOf(tc.kind, tc.date.UTC()))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rebalances.Completed != tc.completed || rep.Rebalances.Failed != tc.failed {
			t.Errorf("%s %s: rebalances %+v, want %d completed, %d failed", tc.kind, rep.Period.From, rep.Rebalances, tc.completed, tc.failed)
		}
	}
}

// planFund applies commands one batch each to a Machine on kv.Mem.
type planFund struct {
	t     *testing.T
	st    *kv.Mem
	m     *fund.Machine
	index uint64
	block uint64
}

var planActor = fund.Actor{Name: "token:ops", Role: "operator"}

func newPlanFund(t *testing.T) *planFund {
	info := fund.Info{FundID: "report"}
	return &planFund{t: t, st: kv.NewMem(), m: fund.NewMachine(info, readmodel.NewViews(info), nil), block: 100}
}

func (f *planFund) apply(cmd []byte) any {
	f.t.Helper()
	f.index++
	res, err := f.m.Apply(f.st, f.index, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	if v, ok := res.(*fund.ValidationError); ok {
		f.t.Fatalf("command %d refused: %v", cmd[0], v)
	}
	if err := f.m.EndBatch(f.st, f.index); err != nil {
		f.t.Fatal(err)
	}
	f.m.Committed()
	return res
}

func ev(t *testing.T, name string, args ...any) chainlog.Event {
	t.Helper()
	e, err := fundtest.NewEvent(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func u256(v uint64) *uint256.Int { return uint256.NewInt(v) }

// logs applies evs in one new block at time at.
func (f *planFund) logs(at int64, evs ...chainlog.Event) {
	f.logsFrom(common.Hash{0xee, byte(f.block)}, at, evs...)
}

// logsFrom applies evs in one new block at time at, from transaction tx.
func (f *planFund) logsFrom(tx common.Hash, at int64, evs ...chainlog.Event) {
	f.t.Helper()
	f.block++
	for i := range evs {
		e := &evs[i]
		e.BlockNumber, e.LogIndex, e.BlockTime, e.TxHash = f.block, uint64(i), at, tx
		e.BlockHash = common.BigToHash(new(uint256.Int).SetUint64(f.block).ToBig())
	}
	f.apply(fund.EncodeLogs(&fund.LogsCommand{Time: (at + 1) * 1e9, Events: evs}))
}

// preview computes a plan from the books with the planner and stores it, as the server does.
func (f *planFund) preview(at int64, targets [3]uint64) fund.PlanRecord {
	f.t.Helper()
	cfg := rebalance.DefaultConfig()
	in, lastBlock, err := readmodel.RebalanceInput(f.st, &cfg, &targets)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := rebalance.Compute(&in)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.apply(fund.EncodeRebalancePlan(&fund.RebalancePlanCommand{Time: at * 1e9, Actor: planActor, Targets: targets,
		Reserved: in.Reserved, LastBlock: lastBlock, Plan: *p})).(*fund.RebalancePlanResult).Plan
}

func (f *planFund) execute(at int64, p fund.PlanRecord) {
	f.t.Helper()
	res := f.apply(fund.EncodeRebalanceExecute(&fund.RebalanceExecuteCommand{Time: at * 1e9, Actor: planActor, PlanID: p.ID,
		ApprovalAmount: *fundtest.E18(1_000_000)})).(*fund.RebalancePlanResult)
	if res.Plan.Status != fund.PlanExecuting {
		f.t.Fatalf("execute plan %d: %s", p.ID, res.Plan.Status)
	}
}

// intent records the executor's intent of action i of plan p, sending transaction tx.
func (f *planFund) intent(at int64, p fund.PlanRecord, i int, tx common.Hash) uint64 {
	f.t.Helper()
	return f.apply(fund.EncodeTxIntent(&fund.TxIntentCommand{Time: at * 1e9, Purpose: fund.ActionPurpose(p.Actions[i].Type),
		Reference: fund.PlanIntentReference(p.ID, i), Hash: tx, Raw: []byte{2, 1}})).(*fund.TxIntentResult).Intent.Seq
}

// fail records that intent seq's transaction failed.
func (f *planFund) fail(at int64, seq uint64) {
	f.apply(fund.EncodeTxUpdate(&fund.TxUpdateCommand{Time: at * 1e9, Seq: seq, State: fund.TxFailed, Reason: "execution reverted: assets: slippage"}))
}

func (f *planFund) plan(id uint64) fund.PlanRecord {
	f.t.Helper()
	p, err := fund.ReadPlan(f.st, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}
