package fund

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/rebalance"
)

var (
	l2Asset, l3Asset = addr(60), addr(61)
	ops              = Actor{Name: "token:ops", Role: "operator"}
)

// rebalanceEnv: 100 of cash, one L2 and one L3 asset priced 1.0, nothing invested.
func rebalanceEnv(t *testing.T) *env {
	e := newEnv(t)
	e.logs(mk("Deposit", 20, 0, testNow, addr(1), addr(1), e18(100), e18(100)),
		mk("AssetAdded", 20, 1, testNow, l2Asset, 1, 10_000), mk("AssetAdded", 20, 2, testNow, l3Asset, 2, 10_000),
		mk("PriceSet", 20, 3, testNow, l2Asset, oneE18, testNow, 1), mk("PriceSet", 20, 4, testNow, l3Asset, oneE18, testNow, 1))
	return e
}

// preview computes a plan from the env's books with the planner and stores it, as the server does.
func (e *env) preview(targets [3]uint64) PlanRecord {
	e.t.Helper()
	b, err := ReadBooks(e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	in := rebalance.Input{Cash: b.Cash, Targets: targets}
	for _, a := range b.Assets {
		in.Assets = append(in.Assets, rebalance.Asset{Token: a.Token, Tier: a.Tier, Active: a.Active, Allocation: a.Allocation.Uint64(),
			Holding: a.Holding, HasPrice: a.HasPrice, Price: a.Price, Decimals: a.Decimals, SlippageBps: 50})
	}
	p, err := rebalance.Compute(&in)
	if err != nil {
		e.t.Fatal(err)
	}
	res, ok := e.apply(EncodeRebalancePlan(&RebalancePlanCommand{Time: testNow * 1e9, Actor: ops, Targets: targets, Horizon: 7 * day,
		LastBlock: b.LastBlock, Plan: *p})).(*RebalancePlanResult)
	if !ok || res.Plan.Status != PlanProposed || res.Plan.ID != e.index {
		e.t.Fatalf("preview: %+v", res)
	}
	return res.Plan
}

func (e *env) execute(id uint64, approval *uint256.Int) any {
	e.t.Helper()
	return e.apply(EncodeRebalanceExecute(&RebalanceExecuteCommand{Time: (testNow + 10) * 1e9, Actor: ops, PlanID: id, ApprovalAmount: *approval}))
}

func (e *env) plan(id uint64) PlanRecord {
	e.t.Helper()
	p, err := ReadPlan(e.st, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// intent records the executor's intent of action i of plan id, sending transaction tx.
func (e *env) intent(id uint64, i int, purpose string, tx common.Hash) uint64 {
	e.t.Helper()
	r := e.apply(EncodeTxIntent(&TxIntentCommand{Time: testNow * 1e9, Purpose: purpose, Reference: PlanIntentReference(id, i),
		Hash: tx, Raw: []byte{2, 1}})).(*TxIntentResult)
	return r.Intent.Seq
}

// TestRebalancePlanLifecycle: a plan is stored PROPOSED; execute starts it (one at a time);
// the asset controller's events of the executor's transactions complete its actions in order,
// the last with the realised books; a reorg that removes it reopens the plan; an event from
// another transaction changes nothing.
func TestRebalancePlanLifecycle(t *testing.T) {
	e := rebalanceEnv(t)
	p := e.preview([3]uint64{4000, 3000, 3000})
	if len(p.Actions) != 2 || p.Actions[0].Asset != l2Asset || p.TotalAmount != *e18(60) || p.Post.Tiers[1].Ratio != 3000 {
		t.Fatalf("plan %+v", p)
	}
	second := e.preview([3]uint64{5000, 2500, 2500})
	refusedWith(t, "unknown plan", e.execute(999, e18(1000)), CodeNotFound)
	res := e.execute(p.ID, e18(1000)).(*RebalancePlanResult)
	if res.Plan.Status != PlanExecuting || res.Plan.RequiresApproval || res.Plan.ExecutedBy != ops.Name {
		t.Fatalf("execute: %+v", res.Plan)
	}
	refusedWith(t, "executed twice", e.execute(p.ID, e18(1000)), CodeConflict)
	refusedWith(t, "a second plan while one runs", e.execute(second.ID, e18(1000)), CodeConflict)
	if a, ok, _ := ActivePlan(e.st); !ok || a.ID != p.ID {
		t.Fatalf("active plan %v %d", ok, a.ID)
	}

	// A purchase by another transaction (not the intent's) leaves the plan alone.
	e.intent(p.ID, 0, "PURCHASE", chainlogtest.TxHash(30, 0))
	e.logs(mk("AssetPurchased", 29, 0, testNow, l2Asset, 1, e18(1), e18(1)))
	mustEqual(t, "after a foreign purchase", e.plan(p.ID).Actions[0].State, ActionPending)
	e.logs(mk("AssetPurchased", 30, 0, testNow, l2Asset, 1, e18(30), e18(30)))
	got := e.plan(p.ID)
	if got.Actions[0].State != ActionDone || got.Actions[0].TxHash != chainlogtest.TxHash(30, 0) || got.Actions[0].RealisedTokens != *e18(30) || got.Status != PlanExecuting {
		t.Fatalf("after action 0: %+v", got.Actions[0])
	}
	e.intent(p.ID, 1, "PURCHASE", chainlogtest.TxHash(31, 0))
	last := mk("AssetPurchased", 31, 0, testNow, l3Asset, 2, e18(30), e18(30))
	e.logs(last)
	done := e.plan(p.ID)
	if done.Status != PlanCompleted || !done.HasRealised || done.Realised.Tiers[2].Ratio != 3000 || done.FinishedAt != testNow*1e9 {
		t.Fatalf("completed: %+v", done)
	}
	// The foreign purchase of 1 is in the books too: L2 holds 31 of 100.
	mustEqual(t, "realised L2", done.Realised.Tiers[1].Ratio, uint64(3100))
	if _, ok, _ := ActivePlan(e.st); ok {
		t.Fatal("a completed plan is still active")
	}
	if lp, ok, _ := LastPlan(e.st); !ok || lp.ID != p.ID {
		t.Fatal("last plan")
	}
	e.logs(removed(last))
	if r := e.plan(p.ID); r.Status != PlanExecuting || r.Actions[1].State != ActionPending {
		t.Fatalf("after the reorg: %s %v", r.Status, r.Actions[1].State)
	}
	e.logs(last)
	mustEqual(t, "completed again", e.plan(p.ID).Status, PlanCompleted)
	refusedWith(t, "superseded", e.execute(second.ID, e18(1000)), CodeConflict)
	mustEqual(t, "audit of execute", len(e.pages(100, func(pg Page) ([]byte, error) { return Audit(e.st, AuditFilter{Action: "rebalance.execute"}, pg) })), 1)
}

// TestRebalanceApproval: over the approval amount a plan opens a REBALANCE ticket; its
// requester may not approve it; approvals start it; a failed transaction fails it, naming the
// action and the reason, and skips the rest; a rejected ticket cancels its plan.
func TestRebalanceApproval(t *testing.T) {
	e := rebalanceEnv(t)
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: testNow * 1e9, Rules: testApprovalRules()})) // 2 approvals over 1
	p := e.preview([3]uint64{4000, 3000, 3000})
	res := e.execute(p.ID, e18(10)).(*RebalancePlanResult)
	if res.Plan.Status != PlanPendingApproval || !res.Plan.RequiresApproval || res.Plan.Ticket != "rebalance-"+PlanID(p.ID) {
		t.Fatalf("execute: %+v", res.Plan)
	}
	tk := e.ticket(res.Plan.Ticket)
	if tk.Type != TicketRebalance || tk.Required != 2 || tk.Amount != *e18(60) || tk.Requester != ops.Name || tk.Status != TicketPending {
		t.Fatalf("ticket %+v", tk)
	}
	refusedWith(t, "requester approves", e.decide(testNow+20, ops.Name, "approver", tk.ID, DecisionApprove, ""), CodeForbidden)
	e.decide(testNow+20, "alice", "approver", tk.ID, DecisionApprove, "")
	mustEqual(t, "one approval", e.plan(p.ID).Status, PlanPendingApproval)
	e.decide(testNow+21, "bob", "approver", tk.ID, DecisionApprove, "")
	mustEqual(t, "two approvals", e.plan(p.ID).Status, PlanExecuting)

	seq := e.intent(p.ID, 0, "PURCHASE", chainlogtest.TxHash(40, 0))
	e.apply(EncodeTxUpdate(&TxUpdateCommand{Time: (testNow + 30) * 1e9, Seq: seq, State: TxFailed, Reason: "execution reverted: assets: slippage"}))
	f := e.plan(p.ID)
	if f.Status != PlanFailed || f.Actions[0].State != ActionFailed || f.Actions[1].State != ActionSkipped || f.FinishedAt != (testNow+30)*1e9 {
		t.Fatalf("failed: %+v", f)
	}
	want := "action 0 (PURCHASE " + chainlog.HexAddress(l2Asset) + "): execution reverted: assets: slippage"
	mustEqual(t, "reason", f.Reason, want)
	mustEqual(t, "ticket stays approved", e.ticket(tk.ID).Status, TicketApproved)

	// A rejected ticket cancels its plan and frees the slot.
	q := e.preview([3]uint64{4000, 3000, 3000})
	e.execute(q.ID, e18(10))
	e.decide(testNow+40, "alice", "approver", "rebalance-"+PlanID(q.ID), DecisionReject, "not now")
	if c := e.plan(q.ID); c.Status != PlanCancelled || c.Reason != "approval ticket rebalance-"+PlanID(q.ID)+" is REJECTED" {
		t.Fatalf("rejected: %s %q", c.Status, c.Reason)
	}
	if _, ok, _ := ActivePlan(e.st); ok {
		t.Fatal("a cancelled plan is active")
	}
}

