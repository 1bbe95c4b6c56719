package fund

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"paimon/chainlog"
)

// The approval commands (approvals.go). Append only: 17..19 follow CmdRiskThresholds (16).
const (
	CmdApprovalRules    byte = 17 // the leader's [approvals] rules, replicated
	CmdApprovalDecision byte = 18 // approve, reject or cancel a ticket
	CmdTick             byte = 19 // advances time: SLA milestones and expiry
)

// ---- CmdApprovalRules ----

// ApprovalRulesCommand sets the rules tickets open with from then on. An open ticket keeps
// its SLA times, and its quorum unless the new rules ask more for its amount: then the quorum
// is raised (never lowered), so that no ticket is approved with fewer approvals than the rules
// in force (a ticket opened under the defaults before the leader's first rules).
type ApprovalRulesCommand struct {
	Time  int64 // the proposer's clock, unix ns
	Rules ApprovalRules
}

// ApprovalRulesResult is the result of a CmdApprovalRules command.
type ApprovalRulesResult struct {
	Changed bool // false when the replicated rules were these already
}

// EncodeApprovalRules encodes c: time, default and large required, large amount, then warn,
// escalate and deadline (seconds) of each channel.
func EncodeApprovalRules(c *ApprovalRulesCommand) []byte {
	b := make([]byte, 0, 96)
	b = append(b, CmdApprovalRules, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	return appendApprovalRules(b, &c.Rules)
}

// DecodeApprovalRules decodes a CmdApprovalRules command strictly; errors wrap ErrBadCommand.
func DecodeApprovalRules(cmd []byte) (*ApprovalRulesCommand, error) {
	d, err := newDec(cmd, CmdApprovalRules)
	if err != nil {
		return nil, err
	}
	c := &ApprovalRulesCommand{Time: d.varint()}
	d.approvalRules(&c.Rules)
	return c, d.finish()
}

func (ac *applyContext) applyApprovalRules(c *ApprovalRulesCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if err := c.Rules.Check(); err != nil {
		return invalidf("approval rules: %v", err), nil
	}
	enc := appendApprovalRules([]byte{approvalRulesVersion}, &c.Rules)
	cur, ok, err := ac.get([]byte{pApprovRules})
	if err != nil {
		return nil, err
	}
	if ok && string(cur) == string(enc) {
		return &ApprovalRulesResult{}, nil
	}
	if err := ac.set([]byte{pApprovRules}, enc); err != nil {
		return nil, err
	}
	ac.mark(ClassApprovals)
	if err := ac.raiseQuorums(&c.Rules, c.Time); err != nil {
		return nil, err
	}
	return &ApprovalRulesResult{Changed: true}, nil
}

// raiseQuorums raises the quorum of every open ticket to what rules ask for its amount when
// that is more (never lowers it), each with an audit entry by the system
// (approval.quorum_raise, before and after: required; ordinals 0, 1, … in the command). Open tickets are those of the due
// index (h): an open ticket always has a next SLA time (its deadline expires it).
func (ac *applyContext) raiseQuorums(rules *ApprovalRules, at int64) error {
	due, err := ac.scanKeys([]byte{pTicketDue}, []byte{pTicketDue + 1})
	if err != nil {
		return err
	}
	seen := map[[33]byte]bool{}
	var ord uint32
	for _, dk := range due {
		if len(dk) != 1+8+1+32 || seen[[33]byte(dk[9:])] {
			continue
		}
		seen[[33]byte(dk[9:])] = true
		typ, ref := TicketType(dk[9]), [32]byte(dk[10:])
		old, err := ac.loadTicket(ticketKey(typ, &ref))
		if err != nil {
			return err
		}
		if old == nil || !old.status.Open() {
			continue
		}
		req := rules.Required(&old.amount)
		if req <= old.required {
			continue
		}
		t := *old
		t.approvals = append([]approvalEntry(nil), old.approvals...)
		t.required, t.updatedIndex, t.updatedAt = req, ac.index, at
		if err := ac.putTicket(old, &t); err != nil {
			return err
		}
		before := fmt.Appendf(nil, `{"required":%d}`, old.required)
		after := fmt.Appendf(nil, `{"required":%d}`, t.required)
		if err := ac.writeAudit(ac.index, ord, at, &Actor{}, "approval.quorum_raise", "approvals/"+TicketID(typ, &ref), before, after); err != nil {
			return err
		}
		ord++
	}
	return nil
}

// ---- CmdApprovalDecision ----

// Limits of a decision.
const maxDecisionReason = 1024

// ApprovalDecisionCommand is an approver's approval or rejection of a ticket, or its
// cancellation by its requester or an admin.
type ApprovalDecisionCommand struct {
	Time     int64 // unix ns
	Actor    Actor
	Ticket   string // TicketID
	Decision Decision
	Reason   string
}

// ApprovalDecisionResult is the result of a CmdApprovalDecision: the ticket after it.
type ApprovalDecisionResult struct {
	Ticket TicketRecord
}

// EncodeApprovalDecision encodes c: time, actor, ticket id, decision, reason.
func EncodeApprovalDecision(c *ApprovalDecisionCommand) []byte {
	b := make([]byte, 0, 64+len(c.Ticket)+len(c.Reason))
	b = append(b, CmdApprovalDecision, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = appendString(b, c.Ticket)
	b = append(b, byte(c.Decision))
	return appendString(b, c.Reason)
}

// DecodeApprovalDecision decodes a CmdApprovalDecision strictly; errors wrap ErrBadCommand.
func DecodeApprovalDecision(cmd []byte) (*ApprovalDecisionCommand, error) {
	d, err := newDec(cmd, CmdApprovalDecision)
	if err != nil {
		return nil, err
	}
	c := &ApprovalDecisionCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.Ticket = d.str()
	c.Decision = Decision(d.u8())
	c.Reason = d.str()
	return c, d.finish()
}

// CodeForbidden is the code of a decision its actor may not make (403).
const CodeForbidden = "FORBIDDEN"

// requesterName is how an Actor names the wallet that requested a ticket (auth.WalletName).
func requesterName(t *ticketRec) string {
	if t.requesterName != "" {
		return t.requesterName
	}
	return "wallet:" + chainlog.HexAddress(t.requester)
}

// canApprove: approvers and admins decide tickets (OPERATIONS.md, "Roles").
func canApprove(role string) bool { return role == "approver" || role == "admin" }

// applyApprovalDecision decides a ticket. Every refusal changes nothing: an unknown ticket is
// NOT_FOUND; a closed ticket, a decision at or after the deadline, an approver deciding twice
// are CONFLICT; a role that may not decide, the requester deciding their own ticket, a
// cancellation by someone else than the requester or an admin are FORBIDDEN.
func (ac *applyContext) applyApprovalDecision(c *ApprovalDecisionCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case c.Decision != DecisionApprove && c.Decision != DecisionReject && c.Decision != DecisionCancel:
		return invalidParam("decision", "decision %d is not approve, reject or cancel", c.Decision), nil
	case len(c.Reason) > maxDecisionReason:
		return invalidParam("reason", "reason is over %d bytes", maxDecisionReason), nil
	case c.Decision == DecisionReject && c.Reason == "":
		return invalidParam("reason", "a rejection needs a reason"), nil
	case c.Actor.IsZero() || c.Actor.Name == "":
		return invalidf("a decision needs an actor"), nil
	}
	typ, ref, ok := ParseTicketID(c.Ticket)
	if !ok {
		return &ValidationError{Code: CodeNotFound, Message: fmt.Sprintf("approval ticket %.100q not found", c.Ticket), Details: map[string]any{"id": truncate(c.Ticket, 100)}}, nil
	}
	old, err := ac.loadTicket(ticketKey(typ, &ref))
	if err != nil {
		return nil, err
	}
	if old == nil {
		return &ValidationError{Code: CodeNotFound, Message: fmt.Sprintf("approval ticket %s not found", c.Ticket), Details: map[string]any{"id": c.Ticket}}, nil
	}
	forbidden := func(msg string) *ValidationError {
		return &ValidationError{Code: CodeForbidden, Message: msg, Details: map[string]any{"id": c.Ticket}}
	}
	conflict := func(msg string) *ValidationError {
		return &ValidationError{Code: CodeConflict, Message: msg, Details: map[string]any{"id": c.Ticket, "status": old.status.String()}}
	}
	isRequester := c.Actor.Name == requesterName(old)
	switch {
	case !old.status.Open():
		return conflict(fmt.Sprintf("approval ticket %s is %s", c.Ticket, old.status)), nil
	case c.Time/1e9 >= old.deadline:
		return conflict(fmt.Sprintf("approval ticket %s is past its deadline %s", c.Ticket, fmtUnix(old.deadline))), nil
	case c.Decision == DecisionCancel:
		if !isRequester && c.Actor.Role != "admin" {
			return forbidden("only the requester or an admin may cancel a ticket"), nil
		}
	case !canApprove(c.Actor.Role):
		return forbidden(fmt.Sprintf("deciding a ticket needs the approver role, not %q", c.Actor.Role)), nil
	case isRequester:
		return forbidden("nobody decides a ticket they requested"), nil
	}
	if c.Decision != DecisionCancel {
		for i := range old.approvals {
			if old.approvals[i].actor == c.Actor.Name {
				return conflict(fmt.Sprintf("%s already decided approval ticket %s", c.Actor.Name, c.Ticket)), nil
			}
		}
	}
	t := *old
	t.approvals = append([]approvalEntry(nil), old.approvals...)
	switch c.Decision {
	case DecisionApprove, DecisionReject:
		t.approvals = append(t.approvals, approvalEntry{actor: c.Actor.Name, role: c.Actor.Role, decision: c.Decision, reason: c.Reason, time: c.Time, index: ac.index})
		switch {
		case c.Decision == DecisionReject:
			t.status = TicketRejected
		case t.approvedCount() >= int(t.required):
			t.status = TicketApproved
		default:
			t.status = TicketPartiallyApproved
		}
	case DecisionCancel:
		t.status = TicketCancelled
	}
	if !t.status.Open() {
		t.closedAt = c.Time
	}
	if err := ac.ticketEvent(&t, c.Decision, &c.Actor, c.Reason, c.Time); err != nil {
		return nil, err
	}
	if err := ac.putTicket(old, &t); err != nil {
		return nil, err
	}
	if err := ac.rebalanceTicketDecided(&t, c.Time); err != nil {
		return nil, err
	}
	action := "approval." + map[Decision]string{DecisionApprove: "approve", DecisionReject: "reject", DecisionCancel: "cancel"}[c.Decision]
	before := fmt.Appendf(nil, `{"status":%q,"approvals":%d}`, old.status, old.approvedCount())
	reason, _ := json.Marshal(c.Reason) // a string always marshals
	after := fmt.Appendf(nil, `{"status":%q,"approvals":%d,"required":%d,"reason":%s}`, t.status, t.approvedCount(), t.required, reason)
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, action, "approvals/"+c.Ticket, before, after); err != nil {
		return nil, err
	}
	return &ApprovalDecisionResult{Ticket: ticketRecord(&t)}, nil
}

