package raftstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNewLeaderReadsSeeAcknowledgedWrites: writes are acknowledged by the leader until it is
// closed; from the moment another node says it leads, a read index it hands out and the state
// a leader read sees (once Settled) cover every acknowledged write. Before the fix a new
// leader answered from its state (leader reads) or its commit index (ReadIndex) before its
// term's no-op was applied, older than what its predecessor had acknowledged.
func TestNewLeaderReadsSeeAcknowledgedWrites(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			stores := openTestCluster(t, 3)
			old := leaderOf(stores)
			var acked atomic.Uint64
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ctx.Err() == nil; i++ {
						pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
						res, err := old.Propose(pctx, encodeSet(fmt.Sprintf("w%d-%d", w, i), "v"))
						cancel()
						if err != nil {
							return
						}
						for {
							a := acked.Load()
							if res.Index <= a || acked.CompareAndSwap(a, res.Index) {
								break
							}
						}
					}
				}()
			}
			time.Sleep(300 * time.Millisecond)
			old.Close()
			stop()
			wg.Wait()
			last := acked.Load()
			if last == 0 {
				t.Fatal("no write acknowledged")
			}
			var next *Store
			checkFor(t, 10*time.Second, func() error {
				for _, s := range stores {
					if s != old && s.IsLeader() {
						next = s
						return nil
					}
				}
				return fmt.Errorf("no new leader")
			})
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			idx, err := next.ReadIndex(rctx)
			if err != nil {
				t.Fatalf("read index on the new leader: %v", err)
			}
			if idx < last {
				t.Fatalf("the new leader's read index %d is older than the acknowledged write at %d", idx, last)
			}
			if err := next.WaitSettled(rctx); err != nil {
				t.Fatal(err)
			}
			if a := next.AppliedIndex(); a < last {
				t.Fatalf("settled with applied index %d, older than the acknowledged write at %d", a, last)
			}
		})
	}
}

// TestWaitSettledOnAFollower is ErrNotLeader, at once.
func TestWaitSettledOnAFollower(t *testing.T) {
	stores := openTestCluster(t, 3)
	for _, s := range stores {
		if s.IsLeader() {
			if !s.Settled() {
				t.Fatal("the leader openTestCluster waited for is not settled")
			}
			continue
		}
		if s.Settled() {
			t.Fatal("a follower says it is settled")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.WaitSettled(ctx)
		expired := ctx.Err()
		cancel()
		if !errors.Is(err, ErrNotLeader) || expired != nil {
			t.Fatalf("WaitSettled on a follower: %v (context %v)", err, expired)
		}
	}
}
