package fund

import (
	"encoding/binary"
	"fmt"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/rebalance"
)

// The rebalancing commands (rebalance.go). Append only: 24..29 are rebalancing's (COORD.md).
const (
	CmdRebalancePlan    byte = 24 // a previewed plan becomes replicated state (PROPOSED)
	CmdRebalanceExecute byte = 25 // start a plan, or open its approval ticket
)

// ---- CmdRebalancePlan ----

// RebalancePlanCommand stores a plan the proposer computed with the planner from its books:
// the inputs (targets, reserve, horizon, the books' last block) and the plan.
type RebalancePlanCommand struct {
	Time      int64 // unix ns
	Actor     Actor
	Targets   [rebalance.NumTiers]uint64
	Reserved  uint256.Int
	Horizon   int64 // seconds
	LastBlock uint64
	Plan      rebalance.Plan
}

// RebalancePlanResult is the result of CmdRebalancePlan and CmdRebalanceExecute: the plan
// after the command.
type RebalancePlanResult struct {
	Plan PlanRecord
}

// EncodeRebalancePlan encodes c: time, actor, targets, reserve, horizon, last block, the pre,
// target and post states, the actions, the total.
func EncodeRebalancePlan(c *RebalancePlanCommand) []byte {
	b := make([]byte, 0, 512+100*len(c.Plan.Actions))
	b = append(b, CmdRebalancePlan, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	for _, t := range c.Targets {
		b = binary.AppendUvarint(b, t)
	}
	b = appendU256(b, &c.Reserved)
	b = binary.AppendVarint(b, c.Horizon)
	b = binary.AppendUvarint(b, c.LastBlock)
	b = appendState(b, &c.Plan.Pre)
	b = appendState(b, &c.Plan.Target)
	b = appendState(b, &c.Plan.Post)
	b = binary.AppendUvarint(b, uint64(len(c.Plan.Actions)))
	for i := range c.Plan.Actions {
		b = appendAction(b, &c.Plan.Actions[i])
	}
	return appendU256(b, &c.Plan.TotalAmount)
}

// DecodeRebalancePlan decodes a CmdRebalancePlan strictly; errors wrap ErrBadCommand.
func DecodeRebalancePlan(cmd []byte) (*RebalancePlanCommand, error) {
	d, err := newDec(cmd, CmdRebalancePlan)
	if err != nil {
		return nil, err
	}
	c := &RebalancePlanCommand{Time: d.varint()}
	d.actor(&c.Actor)
	for t := range c.Targets {
		c.Targets[t] = d.uvarint()
	}
	d.u256(&c.Reserved)
	c.Horizon = d.varint()
	c.LastBlock = d.uvarint()
	d.state(&c.Plan.Pre)
	d.state(&c.Plan.Target)
	d.state(&c.Plan.Post)
	n := d.count(30)
	if d.err == nil && n > 0 {
		c.Plan.Actions = make([]rebalance.Action, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.action(&c.Plan.Actions[i])
		}
	}
	d.u256(&c.Plan.TotalAmount)
	return c, d.finish()
}

// checkPlan refuses a plan that is not the planner's shape: ratios, action types and tiers,
// the total.
func checkPlan(c *RebalancePlanCommand) *ValidationError {
	var sum uint64
	for _, t := range c.Targets {
		sum += t
	}
	switch {
	case sum != 10_000:
		return invalidParam("targetRatios", "target ratios sum to %d, not 10000", sum)
	case len(c.Plan.Actions) > MaxPlanActions:
		return invalidf("a plan has at most %d actions, not %d", MaxPlanActions, len(c.Plan.Actions))
	case c.Horizon < 0:
		return invalidParam("horizon", "negative horizon")
	case c.Actor.IsZero() || c.Actor.Name == "":
		return invalidf("a plan needs an actor")
	}
	var total uint256.Int
	for i := range c.Plan.Actions {
		a := &c.Plan.Actions[i]
		if a.Type.String() == "" || a.Tier < 1 || a.Tier >= rebalance.NumTiers || a.MaxSlippageBps > rebalance.MaxSlippageBps || a.Tokens.IsZero() {
			return invalidf("action %d: type %d, tier %d, slippage %d bps, tokens %s", i, a.Type, a.Tier, a.MaxSlippageBps, a.Tokens.Dec())
		}
		if _, over := total.AddOverflow(&total, &a.Amount); over {
			return invalidf("the actions' total overflows")
		}
	}
	if total != c.Plan.TotalAmount {
		return invalidf("totalAmount %s is not the actions' sum %s", c.Plan.TotalAmount.Dec(), total.Dec())
	}
	return nil
}

func (ac *applyContext) applyRebalancePlan(c *RebalancePlanCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if verr := checkPlan(c); verr != nil {
		return verr, nil
	}
	p := &PlanRecord{ID: ac.index, Status: PlanProposed, Targets: c.Targets, Reserved: c.Reserved, Horizon: c.Horizon,
		LastBlock: c.LastBlock, Pre: c.Plan.Pre, Target: c.Plan.Target, Post: c.Plan.Post, TotalAmount: c.Plan.TotalAmount,
		CreatedBy: c.Actor.Name, CreatedRole: c.Actor.Role, CreatedAt: c.Time, UpdatedIndex: ac.index}
	p.Actions = make([]PlanAction, len(c.Plan.Actions))
	for i := range c.Plan.Actions {
		p.Actions[i].Action = c.Plan.Actions[i]
	}
	if err := ac.putPlan(nil, p, false); err != nil {
		return nil, err
	}
	after := fmt.Appendf(nil, `{"planId":"%d","actions":%d,"totalAmount":"%s","targetRatios":[%d,%d,%d]}`,
		p.ID, len(p.Actions), p.TotalAmount.Dec(), c.Targets[0], c.Targets[1], c.Targets[2])
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "rebalance.preview", "rebalance/"+PlanID(p.ID), nil, after); err != nil {
		return nil, err
	}
	return &RebalancePlanResult{Plan: *p}, nil
}