// ticketEvent appends one approval record (g) to the ticket's trail and counts it on t.
func (ac *applyContext) ticketEvent(t *ticketRec, d Decision, actor *Actor, reason string, at int64) error {
	r := approvalRec{seq: t.records, decision: d, reason: reason, time: at, index: ac.index, status: t.status}
	if actor != nil {
		r.actor, r.role = actor.Name, actor.Role
	}
	k := ticketRecKey(t.typ, &t.ref, t.records)
	t.records++
	t.updatedIndex, t.updatedAt = ac.index, at
	return ac.set(k, r.encode())
}

// approvalRec is one entry of a ticket's trail (append only): a decision, a cancellation, an
// SLA milestone or the expiry, with the ticket's status after it.
type approvalRec struct {
	seq         uint32
	decision    Decision
	actor, role string // "" for the system
	reason      string
	time        int64 // unix ns
	index       uint64
	status      TicketStatus
}

const approvalRecVersion byte = 1

func (r *approvalRec) encode() []byte {
	b := make([]byte, 0, 48+len(r.actor)+len(r.role)+len(r.reason))
	b = append(b, approvalRecVersion)
	b = binary.AppendUvarint(b, uint64(r.seq))
	b = append(b, byte(r.decision), byte(r.status))
	b = appendString(b, r.actor)
	b = appendString(b, r.role)
	b = appendString(b, r.reason)
	b = binary.AppendVarint(b, r.time)
	return binary.AppendUvarint(b, r.index)
}

