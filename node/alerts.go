package node

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"paimon/alerts"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/version"
)

// alertOutbox is the alerts.Outbox of a node: the state machine's alert outbox (fund/alerts.go),
// read from the local replica, and CmdAlertOutcome proposed through the store. The Deliverer
// only reads it while this node leads, when the replica holds every committed alert.
type alertOutbox struct {
	store        *raftstore.Store
	applyTimeout time.Duration
	now          func() time.Time
}

// Entries implements alerts.Outbox. Below fund.AlertsSince the cluster raises no alert and
// could not record an outcome (a v0.1.0 member may remain): the outbox is empty then, so the
// Deliverer sends nothing it could not acknowledge.
func (o *alertOutbox) Entries(ctx context.Context, after uint64, limit int) ([]alerts.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if version.Compare(o.store.ClusterVersion(), fund.AlertsSince) < 0 {
		return nil, nil
	}
	v, err := o.store.Read()
	if err != nil {
		return nil, err
	}
	defer v.Close()
	as, err := fund.ReadAlerts(v, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]alerts.Entry, len(as))
	for i := range as {
		out[i] = alertEntry(&as[i])
	}
	return out, nil
}

// alertEntry converts a stored alert to the Deliverer's Entry (fund does not import alerts).
func alertEntry(a *fund.Alert) alerts.Entry {
	e := alerts.Entry{Seq: a.Seq, Alert: alerts.Alert{
		ID: a.ID, Time: time.Unix(0, a.Time).UTC(), Severity: a.Severity, Source: a.Source,
		Type: a.Type, Message: a.Message, Details: a.Details,
	}}
	for _, oc := range a.Outcomes {
		e.Outcomes = append(e.Outcomes, alerts.Outcome{Seq: a.Seq, AlertID: a.ID, Webhook: oc.Webhook, State: oc.State,
			Status: oc.Status, Reason: oc.Reason, Attempts: oc.Attempts, Time: time.Unix(0, oc.Time).UTC()})
	}
	return e
}

// Record implements alerts.Outbox: one CmdAlertOutcome, committed when it returns nil.
func (o *alertOutbox) Record(ctx context.Context, outcomes []alerts.Outcome) error {
	c := &fund.AlertOutcomeCommand{Time: o.now().UnixNano(), Outcomes: make([]fund.AlertOutcome, len(outcomes))}
	for i, oc := range outcomes {
		c.Outcomes[i] = fund.AlertOutcome{Seq: oc.Seq, AlertID: oc.AlertID, Webhook: oc.Webhook, State: oc.State,
			Status: oc.Status, Reason: truncateUTF8(oc.Reason, fund.MaxAlertReasonLen), Attempts: oc.Attempts, Time: oc.Time.UnixNano()}
	}
	ctx, cancel := context.WithTimeout(ctx, o.applyTimeout)
	defer cancel()
	res, err := o.store.Propose(ctx, fund.EncodeAlertOutcome(c))
	if err != nil {
		return err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return fmt.Errorf("alert outcome refused: %s", verr.Message)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

// alertWaker wakes the Deliverer when an applied batch raised an alert. It observes from the
// first batch, before the Deliverer exists (the store replays its log at open).
type alertWaker struct {
	d atomic.Pointer[alerts.Deliverer]
}

// Applied implements fund.Observer; Notify never blocks.
func (w *alertWaker) Applied(c *fund.Changes) {
	if c.Alerts == 0 {
		return
	}
	if d := w.d.Load(); d != nil {
		d.Notify()
	}
}
