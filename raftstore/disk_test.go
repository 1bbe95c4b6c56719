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

	"paimon/internal/testutil"
)

// fakeDisk is a data folder's file system whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

const fakeDiskSize = 10 << 30

func (d *fakeDisk) FreeSpace(string) (uint64, uint64, error) { return d.free.Load(), fakeDiskSize, nil }

// openDiskCluster is openTestCluster with a fake disk per store and a 64 MiB reserve.
func openDiskCluster(t *testing.T, n int) ([]*Store, []*fakeDisk) {
	t.Helper()
	stores, disks, _ := openCutDiskCluster(t, n, nil)
	return stores, disks
}

// openCutDiskCluster is openDiskCluster with a network per store that the test can cut, and
// mutate (nil: none) applied to each store's config.
func openCutDiskCluster(t *testing.T, n int, mutate func(cfg *Config)) ([]*Store, []*fakeDisk, []*testutil.CutNetwork) {
	t.Helper()
	disks := make([]*fakeDisk, n)
	nets := make([]*testutil.CutNetwork, n)
	stores := openTestClusterWith(t, n, func(i int, cfg *Config, deps *Deps) {
		nets[i] = testutil.NewCutNetwork()
		deps.Network = nets[i]
		cfg.DiskReserveMiB, cfg.DiskReservePercent = 64, 0
		cfg.LogSegmentBytes = 1 << 20
		cfg.DiskCheckInterval = 50 * time.Millisecond
		disks[i] = &fakeDisk{}
		disks[i].free.Store(fakeDiskSize / 2)
		deps.FreeSpace = disks[i].FreeSpace
		if mutate != nil {
			mutate(cfg)
		}
	})
	return stores, disks, nets
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

// catchesUp proposes key k on the leader l and waits for s, which has space again, to apply it.
func catchesUp(t *testing.T, s, l *Store, k string) {
	t.Helper()
	last := propose(t, l, k, "v")
	checkFor(t, 20*time.Second, func() error {
		if got := s.AppliedIndex(); got < last.Index {
			return fmt.Errorf("the node with space again applied %d, want %d", got, last.Index)
		}
		return nil
	})
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
	catchesUp(t, old, next, "c")
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

// TestDiskFullConflictingSuffix: a node short of space that holds entries no other node has
// (it led, was cut off, and appended commands it could not replicate) keeps its log as it was
// while short, and once space returns it drops those entries, takes the new leader's and
// catches up. Before the guard knew about truncations, the node dropped the conflicting
// suffix, the append that followed was refused, and hashicorp/raft's idea of the log's last
// index (kept in memory, not reread) stayed past the log's end: the node answered every
// append from then on with "failed to get log entry" and never caught up until a restart
// (chaos.TestCampaign, seed 907033742, a disk-full on the leader).
func TestDiskFullConflictingSuffix(t *testing.T) {
	stores, disks, nets := openCutDiskCluster(t, 3, nil)
	old := settledLeader(t, stores)
	oi := indexOf(stores, old)
	for i := range 5 {
		propose(t, old, fmt.Sprintf("a%d", i), "v")
	}
	committed := old.raft.LastIndex()

	// Cut off, the leader appends commands to its own log that no one else gets.
	nets[oi].SetCut(true)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := old.Propose(ctx, encodeSet(fmt.Sprintf("lost%d", i), "v")); err == nil {
				t.Errorf("a proposal on the cut-off leader was acknowledged")
			}
		})
	}
	checkFor(t, 5*time.Second, func() error {
		if got := old.raft.LastIndex(); got < committed+3 {
			return fmt.Errorf("the cut-off leader's log ends at %d, want %d", got, committed+3)
		}
		return nil
	})
	var rest []*Store
	for _, s := range stores {
		if s != old {
			rest = append(rest, s)
		}
	}
	next := settledLeader(t, rest)
	for i := range 5 {
		propose(t, next, fmt.Sprintf("b%d", i), "v")
	}
	wg.Wait()
	oldLast := old.raft.LastIndex()
	var oldTail raft.Log
	if err := old.wal.GetLog(oldLast, &oldTail); err != nil {
		t.Fatal(err)
	}

	// Short of space, the old leader rejoins: it must not drop its suffix yet.
	disks[oi].free.Store(1 << 20)
	checkFor(t, 5*time.Second, func() error {
		if !old.Status().DiskLow {
			return errors.New("the old leader does not say its disk is low")
		}
		return nil
	})
	nets[oi].SetCut(false)
	checkFor(t, 10*time.Second, func() error {
		if _, id := old.raft.LeaderWithID(); string(id) != next.NodeID() {
			return fmt.Errorf("the old leader follows %q, want %s", id, next.NodeID())
		}
		return nil
	})
	propose(t, next, "c0", "v")
	time.Sleep(500 * time.Millisecond) // appends reach the short node and are refused
	var tail raft.Log
	if err := old.wal.GetLog(oldLast, &tail); err != nil || tail.Term != oldTail.Term || tail.Type != raft.LogCommand {
		t.Fatalf("while short of space, the node's log entry %d changed: term %d (was %d), type %v, err %v",
			oldLast, tail.Term, oldTail.Term, tail.Type, err)
	}

	disks[oi].free.Store(fakeDiskSize / 2)
	catchesUp(t, old, next, "c1")
	// Propose answers once the leader has applied; the other follower may still be behind.
	want := next.AppliedIndex()
	checkFor(t, 10*time.Second, func() error {
		for _, s := range stores {
			if got := s.AppliedIndex(); got < want {
				return fmt.Errorf("%s applied %d, want %d", s.NodeID(), got, want)
			}
		}
		return nil
	})
	for _, s := range stores {
		if got := countKeys(t, s); got != 12 {
			t.Fatalf("%s holds %d keys, want 12 (a0-a4, b0-b4, c0, c1; none of the cut-off leader's)", s.NodeID(), got)
		}
		if err := s.fatalErr(); err != nil {
			t.Fatalf("%s: %v", s.NodeID(), err)
		}
	}
}

