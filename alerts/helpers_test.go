package alerts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"paimon/alerts"
	"paimon/alerts/alertstest"
)

// blockingRecord wraps an outbox so that Record never commits: it reports the call and waits
// for its context, as a leader that lost its quorum between sending and acknowledging.
type blockingRecord struct {
	*alertstest.MemOutbox
	called chan []alerts.Outcome
}

func (b blockingRecord) Record(ctx context.Context, outcomes []alerts.Outcome) error {
	select {
	case b.called <- outcomes:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// alert returns a test alert raised now.
func alert(i int, severity string) alerts.Alert {
	return alerts.Alert{ID: fmt.Sprintf("a-%d", i), Time: time.Now().UTC(), Severity: severity, Source: "RULE",
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
