package fund

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/holiman/uint256"

	"paimon/kv"
	"paimon/rebalance"
)

// Rebalancing plans (OPERATIONS.md, "Rebalancing"; DESIGN.md, "Rebalancing plans"): a plan
// computed by the planner (package rebalance) from a node's books is stored by
// CmdRebalancePlan (PROPOSED); CmdRebalanceExecute starts it (EXECUTING) or opens its
// REBALANCE approval ticket (PENDING_APPROVAL), one plan at a time; the ticket's decision
// starts or cancels it; the executor's intents and the asset controller's events ingested from
// the chain move its actions along, to COMPLETED with the realised post-state, or FAILED.

// Key prefixes of the plans.
const (
	pPlan       = 'M' // M id8 → rebalance plan (primary)
	pPlanStatus = 'v' // v status1 id8 → ∅ (plans by status; derived from M)
)

// PlanStatus is a plan's status.
type PlanStatus uint8

// The plan statuses (stored; never renumber).
const (
	PlanProposed        PlanStatus = 1
	PlanPendingApproval PlanStatus = 2
	PlanExecuting       PlanStatus = 3
	PlanCompleted       PlanStatus = 4
	PlanFailed          PlanStatus = 5
	PlanCancelled       PlanStatus = 6
)

var planStatusNames = [...]string{"", "PROPOSED", "PENDING_APPROVAL", "EXECUTING", "COMPLETED", "FAILED", "CANCELLED"}

// String returns the API name, or "" for an invalid status.
func (s PlanStatus) String() string {
	if int(s) < len(planStatusNames) {
		return planStatusNames[s]
	}
	return ""
}

// Active reports whether the plan holds the one execution slot.
func (s PlanStatus) Active() bool { return s == PlanPendingApproval || s == PlanExecuting }

// ParsePlanStatus parses an API status name, case-insensitively.
func ParsePlanStatus(v string) (PlanStatus, bool) {
	for i := 1; i < len(planStatusNames); i++ {
		if strings.EqualFold(v, planStatusNames[i]) {
			return PlanStatus(i), true
		}
	}
	return 0, false
}

// ActionState is how far one action of a plan went.
type ActionState uint8

// The action states (stored; never renumber).
const (
	ActionPending ActionState = 0 // not executed yet
	ActionDone    ActionState = 1 // its event is ingested
	ActionFailed  ActionState = 2 // its transaction failed: the plan FAILED
	ActionSkipped ActionState = 3 // not executed: an earlier action failed
)

var actionStateNames = [...]string{"PENDING", "DONE", "FAILED", "SKIPPED"}

// String returns the API name.
func (s ActionState) String() string {
	if int(s) < len(actionStateNames) {
		return actionStateNames[s]
	}
	return ""
}

// PlanAction is one action of a plan with its execution: the transaction whose event the node
// ingested and what it really moved.
type PlanAction struct {
	rebalance.Action
	State ActionState
	// TxHash and Block: the transaction whose AssetPurchased / AssetRedeemed event completed it.
	TxHash [32]byte
	Block  uint64
	// RealisedAmount is the stablecoin spent or received, RealisedTokens the tokens received
	// or sold, as the event says.
	RealisedAmount, RealisedTokens uint256.Int
}

// PlanRecord is a stored plan (times: unix ns of the commands; FinishedAt of a plan completed
// by an event is its block time in ns).
type PlanRecord struct {
	ID     uint64 // the Raft index of its CmdRebalancePlan
	Status PlanStatus
	// The inputs: the target ratios, the cash reserved for redemptions due within the horizon
	// (seconds), the books' last block.
	Targets     [rebalance.NumTiers]uint64
	Reserved    uint256.Int
	Horizon     int64
	LastBlock   uint64
	Pre, Target rebalance.State
	Post        rebalance.State // the estimate
	Actions     []PlanAction
	TotalAmount uint256.Int
	// Set by CmdRebalanceExecute: the threshold it was judged against, whether it needed a
	// ticket (Ticket: its id).
	ApprovalAmount   uint256.Int
	RequiresApproval bool
	Ticket           string
	CreatedBy        string
	CreatedRole      string
	CreatedAt        int64
	ExecutedBy       string
	ExecutedAt       int64
	FinishedAt       int64
	Reason           string // FAILED, CANCELLED: why
	// Realised is the books' allocation when the last action's event was ingested
	// (HasRealised: COMPLETED, or FAILED after some actions).
	Realised     rebalance.State
	HasRealised  bool
	UpdatedIndex uint64
}

// Limits of a plan.
const (
	MaxPlanActions  = 256
	maxPlanReason   = 512
	planRecVersion  = 1
	planKeyLen      = 9
	planStatusKeyLn = 10
)

func planKey(id uint64) []byte { return key(pPlan, be64(id)) }