// TestGuardedLogsTruncation: while space is short a deletion of the log's suffix is refused
// and leaves the log as it was, the head's deletion (compaction) passes; an append that
// follows a deletion through the log's end passes even when space has just run short (Raft
// does not reread its last index when that append fails), the one after it does not.
func TestGuardedLogsTruncation(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(fakeDiskSize / 2)
	g := newDiskGuard(Config{Dir: "d", DiskReserveMiB: 64}, disk.FreeSpace, testLogger(t))
	logs := &guardedLogs{LogStore: raft.NewInmemStore(), g: g}
	entries := func(lo, hi uint64, term uint64) []*raft.Log {
		var out []*raft.Log
		for i := lo; i <= hi; i++ {
			out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte{byte(i)}})
		}
		return out
	}
	lastIs := func(want, wantTerm uint64) {
		t.Helper()
		last, err := logs.LastIndex()
		var e raft.Log
		if err == nil {
			err = logs.GetLog(last, &e)
		}
		if err != nil || last != want || e.Term != wantTerm {
			t.Fatalf("log ends at %d (term %d, err %v), want %d (term %d)", last, e.Term, err, want, wantTerm)
		}
	}
	if err := logs.StoreLogs(entries(1, 10, 1)); err != nil {
		t.Fatal(err)
	}

	disk.free.Store(1 << 20)
	if err := logs.DeleteRange(8, 10); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("suffix deletion while short: %v, want ErrDiskFull", err)
	}
	lastIs(10, 1)
	if err := logs.StoreLogs(entries(11, 11, 1)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append while short: %v, want ErrDiskFull", err)
	}
	if err := logs.DeleteRange(1, 2); err != nil {
		t.Fatalf("head deletion while short: %v", err)
	}
	if err := logs.StoreLogs(entries(11, 11, 1)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append after a head deletion while short: %v, want ErrDiskFull", err)
	}

	// Space is back for the deletion and gone again for the append that follows it.
	disk.free.Store(fakeDiskSize / 2)
	if err := logs.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(1 << 20)
	if err := logs.StoreLogs(entries(8, 9, 2)); err != nil {
		t.Fatalf("the append after a suffix deletion was refused: %v", err)
	}
	lastIs(9, 2)
	if err := logs.StoreLogs(entries(10, 10, 2)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("the next append while short: %v, want ErrDiskFull", err)
	}
	lastIs(9, 2)
}

