package server

import (
	"context"
	"fmt"
	"testing"

	"paimon/raftstore"
)

// TestProposalOutcomeUnknownAnswer: a proposal whose wait ended after it reached the log (its
// context, or Close) answers 503 UNAVAILABLE with details.outcome "unknown", never the plain
// timeout or shutdown answers, which say nothing of the outcome; a proposal that timed out
// before it was enqueued keeps the plain answer, and one refused over the backlog says why.
func TestProposalOutcomeUnknownAnswer(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"context ended in flight", fmt.Errorf("%w: %w: %w", raftstore.ErrTimeout, raftstore.ErrOutcomeUnknown, context.DeadlineExceeded), true},
		{"closed in flight", fmt.Errorf("%w: %w", raftstore.ErrClosed, raftstore.ErrOutcomeUnknown), true},
		{"not enqueued in time", raftstore.ErrTimeout, false},
		{"closed before", raftstore.ErrClosed, false},
		{"backlog", fmt.Errorf("%w: 8192 wait already", raftstore.ErrBacklog), false},
	} {
		ae, _ := apiErrorOf(c.err)
		if ae.Status != 503 || ae.Code != "UNAVAILABLE" {
			t.Errorf("%s: %d %s, want 503 UNAVAILABLE", c.name, ae.Status, ae.Code)
		}
		if got := ae.Details["outcome"] == "unknown"; got != c.unknown {
			t.Errorf("%s: details %v, outcome unknown %v, want %v", c.name, ae.Details, got, c.unknown)
		}
		if backlog := ae.Details["reason"] == "backlog"; backlog != (c.name == "backlog") {
			t.Errorf("%s: details %v", c.name, ae.Details)
		}
	}
}
