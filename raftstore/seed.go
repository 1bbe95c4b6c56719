package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"paimon/kv"
)

// ErrNotEmpty is returned by Seed for a data folder that already holds a node.
var ErrNotEmpty = errors.New("raftstore: data folder is not empty")

// dbRW adapts a Pebble database to kv.ReadWriter, writing directly (for seeding, where the data
// may be far larger than a batch should be).
type dbRW struct{ db *pebble.DB }

func (w dbRW) Get(key []byte) ([]byte, error) { return getCopy(w.db, key) }
func (w dbRW) Set(key, value []byte) error    { return w.db.Set(key, value, pebble.NoSync) }
func (w dbRW) Delete(key []byte) error        { return w.db.Delete(key, pebble.NoSync) }
func (w dbRW) DeleteRange(start, end []byte) error {
	return w.db.DeleteRange(start, end, pebble.NoSync)
}
func (w dbRW) Scan(lo, hi []byte, rev bool, fn func(k, v []byte) bool) error {
	it, err := w.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	return scan(it, rev, fn)
}

// Seed makes a new node from outside data, for rebuilding a cluster that lost every node from
// the system of record. fill writes the state; Seed records index as its applied index and
// writes a Raft snapshot at index (term 1) whose configuration makes this node the only voter,
// so that the node started on this folder continues the log after index and leads a cluster
// of one, which other nodes can then join. The folder must not hold Raft state or state.
func Seed(cfg Config, deps Deps, index uint64, fill func(rw kv.ReadWriter) error) (err error) {
	if err := cfg.check(); err != nil {
		return err
	}
	deps.fill()
	if index == 0 {
		return fmt.Errorf("%w: seed index 0", ErrInvalidConfig)
	}
	raftDir := filepath.Join(cfg.Dir, "raft")
	for _, d := range []string{raftDir, filepath.Join(cfg.Dir, "state")} {
		if entries, err := os.ReadDir(d); err == nil && len(entries) > 0 {
			return fmt.Errorf("%w: %s holds data; restore into an empty folder", ErrNotEmpty, d)
		}
	}
	if err := os.MkdirAll(filepath.Join(raftDir, "wal"), 0o750); err != nil {
		return err
	}
	st, err := openStateDB(filepath.Join(cfg.Dir, "state"), int64(cfg.StateCacheMiB)<<20, deps.Logger)
	if err != nil {
		return err
	}
	defer st.close()
	if err := fill(dbRW{st.db}); err != nil {
		return err
	}
	if cfg.HTTPAddr != "" {
		// The seeded node's own address, as a leader would register it (membership.go).
		if err := st.db.Set(append(append([]byte(nil), keyNodePrefix...), cfg.NodeID...), []byte(cfg.HTTPAddr), pebble.NoSync); err != nil {
			return err
		}
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], index)
	if err := st.db.Set(keyApplied, idx[:], pebble.Sync); err != nil {
		return err
	}
	if err := st.db.Flush(); err != nil {
		return err
	}

	// The Raft side: a snapshot at index carrying the state, and term 1 in the stable store.
	adv, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr())
	if err != nil {
		return fmt.Errorf("raft advertise address %q: %w", cfg.AdvertiseAddr(), err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(filepath.Join(raftDir, "wal"), wal.WithMetaStore(meta), wal.WithSegmentSize(cfg.LogSegmentBytes))
	if err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	defer meta.Close()
	defer w.Close()
	if err := w.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, cfg.SnapshotRetain, newHCLog(deps.Logger, "snapshots"))
	if err != nil {
		return err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(adv.String()))
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(adv.String())}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, 1, trans)
	if err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	snap := st.db.NewSnapshot()
	defer snap.Close()
	if err := writeSnapshot(sink, snap); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

// ReadOnly opens the state of a node that is not running, for reading only (verifying it
// against the system of record offline). Close the view to release the folder. A running node
// holds the folder's lock, so this fails while it runs.
func ReadOnly(dir string) (*View, error) {
	stateDir := filepath.Join(dir, "state")
	if _, err := os.Stat(filepath.Join(stateDir, "CURRENT")); err != nil {
		return nil, fmt.Errorf("no node state in %s: %w", dir, err)
	}
	st := &stateDB{dir: stateDir}
	gen, err := st.readCurrent()
	if err != nil {
		return nil, err
	}
	db, err := pebble.Open(st.genDir(gen), &pebble.Options{ReadOnly: true, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		return nil, fmt.Errorf("open state %s (is the node running?): %w", st.genDir(gen), err)
	}
	idx, err := readApplied(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &View{Reader: dbRW{db}, Index: idx, release: func() { db.Close() }}, nil
}
