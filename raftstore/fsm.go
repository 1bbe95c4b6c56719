package raftstore

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"paimon/kv"
)

// StateMachine is the deterministic state machine the store replicates: the fund's domain in
// production, small fakes in tests. The store calls it from one goroutine at a time, in log
// order, and never calls Apply for an entry at or below the index the state already holds.
//
// Contract:
//   - Apply applies one committed command into rw, which reads its own writes. It must be
//     deterministic: same state and command, same writes, on every node. A user-level failure
//     (a command that is valid but refused) is returned as the result value and must leave rw
//     unchanged. A non-nil error means the entry cannot be applied at all (undecodable, broken
//     invariant): the store stops applying and reports a fatal error, it never skips the entry.
//   - EndBatch is called once after the Applies of a Raft batch, before the batch (with the
//     applied index) is committed to Pebble as one atomic write.
//   - Committed is called after that commit, when readers can see the batch. It must not block.
//   - Load is called after the state is opened and after a snapshot replaced it, so in-memory
//     caches can be rebuilt from r.
type StateMachine interface {
	Load(r kv.Reader) error
	Apply(rw kv.ReadWriter, index uint64, cmd []byte) (any, error)
	EndBatch(rw kv.ReadWriter, lastIndex uint64) error
	Committed()
}

// Command types from 0xF0 up belong to raftstore itself; the state machine owns 0x01..0xEF.
// The list is append-only: a type is never renumbered or reused.
const (
	// CmdNoop does nothing; a new leader uses it as a barrier.
	CmdNoop byte = 0xF0
	// firstInternal is the first type raftstore handles itself.
	firstInternal byte = 0xF0
)

// fsm implements raft.BatchingFSM over the Pebble state.
type fsm struct {
	s *Store
	// applied is the last index in the state store. Only the FSM goroutine touches it.
	applied uint64
	// metaPending holds node address changes of the batch being applied (membership.go).
	metaPending [][2]string
	// versionPending is a cluster version raised in the batch being applied (clusterversion.go).
	versionPending string
	// halted: the store closed while a batch waited for disk space; that batch was not
	// committed, so no later one may be (it would skip entries).
	halted bool
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies one Raft batch as one Pebble batch, with the applied index in it, so a
// crash leaves the state either before or after the whole batch. Entries at or below the
// stored index were applied before a restart and are skipped.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	results := make([]any, len(logs))
	err := f.s.fatalErr()
	if err == nil && f.halted {
		err = ErrClosed
	}
	if err != nil {
		for i := range results {
			results[i] = err
		}
		return results
	}
	start := time.Now()
	b := f.s.state.db.NewIndexedBatch()
	defer b.Close()
	rw := batchRW{b: b, db: f.s.state.db}
	last, applied := f.applied, 0
	for i, l := range logs {
		if l.Index <= f.applied {
			continue
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		res, err := f.applyCommand(rw, l)
		if err != nil {
			return f.fail(results, fmt.Errorf("apply entry %d: %w", l.Index, err))
		}
		results[i] = res
		applied++
	}
	if last == f.applied {
		return results
	}
	if err := f.s.sm.EndBatch(rw, last); err != nil {
		return f.fail(results, fmt.Errorf("end batch at %d: %w", last, err))
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], last)
	if err := b.Set(keyApplied, idx[:], nil); err != nil {
		return f.fail(results, err)
	}
	// Pebble panics when its WAL write fails, so the commit waits for space instead.
	if err := f.s.waitForSpace(); err != nil {
		return f.halt(results, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return f.fail(results, fmt.Errorf("commit batch at %d: %w", last, err))
	}
	f.applied = last
	if len(f.metaPending) > 0 {
		f.s.setMeta(f.metaPending)
		f.metaPending = f.metaPending[:0]
	}
	if v := f.versionPending; v != "" {
		f.s.clusterVersion.Store(&v)
		f.versionPending = ""
		f.s.logger.Info("cluster version is now "+v, "cluster_version", v, "index", last)
	}
	// Observers (the cache) learn of the batch before readers can see its index, so a reader
	// that sees index N never serves a cached value that N invalidated.
	f.s.sm.Committed()
	f.s.setApplied(last)
	f.s.metrics.applySeconds.UpdateDuration(start)
	f.s.metrics.applyEntries.Add(applied)
	return results
}

func (f *fsm) applyCommand(rw kv.ReadWriter, l *raft.Log) (any, error) {
	if len(l.Data) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrCorrupt)
	}
	if l.Data[0] < firstInternal {
		return f.s.sm.Apply(rw, l.Index, l.Data)
	}
	switch l.Data[0] {
	case CmdNoop:
		return nil, nil
	case CmdNodeMeta:
		return nil, f.applyNodeMeta(rw, l.Data)
	case CmdClusterVersion:
		return nil, f.applyClusterVersion(rw, l.Data)
	default:
		return nil, fmt.Errorf("%w: unknown internal command type 0x%02x", ErrCorrupt, l.Data[0])
	}
}

// halt drops the batch (the store is closing while it waited for space): nothing of it is
// committed and no later batch is applied, so the state stays at a whole batch and the
// entries replay after a restart.
func (f *fsm) halt(results []any, err error) []any {
	f.halted = true
	for i := range results {
		results[i] = err
	}
	return results
}

func (f *fsm) fail(results []any, err error) []any {
	f.s.setFatal(err)
	for i := range results {
		results[i] = ErrFatal
	}
	return results
}

// Snapshot captures the state at the last applied index. It first makes the state's Pebble WAL
// durable: Raft will compact its log up to this index, after which the state store is the only
// copy of those entries.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	st := f.s.state
	if f.s.disk.check() {
		return nil, f.s.disk.errShort("snapshot put off")
	}
	if err := st.syncWAL(); err != nil {
		return nil, fmt.Errorf("sync state before snapshot: %w", err)
	}
	st.mu.RLock()
	return &fsmSnapshot{snap: st.db.NewSnapshot(), release: st.mu.RUnlock, logger: f.s.logger}, nil
}

// Restore replaces the state with a snapshot: it is written into a new Pebble generation beside
// the live one, verified, and switched in atomically.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if f.s.disk.check() {
		return f.s.disk.errShort("snapshot restore put off")
	}
	st := f.s.state
	gen := st.gen + 1
	if err := removeGen(st, gen); err != nil {
		return err
	}
	db, err := st.openGen(gen)
	if err != nil {
		return err
	}
	n, err := readSnapshot(rc, db)
	if err == nil {
		err = st.swap(gen, db)
	}
	if err != nil {
		db.Close()
		_ = removeGen(st, gen)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	applied, err := st.appliedIndex()
	if err != nil {
		return err
	}
	if err := f.loadState(); err != nil {
		return err
	}
	f.applied = applied
	f.s.restores.Add(1)
	f.s.deps.OnRestore(applied)
	f.s.setApplied(applied)
	f.s.logger.Info("restored state from snapshot", "index", applied, "keys", n)
	return nil
}

// loadState hands the current state to the state machine to rebuild its in-memory caches.
func (f *fsm) loadState() error {
	st := f.s.state
	st.mu.RLock()
	snap := st.db.NewSnapshot()
	st.mu.RUnlock()
	defer snap.Close()
	if err := f.s.sm.Load(snapReader{snap}); err != nil {
		return fmt.Errorf("load state machine: %w", err)
	}
	if err := f.s.loadClusterVersion(snapReader{snap}); err != nil {
		return err
	}
	return f.s.loadNodeMeta(snapReader{snap})
}
