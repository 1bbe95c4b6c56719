package fund

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"paimon/rebalance"
)

// CmdRebalanceCancel cancels a PROPOSED plan (POST /v1/rebalance/{id}/cancel): an operator
// withdraws a preview nobody will execute, so that GET /v1/rebalance/history and the console do
// not offer it. A plan that left PROPOSED is cancelled through its ticket (or not at all).
const CmdRebalanceCancel byte = 26

// RebalanceCancelCommand cancels plan PlanID, with an optional reason.
type RebalanceCancelCommand struct {
	Time   int64
	Actor  Actor
	PlanID uint64
	Reason string
}

// MaxCancelReason bounds a cancellation's reason (bytes of UTF-8): the request's bound.
const MaxCancelReason = rebalance.MaxCancelReason

// EncodeRebalanceCancel encodes c: time, actor, plan id, reason.
func EncodeRebalanceCancel(c *RebalanceCancelCommand) []byte {
	b := make([]byte, 0, 64+len(c.Reason))
	b = append(b, CmdRebalanceCancel, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = binary.AppendUvarint(b, c.PlanID)
	return appendString(b, c.Reason)
}

// DecodeRebalanceCancel decodes a CmdRebalanceCancel strictly; errors wrap ErrBadCommand.
func DecodeRebalanceCancel(cmd []byte) (*RebalanceCancelCommand, error) {
	d, err := newDec(cmd, CmdRebalanceCancel)
	if err != nil {
		return nil, err
	}
	c := &RebalanceCancelCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.PlanID = d.uvarint()
	c.Reason = d.str()
	return c, d.finish()
}

// applyRebalanceCancel makes a PROPOSED plan CANCELLED, audited. An unknown plan is NOT_FOUND,
// any other status CONFLICT; neither changes anything.
func (ac *applyContext) applyRebalanceCancel(c *RebalanceCancelCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case c.Actor.IsZero() || c.Actor.Name == "":
		return invalidf("a cancellation needs an actor"), nil
	case len(c.Reason) > MaxCancelReason || !utf8.ValidString(c.Reason):
		return invalidParam("reason", "reason must be valid UTF-8 of at most %d bytes", MaxCancelReason), nil
	}
	old, err := ac.loadPlan(c.PlanID)
	if err != nil {
		return nil, err
	}
	id := PlanID(c.PlanID)
	if old == nil {
		return planNotFound(id), nil
	}
	if old.Status != PlanProposed {
		return &ValidationError{Code: CodeConflict, Message: fmt.Sprintf("rebalance plan %s is %s: only a PROPOSED plan can be cancelled", id, old.Status),
			Details: map[string]any{"planId": id, "status": old.Status.String()}}, nil
	}
	p := clonePlan(old)
	p.Status, p.FinishedAt, p.UpdatedIndex = PlanCancelled, c.Time, ac.index
	p.Reason = "cancelled by " + c.Actor.Name
	if c.Reason != "" {
		p.Reason += ": " + c.Reason
	}
	p.Reason = truncate(p.Reason, maxPlanReason)
	if err := ac.putPlan(old, p, false); err != nil {
		return nil, err
	}
	after := fmt.Appendf(nil, `{"status":%q,"reason":%q}`, p.Status, p.Reason)
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "rebalance.cancel", "rebalance/"+id, fmt.Appendf(nil, `{"status":%q}`, old.Status), after); err != nil {
		return nil, err
	}
	return &RebalancePlanResult{Plan: *p}, nil
}