// ---- CmdRebalanceExecute ----

// RebalanceExecuteCommand starts plan PlanID. ApprovalAmount is the proposer's [rebalance]
// approval_amount, written into the command so that every replica applies the same rule: a
// plan whose total is above it needs a REBALANCE ticket.
type RebalanceExecuteCommand struct {
	Time           int64
	Actor          Actor
	PlanID         uint64
	ApprovalAmount uint256.Int
}

// EncodeRebalanceExecute encodes c: time, actor, plan id, approval amount.
func EncodeRebalanceExecute(c *RebalanceExecuteCommand) []byte {
	b := make([]byte, 0, 96)
	b = append(b, CmdRebalanceExecute, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = binary.AppendUvarint(b, c.PlanID)
	return appendU256(b, &c.ApprovalAmount)
}

// DecodeRebalanceExecute decodes a CmdRebalanceExecute strictly; errors wrap ErrBadCommand.
func DecodeRebalanceExecute(cmd []byte) (*RebalanceExecuteCommand, error) {
	d, err := newDec(cmd, CmdRebalanceExecute)
	if err != nil {
		return nil, err
	}
	c := &RebalanceExecuteCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.PlanID = d.uvarint()
	d.u256(&c.ApprovalAmount)
	return c, d.finish()
}

// applyRebalanceExecute starts a PROPOSED plan: EXECUTING, or PENDING_APPROVAL with a
// REBALANCE ticket when its total is above the approval amount. One plan at a time: while one
// is PENDING_APPROVAL or EXECUTING, CONFLICT; so is a plan older than one already started
// (superseded), or one whose books moved since (a tier more than the tolerance away from the
// plan's pre-state: preview again).
func (ac *applyContext) applyRebalanceExecute(c *RebalanceExecuteCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if c.Actor.IsZero() || c.Actor.Name == "" {
		return invalidf("an execution needs an actor"), nil
	}
	old, err := ac.loadPlan(c.PlanID)
	if err != nil {
		return nil, err
	}
	id := PlanID(c.PlanID)
	if old == nil {
		return planNotFound(id), nil
	}
	conflict := func(msg string, details map[string]any) *ValidationError {
		details["planId"], details["status"] = id, old.Status.String()
		return &ValidationError{Code: CodeConflict, Message: msg, Details: details}
	}
	if old.Status != PlanProposed {
		return conflict(fmt.Sprintf("rebalance plan %s is %s", id, old.Status), map[string]any{}), nil
	}
	for s := PlanPendingApproval; s <= PlanFailed; s++ {
		ids, err := ac.scanKeys(PlanStatusPrefix(s), []byte{pPlanStatus, byte(s) + 1})
		if err != nil {
			return nil, err
		}
		for _, k := range ids {
			other := be64get(k[2:])
			if s.Active() {
				return conflict(fmt.Sprintf("rebalance plan %d is %s: one plan executes at a time", other, s), map[string]any{"activePlanId": PlanID(other)}), nil
			}
			if other > c.PlanID {
				return conflict(fmt.Sprintf("rebalance plan %s is superseded by plan %d, started after it: preview again", id, other), map[string]any{"supersededBy": PlanID(other)}), nil
			}
		}
	}
	now, err := ac.currentState()
	if err != nil {
		return nil, err
	}
	for t := range now.Tiers {
		if d := int64(now.Tiers[t].Ratio) - int64(old.Pre.Tiers[t].Ratio); d > rebalance.Tolerance || d < -rebalance.Tolerance {
			return conflict(fmt.Sprintf("rebalance plan %s is stale: %s is at %d bps, the plan was computed at %d: preview again",
				id, rebalance.TierNames[t], now.Tiers[t].Ratio, old.Pre.Tiers[t].Ratio), map[string]any{"tier": rebalance.TierNames[t]}), nil
		}
	}
	p := clonePlan(old)
	p.ApprovalAmount, p.ExecutedBy, p.ExecutedAt, p.UpdatedIndex = c.ApprovalAmount, c.Actor.Name, c.Time, ac.index
	p.RequiresApproval = p.TotalAmount.Gt(&c.ApprovalAmount)
	if p.RequiresApproval {
		rules, err := ac.approvalRules()
		if err != nil {
			return nil, err
		}
		ref := planTicketRef(p.ID)
		now := c.Time / 1e9
		t := &ticketRec{typ: TicketRebalance, ref: ref, status: TicketPending, amount: p.TotalAmount, requesterName: c.Actor.Name,
			createdAt: now}
		t.required = rules.Required(&t.amount)
		sla := rules.SLAFor(0)
		t.warnAt, t.escAt, t.deadline = now+sla.Warn, now+sla.Escalate, now+sla.Deadline
		if err := ac.putTicket(nil, t); err != nil {
			return nil, err
		}
		p.Status, p.Ticket = PlanPendingApproval, TicketID(TicketRebalance, &ref)
	} else if err := ac.startPlan(p, c.Time); err != nil {
		return nil, err
	}
	if err := ac.putPlan(old, p, false); err != nil {
		return nil, err
	}
	if err := ac.cancelSuperseded(p.ID, c.Time); err != nil {
		return nil, err
	}
	after := fmt.Appendf(nil, `{"status":%q,"requiresApproval":%t,"ticket":%q}`, p.Status, p.RequiresApproval, p.Ticket)
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "rebalance.execute", "rebalance/"+id, fmt.Appendf(nil, `{"status":%q}`, old.Status), after); err != nil {
		return nil, err
	}
	return &RebalancePlanResult{Plan: *p}, nil
}

