package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// FreeSpaceFunc reports the bytes free (to an unprivileged writer) and the size of the file
// system that holds dir. StatfsFreeSpace is the production one; tests inject their own.
type FreeSpaceFunc func(dir string) (free, total uint64, err error)

// StatfsFreeSpace asks the file system of dir with statfs(2).
func StatfsFreeSpace(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize) //nolint:gosec // a block size is positive
	return st.Bavail * bs, st.Blocks * bs, nil
}

// diskGuard keeps the node from running its data folder out of space (raftstore/DESIGN.md "A
// full disk"). Pebble treats a failed write of its WAL as fatal (it panics) and hashicorp/raft
// panics when it cannot store its term, so the node must stop writing before the disk is full,
// not handle ENOSPC after. Below the reserve the node writes nothing more to its log or state:
// Propose refuses (ErrDiskFull), the log store refuses appends (a leader then steps down, a
// follower answers the leader's append with a failure and the leader retries later), the
// state machine waits before its next Pebble commit, snapshots and restores are put off, and
// a leader hands leadership to a member that has space. Everything resumes when space returns.
type diskGuard struct {
	dir     string
	free    FreeSpaceFunc
	minimum uint64  // reserve floor in bytes (raft.disk_reserve_mib); 0 with percent 0: off
	percent float64 // reserve as a share of the file system (raft.disk_reserve_percent)
	logger  *slog.Logger

	low      atomic.Bool
	freeB    atomic.Uint64
	reserveB atomic.Uint64
	kick     chan struct{} // the guard found space short: the watcher acts now

	errMu   sync.Mutex
	lastErr string // the last statfs error logged, so a lasting one is logged once
}

func newDiskGuard(cfg Config, free FreeSpaceFunc, logger *slog.Logger) *diskGuard {
	return &diskGuard{dir: cfg.Dir, free: free, minimum: uint64(cfg.DiskReserveMiB) << 20, //nolint:gosec // validated >= 0
		percent: cfg.DiskReservePercent, logger: logger, kick: make(chan struct{}, 1)}
}

func (g *diskGuard) enabled() bool { return g.minimum > 0 || g.percent > 0 }

// check asks the file system now and reports whether free space is below the reserve. A
// failed statfs keeps the last answer (the guard cannot tell, and refusing every write on a
// transient error would be worse).
func (g *diskGuard) check() bool {
	if !g.enabled() {
		return false
	}
	free, total, err := g.free(g.dir)
	if err != nil {
		g.errMu.Lock()
		if msg := err.Error(); msg != g.lastErr {
			g.lastErr = msg
			g.logger.Warn("cannot read the data folder's free space", "dir", g.dir, "error", err)
		}
		g.errMu.Unlock()
		return g.low.Load()
	}
	reserve := max(g.minimum, uint64(g.percent/100*float64(total)))
	g.freeB.Store(free)
	g.reserveB.Store(reserve)
	low := free < reserve
	if g.low.Swap(low) != low {
		if low {
			g.logger.Error("data folder below its free-space reserve: refusing writes until space returns",
				"dir", g.dir, "free_bytes", free, "reserve_bytes", reserve)
			g.wake()
		} else {
			g.logger.Info("data folder has space again: writes resume", "dir", g.dir, "free_bytes", free, "reserve_bytes", reserve)
		}
	}
	return low
}

// short is the last answer of check, without asking the file system.
func (g *diskGuard) short() bool { return g.low.Load() }

// wake has the watcher check now (a node just elected while short of space hands over).
func (g *diskGuard) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// errShort is ErrDiskFull with the figures of the last check.
func (g *diskGuard) errShort(what string) error {
	return fmt.Errorf("%w: %s: %d bytes free in %s, reserve %d", ErrDiskFull, what, g.freeB.Load(), g.dir, g.reserveB.Load())
}

// guardedLogs is the Raft log store behind the guard: while space is short it refuses every
// append that holds a command, before the log store writes anything, so a refused append
// leaves the log as it was. On a leader hashicorp/raft answers the batch's proposals with the
// error (not in the log: never replicated) and steps down; on a follower it answers the
// leader's append with a failure, and the leader retries with a backoff (the follower falls
// behind, so it cannot win an election until it caught up). Raft's own entries (a new
// leader's no-op, configurations) are a few bytes within the reserve and pass: refusing them
// would make a node short of space step down as soon as it is elected, over and over, and a
// cluster whose every node is short of space would have no leader to say why it refuses.
//
// A follower whose log ends in entries the leader does not have (it led, and appended what it
// could not replicate) deletes them before it appends the leader's, in the same call of
// hashicorp/raft's appendEntries, and does not reread its log's last index if the append then
// fails (a TODO there): refusing that append would leave Raft believing in entries the log no
// longer holds, and the follower would fail every append from then on ("failed to get log
// entry") until a restart. So while space is short such a deletion is refused too (the log
// stays as it was and the leader retries), and an append that follows a deletion through the
// log's end always passes: it is at most one append's batch, within the reserve.
type guardedLogs struct {
	raft.LogStore
	g *diskGuard

	truncated atomic.Bool // the last deletion reached the log's end and no append came since
}