// TestRebalanceStale: a plan whose books moved by more than the tolerance is refused.
func TestRebalanceStale(t *testing.T) {
	e := rebalanceEnv(t)
	p := e.preview([3]uint64{4000, 3000, 3000})
	e.logs(mk("AssetPurchased", 50, 0, testNow, l2Asset, 1, e18(10), e18(10)))
	refusedWith(t, "stale", e.execute(p.ID, e18(1000)), CodeConflict)
	q := e.preview([3]uint64{4000, 3000, 3000})
	mustEqual(t, "fresh plan", e.execute(q.ID, e18(1000)).(*RebalancePlanResult).Plan.Status, PlanExecuting)
}

// TestRebalancePlanRefused: a plan that is not the planner's shape is refused, changing nothing.
func TestRebalancePlanRefused(t *testing.T) {
	e := rebalanceEnv(t)
	good := func() *RebalancePlanCommand {
		return &RebalancePlanCommand{Time: testNow * 1e9, Actor: ops, Targets: [3]uint64{4000, 3000, 3000},
			Plan: rebalance.Plan{Actions: []rebalance.Action{{Type: rebalance.Purchase, Tier: 1, Amount: *e18(1), Tokens: *e18(1)}}, TotalAmount: *e18(1)}}
	}
	before := e.stateDump()
	for name, mut := range map[string]func(c *RebalancePlanCommand){
		"targets":  func(c *RebalancePlanCommand) { c.Targets[0] = 1 },
		"type":     func(c *RebalancePlanCommand) { c.Plan.Actions[0].Type = 9 },
		"tier":     func(c *RebalancePlanCommand) { c.Plan.Actions[0].Tier = 0 },
		"total":    func(c *RebalancePlanCommand) { c.Plan.TotalAmount = *e18(2) },
		"no actor": func(c *RebalancePlanCommand) { c.Actor = Actor{} },
	} {
		c := good()
		mut(c)
		if !isValidation(e.apply(EncodeRebalancePlan(c))) {
			t.Errorf("%s: accepted", name)
		}
	}
	if e.stateDump() != before {
		t.Fatal("a refused plan changed the state")
	}
	// The codecs round-trip.
	c := good()
	c.Reserved, c.Horizon, c.LastBlock = *e18(3), 7*day, 42
	d, err := DecodeRebalancePlan(EncodeRebalancePlan(c))
	if err != nil || d.Reserved != c.Reserved || d.Horizon != c.Horizon || d.Plan.Actions[0] != c.Plan.Actions[0] || d.Actor != c.Actor {
		t.Fatalf("plan codec: %v %+v", err, d)
	}
	x := &RebalanceExecuteCommand{Time: 5, Actor: ops, PlanID: 9, ApprovalAmount: *e18(4)}
	if dx, err := DecodeRebalanceExecute(EncodeRebalanceExecute(x)); err != nil || *dx != *x {
		t.Fatalf("execute codec: %v %+v", err, dx)
	}
}