// cancelSuperseded cancels every PROPOSED plan older than plan id, which has just started: an
// older plan can never execute after it (applyRebalanceExecute refuses it as superseded), so it
// leaves PROPOSED rather than stay there for good, "superseded by plan <id>".
func (ac *applyContext) cancelSuperseded(id uint64, at int64) error {
	keys, err := ac.scanKeys(PlanStatusPrefix(PlanProposed), []byte{pPlanStatus, byte(PlanProposed) + 1})
	if err != nil {
		return err
	}
	for _, k := range keys {
		older := be64get(k[2:])
		if older >= id {
			continue
		}
		old, err := ac.loadPlan(older)
		if err != nil || old == nil {
			return err
		}
		p := clonePlan(old)
		p.Status, p.FinishedAt, p.UpdatedIndex = PlanCancelled, at, ac.index
		p.Reason = "superseded by plan " + PlanID(id)
		if err := ac.putPlan(old, p, false); err != nil {
			return err
		}
	}
	return nil
}

// planNotFound is the refusal of a command naming no plan.
func planNotFound(id string) *ValidationError {
	return &ValidationError{Code: CodeNotFound, Message: "rebalance plan " + id + " not found", Details: map[string]any{"planId": id}}
}

// startPlan makes p EXECUTING, or COMPLETED at once when it has no action.
func (ac *applyContext) startPlan(p *PlanRecord, at int64) error {
	p.Status = PlanExecuting
	if len(p.Actions) > 0 {
		return nil
	}
	return ac.finishPlan(p, PlanCompleted, at, "")
}

