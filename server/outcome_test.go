package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/raft"

	"paimon/fund/fundtest"
	"paimon/raftstore"
)

// deposedStore is the test node's store whose proposals fail with err, when set.
type deposedStore struct {
	*raftstore.Store
	err *atomic.Pointer[error]
}

func (d deposedStore) Propose(ctx context.Context, cmd []byte) (raftstore.Result, error) {
	if err := d.err.Load(); err != nil {
		return raftstore.Result{}, *err
	}
	return d.Store.Propose(ctx, cmd)
}

// TestWriteOutcomeUnknown: a write whose leader was deposed with the command in flight may
// still commit, so it is answered 503 UNAVAILABLE with details.outcome "unknown", never
// NO_LEADER, which says the write was not proposed (docs/API.md; chaos/DESIGN.md Findings 3:
// writes answered NO_LEADER were found applied). Whether or not a new leader is known yet.
func TestWriteOutcomeUnknown(t *testing.T) {
	var fail atomic.Pointer[error]
	n := newTestNode(t, func(s *setup) {
		s.store = func(st *raftstore.Store) Store { return deposedStore{Store: st, err: &fail} }
	})
	body := []byte(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1","time":"2026-01-01T00:00:00Z"}]}`)
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"deposed, no leader known", fmt.Errorf("%w: %w", raftstore.ErrNoLeader, raft.ErrLeadershipLost)},
		{"deposed, a new leader known", fmt.Errorf("%w: %w", raftstore.ErrNotLeader, raft.ErrLeadershipLost)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fail.Store(&tt.err)
			defer fail.Store(nil)
			r := n.do("POST", "/v1/admin/prices", adminToken, body)
			if r.status != 503 || r.errorCode() != "UNAVAILABLE" {
				t.Fatalf("got %d %s, want 503 UNAVAILABLE", r.status, r.body)
			}
			if got := field(r.json(t), "error.details.outcome"); got != "unknown" {
				t.Fatalf("details.outcome = %v, want unknown: %s", got, r.body)
			}
			if h := r.header.Get(hdrRefused); h != "" {
				t.Fatalf("%s: %s on a write that may have been applied", hdrRefused, h)
			}
		})
	}
	if r := n.do("POST", "/v1/admin/prices", adminToken, body); r.status != 200 {
		t.Fatalf("a write through the store itself: %d %s", r.status, r.body)
	}
}

// deposedLeaderless is deposedStore that also knows no leader to forward to while hidden.
type deposedLeaderless struct {
	deposedStore
	hidden *atomic.Bool
}

func (d deposedLeaderless) LeaderHTTPAddr() (string, string) {
	if d.hidden.Load() {
		return "", ""
	}
	return d.deposedStore.LeaderHTTPAddr()
}

// TestResentWriteOutcomeUnknownWithoutALeader: a chain-log write (a resend route) whose
// proposal was deposed in flight goes to the new leader; when none appears before the
// deadline it is answered outcome unknown, not NO_LEADER with "not-proposed": the first
// proposal may still commit (node.TestLaggingAndNewNodesCatchUpBySnapshot saw such a write
// answered NO_LEADER and, sent again, reported as a duplicate).
func TestResentWriteOutcomeUnknownWithoutALeader(t *testing.T) {
	var fail atomic.Pointer[error]
	var hidden atomic.Bool
	n := newTestNode(t, func(s *setup) {
		s.server.ApplyTimeout = 300 * time.Millisecond
		s.store = func(st *raftstore.Store) Store {
			return deposedLeaderless{deposedStore{Store: st, err: &fail}, &hidden}
		}
	})
	body := fundtest.Body(fundtest.MintLog(common.HexToAddress("0xa11ce"), 1, 5))
	for _, tt := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"deposed in flight", fmt.Errorf("%w: %w", raftstore.ErrNoLeader, raft.ErrLeadershipLost), true},
		{"refused before the log (handing over)", fmt.Errorf("%w: %w", raftstore.ErrNoLeader, raft.ErrLeadershipTransferInProgress), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fail.Store(&tt.err)
			hidden.Store(true)
			defer func() { fail.Store(nil); hidden.Store(false) }()
			r := n.do("POST", "/v1/admin/logs", adminToken, body)
			if !tt.unknown {
				// Certainly not proposed: NO_LEADER, and the member forwarding it may resend.
				if r.status != 503 || r.errorCode() != "NO_LEADER" || r.header.Get(hdrRefused) == "" {
					t.Fatalf("got %d %s (%s: %q), want 503 NO_LEADER, not proposed", r.status, r.body, hdrRefused, r.header.Get(hdrRefused))
				}
				return
			}
			if r.status != 503 || r.errorCode() != "UNAVAILABLE" || field(r.json(t), "error.details.outcome") != "unknown" {
				t.Fatalf("got %d %s, want 503 UNAVAILABLE, outcome unknown", r.status, r.body)
			}
			if h := r.header.Get(hdrRefused); h != "" {
				t.Fatalf("%s: %s on a write that may have been applied", hdrRefused, h)
			}
		})
	}
	if r := n.do("POST", "/v1/admin/logs", adminToken, body); r.status != 200 {
		t.Fatalf("a write through the store itself: %d %s", r.status, r.body)
	}
}
