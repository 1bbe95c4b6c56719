// Package raftstore replicates the fund's state machine with hashicorp/raft and keeps its state
// in Pebble: the durable Raft log (raft-wal behind a log cache), the batching FSM, snapshots,
// read views and proposal handling.
package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"paimon/kv"
)

// Store is one node's replica: Raft, its log and the Pebble state. New does no I/O; Open starts
// it; Close stops it and is idempotent.
type Store struct {
	cfg    Config
	deps   Deps
	sm     StateMachine
	logger *slog.Logger

	state   *stateDB
	wal     *wal.WAL
	walMeta *metadb.BoltMetaDB
	snaps   *raft.FileSnapshotStore
	trans   *raft.NetworkTransport
	raft    *raft.Raft
	fsm     *fsm

	applied   atomic.Uint64
	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced whenever applied advances

	// settledTerm is the term whose leader no-op this node applied as leader (see leader.go).
	settledTerm atomic.Uint64
	leadership  leadershipSubs // SubscribeLeadership's subscribers (leader.go)

	stream   *streamLayer
	hadState bool // Raft had state when the store opened
	restores atomic.Uint64

	metaMu sync.RWMutex
	meta   map[string]string // node id -> HTTP address, replicated (membership.go)

	readMu          sync.Mutex
	readNext        *readRound // the round new linearizable reads join (read.go)
	readKick        chan struct{}
	readRoundsTotal *metrics.Counter

	seenMu        sync.Mutex
	seen          map[string]Member // nodes that announced themselves while forming
	bootstrapMeta []Member          // members this node bootstrapped with; registered once leader

	fatal     atomic.Pointer[error]
	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
	wg        sync.WaitGroup

	metrics storeMetrics
	// inFlight counts the proposals raft has not answered yet (Propose, await).
	inFlight atomic.Int64

	// disk guards the data folder's free space; fsmWaitingForDisk is set while the state
	// machine waits for space (disk.go).
	disk              *diskGuard
	fsmWaitingForDisk atomic.Bool

	// format is the data directory format this store writes and how it gets there (format.go).
	format formatPlan
	// clusterVersion is the applied cluster version; peerAccess what Form was given, for asking
	// members their versions (clusterversion.go).
	clusterVersion atomic.Pointer[string]
	peerAccess     atomic.Pointer[peerAccess]
}

type storeMetrics struct {
	applySeconds *metrics.PrometheusHistogram
	// proposeSeconds: Propose's call to its answer on the leader (queued, appended,
	// replicated, committed, applied).
	proposeSeconds *metrics.PrometheusHistogram
	applyEntries   *metrics.Counter
	proposals      *metrics.Counter
	proposeFail    *metrics.Counter
	diskRefusals   *metrics.Counter
	backlogRefused *metrics.Counter
}

// New validates cfg and returns an unopened store.
func New(cfg Config, sm StateMachine, deps Deps) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	deps.fill()
	if sm == nil {
		return nil, fmt.Errorf("%w: nil state machine", ErrInvalidConfig)
	}
	s := &Store{
		cfg:       cfg,
		deps:      deps,
		sm:        sm,
		logger:    deps.Logger,
		appliedCh: make(chan struct{}),
		closed:    make(chan struct{}),
		meta:      map[string]string{},
		readKick:  make(chan struct{}, 1),
		format:    currentPlan(),
	}
	s.fsm = &fsm{s: s}
	s.disk = newDiskGuard(cfg, deps.FreeSpace, deps.Logger)
	set := deps.Metrics
	s.metrics = storeMetrics{
		applySeconds:   set.GetOrCreatePrometheusHistogram("paimon_fsm_apply_seconds"),
		applyEntries:   set.GetOrCreateCounter("paimon_fsm_applied_entries_total"),
		proposeSeconds: set.GetOrCreatePrometheusHistogramExt("paimon_raft_propose_seconds", raftTimingBuckets),
		proposals:      set.GetOrCreateCounter("paimon_raft_proposals_total"),
		proposeFail:    set.GetOrCreateCounter("paimon_raft_proposals_failed_total"),
		diskRefusals:   set.GetOrCreateCounter("paimon_raft_proposals_refused_disk_total"),
		backlogRefused: set.GetOrCreateCounter("paimon_raft_proposals_refused_backlog_total"),
	}
	s.readRoundsTotal = set.GetOrCreateCounter("paimon_raft_read_index_rounds_total")
	return s, nil
}

