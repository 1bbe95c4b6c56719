// Package alertstest holds test helpers for the alerts package and for implementations of its
// Outbox: an in-memory outbox, a leadership the test switches, and TestOutbox, the contract
// every Outbox (the state machine's, once it exists) must pass.
package alertstest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"paimon/alerts"
	"paimon/raftstore"
)

// MemOutbox is an in-memory alerts.Outbox with the contract the state machine's will have:
// Seq order, pages after a cursor, outcomes recorded once per (Seq, webhook).
type MemOutbox struct {
	mu      sync.Mutex
	entries []alerts.Entry
	maxPage int
}

// Raise appends an alert and returns it; Seqs grow with gaps, as Raft indexes do.
func (o *MemOutbox) Raise(a alerts.Alert) alerts.Alert {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := uint64(len(o.entries)+1) * 10
	o.entries = append(o.entries, alerts.Entry{Seq: seq, Alert: a})
	return a
}

// Entries implements alerts.Outbox.
func (o *MemOutbox) Entries(ctx context.Context, after uint64, limit int) ([]alerts.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.maxPage = max(o.maxPage, limit)
	var out []alerts.Entry
	for _, e := range o.entries {
		if e.Seq > after && len(out) < limit {
			e.Outcomes = slices.Clone(e.Outcomes)
			out = append(out, e)
		}
	}
	return out, nil
}

// Record implements alerts.Outbox: the first outcome for a (Seq, webhook) stays; an outcome
// for an unknown Seq (pruned) is ignored.
func (o *MemOutbox) Record(ctx context.Context, outcomes []alerts.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, oc := range outcomes {
		i, found := slices.BinarySearchFunc(o.entries, oc.Seq, func(e alerts.Entry, seq uint64) int { return cmp.Compare(e.Seq, seq) })
		if !found || o.entries[i].Alert.ID != oc.AlertID {
			continue
		}
		if _, done := Outcome(o.entries[i], oc.Webhook); !done {
			o.entries[i].Outcomes = append(o.entries[i].Outcomes, oc)
		}
	}
	return nil
}

// Outcomes returns every alert's outcome for webhook, by alert id.
func (o *MemOutbox) Outcomes(webhook string) map[string]alerts.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]alerts.Outcome{}
	for _, e := range o.entries {
		if oc, ok := Outcome(e, webhook); ok {
			out[e.Alert.ID] = oc
		}
	}
	return out
}

// MaxPage is the largest page Entries was asked for.
func (o *MemOutbox) MaxPage() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxPage
}

// Outcome returns e's outcome for webhook, if it has one.
func Outcome(e alerts.Entry, webhook string) (alerts.Outcome, bool) {
	for _, o := range e.Outcomes {
		if o.Webhook == webhook {
			return o, true
		}
	}
	return alerts.Outcome{}, false
}

// Leader is an alerts.Leadership the test switches with Set.
type Leader struct {
	mu   sync.Mutex
	now  raftstore.Leadership
	subs []chan raftstore.Leadership
}

// Leading returns a Leader that leads term 1.
func Leading() *Leader { return &Leader{now: raftstore.Leadership{Leading: true, Term: 1}} }

// SubscribeLeadership implements alerts.Leadership.
func (l *Leader) SubscribeLeadership() (<-chan raftstore.Leadership, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan raftstore.Leadership, 1)
	ch <- l.now
	l.subs = append(l.subs, ch)
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.subs = slices.DeleteFunc(l.subs, func(c chan raftstore.Leadership) bool { return c == ch })
	}
}

// Set changes the leadership and tells every subscriber (keeping only the latest state, as
// raftstore does).
func (l *Leader) Set(now raftstore.Leadership) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
	for _, ch := range l.subs {
		select {
		case <-ch:
		default:
		}
		ch <- now
	}
}

