package raftstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ReadIndex confirms with a quorum that this node is still the leader and returns the commit
// index at the time of the confirmation: a read served once AppliedIndex reaches it is
// linearizable. It returns ErrNotLeader on a follower.
//
// Concurrent callers share confirmations: a caller joins the next round, and one round (one
// VerifyLeader, a heartbeat to the quorum) answers everyone who joined before it started. A
// caller never joins a round that already started, since the commit index that round read may
// predate the caller's own prior write.
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	if !s.IsLeader() {
		return 0, s.notLeader()
	}
	// A leader's commit index counts only once its term's no-op is applied: before that it can
	// be older than what the previous leader acknowledged (the Raft paper's read-index needs an
	// entry of the current term committed first).
	if err := s.WaitSettled(ctx); err != nil {
		return 0, err
	}
	s.readMu.Lock()
	if s.readNext == nil {
		s.readNext = &readRound{done: make(chan struct{})}
	}
	r := s.readNext
	s.readMu.Unlock()
	select {
	case s.readKick <- struct{}{}:
	default: // a round is already due
	}
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// Settled reports whether this node leads and has applied its term's no-op: its state then
// holds every entry committed before its term, so every write a previous leader acknowledged.
// It reads two atomics and allocates nothing (leader reads ask it on every request).
func (s *Store) Settled() bool {
	r := s.raft
	return r != nil && r.State() == raft.Leader && s.settledTerm.Load() == r.CurrentTerm()
}

// WaitSettled waits until Settled: a new leader's no-op commits within a heartbeat round or
// two. It returns ErrNotLeader (or ErrNoLeader) when this node does not lead or stops leading,
// and ErrTimeout when ctx ends first. Found by the chaos campaign: a new leader answered a
// leader read with a value older than a write its predecessor had acknowledged.
func (s *Store) WaitSettled(ctx context.Context) error {
	for !s.Settled() {
		if err := s.usable(); err != nil {
			return err
		}
		if !s.IsLeader() {
			return s.notLeader()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the new leader's no-op is not applied yet: %w", ErrTimeout, ctx.Err())
		case <-s.closed:
			return ErrClosed
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// readRound is one shared leadership confirmation.
type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// readRounds runs for the life of the store: each kick starts rounds until no caller waits.
func (s *Store) readRounds() {
	defer s.wg.Done()
	for {
		select {
		case <-s.readKick:
		case <-s.closed:
			return
		}
		for s.readRound() {
		}
	}
}

// readRound confirms leadership once for the callers waiting; false when none waited.
func (s *Store) readRound() bool {
	s.readMu.Lock()
	r := s.readNext
	s.readNext = nil
	s.readMu.Unlock()
	if r == nil {
		return false
	}
	r.index = s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		r.err = s.mapRaftErr(err)
	}
	s.readRoundsTotal.Inc()
	close(r.done)
	return true
}

func (s *Store) notLeader() error {
	if s.LeaderID() == "" {
		return ErrNoLeader
	}
	return ErrNotLeader
}

// Node is one member of the cluster as Raft's configuration lists it.
type Node struct {
	ID       string
	RaftAddr string
	Voter    bool
}

// Nodes lists the cluster's members.
func (s *Store) Nodes() ([]Node, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	var out []Node
	for _, srv := range f.Configuration().Servers {
		out = append(out, Node{ID: string(srv.ID), RaftAddr: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
	}
	return out, nil
}

// Stale reports whether this node has not heard from a leader within maxStaleness; a leader is
// never stale.
func (s *Store) Stale(maxStaleness time.Duration) bool {
	r := s.raft
	if r == nil {
		return true
	}
	if r.State() == raft.Leader {
		return false // without reading the clock: every local read asks
	}
	lc := r.LastContact()
	return lc.IsZero() || time.Since(lc) > maxStaleness
}