// TestRebalanceCancel: a PROPOSED plan is cancelled with who and why, audited; a second
// cancel, one of an executing plan and one of an unknown plan are refused and change nothing;
// a cancelled plan cannot be executed and does not supersede an older one.
func TestRebalanceCancel(t *testing.T) {
	e := rebalanceEnv(t)
	older := e.preview([3]uint64{4000, 3000, 3000})
	p := e.preview([3]uint64{4000, 3000, 3000})
	cancel := func(id uint64, reason string) any {
		return e.apply(EncodeRebalanceCancel(&RebalanceCancelCommand{Time: (testNow + 5) * 1e9, Actor: ops, PlanID: id, Reason: reason}))
	}
	res := cancel(p.ID, "targets under review").(*RebalancePlanResult)
	if res.Plan.Status != PlanCancelled || res.Plan.Reason != "cancelled by token:ops: targets under review" || res.Plan.FinishedAt != (testNow+5)*1e9 ||
		res.Plan.UpdatedIndex != e.index || res.Plan.ExecutedAt != 0 {
		t.Fatalf("cancel: %+v", res.Plan)
	}
	mustEqual(t, "stored", e.plan(p.ID).Status, PlanCancelled)
	audit := e.pages(100, func(pg Page) ([]byte, error) { return Audit(e.st, AuditFilter{Action: "rebalance.cancel"}, pg) })
	if len(audit) != 1 || audit[0].(map[string]any)["resource"] != "rebalance/"+PlanID(p.ID) {
		t.Fatalf("audit %v", audit)
	}

	before := e.stateDump()
	refusedWith(t, "cancelled twice", cancel(p.ID, ""), CodeConflict)
	refusedWith(t, "unknown plan", cancel(999, ""), CodeNotFound)
	refusedWith(t, "reason too long", cancel(older.ID, strings.Repeat("x", MaxCancelReason+1)), "")
	refusedWith(t, "no actor", e.apply(EncodeRebalanceCancel(&RebalanceCancelCommand{Time: testNow * 1e9, PlanID: older.ID})), "")
	refusedWith(t, "execute a cancelled plan", e.execute(p.ID, e18(1000)), CodeConflict)
	if e.stateDump() != before {
		t.Fatal("a refused cancel changed the state")
	}
	mustEqual(t, "the older plan still executes", e.execute(older.ID, e18(1000)).(*RebalancePlanResult).Plan.Status, PlanExecuting)
	refusedWith(t, "cancel an executing plan", cancel(older.ID, ""), CodeConflict)

	c := &RebalanceCancelCommand{Time: 5, Actor: ops, PlanID: 9, Reason: "why"}
	if d, err := DecodeRebalanceCancel(EncodeRebalanceCancel(c)); err != nil || *d != *c {
		t.Fatalf("cancel codec: %v %+v", err, d)
	}
}

