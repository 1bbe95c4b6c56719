package raftstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeDisk is a data folder's file system whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

const fakeDiskSize = 10 << 30

func (d *fakeDisk) FreeSpace(string) (uint64, uint64, error) { return d.free.Load(), fakeDiskSize, nil }

// openDiskCluster is openTestCluster with a fake disk per store and a 64 MiB reserve.
func openDiskCluster(t *testing.T, n int) ([]*Store, []*fakeDisk) {
	t.Helper()
	disks := make([]*fakeDisk, n)
	stores := openTestClusterWith(t, n, func(i int, cfg *Config, deps *Deps) {
		cfg.DiskReserveMiB, cfg.DiskReservePercent = 64, 0
		cfg.LogSegmentBytes = 1 << 20
		cfg.DiskCheckInterval = 50 * time.Millisecond
		disks[i] = &fakeDisk{}
		disks[i].free.Store(fakeDiskSize / 2)
		deps.FreeSpace = disks[i].FreeSpace
	})
	return stores, disks
}

// settledLeader waits for a leader whose term's no-op is applied and returns it.
func settledLeader(t *testing.T, stores []*Store) *Store {
	t.Helper()
	var l *Store
	checkFor(t, 10*time.Second, func() error {
		for _, s := range stores {
			if s.IsLeader() && s.settledTerm.Load() == s.raft.CurrentTerm() {
				l = s
				return nil
			}
		}
		return fmt.Errorf("no settled leader")
	})
	return l
}

// TestDiskFullLeaderHandsOver: a leader whose disk falls below the reserve refuses proposals
// with ErrDiskFull, hands leadership to a member with space and stops appending to its log
// and applying; the cluster goes on writing without it, and once space returns it catches up
// to the same state. Nothing panics, nothing acknowledged is lost.
func TestDiskFullLeaderHandsOver(t *testing.T) {
	stores, disks := openDiskCluster(t, 3)
	old := leaderOf(stores)
	oi := indexOf(stores, old)
	for i := range 20 {
		propose(t, old, fmt.Sprintf("a%02d", i), "v")
	}

	disks[oi].free.Store(1 << 20)
	checkFor(t, 5*time.Second, func() error {
		_, err := old.Propose(context.Background(), encodeSet("refused", "v"))
		if !errors.Is(err, ErrDiskFull) {
			return fmt.Errorf("propose on the full leader: %v, want ErrDiskFull", err)
		}
		return nil
	})
	if st := old.Status(); !st.DiskLow || st.DiskFree != 1<<20 || st.DiskReserve != 64<<20 {
		t.Fatalf("status of the full node: low=%v free=%d reserve=%d", st.DiskLow, st.DiskFree, st.DiskReserve)
	}
	next := settledLeader(t, stores)
	if next == old {
		t.Fatal("the full node still leads")
	}
	frozen := old.raft.LastIndex()
	for i := range 50 {
		propose(t, next, fmt.Sprintf("b%02d", i), "v")
	}
	if old.IsLeader() {
		t.Fatal("the full node leads again")
	}
	// Raft's own entries (a new term's no-op) may still be appended, commands may not.
	for i := frozen + 1; i <= old.raft.LastIndex(); i++ {
		var e raft.Log
		if err := old.wal.GetLog(i, &e); err == nil && e.Type == raft.LogCommand {
			t.Fatalf("the full node appended command %d (log was at %d) while below the reserve", i, frozen)
		}
	}
	if got := countKeys(t, old); got >= 70 {
		t.Fatalf("the full node applied %d keys while below the reserve", got)
	}

	disks[oi].free.Store(fakeDiskSize / 2)
	last := propose(t, next, "c", "v")
	checkFor(t, 20*time.Second, func() error {
		if got := old.AppliedIndex(); got < last.Index {
			return fmt.Errorf("the node with space again applied %d, want %d", got, last.Index)
		}
		return nil
	})
	if got := countKeys(t, old); got != 71 {
		t.Fatalf("%d keys on the recovered node, want 71", got)
	}
	if old.Status().DiskLow {
		t.Fatal("status still says the disk is low")
	}
	for _, s := range stores {
		if err := s.fatalErr(); err != nil {
			t.Fatalf("%s: %v", s.NodeID(), err)
		}
	}
}