func planStatusKey(s PlanStatus, id uint64) []byte {
	return key(pPlanStatus, []byte{byte(s)}, be64(id))
}

func appendState(b []byte, s *rebalance.State) []byte {
	b = appendU256(b, &s.Cash)
	b = appendU256(b, &s.Gross)
	for t := range s.Tiers {
		b = appendU256(b, &s.Tiers[t].Value)
		b = binary.AppendUvarint(b, s.Tiers[t].Ratio)
	}
	return b
}

func (d *dec) state(s *rebalance.State) {
	d.u256(&s.Cash)
	d.u256(&s.Gross)
	for t := range s.Tiers {
		d.u256(&s.Tiers[t].Value)
		s.Tiers[t].Ratio = d.uvarint()
	}
}

func appendAction(b []byte, a *rebalance.Action) []byte {
	b = append(b, byte(a.Type), a.Tier)
	b = append(b, a.Asset[:]...)
	b = appendU256(b, &a.Amount)
	b = appendU256(b, &a.Tokens)
	b = appendU256(b, &a.MinReceived)
	return binary.AppendUvarint(b, a.MaxSlippageBps)
}

func (d *dec) action(a *rebalance.Action) {
	a.Type, a.Tier = rebalance.ActionType(d.u8()), d.u8()
	copy(a.Asset[:], d.fixed(20))
	d.u256(&a.Amount)
	d.u256(&a.Tokens)
	d.u256(&a.MinReceived)
	a.MaxSlippageBps = d.uvarint()
}

func (p *PlanRecord) encode() []byte {
	b := make([]byte, 0, 512+160*len(p.Actions))
	b = append(b, planRecVersion, byte(p.Status))
	for _, t := range p.Targets {
		b = binary.AppendUvarint(b, t)
	}
	b = appendU256(b, &p.Reserved)
	b = binary.AppendVarint(b, p.Horizon)
	b = binary.AppendUvarint(b, p.LastBlock)
	b = appendState(b, &p.Pre)
	b = appendState(b, &p.Target)
	b = appendState(b, &p.Post)
	b = binary.AppendUvarint(b, uint64(len(p.Actions)))
	for i := range p.Actions {
		a := &p.Actions[i]
		b = appendAction(b, &a.Action)
		b = append(b, byte(a.State))
		b = append(b, a.TxHash[:]...)
		b = binary.AppendUvarint(b, a.Block)
		b = appendU256(b, &a.RealisedAmount)
		b = appendU256(b, &a.RealisedTokens)
	}
	b = appendU256(b, &p.TotalAmount)
	b = appendU256(b, &p.ApprovalAmount)
	b = append(b, boolByte(p.RequiresApproval))
	for _, s := range []string{p.Ticket, p.CreatedBy, p.CreatedRole} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, p.CreatedAt)
	b = appendString(b, p.ExecutedBy)
	b = binary.AppendVarint(b, p.ExecutedAt)
	b = binary.AppendVarint(b, p.FinishedAt)
	b = appendString(b, p.Reason)
	b = append(b, boolByte(p.HasRealised))
	b = appendState(b, &p.Realised)
	return binary.AppendUvarint(b, p.UpdatedIndex)
}

// decodePlan decodes the plan stored under k.
func decodePlan(k, v []byte) (PlanRecord, error) {
	var p PlanRecord
	if len(k) != planKeyLen || k[0] != pPlan {
		return p, corrupt("rebalance plan key", fmt.Errorf("%x", k))
	}
	p.ID = be64get(k[1:])
	d := &dec{b: v}
	d.recordVersion()
	p.Status = PlanStatus(d.u8())
	for t := range p.Targets {
		p.Targets[t] = d.uvarint()
	}
	d.u256(&p.Reserved)
	p.Horizon = d.varint()
	p.LastBlock = d.uvarint()
	d.state(&p.Pre)
	d.state(&p.Target)
	d.state(&p.Post)
	n := d.count(30)
	if d.err == nil && n > 0 {
		p.Actions = make([]PlanAction, n)
		for i := 0; i < n && d.err == nil; i++ {
			a := &p.Actions[i]
			d.action(&a.Action)
			a.State = ActionState(d.u8())
			copy(a.TxHash[:], d.fixed(32))
			a.Block = d.uvarint()
			d.u256(&a.RealisedAmount)
			d.u256(&a.RealisedTokens)
		}
	}
	d.u256(&p.TotalAmount)
	d.u256(&p.ApprovalAmount)
	p.RequiresApproval = d.u8() == 1
	p.Ticket, p.CreatedBy, p.CreatedRole = d.str(), d.str(), d.str()
	p.CreatedAt = d.varint()
	p.ExecutedBy = d.str()
	p.ExecutedAt = d.varint()
	p.FinishedAt = d.varint()
	p.Reason = d.str()
	p.HasRealised = d.u8() == 1
	d.state(&p.Realised)
	p.UpdatedIndex = d.uvarint()
	if d.err == nil && p.Status.String() == "" {
		d.fail(fmt.Sprintf("plan status %d", p.Status))
	}
	if err := d.finish(); err != nil {
		return PlanRecord{}, corrupt("rebalance plan", err)
	}
	return p, nil
}

