package server

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// consistency is the read level of API.md.
type consistency uint8

const (
	// consistencyLocal serves this node's replica, refused when it has not heard from a leader
	// within max_staleness or has not caught up with the leader since it started.
	consistencyLocal consistency = iota
	// consistencyLeader is served by the leader.
	consistencyLeader
	// consistencyLinearizable is served after the leader confirmed its leadership with a quorum
	// and this node applied up to the confirmed commit index.
	consistencyLinearizable
)

func (s *Server) parseConsistency(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	args := ctx.QueryArgs()
	rc.consistency = consistencyLocal
	rc.staleness = s.cfg.MaxStaleness
	if args.Len() == 0 {
		return nil
	}
	switch v := args.Peek("consistency"); string(v) {
	case "", "local":
	case "leader":
		rc.consistency = consistencyLeader
	case "linearizable":
		rc.consistency = consistencyLinearizable
	default:
		return validation(fmt.Sprintf("consistency %q must be local, leader or linearizable", v), nil)
	}
	if v := args.Peek("max_staleness"); len(v) > 0 {
		d, err := time.ParseDuration(string(v))
		if err != nil || d <= 0 || d > time.Hour {
			return validation(fmt.Sprintf("max_staleness %q must be a duration such as \"2s\", at most 1h", v), nil)
		}
		rc.staleness = d
	}
	return nil
}

// ensureConsistency checks or establishes the requested read level before a read.
func (s *Server) ensureConsistency(rc *reqCtx) error {
	switch rc.consistency {
	case consistencyLocal:
		if s.store.Stale(rc.staleness) {
			return errStaleRead
		}
		if !s.caughtUp.Load() && !s.leadsSettled() {
			return errNotCaughtUp // status.go catchUpAfterStart
		}
	case consistencyLeader:
		if !s.store.IsLeader() {
			return s.notLeaderError()
		}
		if !s.store.Settled() {
			// A new leader serves nothing until its state holds what its predecessor
			// acknowledged (raftstore.WaitSettled).
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
			defer cancel()
			if err := s.store.WaitSettled(ctx); err != nil {
				return err
			}
		}
	case consistencyLinearizable:
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
		defer cancel()
		idx, err := s.store.ReadIndex(ctx)
		if err != nil {
			return err
		}
		if err := s.store.WaitApplied(ctx, idx); err != nil {
			return err
		}
	}
	return nil
}
