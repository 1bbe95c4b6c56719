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
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	if !s.IsLeader() {
		return 0, s.notLeader()
	}
	idx := s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return 0, s.mapRaftErr(err)
	}
	return idx, nil
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
	lc := s.LastContact()
	return lc.IsZero() || time.Since(lc) > maxStaleness
}