func (r *approvalRec) decode(v []byte) error {
	d := &dec{b: v}
	ver := d.u8()
	if d.err == nil {
		if err := checkVersion("approval record", ver, approvalRecVersion); err != nil {
			return err
		}
	}
	r.seq = uint32(d.uvarint())
	r.decision, r.status = Decision(d.u8()), TicketStatus(d.u8())
	r.actor, r.role, r.reason = d.str(), d.str(), d.str()
	r.time = d.varint()
	r.index = d.uvarint()
	if d.err == nil && (r.decision.String() == "" || r.status.String() == "") {
		d.fail(fmt.Sprintf("approval record decision %d, status %d", r.decision, r.status))
	}
	return d.finish()
}

// ---- CmdTick ----

// TickCommand advances the state machine's time to Time (the leader's clock): the SLA
// milestones of open tickets that passed by then fire (OPERATIONS.md, "Time inside the state
// machine").
type TickCommand struct {
	Time int64 // unix ns
}

// TickResult is the result of a CmdTick: what it fired.
type TickResult struct {
	Warned, Escalated, Expired int
}

// maxTickTickets bounds the tickets one tick moves; the rest wait for the next tick.
const maxTickTickets = 256

// EncodeTick encodes c.
func EncodeTick(c *TickCommand) []byte {
	return binary.AppendVarint([]byte{CmdTick, codecVersion}, c.Time)
}

