package raftstore

import (
	"context"
	"time"
)

// watchLeadership runs for the life of the store. When this node becomes leader it commits a
// CmdNoop of its own: Raft's term-start no-op never reaches the FSM, so until an FSM-visible
// entry of the new term is applied the commit index can point at an entry the state never
// records, and a read waiting for "applied >= commit index" would wait forever. Once the noop
// is applied, every commit index the leader reports is reachable by the state.
func (s *Store) watchLeadership() {
	defer s.wg.Done()
	ch := s.raft.LeaderCh()
	for {
		select {
		case <-s.closed:
			return
		case isLeader := <-ch:
			if !isLeader {
				continue
			}
			s.logger.Info("became leader", "term", s.raft.CurrentTerm())
			s.commitNoop()
			s.registerMeta()
		}
	}
}

func (s *Store) commitNoop() {
	for attempt := 0; s.IsLeader(); attempt++ {
		term := s.raft.CurrentTerm()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
		_, err := s.Propose(ctx, []byte{CmdNoop})
		cancel()
		if err == nil {
			// Everything committed before this term is now applied too: the leader has settled.
			s.settledTerm.Store(term)
			return
		}
		s.logger.Warn("leader no-op failed", "attempt", attempt, "error", err)
		select {
		case <-s.closed:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registerMeta records the leader's own HTTP address, and those of the members it bootstrapped
// a cluster with, when the replicated registry lacks them.
func (s *Store) registerMeta() {
	want := []Member{{ID: s.cfg.NodeID, HTTPAddr: s.cfg.HTTPAddr}}
	s.seenMu.Lock()
	want = append(want, s.bootstrapMeta...)
	s.seenMu.Unlock()
	for _, m := range want {
		if m.HTTPAddr == "" || s.HTTPAddrOf(m.ID) == m.HTTPAddr || !s.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
		if _, err := s.Propose(ctx, encodeNodeMeta(m.ID, m.HTTPAddr)); err != nil {
			s.logger.Warn("register node address", "id", m.ID, "error", err)
		}
		cancel()
	}
}