// ---- the read-only accessors ----

// Prefixes of the plans, for the read model and the sync.
const (
	PrefixPlan       = pPlan       // M id8 → plan (DecodePlan)
	PrefixPlanStatus = pPlanStatus // v status1 id8 → ∅
)

// PlanKey is the key of plan id.
func PlanKey(id uint64) []byte { return planKey(id) }

// PlanStatusPrefix is the prefix of the plans with status s (newest last).
func PlanStatusPrefix(s PlanStatus) []byte { return []byte{pPlanStatus, byte(s)} }

// DecodePlan decodes the plan stored under k; the result shares nothing with v.
func DecodePlan(k, v []byte) (PlanRecord, error) { return decodePlan(k, v) }

// ReadPlan reads plan id from r; ErrNotFound when there is none.
func ReadPlan(r kv.Reader, id uint64) (PlanRecord, error) {
	v, ok, err := readOpt(r, planKey(id))
	if err != nil {
		return PlanRecord{}, err
	}
	if !ok {
		return PlanRecord{}, ErrNotFound
	}
	return decodePlan(planKey(id), v)
}

// ActivePlan returns the plan PENDING_APPROVAL or EXECUTING, if any (there is at most one).
func ActivePlan(r kv.Reader) (PlanRecord, bool, error) {
	for _, s := range []PlanStatus{PlanExecuting, PlanPendingApproval} {
		id, ok, err := lastOfStatus(r, s)
		if err != nil || ok {
			if err != nil {
				return PlanRecord{}, false, err
			}
			p, err := ReadPlan(r, id)
			return p, err == nil, err
		}
	}
	return PlanRecord{}, false, nil
}

// LastPlan returns the newest plan that left PROPOSED (executed, pending, cancelled), if any.
func LastPlan(r kv.Reader) (PlanRecord, bool, error) {
	var best uint64
	for s := PlanPendingApproval; s <= PlanCancelled; s++ {
		id, ok, err := lastOfStatus(r, s)
		if err != nil {
			return PlanRecord{}, false, err
		}
		if ok && id > best {
			best = id
		}
	}
	if best == 0 {
		return PlanRecord{}, false, nil
	}
	p, err := ReadPlan(r, best)
	return p, err == nil, err
}

// lastOfStatus is the newest plan id with status s.
func lastOfStatus(r kv.Reader, s PlanStatus) (uint64, bool, error) {
	prefix := PlanStatusPrefix(s)
	var id uint64
	var found bool
	err := scan(r, prefix, kv.PrefixEnd(prefix), true, func(k, _ []byte) (bool, error) {
		if len(k) != planStatusKeyLn {
			return false, corrupt("plan status key", fmt.Errorf("%x", k))
		}
		id, found = be64get(k[2:]), true
		return false, nil
	})
	return id, found, err
}

// PlanID renders a plan id as the API does.
func PlanID(id uint64) string { return strconv.FormatUint(id, 10) }

// planTicketRef is the reference of a plan's REBALANCE ticket: the id, big-endian in 32 bytes.
func planTicketRef(id uint64) [32]byte {
	var ref [32]byte
	binary.BigEndian.PutUint64(ref[24:], id)
	return ref
}

// planOfTicketRef is the plan id of a REBALANCE ticket's reference (0 if it names none).
func planOfTicketRef(ref *[32]byte) uint64 {
	for _, b := range ref[:24] {
		if b != 0 {
			return 0
		}
	}
	return binary.BigEndian.Uint64(ref[24:])
}

// PlanIntentReference is the executor's reference of action i of plan id: the decision
// (PURCHASE or REDEEM, reference) has one intent.
func PlanIntentReference(id uint64, i int) string {
	return "rebalance-" + strconv.FormatUint(id, 10) + "-" + strconv.Itoa(i)
}

// parsePlanIntentReference is PlanIntentReference's inverse.
func parsePlanIntentReference(ref string) (id uint64, i int, ok bool) {
	rest, found := strings.CutPrefix(ref, "rebalance-")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(a, 10, 64)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 0 || PlanIntentReference(id, n) != ref {
		return 0, 0, false
	}
	return id, n, true
}

// ActionPurpose is the executor's purpose of an action: PURCHASE or REDEEM.
func ActionPurpose(t rebalance.ActionType) string { return t.String() }