// TestDiskFullStateMachineWaits: a batch reaching the state machine while space is short
// waits before its Pebble commit (never reaching Pebble's panic on a failed WAL write),
// commits once space returns, and a store closed meanwhile drops it whole.
func TestDiskFullStateMachineWaits(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.DiskReserveMiB, cfg.DiskReservePercent = 64, 0
	cfg.LogSegmentBytes = 1 << 20
	cfg.DiskCheckInterval = 40 * time.Millisecond
	disk := &fakeDisk{}
	disk.free.Store(fakeDiskSize / 2)
	deps := testDeps(t)
	deps.FreeSpace = disk.FreeSpace
	s := openStoreDeps(t, cfg, &counterSM{}, deps)
	defer s.Close()
	settledLeader(t, []*Store{s}) // Raft's FSM goroutine is idle from here: the test feeds the FSM
	res := propose(t, s, "a", "1")
	if err := s.WaitApplied(context.Background(), res.Index); err != nil {
		t.Fatal(err)
	}
	// Give the FSM entries directly, as Raft would: the log refuses new ones while full.
	batch := func(i uint64) []*raft.Log {
		return []*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: encodeSet(fmt.Sprint("k", i), "v")}}
	}
	disk.free.Store(1 << 20)
	done := make(chan []any, 1)
	go func() { done <- s.fsm.ApplyBatch(batch(res.Index + 1)) }()
	checkFor(t, 5*time.Second, func() error {
		if !s.fsmWaitingForDisk.Load() {
			return errors.New("the state machine does not wait")
		}
		return nil
	})
	select {
	case <-done:
		t.Fatal("the batch committed while the disk was full")
	case <-time.After(200 * time.Millisecond):
	}
	disk.free.Store(fakeDiskSize / 2)
	if out := <-done; out[0] == nil || s.AppliedIndex() != res.Index+1 {
		t.Fatalf("after space returned: result %v, applied %d, want %d", out[0], s.AppliedIndex(), res.Index+1)
	}

	disk.free.Store(1 << 20)
	go func() { done <- s.fsm.ApplyBatch(batch(res.Index + 2)) }()
	checkFor(t, 5*time.Second, func() error {
		if !s.fsmWaitingForDisk.Load() {
			return errors.New("the state machine does not wait")
		}
		return nil
	})
	s.Close()
	if out := <-done; !errors.Is(asError(out[0]), ErrClosed) {
		t.Fatalf("a batch waiting when the store closed answered %v, want ErrClosed", out[0])
	}
	if got := s.fsm.ApplyBatch(batch(res.Index + 3)); !errors.Is(asError(got[0]), ErrClosed) {
		t.Fatalf("a batch after a dropped one answered %v, want ErrClosed (it would skip entries)", got[0])
	}

	// Reopened with space, the state holds the committed batches only.
	disk.free.Store(fakeDiskSize / 2)
	s2 := openStoreDeps(t, cfg, &counterSM{}, deps)
	defer s2.Close()
	if v, _ := readKey(t, s2, fmt.Sprint("k", res.Index+1)); v != "v" {
		t.Fatal("the batch committed after space returned is lost")
	}
	if v, _ := readKey(t, s2, fmt.Sprint("k", res.Index+2)); v != "" {
		t.Fatal("the dropped batch was committed")
	}
}

func indexOf(stores []*Store, s *Store) int {
	for i, x := range stores {
		if x == s {
			return i
		}
	}
	return -1
}

// diskPeers answers Notify saying whether the test has marked the member short of space.
type diskPeers struct {
	mu  sync.Mutex
	low map[string]bool // node id -> its notify answer says diskLow
}

func (p *diskPeers) Join(context.Context, string, Member) error { return nil }
func (p *diskPeers) Notify(_ context.Context, addr string, _ Member) (Member, error) {
	id := strings.TrimPrefix(addr, "http-")
	p.mu.Lock()
	defer p.mu.Unlock()
	return Member{ID: id, DiskLow: p.low[id]}, nil
}

func (p *diskPeers) set(id string, low bool) {
	p.mu.Lock()
	p.low[id] = low
	p.mu.Unlock()
}

// TestDiskFullHandsOverToMemberWithSpace: a leader short of space hands leadership to the
// follower whose notify answer does not say diskLow, not to the other one (both followers are
// up to date, so Raft's own pick could be either). Two rounds, each follower in turn the one
// that says it is short.
func TestDiskFullHandsOverToMemberWithSpace(t *testing.T) {
	stores, disks := openDiskCluster(t, 3)
	peers := &diskPeers{low: map[string]bool{}}
	for _, s := range stores {
		s.setMeta([][2]string{{"n1", "http-n1"}, {"n2", "http-n2"}, {"n3", "http-n3"}})
		s.peerAccess.Store(&peerAccess{peers: peers, self: Member{ID: s.NodeID()}})
	}
	for round := range 2 {
		l := settledLeader(t, stores)
		var followers []*Store
		for _, s := range stores {
			if s != l {
				followers = append(followers, s)
			}
		}
		short, want := followers[round], followers[1-round]
		peers.set(short.NodeID(), true)
		propose(t, l, fmt.Sprint("r", round), "v")
		disks[indexOf(stores, l)].free.Store(1 << 20)
		var next *Store
		checkFor(t, 10*time.Second, func() error {
			if next = settledLeader(t, stores); next == l {
				return errors.New("the full leader still leads")
			}
			return nil
		})
		if next != want {
			t.Fatalf("round %d: %s, full, handed leadership to %s, whose notify answer says it is short of space too; want %s",
				round, l.NodeID(), next.NodeID(), want.NodeID())
		}
		peers.set(short.NodeID(), false)
		disks[indexOf(stores, l)].free.Store(fakeDiskSize / 2)
	}
}

// BenchmarkStatfsFreeSpace is the disk guard's cost: one statfs before every command append
// and every state commit. Compare with a batch of BenchmarkFSMApplyPrices in the same run:
//
//	go test ./raftstore -run XXX -bench 'StatfsFreeSpace|FSMApplyPrices' -benchtime 2000x
func BenchmarkStatfsFreeSpace(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if _, _, err := StatfsFreeSpace(dir); err != nil {
			b.Fatal(err)
		}
	}
}