// Open opens the state and the log, restores the state from the newest snapshot if the state
// is behind it, starts Raft and, for a node with no Raft state and Bootstrap set, bootstraps a
// single-voter cluster.
func (s *Store) Open() (err error) {
	defer func() {
		if err != nil {
			s.closeResources()
		}
	}()
	// A data directory from a newer release is refused before anything is opened, so that it
	// stays exactly as it was.
	format, formatExists, err := checkFormat(s.cfg.Dir, s.format.current)
	if err != nil {
		return err
	}
	raftDir := filepath.Join(s.cfg.Dir, "raft")
	for _, d := range []string{raftDir, filepath.Join(raftDir, "wal")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if s.state, err = openStateDB(filepath.Join(s.cfg.Dir, "state"), int64(s.cfg.StateCacheMiB)<<20, s.logger); err != nil {
		return err
	}
	applied, err := s.state.appliedIndex()
	if err != nil {
		return err
	}
	// raft-wal's Close does not close its metadata database, so the store owns it and closes it
	// itself; otherwise a reopen in the same process waits forever on its file lock.
	s.walMeta = &metadb.BoltMetaDB{}
	if s.wal, err = wal.Open(filepath.Join(raftDir, "wal"), wal.WithMetaStore(s.walMeta),
		wal.WithSegmentSize(s.cfg.LogSegmentBytes), wal.WithLogger(newHCLog(s.logger, "raft-wal"))); err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	cached, err := raft.NewLogCache(max(s.cfg.LogCacheSize, 1), s.wal)
	if err != nil {
		return err
	}
	// The guard sits in front of the cache, which would flatten its ErrDiskFull into text.
	logs := &guardedLogs{LogStore: cached, g: s.disk}
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(raftDir, s.cfg.SnapshotRetain, newHCLog(s.logger, "snapshots")); err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	if applied, err = s.catchUpFromSnapshot(applied); err != nil {
		return err
	}
	s.fsm.applied = applied
	s.setApplied(applied)
	if err := s.fsm.loadState(); err != nil {
		return err
	}
	if err := s.convert(format, formatExists); err != nil {
		return err
	}

	advertise, err := net.ResolveTCPAddr("tcp", s.cfg.AdvertiseAddr())
	if err != nil {
		return fmt.Errorf("raft advertise address %q: %w", s.cfg.AdvertiseAddr(), err)
	}
	s.stream, err = newStreamLayer(s.deps.Network, s.cfg.BindAddr, advertise, s.cfg.NodeID, s.cfg.Secret, s.deps.TLS, s.logger)
	if err != nil {
		return fmt.Errorf("raft listen %s: %w", s.cfg.BindAddr, err)
	}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLog(s.logger, "raft-net"),
	})

	rc := s.raftConfig()
	hasState, err := raft.HasExistingState(logs, s.wal, s.snaps)
	if err != nil {
		return err
	}
	s.hadState = hasState
	if s.raft, err = raft.NewRaft(rc, s.fsm, logs, s.wal, s.snaps, s.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if !hasState && s.cfg.Bootstrap {
		s.logger.Info("bootstrapping single-node cluster", "raft_addr", s.cfg.AdvertiseAddr())
		cfg := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(s.cfg.NodeID), Address: s.trans.LocalAddr(),
		}}}
		if err := s.raft.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	s.registerMetrics()
	s.disk.check()
	s.wg.Add(4)
	go s.watchLeadership()
	go s.readRounds()
	go s.watchDisk()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-s.closed
			cancel()
		}()
		changes, unsubscribe := s.SubscribeLeadership()
		defer unsubscribe()
		WhileLeader(ctx, changes, s.raiseClusterVersion)
	}()
	s.logger.Info("raft store open", "raft_addr", s.cfg.AdvertiseAddr(), "applied_index", applied, "existing_state", hasState)
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the state when the state is behind it.
// Raft starts replaying the log after the snapshot's index (the state is not restored on every
// start), so state that is older than the snapshot, such as a state folder that was lost, must
// be rebuilt from the snapshot first.
func (s *Store) catchUpFromSnapshot(applied uint64) (uint64, error) {
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 {
		return applied, err
	}
	meta := list[0]
	if meta.Index <= applied {
		return applied, nil
	}
	s.logger.Warn("state is behind the newest snapshot, restoring it", "applied_index", applied, "snapshot_index", meta.Index, "snapshot", meta.ID)
	_, rc, err := s.snaps.Open(meta.ID)
	if err != nil {
		return 0, fmt.Errorf("open snapshot %s: %w", meta.ID, err)
	}
	if err := s.fsm.Restore(rc); err != nil {
		return 0, err
	}
	return s.state.appliedIndex()
}