// TestRebalanceSupersededCancelled: executing a plan cancels the PROPOSED plans previewed
// before it ("superseded by plan N"), which could never execute after it, and leaves the newer
// ones PROPOSED; an already cancelled older plan keeps its own reason.
func TestRebalanceSupersededCancelled(t *testing.T) {
	e := rebalanceEnv(t)
	first := e.preview([3]uint64{4000, 3000, 3000})
	cancelled := e.preview([3]uint64{4000, 3000, 3000})
	e.apply(EncodeRebalanceCancel(&RebalanceCancelCommand{Time: testNow * 1e9, Actor: ops, PlanID: cancelled.ID, Reason: "no"}))
	p := e.preview([3]uint64{4000, 3000, 3000})
	newer := e.preview([3]uint64{5000, 2500, 2500})
	mustEqual(t, "execute", e.execute(p.ID, e18(1000)).(*RebalancePlanResult).Plan.Status, PlanExecuting)
	got := e.plan(first.ID)
	if got.Status != PlanCancelled || got.Reason != "superseded by plan "+PlanID(p.ID) || got.FinishedAt != (testNow+10)*1e9 || got.ExecutedAt != 0 || got.UpdatedIndex != e.index {
		t.Fatalf("the older plan after the execution: %+v", got)
	}
	mustEqual(t, "the cancelled plan's reason", e.plan(cancelled.ID).Reason, "cancelled by token:ops: no")
	mustEqual(t, "the newer plan", e.plan(newer.ID).Status, PlanProposed)
	refusedWith(t, "execute the superseded plan", e.execute(first.ID, e18(1000)), CodeConflict)
}
