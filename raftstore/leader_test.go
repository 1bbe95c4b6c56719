package raftstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"paimon/internal/testutil"
)

// TestWhileLeader: lead runs once per led term, with a context that ends when the term's
// leadership ends (not leading, or a new term after one lost in between) or the caller's
// context ends; WhileLeader returns only after the last lead has.
func TestWhileLeader(t *testing.T) {
	changes := make(chan Leadership, 1)
	var mu sync.Mutex
	var running []uint64 // terms whose lead is running
	var ran []uint64
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		WhileLeader(ctx, changes, func(lctx context.Context) {
			mu.Lock()
			term := uint64(len(ran) + 1)
			ran = append(ran, term)
			running = append(running, term)
			mu.Unlock()
			<-lctx.Done()
			mu.Lock()
			running = running[:0]
			mu.Unlock()
		})
	}()
	state := func(wantRunning, wantRan int) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(running) != wantRunning || len(ran) != wantRan {
				return fmt.Errorf("%d running, %d ran; want %d, %d", len(running), len(ran), wantRunning, wantRan)
			}
			return nil
		}
	}
	changes <- Leadership{}
	testutil.CheckFor(t, time.Second, state(0, 0))
	changes <- Leadership{Leading: true, Term: 3}
	testutil.CheckFor(t, time.Second, state(1, 1))
	changes <- Leadership{}
	testutil.CheckFor(t, time.Second, state(0, 1))
	changes <- Leadership{Leading: true, Term: 5}
	testutil.CheckFor(t, time.Second, state(1, 2))
	// Term 5 lost and term 7 won before the subscriber looked: a new lead for term 7.
	changes <- Leadership{Leading: true, Term: 7}
	testutil.CheckFor(t, time.Second, state(1, 3))
	cancel()
	select {
	case <-finished:
	case <-time.After(time.Second):
		t.Fatal("WhileLeader did not return when its context ended")
	}
	if err := state(0, 3)(); err != nil {
		t.Fatalf("after WhileLeader returned: %v", err)
	}
}

// TestSubscribeLeadership: a subscriber learns the current state first, leading once the
// term's no-op is applied (so the state holds everything committed before), and not leading
// when the store closes.
func TestSubscribeLeadership(t *testing.T) {
	s := openStore(t, testConfig(t, t.TempDir()), &counterSM{})
	changes, cancel := s.SubscribeLeadership()
	defer cancel()
	var now Leadership
	testutil.CheckFor(t, 5*time.Second, func() error {
		select {
		case now = <-changes:
		default:
		}
		if !now.Leading {
			return errors.New("not told it leads")
		}
		return nil
	})
	if now.Term != s.Status().Term || s.Status().Settled != true {
		t.Fatalf("told it leads in term %d; status %+v", now.Term, s.Status())
	}
	late, cancelLate := s.SubscribeLeadership()
	defer cancelLate()
	if got := <-late; got != now {
		t.Fatalf("a late subscriber got %+v first, want %+v", got, now)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-changes:
		if got.Leading {
			t.Fatalf("after Close: %+v", got)
		}
	case <-time.After(time.Second):
		t.Fatal("not told the store closed")
	}
}