func (s *Store) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = newHCLog(s.logger, "raft")
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.CommitTimeout
	rc.MaxAppendEntries = s.cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	// The state store keeps the applied index itself, so Raft must not replay a snapshot into
	// it on every start.
	rc.NoSnapshotRestoreOnStart = true
	rc.NoLegacyTelemetry = true
	return rc
}

// Close stops Raft and closes the log and the state. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.TransferLeadership()
		close(s.closed)
		s.wg.Wait()
		s.closeErr = s.closeResources()
		s.logger.Info("raft store closed")
	})
	return s.closeErr
}

// TransferLeadership hands leadership to another voter when this node leads, so that a node
// about to stop does not make the cluster wait an election timeout to notice it is gone. It
// returns once this node has stepped down, and reports whether it did (false when it did not
// lead, has no other voter, or the transfer failed, which is logged). A node that stops calls
// it before it stops serving, so that requests forwarded to it meanwhile are refused as not
// proposed and go to the new leader; Close calls it too.
func (s *Store) TransferLeadership() bool {
	select {
	case <-s.closed:
		return false
	default:
	}
	if s.raft == nil || !s.IsLeader() || s.fatalErr() != nil {
		return false
	}
	nodes, err := s.Nodes()
	if err != nil {
		return false
	}
	voters := 0
	for _, n := range nodes {
		if n.Voter && n.ID != s.cfg.NodeID {
			voters++
		}
	}
	if voters == 0 {
		return false
	}
	start := time.Now()
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.logger.Warn("leadership transfer before shutdown failed", "error", err)
		return false
	}
	s.logger.Info("transferred leadership before shutdown", "took", time.Since(start).String(), "new_leader", s.LeaderID())
	return true
}

func (s *Store) closeResources() error {
	var errs []error
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	}
	if s.trans != nil {
		errs = append(errs, s.trans.Close())
		s.trans = nil
	}
	if s.wal != nil {
		errs = append(errs, s.wal.Close())
		s.wal = nil
	}
	if s.walMeta != nil {
		errs = append(errs, s.walMeta.Close())
		s.walMeta = nil
	}
	if s.state != nil {
		errs = append(errs, s.state.close())
	}
	return errors.Join(errs...)
}

// Result is what a committed proposal returns: its Raft index and the state machine's result.
type Result struct {
	Index uint64
	Value any
}

// Propose replicates cmd and returns once it is committed and applied on this node. On a node
// that is not the leader it returns ErrNotLeader (or ErrNoLeader when there is none).
func (s *Store) Propose(ctx context.Context, cmd []byte) (Result, error) {
	if err := s.usable(); err != nil {
		return Result{}, err
	}
	if err := s.allowed(cmd); err != nil {
		return Result{}, err
	}
	if s.disk.short() {
		s.metrics.diskRefusals.Inc()
		return Result{}, s.disk.errShort("proposal refused")
	}
	if n := s.inFlight.Add(1); n > int64(s.maxInFlight()) {
		s.inFlight.Add(-1)
		s.metrics.backlogRefused.Inc()
		return Result{}, fmt.Errorf("%w: %d wait already", ErrBacklog, n-1)
	}
	s.metrics.proposals.Inc()
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		s.inFlight.Add(-1)
		return Result{}, ErrTimeout
	}
	start := time.Now()
	f := s.raft.Apply(cmd, timeout)
	if err := s.await(ctx, f); err != nil {
		s.metrics.proposeFail.Inc()
		return Result{}, s.mapRaftErr(err)
	}
	s.metrics.proposeSeconds.UpdateDuration(start)
	resp := f.Response()
	if errors.Is(asError(resp), ErrFatal) {
		return Result{}, ErrFatal
	}
	return Result{Index: f.Index(), Value: resp}, nil
}