// DecodeTick decodes a CmdTick strictly; errors wrap ErrBadCommand.
func DecodeTick(cmd []byte) (*TickCommand, error) {
	d, err := newDec(cmd, CmdTick)
	if err != nil {
		return nil, err
	}
	c := &TickCommand{Time: d.varint()}
	return c, d.finish()
}

// applyTick fires, in due order, every SLA milestone passed at the tick's time: warn (a
// WARNING SYSTEM risk event APPROVAL_SLA_WARN), escalate (HIGH, APPROVAL_SLA_ESCALATE) and the
// deadline (CRITICAL, APPROVAL_SLA_BREACH; the ticket EXPIRED). Each fires once: the ticket
// notes it. One seek when nothing is due.
func (ac *applyContext) applyTick(c *TickCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	now := c.Time / 1e9
	due, err := ac.scanKeys([]byte{pTicketDue}, key(pTicketDue, be64(uint64(max(now, 0))+1)))
	if err != nil {
		return nil, err
	}
	if len(due) > maxTickTickets {
		due = due[:maxTickTickets]
	}
	res := &TickResult{}
	for _, dk := range due {
		if len(dk) != 1+8+1+32 {
			if err := ac.del(dk); err != nil {
				return nil, err
			}
			continue
		}
		typ, ref := TicketType(dk[9]), [32]byte(dk[10:])
		old, err := ac.loadTicket(ticketKey(typ, &ref))
		if err != nil {
			return nil, err
		}
		if old == nil || old.nextDue() != int64(be64get(dk[1:9])) {
			if err := ac.del(dk); err != nil { // stale: the ticket moved on
				return nil, err
			}
			ac.noteTicket(true, false) // the open-ticket count is the due keys'
			continue
		}
		t := *old
		t.approvals = append([]approvalEntry(nil), old.approvals...)
		for d := t.nextDue(); d != 0 && d <= now; d = t.nextDue() {
			if err := ac.fireSLA(&t, c.Time, res); err != nil {
				return nil, err
			}
		}
		if err := ac.putTicket(old, &t); err != nil {
			return nil, err
		}
		if err := ac.rebalanceTicketDecided(&t, c.Time); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// fireSLA fires the ticket's next milestone.
func (ac *applyContext) fireSLA(t *ticketRec, at int64, res *TickResult) error {
	id := TicketID(t.typ, &t.ref)
	var e RiskEvent
	var d Decision
	switch {
	case t.fired&firedWarn == 0:
		t.fired |= firedWarn
		d, res.Warned = DecisionSLAWarn, res.Warned+1
		e = RiskEvent{Severity: SeverityWarning, Type: "APPROVAL_SLA_WARN",
			Message: fmt.Sprintf("approval ticket %s is undecided past its SLA warn time %s", id, fmtUnix(t.warnAt))}
	case t.fired&firedEscalate == 0:
		t.fired |= firedEscalate
		d, res.Escalated = DecisionSLAEscalate, res.Escalated+1
		e = RiskEvent{Severity: SeverityHigh, Type: "APPROVAL_SLA_ESCALATE",
			Message: fmt.Sprintf("approval ticket %s is undecided past its escalation time %s", id, fmtUnix(t.escAt))}
	default:
		t.fired |= firedBreach
		t.status, t.closedAt = TicketExpired, at
		d, res.Expired = DecisionExpire, res.Expired+1
		e = RiskEvent{Severity: SeverityCritical, Type: "APPROVAL_SLA_BREACH",
			Message: fmt.Sprintf("approval ticket %s expired undecided at its deadline %s", id, fmtUnix(t.deadline))}
	}
	e.Source = SourceSystem
	e.Details = ticketRiskDetails(t, id)
	if err := ac.raiseRiskEvent(&e, nil); err != nil {
		return err
	}
	return ac.ticketEvent(t, d, nil, "", at)
}

// ticketRiskDetails are an SLA risk event's details, built in a fixed order (replicated).
func ticketRiskDetails(t *ticketRec, id string) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"ticketId":"`...)
	b = append(b, id...)
	b = append(b, `","type":"`...)
	b = append(b, t.typ.String()...)
	b = append(b, `","status":"`...)
	b = append(b, t.status.String()...)
	b = append(b, `","amount":"`...)
	b = append(b, t.amount.Dec()...)
	b = append(b, `","approvals":`...)
	b = strconv.AppendInt(b, int64(t.approvedCount()), 10)
	b = append(b, `,"requiredApprovals":`...)
	b = strconv.AppendInt(b, int64(t.required), 10)
	b = append(b, `,"slaWarnAt":"`...)
	b = append(b, fmtUnix(t.warnAt)...)
	b = append(b, `","slaEscalateAt":"`...)
	b = append(b, fmtUnix(t.escAt)...)
	b = append(b, `","slaDeadline":"`...)
	b = append(b, fmtUnix(t.deadline)...)
	return append(b, `"}`...)
}
