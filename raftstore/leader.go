package raftstore

import (
	"context"
	"errors"
	"sync"
	"time"
)

// watchLeadership runs for the life of the store. When this node becomes leader it commits a
// CmdNoop of its own: Raft's term-start no-op never reaches the FSM, so until an FSM-visible
// entry of the new term is applied the commit index can point at an entry the state never
// records, and a read waiting for "applied >= commit index" would wait forever. Once the noop
// is applied, every commit index the leader reports is reachable by the state.
//
// It is also the one place leadership changes are observed: subscribers (SubscribeLeadership)
// are told "leading" once the no-op is applied (the state then holds everything committed
// before this term, so leader-only work starts from it) and "not leading" as soon as Raft steps
// down, and when the store closes.
func (s *Store) watchLeadership() {
	defer s.wg.Done()
	defer s.publishLeadership(false)
	ch := s.raft.LeaderCh()
	for {
		select {
		case <-s.closed:
			return
		case isLeader := <-ch:
			if !isLeader {
				s.logger.Info("stepped down", "term", s.raft.CurrentTerm())
				s.publishLeadership(false)
				continue
			}
			s.logger.Info("became leader", "term", s.raft.CurrentTerm())
			if s.disk.short() {
				s.disk.wake() // hand over to a member with space (disk.go)
			}
			s.commitNoop()
			if s.IsLeader() {
				s.publishLeadership(true)
			}
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
		pause := 100 * time.Millisecond
		if errors.Is(err, ErrDiskFull) {
			// Refused until space returns or this node hands leadership over: said once.
			pause = s.cfg.DiskCheckInterval
			if attempt == 0 {
				s.logger.Warn("leader no-op refused: short of disk space", "error", err)
			}
		} else {
			s.logger.Warn("leader no-op failed", "attempt", attempt, "error", err)
		}
		select {
		case <-s.closed:
			return
		case <-time.After(pause):
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

// Leadership is this node's leadership as SubscribeLeadership tells it.
type Leadership struct {
	// Leading is true while this node leads, from the moment its term's no-op is applied.
	Leading bool
	// Term is the term this node leads; 0 when it does not lead.
	Term uint64
}

// leadershipSubs fans leadership changes out to subscribers.
type leadershipSubs struct {
	mu   sync.Mutex
	now  Leadership
	subs map[chan Leadership]struct{}
}

// SubscribeLeadership returns a channel that tells whether this node leads: the current state
// first, then every change (leading once a new term's no-op is applied, not leading as soon as
// Raft steps down or the store closes). The channel keeps only the latest state, so a slow
// subscriber never holds up Raft and never acts on an outdated one; a term lost and another
// won in between shows as the new term. cancel ends the subscription.
//
// Leader-only work (ingest, the PostgreSQL sync) follows this one notification, through
// WhileLeader, instead of polling IsLeader.
func (s *Store) SubscribeLeadership() (changes <-chan Leadership, cancel func()) {
	ch := make(chan Leadership, 1)
	l := &s.leadership
	l.mu.Lock()
	if l.subs == nil {
		l.subs = map[chan Leadership]struct{}{}
	}
	l.subs[ch] = struct{}{}
	ch <- l.now
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

func (s *Store) publishLeadership(leading bool) {
	now := Leadership{}
	if leading {
		now = Leadership{Leading: true, Term: s.raft.CurrentTerm()}
	}
	l := &s.leadership
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now == now {
		return
	}
	l.now = now
	for ch := range l.subs {
		select { // replace a state the subscriber has not read yet
		case <-ch:
		default:
		}
		ch <- now
	}
}

// WhileLeader runs lead for each term changes (from SubscribeLeadership) says this node leads,
// with a context that ends as soon as that term's leadership ends, or ctx ends; lead should
// return promptly then. WhileLeader returns when ctx ends and the last lead has returned.
func WhileLeader(ctx context.Context, changes <-chan Leadership, lead func(ctx context.Context)) {
	var now Leadership
	for {
		for !now.Leading {
			select {
			case <-ctx.Done():
				return
			case now = <-changes:
			}
		}
		term := now.Term
		termCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lead(termCtx)
		}()
		for now.Leading && now.Term == term {
			select {
			case <-ctx.Done():
				stop()
				if done != nil { // nil: lead already returned
					<-done
				}
				return
			case now = <-changes:
			case <-done:
				done = nil // lead returned on its own: wait for the term to end
			}
		}
		stop()
		if done != nil {
			<-done
		}
	}
}