// await waits for a proposal's future, for ctx or for the store to close, whichever is
// first. hashicorp/raft answers a proposal only once it commits or this node stops leading,
// and a leader whose followers answer it but cannot append (short of disk space, or wedged)
// keeps leading: without ctx every write on it would wait for ever, and Close with it (the
// leader's no-op is a proposal). A wait ended by ctx or Close leaves the command in the log,
// where it may still commit: the error wraps ErrOutcomeUnknown. The proposal counts in
// inFlight until raft answers it, whoever still waits: that bounds the goroutines and log
// entries a leader that cannot commit holds (Config.MaxInFlight).
func (s *Store) await(ctx context.Context, f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() {
		done <- f.Error()
		s.inFlight.Add(-1)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: %w", ErrTimeout, ErrOutcomeUnknown, ctx.Err())
	case <-s.closed:
		return fmt.Errorf("%w: %w", ErrClosed, ErrOutcomeUnknown)
	}
}

func (s *Store) maxInFlight() int {
	if s.cfg.MaxInFlight > 0 {
		return s.cfg.MaxInFlight
	}
	return DefaultMaxInFlight
}

func asError(v any) error {
	err, _ := v.(error)
	return err
}

func (s *Store) mapRaftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		if addr, _ := s.raft.LeaderWithID(); addr == "" {
			return fmt.Errorf("%w: %w", ErrNoLeader, err)
		}
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return err
}

func (s *Store) usable() error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if s.raft == nil {
		return ErrClosed
	}
	return s.fatalErr()
}

// View is a consistent read-only view of the state: every read through it sees the state as of
// Index. Close it promptly: it holds off a snapshot restore.
type View struct {
	kv.Reader
	Index   uint64
	release func()
}

// Close releases the view.
func (v *View) Close() {
	if v.release != nil {
		v.release()
		v.release = nil
	}
}

// Read returns a view of the local replica.
func (s *Store) Read() (*View, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	st := s.state
	st.mu.RLock()
	if st.db == nil {
		st.mu.RUnlock()
		return nil, ErrClosed
	}
	snap := st.db.NewSnapshot()
	idx, err := readApplied(snap)
	if err != nil {
		snap.Close()
		st.mu.RUnlock()
		return nil, err
	}
	return &View{Reader: snapReader{snap}, Index: idx, release: func() {
		snap.Close()
		st.mu.RUnlock()
	}}, nil
}

// Restores counts the snapshots this node restored into its state (installed by the leader, or
// at start when the state was behind the newest snapshot).
func (s *Store) Restores() uint64 { return s.restores.Load() }

// AppliedIndex is the last index applied to the local state.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

func (s *Store) setApplied(i uint64) {
	s.applied.Store(i)
	s.appliedMu.Lock()
	close(s.appliedCh)
	s.appliedCh = make(chan struct{})
	s.appliedMu.Unlock()
}

// WaitApplied blocks until the local state has applied index i or ctx ends.
func (s *Store) WaitApplied(ctx context.Context, i uint64) error {
	for {
		s.appliedMu.Lock()
		ch := s.appliedCh
		s.appliedMu.Unlock()
		if s.applied.Load() >= i {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

func (s *Store) setFatal(err error) {
	if s.fatal.CompareAndSwap(nil, &err) {
		s.logger.Error("state machine failed; this node stops applying and must be restarted or rebuilt", "error", err)
		s.deps.OnFatal(err)
	}
}

func (s *Store) fatalErr() error {
	if p := s.fatal.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFatal, *p)
	}
	return nil
}

// IsLeader reports whether this node is the leader.
func (s *Store) IsLeader() bool {
	r := s.raft
	return r != nil && r.State() == raft.Leader
}

// LeaderID returns the leader's node id, or "" when there is none.
func (s *Store) LeaderID() string {
	if s.raft == nil {
		return ""
	}
	_, id := s.raft.LeaderWithID()
	return string(id)
}

// NodeID is this node's id.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// LastContact is when this node last heard from a leader; the current time on the leader.
func (s *Store) LastContact() time.Time {
	r := s.raft
	if r == nil {
		return time.Time{}
	}
	if r.State() == raft.Leader {
		return time.Now()
	}
	return r.LastContact()
}

// WaitForLeader blocks until the cluster has a leader or ctx ends.
func (s *Store) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s.LeaderID() != "" {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-s.closed:
			return ErrClosed
		}
	}
}