// finishPlan closes p with its realised allocation: the books now.
func (ac *applyContext) finishPlan(p *PlanRecord, s PlanStatus, at int64, reason string) error {
	st, err := ac.currentState()
	if err != nil {
		return err
	}
	p.Status, p.FinishedAt, p.Reason = s, at, truncate(reason, maxPlanReason)
	p.Realised, p.HasRealised = st, true
	return nil
}

// currentState is the allocation of the books being applied (the tier values and ratios; cash
// 0 before the books started).
func (ac *applyContext) currentState() (rebalance.State, error) {
	var st rebalance.State
	b := &ac.booksBuf
	if err := ac.books(b); err != nil {
		return st, err
	}
	st.Cash, st.Gross = b.Cash, b.GrossAssets
	for t := range st.Tiers {
		st.Tiers[t].Value = b.Tiers[t].Value
		st.Tiers[t].Ratio = uint64(max(b.RatioBps(t), 0))
	}
	return st, nil
}

func clonePlan(p *PlanRecord) *PlanRecord {
	q := *p
	q.Actions = append([]PlanAction(nil), p.Actions...)
	return &q
}

func (ac *applyContext) loadPlan(id uint64) (*PlanRecord, error) {
	k := planKey(id)
	v, ok, err := ac.get(k)
	if err != nil || !ok {
		return nil, err
	}
	p, err := decodePlan(k, v)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// putPlan writes a plan changed from old (nil: new), journaled with the event being applied
// when journaled (undoPlan keeps the status index following on a revert).
func (ac *applyContext) putPlan(old, p *PlanRecord, journaled bool) error {
	if err := ac.movePlanStatus(old, p); err != nil {
		return err
	}
	ac.mark(ClassRebalance)
	if journaled {
		return ac.setKey(planKey(p.ID), p.encode())
	}
	return ac.set(planKey(p.ID), p.encode())
}

// movePlanStatus keeps the status index (v) following a plan's change (either may be nil).
func (ac *applyContext) movePlanStatus(old, p *PlanRecord) error {
	switch {
	case old != nil && p != nil && old.Status == p.Status:
		return nil
	case old != nil:
		if err := ac.del(planStatusKey(old.Status, old.ID)); err != nil {
			return err
		}
	}
	if p != nil {
		return ac.set(planStatusKey(p.Status, p.ID), nil)
	}
	return nil
}

// undoPlan is the journal's undo of a plan key: the status index follows the restored value.
func (ac *applyContext) undoPlan(k, cur, prior []byte, existed bool) error {
	var old, restored *PlanRecord
	if cur != nil {
		p, err := decodePlan(k, cur)
		if err != nil {
			return err
		}
		old = &p
	}
	if existed {
		p, err := decodePlan(k, prior)
		if err != nil {
			return err
		}
		restored = &p
	}
	ac.mark(ClassRebalance)
	return ac.movePlanStatus(old, restored)
}

// ---- what moves a plan along ----

// rebalanceTicketDecided follows a REBALANCE ticket's decision: APPROVED starts its plan;
// REJECTED, EXPIRED or CANCELLED cancels it.
func (ac *applyContext) rebalanceTicketDecided(t *ticketRec, at int64) error {
	if t.typ != TicketRebalance {
		return nil
	}
	old, err := ac.loadPlan(planOfTicketRef(&t.ref))
	if err != nil || old == nil || old.Status != PlanPendingApproval {
		return err
	}
	p := clonePlan(old)
	p.UpdatedIndex = ac.index
	switch t.status {
	case TicketApproved:
		if err := ac.startPlan(p, at); err != nil {
			return err
		}
	case TicketRejected, TicketExpired, TicketCancelled:
		p.Status, p.FinishedAt = PlanCancelled, at
		p.Reason = fmt.Sprintf("approval ticket %s is %s", p.Ticket, t.status)
	default:
		return nil
	}
	return ac.putPlan(old, p, false)
}

// rebalanceIntentUpdated follows the executor's intent of a plan's action: a FAILED one
// (reverted in simulation or on chain, or its nonce lost) fails the plan with the reason and
// skips the rest.
func (ac *applyContext) rebalanceIntentUpdated(it *TxIntent, at int64) error {
	if it.State != TxFailed || (it.Purpose != rebalance.Purchase.String() && it.Purpose != rebalance.Redeem.String()) {
		return nil
	}
	id, i, ok := parsePlanIntentReference(it.Reference)
	if !ok {
		return nil
	}
	old, err := ac.loadPlan(id)
	if err != nil || old == nil || old.Status != PlanExecuting || i >= len(old.Actions) || old.Actions[i].State != ActionPending {
		return err
	}
	p := clonePlan(old)
	p.UpdatedIndex = ac.index
	p.Actions[i].State = ActionFailed
	for j := i + 1; j < len(p.Actions); j++ {
		p.Actions[j].State = ActionSkipped
	}
	reason := fmt.Sprintf("action %d (%s %s): %s", i, it.Purpose, chainlog.HexAddress(p.Actions[i].Asset), it.Reason)
	if err := ac.finishPlan(p, PlanFailed, at, reason); err != nil {
		return err
	}
	return ac.putPlan(old, p, false)
}

// rebalanceEvent follows an AssetPurchased or AssetRedeemed ingested from the chain: when it
// comes from the transaction of the executing plan's next action (its intent's attempts), the
// action is DONE with what the event says, and after the last one the plan is COMPLETED with
// the books as they are now. Journaled with the event: a reorg that removes it puts the plan
// back.
func (ac *applyContext) rebalanceEvent(ev *chainlog.Event, s *chainlog.Spec) error {
	var token [20]byte
	var amount, tokens *uint256.Int
	var typ rebalance.ActionType
	switch s.ID {
	case chainlog.AssetPurchased:
		typ, token, amount, tokens = rebalance.Purchase, ev.Args[0].Address, &ev.Args[2].Uint, &ev.Args[3].Uint
	case chainlog.AssetRedeemed:
		typ, token, tokens, amount = rebalance.Redeem, ev.Args[0].Address, &ev.Args[2].Uint, &ev.Args[3].Uint
	default:
		return nil
	}
	if ac.riskV1 { // v0.1.0's rules: no plans
		return nil
	}
	keys, err := ac.scanKeys(PlanStatusPrefix(PlanExecuting), []byte{pPlanStatus, byte(PlanExecuting) + 1})
	if err != nil || len(keys) == 0 {
		return err
	}
	old, err := ac.loadPlan(be64get(keys[0][2:]))
	if err != nil || old == nil {
		return err
	}
	i := 0
	for i < len(old.Actions) && old.Actions[i].State == ActionDone {
		i++
	}
	if i == len(old.Actions) || old.Actions[i].State != ActionPending || old.Actions[i].Asset != token || old.Actions[i].Type != typ {
		return nil
	}
	sent, err := ac.intentSent(old.Actions[i].Type.String(), PlanIntentReference(old.ID, i), ev.TxHash)
	if err != nil || !sent {
		return err
	}
	p := clonePlan(old)
	p.UpdatedIndex = ac.index
	a := &p.Actions[i]
	a.State, a.TxHash, a.Block, a.RealisedAmount, a.RealisedTokens = ActionDone, ev.TxHash, ev.BlockNumber, *amount, *tokens
	if i == len(p.Actions)-1 {
		if err := ac.finishPlan(p, PlanCompleted, ac.blockTime*1e9, ""); err != nil {
			return err
		}
		if err := ac.executedTicket(p, ev); err != nil {
			return err
		}
	}
	return ac.putPlan(old, p, true)
}

// intentSent reports whether the executor's intent for (purpose, reference) sent transaction
// tx (one of its attempts).
func (ac *applyContext) intentSent(purpose, reference string, tx [32]byte) (bool, error) {
	v, ok, err := ac.get(txDecisionKey(purpose, reference))
	if err != nil || !ok || len(v) != 8 {
		return false, err
	}
	it, err := ac.txIntent(be64get(v))
	if err != nil {
		return false, err
	}
	for _, a := range it.Attempts {
		if a.Hash == tx {
			return true, nil
		}
	}
	return false, nil
}

// executedTicket closes a completed plan's ticket as EXECUTED (journaled with the event).
func (ac *applyContext) executedTicket(p *PlanRecord, ev *chainlog.Event) error {
	if p.Ticket == "" {
		return nil
	}
	ref := planTicketRef(p.ID)
	old, err := ac.loadTicket(ticketKey(TicketRebalance, &ref))
	if err != nil || old == nil || old.status != TicketApproved {
		return err
	}
	t := *old
	t.approvals = append([]approvalEntry(nil), old.approvals...)
	t.status = TicketExecuted
	t.execTx, t.execBn, t.execTime = ev.TxHash, ev.BlockNumber, ac.blockTime
	if t.closedAt == 0 {
		t.closedAt = ac.blockTime * 1e9
	}
	return ac.putTicketJournaled(old, &t)
}
