package fund

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
)

// An operator's retry of a decided ticket whose transaction failed (OPERATIONS.md "Executing
// on chain"; executor DESIGN.md "Retrying a failed decision"). The executor keeps one intent
// per (purpose, reference) and never retries by itself: a reverted or dropped transaction
// leaves the ticket APPROVED (or REJECTED) with the failure shown. CmdTicketRetry gives the
// ticket a new execution reference (its id, then "<id>/retry-1", "<id>/retry-2", ...), so the
// leader's executor signs exactly one new transaction for it; only when the current one is
// FAILED, so a retry never races a transaction that may still be mined.

// CmdTicketRetry retries a decided ticket's failed transaction (issue-12 range 22–23).
const CmdTicketRetry byte = 22

// DecisionRetry is the trail entry of a retry (stored; after DecisionExpire).
const DecisionRetry Decision = 7

// maxTicketRetries bounds the retries of one ticket (its references stay short).
const maxTicketRetries = 100

// TicketRetryCommand is an operator's retry of a ticket's failed transaction.
type TicketRetryCommand struct {
	Time   int64 // unix ns
	Actor  Actor
	Ticket string // TicketID
	Reason string // optional: why it can go now (the cause removed)
}

// EncodeTicketRetry encodes c: time, actor, ticket id, reason.
func EncodeTicketRetry(c *TicketRetryCommand) []byte {
	b := make([]byte, 0, 64+len(c.Ticket)+len(c.Reason))
	b = append(b, CmdTicketRetry, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = appendString(b, c.Ticket)
	return appendString(b, c.Reason)
}

// DecodeTicketRetry decodes a CmdTicketRetry strictly; errors wrap ErrBadCommand.
func DecodeTicketRetry(cmd []byte) (*TicketRetryCommand, error) {
	d, err := newDec(cmd, CmdTicketRetry)
	if err != nil {
		return nil, err
	}
	c := &TicketRetryCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.Ticket = d.str()
	c.Reason = d.str()
	return c, d.finish()
}

// TicketExecReference is the executor's reference of the decision of ticket id after retries
// retries: the id itself, then "<id>/retry-N".
func TicketExecReference(id string, retries uint32) string {
	if retries == 0 {
		return id
	}
	return id + "/retry-" + strconv.FormatUint(uint64(retries), 10)
}

// ExecReference is the executor's reference of the ticket's current decision.
func (t *TicketRecord) ExecReference() string { return TicketExecReference(t.ID, t.Retries) }

// ticketPurpose is the executor's purpose of a decided ticket ("" while undecided or closed).
func ticketPurpose(s TicketStatus) string {
	switch s {
	case TicketApproved:
		return "APPROVE"
	case TicketRejected:
		return "REJECT"
	}
	return ""
}

// canRetry: operators and admins retry a ticket's transaction (OPERATIONS.md "Roles").
func canRetry(role string) bool { return role == "operator" || role == "admin" }

// applyTicketRetry retries a ticket's failed transaction. Every refusal changes nothing: an
// unknown ticket is NOT_FOUND; a role other than operator or admin FORBIDDEN; a ticket that is
// not APPROVED or REJECTED, whose decision has no transaction yet or one that did not fail, or
// that was retried too often, CONFLICT.
func (ac *applyContext) applyTicketRetry(c *TicketRetryCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case len(c.Reason) > maxDecisionReason:
		return invalidParam("reason", "reason is over %d bytes", maxDecisionReason), nil
	case c.Actor.IsZero() || c.Actor.Name == "":
		return invalidf("a retry needs an actor"), nil
	}
	typ, ref, ok := ParseTicketID(c.Ticket)
	var old *ticketRec
	if ok {
		var err error
		if old, err = ac.loadTicket(ticketKey(typ, &ref)); err != nil {
			return nil, err
		}
	}
	if old == nil {
		return &ValidationError{Code: CodeNotFound, Message: fmt.Sprintf("approval ticket %.100q not found", c.Ticket), Details: map[string]any{"id": truncate(c.Ticket, 100)}}, nil
	}
	conflict := func(msg string, details map[string]any) *ValidationError {
		details["id"], details["status"] = c.Ticket, old.status.String()
		return &ValidationError{Code: CodeConflict, Message: msg, Details: details}
	}
	if !canRetry(c.Actor.Role) {
		return &ValidationError{Code: CodeForbidden, Message: fmt.Sprintf("retrying a ticket's transaction needs the operator role, not %q", c.Actor.Role),
			Details: map[string]any{"id": c.Ticket}}, nil
	}
	purpose := ticketPurpose(old.status)
	if purpose == "" {
		return conflict(fmt.Sprintf("approval ticket %s is %s: only an APPROVED or REJECTED ticket whose transaction FAILED is retried", c.Ticket, old.status), map[string]any{}), nil
	}
	from := TicketExecReference(c.Ticket, old.retries)
	it, found, err := ac.intentOf(purpose, from)
	if err != nil {
		return nil, err
	}
	switch {
	case !found:
		return conflict(fmt.Sprintf("approval ticket %s has no transaction yet", c.Ticket), map[string]any{"reference": from}), nil
	case it.State != TxFailed:
		return conflict(fmt.Sprintf("approval ticket %s's transaction is %s, not FAILED", c.Ticket, it.State),
			map[string]any{"reference": from, "transactionState": it.State}), nil
	case old.retries >= maxTicketRetries:
		return conflict(fmt.Sprintf("approval ticket %s was retried %d times", c.Ticket, old.retries), map[string]any{"reference": from}), nil
	}
	t := *old
	t.approvals = append([]approvalEntry(nil), old.approvals...)
	t.retries++
	if err := ac.ticketEvent(&t, DecisionRetry, &c.Actor, c.Reason, c.Time); err != nil {
		return nil, err
	}
	if err := ac.putTicket(old, &t); err != nil {
		return nil, err
	}
	to := TicketExecReference(c.Ticket, t.retries)
	before, _ := json.Marshal(map[string]any{"status": old.status.String(), "reference": from, "transaction": it.State, "failure": it.Reason})
	after, _ := json.Marshal(map[string]any{"status": t.status.String(), "reference": to, "reason": c.Reason})
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "approval.retry", "approvals/"+c.Ticket, before, after); err != nil {
		return nil, err
	}
	return &ApprovalDecisionResult{Ticket: ticketRecord(&t)}, nil
}

// intentOf reads the intent of the decision (purpose, reference), if any.
func (ac *applyContext) intentOf(purpose, reference string) (TxIntent, bool, error) {
	v, ok, err := ac.get(txDecisionKey(purpose, reference))
	if err != nil || !ok {
		return TxIntent{}, false, err
	}
	if len(v) != 8 {
		return TxIntent{}, false, corrupt("tx decision", fmt.Errorf("%x", v))
	}
	t, err := ac.txIntent(be64get(v))
	return t, err == nil, err
}
