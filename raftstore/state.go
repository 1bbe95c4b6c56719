package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"paimon/kv"
)

// Keys under "m/" belong to raftstore; the state machine never writes them.
var (
	keyApplied = []byte("m/applied") // last applied Raft index, written in every batch
)

// stateDB is the FSM's Pebble store. The live database lives in a generation folder named by
// the CURRENT file, so a snapshot restore can build a new generation beside it and switch over
// with one atomic rename of CURRENT; a crash at any point leaves either the old or the new
// generation current, never a half-restored one.
type stateDB struct {
	dir        string
	logger     *slog.Logger
	cacheBytes int64

	mu  sync.RWMutex // readers hold it shared while they use db; swap takes it exclusively
	db  *pebble.DB
	gen int
}

func openStateDB(dir string, cacheBytes int64, logger *slog.Logger) (*stateDB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	s := &stateDB{dir: dir, logger: logger, cacheBytes: cacheBytes}
	gen, err := s.readCurrent()
	if err != nil {
		return nil, err
	}
	s.removeStale(gen)
	db, err := s.openGen(gen)
	if err != nil {
		return nil, err
	}
	s.db, s.gen = db, gen
	return s, nil
}

func (s *stateDB) genDir(gen int) string { return filepath.Join(s.dir, "gen-"+strconv.Itoa(gen)) }

func (s *stateDB) readCurrent() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "CURRENT"))
	if errors.Is(err, os.ErrNotExist) {
		return 1, s.writeCurrent(1)
	}
	if err != nil {
		return 0, fmt.Errorf("state CURRENT: %w", err)
	}
	gen, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || gen < 1 {
		return 0, fmt.Errorf("%w: state CURRENT holds %q", ErrCorrupt, b)
	}
	return gen, nil
}

func (s *stateDB) writeCurrent(gen int) error {
	tmp := filepath.Join(s.dir, "CURRENT.tmp")
	if err := writeFileSync(tmp, []byte(strconv.Itoa(gen)+"\n")); err != nil {
		return fmt.Errorf("state CURRENT: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "CURRENT")); err != nil {
		return fmt.Errorf("state CURRENT: %w", err)
	}
	return syncDir(s.dir)
}

// removeStale deletes generations other than the current one: leftovers of an interrupted
// restore, or of a swap whose old generation was not yet removed.
func (s *stateDB) removeStale(current int) {
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "gen-") || name == "gen-"+strconv.Itoa(current) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
			s.logger.Warn("remove stale state generation", "dir", name, "error", err)
		}
	}
}

func (s *stateDB) openGen(gen int) (*pebble.DB, error) {
	c := pebble.NewCache(s.cacheBytes)
	defer c.Unref()
	opts := &pebble.Options{
		Logger:       pebbleLogger{s.logger},
		Cache:        c,
		MemTableSize: 64 << 20,
	}
	// Apply looks up many keys that do not exist (the ledger's de-duplication key of every new
	// event): bloom filters answer those without reading blocks.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(s.genDir(gen), opts)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", s.genDir(gen), err)
	}
	return db, nil
}

// appliedIndex reads the last applied index stored in the state.
func (s *stateDB) appliedIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return readApplied(s.db)
}

type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func readApplied(g getter) (uint64, error) {
	v, c, err := g.Get(keyApplied)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied index: %w", err)
	}
	defer c.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: applied index has %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// syncWAL makes every batch committed so far durable. Batches are committed without fsync
// (durability comes from the Raft log); this is called before Raft may compact its log past the
// state's index, so the state never depends on log entries that no longer exist.
func (s *stateDB) syncWAL() error {
	return s.db.LogData(nil, pebble.Sync)
}

// swap makes a freshly built generation current and closes the old one.
func (s *stateDB) swap(gen int, db *pebble.DB) error {
	if err := db.Flush(); err != nil {
		return fmt.Errorf("flush restored state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeCurrent(gen); err != nil {
		return err
	}
	old, oldGen := s.db, s.gen
	s.db, s.gen = db, gen
	if err := old.Close(); err != nil {
		s.logger.Warn("close old state generation", "gen", oldGen, "error", err)
	}
	if err := os.RemoveAll(s.genDir(oldGen)); err != nil {
		s.logger.Warn("remove old state generation", "gen", oldGen, "error", err)
	}
	return nil
}

func (s *stateDB) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// batchRW adapts an indexed Pebble batch of db to kv.ReadWriter.
type batchRW struct {
	b  *pebble.Batch
	db *pebble.DB
}

// Get reads through the batch. While the batch is still empty (the fund state machine writes
// only at the end of a Raft batch) it reads the database directly, which returns the same
// value without building the batch's iterators for every lookup.
func (w batchRW) Get(key []byte) ([]byte, error) {
	if w.b.Empty() {
		return getCopy(w.db, key)
	}
	return getCopy(w.b, key)
}

func (w batchRW) Set(key, value []byte) error { return w.b.Set(key, value, nil) }
func (w batchRW) Delete(key []byte) error     { return w.b.Delete(key, nil) }
func (w batchRW) DeleteRange(start, end []byte) error {
	return w.b.DeleteRange(start, end, nil)
}
func (w batchRW) Scan(lo, hi []byte, rev bool, fn func(k, v []byte) bool) error {
	it, err := w.b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	return scan(it, rev, fn)
}

// snapReader adapts a Pebble snapshot to kv.Reader.
type snapReader struct{ s *pebble.Snapshot }

func (r snapReader) Get(key []byte) ([]byte, error) { return getCopy(r.s, key) }
func (r snapReader) Scan(lo, hi []byte, rev bool, fn func(k, v []byte) bool) error {
	it, err := r.s.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	return scan(it, rev, fn)
}

func getCopy(g getter, key []byte) ([]byte, error) {
	v, c, err := g.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, c.Close()
}

// scan calls fn on each key of it in order (rev: descending) until fn returns false.
//
// Forward, it steps with NextPrefix, not Next. With Pebble's default comparer a key's prefix
// is the whole key, so both stop at the same next key, but Next walks every older version of
// the current key still in the memtable one by one, while NextPrefix seeks past them after
// one step. A key overwritten on every write (an asset's current price, a flow bucket, a
// view) has one version per write in the memtable until it is flushed (64 MiB): a scan over
// such keys with Next cost O(writes since the flush), not O(keys) (bench/RESULTS.md §19).
func scan(it *pebble.Iterator, rev bool, fn func(k, v []byte) bool) error {
	var ok bool
	if rev {
		ok = it.Last()
	} else {
		ok = it.First()
	}
	for ok {
		if !fn(it.Key(), it.Value()) {
			break
		}
		if rev {
			ok = it.Prev()
		} else {
			ok = scanNext(it)
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return err
	}
	return it.Close()
}

// scanNext steps a forward scan to the next key (see scan); benchmarks set it to
// (*pebble.Iterator).Next to measure the difference.
var scanNext = (*pebble.Iterator).NextPrefix

// pebbleLogger routes Pebble's log lines into slog at debug level (errors at error level).
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
