package alerts

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"paimon/raftstore"
)

// memOutbox is the tests' Outbox: what the state machine will hold, in memory, with the same
// contract (Seq order, paging after a cursor, outcomes recorded once per alert and webhook).
type memOutbox struct {
	mu      sync.Mutex
	entries []Entry
	records int // Record calls that committed
	// maxPage is the largest page asked for, to check the Deliverer pages.
	maxPage int
}

func (o *memOutbox) raise(a Alert) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := uint64(len(o.entries)+1) * 10 // gaps, as Raft indexes have
	o.entries = append(o.entries, Entry{Seq: seq, Alert: a})
}

func (o *memOutbox) Entries(ctx context.Context, after uint64, limit int) ([]Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.maxPage = max(o.maxPage, limit)
	var out []Entry
	for _, e := range o.entries {
		if e.Seq > after && len(out) < limit {
			e.Outcomes = append([]Outcome(nil), e.Outcomes...)
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *memOutbox) Record(ctx context.Context, outcomes []Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.records++
	for _, oc := range outcomes {
		for i := range o.entries {
			e := &o.entries[i]
			if e.Alert.ID != oc.AlertID {
				continue
			}
			if _, done := e.outcome(oc.Webhook); !done { // idempotent by (id, webhook)
				e.Outcomes = append(e.Outcomes, oc)
			}
		}
	}
	return nil
}

// outcomes returns every alert's outcome for webhook, by alert id.
func (o *memOutbox) outcomes(webhook string) map[string]Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]Outcome{}
	for _, e := range o.entries {
		if oc, ok := e.outcome(webhook); ok {
			out[e.Alert.ID] = oc
		}
	}
	return out
}

// blockingRecord wraps an outbox so that Record never commits: it reports the call and waits
// for its context, as a leader that lost its quorum between sending and acknowledging.
type blockingRecord struct {
	*memOutbox
	called chan []Outcome
}

func (b blockingRecord) Record(ctx context.Context, outcomes []Outcome) error {
	select {
	case b.called <- outcomes:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// fakeLeader is a Leadership the test switches.
type fakeLeader struct {
	mu   sync.Mutex
	now  raftstore.Leadership
	subs []chan raftstore.Leadership
}

func leading() *fakeLeader { return &fakeLeader{now: raftstore.Leadership{Leading: true, Term: 1}} }

func (f *fakeLeader) SubscribeLeadership() (<-chan raftstore.Leadership, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan raftstore.Leadership, 1)
	ch <- f.now
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

func (f *fakeLeader) set(l raftstore.Leadership) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = l
	for _, ch := range f.subs {
		select {
		case <-ch:
		default:
		}
		ch <- l
	}
}

// alert returns a test alert raised now.
func alert(i int, severity string) Alert {
	return Alert{ID: fmt.Sprintf("a-%d", i), Time: time.Now().UTC(), Severity: severity, Source: "RULE",
		Type: "l1Ratio", Message: fmt.Sprintf("l1Ratio below warn (%d)", i), Details: []byte(`{"value":900,"warn":1000}`)}
}

// checkFor polls f until it returns nil or timeout passes.
func checkFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