// IsMonotonic passes the log cache's (raft-wal's) answer through (raft.MonotonicLogStore):
// raft-wal cannot store a gap, so after a snapshot install Raft must delete the whole log.
func (l *guardedLogs) IsMonotonic() bool {
	m, ok := l.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (l *guardedLogs) StoreLog(log *raft.Log) error {
	return l.StoreLogs([]*raft.Log{log})
}

func (l *guardedLogs) StoreLogs(logs []*raft.Log) error {
	if l.truncated.Swap(false) {
		return l.LogStore.StoreLogs(logs)
	}
	for _, e := range logs {
		if e.Type == raft.LogCommand {
			if l.g.check() {
				return l.g.errShort("raft log append refused")
			}
			break
		}
	}
	return l.LogStore.StoreLogs(logs)
}

// DeleteRange refuses, while space is short, to delete a suffix of the log (entries a
// follower holds that conflict with the leader's); the head's deletion after a snapshot frees
// space and always passes, as does the whole log's after a snapshot install.
func (l *guardedLogs) DeleteRange(lo, hi uint64) error {
	first, err := l.LogStore.FirstIndex()
	if err != nil {
		return err
	}
	last, err := l.LogStore.LastIndex()
	if err != nil {
		return err
	}
	end := hi >= last
	if end && lo > first && l.g.check() {
		return l.g.errShort(fmt.Sprintf("raft log truncation from %d refused", lo))
	}
	if err := l.LogStore.DeleteRange(lo, hi); err != nil {
		return err
	}
	if end {
		l.truncated.Store(true)
	}
	return nil
}

var _ raft.MonotonicLogStore = (*guardedLogs)(nil)

// waitForSpace blocks the state machine's goroutine until space is back above the reserve.
// It returns ErrClosed if the store closes first; the batch is then not committed.
func (s *Store) waitForSpace() error {
	if !s.disk.check() {
		return nil
	}
	s.logger.Warn("state machine waits for disk space before committing", "applied_index", s.fsm.applied)
	s.fsmWaitingForDisk.Store(true)
	defer s.fsmWaitingForDisk.Store(false)
	t := time.NewTicker(s.cfg.DiskCheckInterval / 4)
	defer t.Stop()
	for s.disk.check() {
		select {
		case <-s.closed:
			return ErrClosed
		case <-t.C:
		}
	}
	s.logger.Info("state machine resumes: disk space is back", "applied_index", s.fsm.applied)
	return nil
}

// watchDisk runs for the life of the store: every DiskCheckInterval, and at once when an
// append or commit finds space short, it checks the data folder; a leader short of space
// hands leadership over.
func (s *Store) watchDisk() {
	defer s.wg.Done()
	if !s.disk.enabled() {
		return
	}
	t := time.NewTicker(s.cfg.DiskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.disk.kick:
		}
		if s.disk.check() && s.IsLeader() {
			s.leaveLeadershipForDisk()
		}
	}
}

// leaveLeadershipForDisk hands leadership to a voter that has space (its notify answer says
// so). Without a way to ask the members (no Form yet), it lets Raft pick the most up-to-date
// voter; when every other voter is short of space too, it stays: the cluster cannot write
// anyway, and a leader refusing with ErrDiskFull says why.
func (s *Store) leaveLeadershipForDisk() {
	members, err := s.Members()
	if err != nil {
		return
	}
	pa := s.peerAccess.Load()
	var target *Member
	voters, asked := 0, 0
	for _, m := range members {
		if m.ID == s.cfg.NodeID || !m.Voter {
			continue
		}
		voters++
		if pa == nil || m.HTTPAddr == "" {
			continue
		}
		asked++
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := pa.peers.Notify(ctx, m.HTTPAddr, pa.self)
		cancel()
		if err == nil && got.ID == m.ID && !got.DiskLow {
			target = &m
			break
		}
	}
	var f raft.Future
	switch {
	case voters == 0:
		return // a single voter has no one to hand over to: it refuses writes until space returns
	case target != nil:
		s.logger.Warn("short of disk space: handing leadership to "+target.ID, "to", target.ID)
		f = s.raft.LeadershipTransferToServer(raft.ServerID(target.ID), raft.ServerAddress(target.RaftAddr))
	case asked == 0:
		s.logger.Warn("short of disk space: handing leadership over")
		f = s.raft.LeadershipTransfer()
	default:
		s.logger.Warn("short of disk space, and no other voter says it has space: staying leader, refusing writes")
		return
	}
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrNotLeader) {
		s.logger.Warn("leadership hand-over for disk space failed; trying again", "error", err)
	}
}