// TestOutbox checks the Outbox contract the Deliverer relies on. newOutbox returns an empty
// outbox and a function that raises an alert in it (committed and applied when it returns)
// and returns the alert as the outbox holds it: an outbox over a state machine raises alerts
// from risk events, with the id and text the state machine gives them, so it may raise
// another alert than the one asked for; Entries must then return exactly what raise did.
func TestOutbox(t *testing.T, newOutbox func(t *testing.T) (alerts.Outbox, func(alerts.Alert) alerts.Alert)) {
	ctx := context.Background()
	ob, raise := newOutbox(t)
	page, err := ob.Entries(ctx, 0, 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("Entries of an empty outbox = %v, %v", page, err)
	}
	raised := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	var want []alerts.Alert
	for i := 1; i <= 5; i++ {
		want = append(want, raise(alerts.Alert{ID: fmt.Sprint(i), Time: raised, Severity: "WARNING", Source: "RULE", Type: "l1Ratio",
			Message: fmt.Sprint("alert ", i), Details: []byte(`{"i":` + fmt.Sprint(i) + `}`)}))
	}
	// Pages in Seq order, after the cursor, at most limit.
	var all []alerts.Entry
	for after := uint64(0); ; {
		page, err := ob.Entries(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d entries, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq <= after {
				t.Fatalf("Seq %d after cursor %d: not increasing", e.Seq, after)
			}
			after = e.Seq
		}
		all = append(all, page...)
	}
	if len(all) != 5 {
		t.Fatalf("paged through %d alerts, want 5", len(all))
	}
	for i, e := range all {
		w := want[i]
		if e.Alert.ID != w.ID || !e.Alert.Time.Equal(w.Time) || e.Alert.Message != w.Message || e.Alert.Severity != w.Severity ||
			e.Alert.Source != w.Source || e.Alert.Type != w.Type || string(e.Alert.Details) != string(w.Details) || len(e.Outcomes) != 0 {
			t.Fatalf("entry %d = %+v, raised %+v", i, e, w)
		}
	}
	// Outcomes: the first per (alert, webhook) stays; repeats and unknown alerts change nothing.
	e := all[1]
	first := alerts.Outcome{Seq: e.Seq, AlertID: e.Alert.ID, Webhook: "a", State: alerts.StateDelivered, Status: 200, Attempts: 2, Time: raised}
	other := alerts.Outcome{Seq: e.Seq, AlertID: e.Alert.ID, Webhook: "b", State: alerts.StateFailed, Status: 400, Reason: "HTTP 400", Attempts: 1, Time: raised}
	for _, batch := range [][]alerts.Outcome{
		{first},
		{first, other}, // a retried proposal that had committed
		{{Seq: e.Seq, AlertID: e.Alert.ID, Webhook: "a", State: alerts.StateFailed, Status: 500, Time: raised}},
		{{Seq: all[4].Seq + 1000, AlertID: "gone", Webhook: "a", State: alerts.StateDelivered, Time: raised}},
	} {
		if err := ob.Record(ctx, batch); err != nil {
			t.Fatalf("Record(%+v) = %v", batch, err)
		}
	}
	page, err = ob.Entries(ctx, all[0].Seq, 1)
	if err != nil || len(page) != 1 {
		t.Fatalf("Entries = %v, %v", page, err)
	}
	got := map[string]alerts.Outcome{}
	for _, o := range page[0].Outcomes {
		got[o.Webhook] = o
	}
	if len(page[0].Outcomes) != 2 || !sameOutcome(got["a"], first) || !sameOutcome(got["b"], other) {
		t.Fatalf("outcomes %+v, want exactly %+v and %+v", page[0].Outcomes, first, other)
	}
}

func sameOutcome(a, b alerts.Outcome) bool {
	return a.Seq == b.Seq && a.AlertID == b.AlertID && a.Webhook == b.Webhook && a.State == b.State &&
		a.Status == b.Status && a.Reason == b.Reason && a.Attempts == b.Attempts && a.Time.Equal(b.Time)
}