// TestDiskFullFollowersProposalEnds: a leader whose followers both answer but cannot append
// (short of space) keeps leading and cannot commit; a proposal on it ends with its context
// (ErrTimeout, outcome unknown: it is in the leader's log) instead of waiting for ever, and it
// commits once the followers have space again. Close does not wait on it either.
func TestDiskFullFollowersProposalEnds(t *testing.T) {
	stores, disks := openDiskCluster(t, 3)
	l := settledLeader(t, stores)
	propose(t, l, "before", "v")
	for i, s := range stores {
		if s != l {
			disks[i].free.Store(1 << 20)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := l.Propose(ctx, encodeSet("pending", "v"))
	cancel()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrOutcomeUnknown) || Refused(err) {
		t.Fatalf("proposal on a leader that cannot commit: %v, want ErrTimeout with ErrOutcomeUnknown", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the proposal took %s to end with a 500ms context", took)
	}
	if !l.IsLeader() {
		t.Fatal("the leader stepped down: the test did not reach the case where it cannot commit")
	}
	for i := range stores {
		disks[i].free.Store(fakeDiskSize / 2)
	}
	checkFor(t, 20*time.Second, func() error {
		for _, s := range stores {
			if v, _ := readKey(t, s, "pending"); v != "v" {
				return fmt.Errorf("%s does not hold the proposal whose wait ended yet", s.NodeID())
			}
		}
		return nil
	})

	// Close ends a proposal in flight too.
	for i, s := range stores {
		if s != l {
			disks[i].free.Store(1 << 20)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Propose(context.Background(), encodeSet("at-close", "v"))
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("proposal in flight at Close: %v, want ErrClosed with ErrOutcomeUnknown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a proposal in flight still waits 10s after Close")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits 10s after it began")
	}
}

// TestProposalBacklogBounded: on a leader that cannot commit, proposals whose callers gave up
// still count until raft answers them; once Config.MaxInFlight wait, Propose refuses at once
// with ErrBacklog (not proposed: not ErrOutcomeUnknown), so callers that keep writing cannot
// grow the leader's goroutines and log without bound. When the cluster commits again, the
// waiting proposals commit and Propose takes commands again.
func TestProposalBacklogBounded(t *testing.T) {
	const limit = 4
	stores, disks, _ := openCutDiskCluster(t, 3, func(cfg *Config) { cfg.MaxInFlight = limit })
	l := settledLeader(t, stores)
	for i, s := range stores {
		if s != l {
			disks[i].free.Store(1 << 20)
		}
	}
	for i := range limit {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := l.Propose(ctx, encodeSet(fmt.Sprint("waiting", i), "v"))
		cancel()
		if !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("proposal %d on a leader that cannot commit: %v, want ErrOutcomeUnknown", i, err)
		}
	}
	if got := l.inFlight.Load(); got != limit {
		t.Fatalf("%d proposals in flight, want %d", got, limit)
	}
	start := time.Now()
	_, err := l.Propose(context.Background(), encodeSet("refused", "v"))
	if !errors.Is(err, ErrBacklog) || errors.Is(err, ErrOutcomeUnknown) || time.Since(start) > time.Second {
		t.Fatalf("proposal over the backlog: %v after %s, want ErrBacklog at once", err, time.Since(start))
	}
	if got := l.metrics.backlogRefused.Get(); got != 1 {
		t.Fatalf("backlog refusals counted %d, want 1", got)
	}

	for i := range stores {
		disks[i].free.Store(fakeDiskSize / 2)
	}
	checkFor(t, 20*time.Second, func() error {
		if n := l.inFlight.Load(); n != 0 {
			return fmt.Errorf("%d proposals still in flight", n)
		}
		return nil
	})
	propose(t, l, "after", "v")
	for i := range limit {
		if v, _ := readKey(t, l, fmt.Sprint("waiting", i)); v != "v" {
			t.Fatalf("the proposal waiting%d did not commit once the followers had space", i)
		}
	}
	if v, _ := readKey(t, l, "refused"); v != "" {
		t.Fatal("the refused proposal was applied")
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