// Snapshot asks Raft for a snapshot now (operators and tests; Raft also snapshots by itself).
func (s *Store) Snapshot() error {
	if err := s.usable(); err != nil {
		return err
	}
	return s.raft.Snapshot().Error()
}

// Status is the node's view of Raft, for the status endpoint and readiness.
type Status struct {
	NodeID       string
	State        string
	LeaderID     string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	LastContact  time.Time
	// Settled is true when the node has applied everything committed before it answered: on the
	// leader, once its no-op of the current term is applied; on a follower, once it has heard
	// from a leader and applied up to the commit index that leader told it.
	Settled bool
	Fatal   error
	// Version is the highest cluster version this node supports, ClusterVersion the one the
	// cluster has applied here.
	Version, ClusterVersion string
	// DiskLow is true while the data folder is below its free-space reserve (the node refuses
	// writes; disk.go); DiskFree and DiskReserve are the bytes of the last check.
	DiskLow               bool
	DiskFree, DiskReserve uint64
}

// Status reports the node's Raft state.
func (s *Store) Status() Status {
	st := Status{NodeID: s.cfg.NodeID, AppliedIndex: s.AppliedIndex(), Fatal: s.fatalErr(),
		Version: s.cfg.Version, ClusterVersion: s.ClusterVersion(),
		DiskLow: s.disk.short(), DiskFree: s.disk.freeB.Load(), DiskReserve: s.disk.reserveB.Load()}
	r := s.raft
	if r == nil {
		st.State = "Shutdown"
		return st
	}
	st.State = r.State().String()
	st.LeaderID = s.LeaderID()
	st.Term = r.CurrentTerm()
	st.CommitIndex = r.CommitIndex()
	st.LastIndex = r.LastIndex()
	st.LastContact = s.LastContact()
	if r.State() == raft.Leader {
		st.Settled = s.settledTerm.Load() == st.Term
	} else {
		// A follower that has no log yet (a node that just joined and waits for its snapshot)
		// knows of no commit index to compare with: it is not settled until its log starts.
		st.Settled = st.LeaderID != "" && !st.LastContact.IsZero() && st.LastIndex > 0 && st.AppliedIndex >= st.CommitIndex
	}
	return st
}

func (s *Store) registerMetrics() {
	set := s.deps.Metrics
	useRaftMetrics(set)
	set.GetOrCreateGauge("paimon_raft_snapshot_restores_total", func() float64 { return float64(s.Restores()) })
	set.GetOrCreateGauge("paimon_raft_applied_index", func() float64 { return float64(s.AppliedIndex()) })
	set.GetOrCreateGauge("paimon_raft_commit_index", func() float64 {
		if r := s.raft; r != nil {
			return float64(r.CommitIndex())
		}
		return 0
	})
	set.GetOrCreateGauge("paimon_raft_term", func() float64 {
		if r := s.raft; r != nil {
			return float64(r.CurrentTerm())
		}
		return 0
	})
	set.GetOrCreateGauge("paimon_raft_leader", func() float64 {
		if s.IsLeader() {
			return 1
		}
		return 0
	})
	set.GetOrCreateGauge("paimon_disk_free_bytes", func() float64 { return float64(s.disk.freeB.Load()) })
	set.GetOrCreateGauge("paimon_disk_reserve_bytes", func() float64 { return float64(s.disk.reserveB.Load()) })
	set.GetOrCreateGauge("paimon_disk_low", func() float64 { return b2f(s.disk.short()) })
	set.GetOrCreateGauge("paimon_raft_proposals_in_flight", func() float64 { return float64(s.inFlight.Load()) })
	set.GetOrCreateGauge("paimon_fsm_waiting_for_disk", func() float64 { return b2f(s.fsmWaitingForDisk.Load()) })
	set.GetOrCreateGauge("paimon_raft_last_contact_seconds", func() float64 {
		lc := s.LastContact()
		if lc.IsZero() {
			return -1
		}
		return time.Since(lc).Seconds()
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
