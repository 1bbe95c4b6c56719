package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	raftbench "github.com/hashicorp/raft/bench"
)

// This file measures the two durable Raft log stores the design considered: hashicorp/raft-wal
// (kept) and a dedicated Pebble instance written with Sync (the candidate that lost). The Pebble
// store lives here, in a test file, only to be measured:
//
//	go test ./raftstore -run XXX -bench 'LogStore' -benchtime 2000x
//
// Results and the decision are in bench/RESULTS.md.

// pebbleLogStore is a raft.LogStore and raft.StableStore on Pebble, every write synced.
type pebbleLogStore struct{ db *pebble.DB }

func openPebbleLogStore(dir string) (*pebbleLogStore, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		return nil, err
	}
	return &pebbleLogStore{db: db}, nil
}

func logKey(i uint64) []byte {
	var k [9]byte
	k[0] = 'l'
	binary.BigEndian.PutUint64(k[1:], i)
	return k[:]
}

func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 32+len(l.Data)+len(l.Extensions))
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	return append(b, l.Extensions...)
}

func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 25 {
		return errors.New("short log")
	}
	l.Index, l.Term, l.Type = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), raft.LogType(b[16])
	l.AppendedAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[17:])))
	n, k := binary.Uvarint(b[25:])
	rest := b[25+k:]
	l.Data = append([]byte(nil), rest[:n]...)
	l.Extensions = append([]byte(nil), rest[n:]...)
	return nil
}

func (p *pebbleLogStore) edge(last bool) (uint64, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte("l"), UpperBound: []byte("m")})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	ok := it.First()
	if last {
		ok = it.Last()
	}
	if !ok {
		return 0, nil
	}
	return binary.BigEndian.Uint64(it.Key()[1:]), nil
}

func (p *pebbleLogStore) FirstIndex() (uint64, error) { return p.edge(false) }
func (p *pebbleLogStore) LastIndex() (uint64, error)  { return p.edge(true) }

func (p *pebbleLogStore) GetLog(i uint64, l *raft.Log) error {
	v, c, err := p.db.Get(logKey(i))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return decodeLog(v, l)
}

func (p *pebbleLogStore) StoreLog(l *raft.Log) error { return p.StoreLogs([]*raft.Log{l}) }

func (p *pebbleLogStore) StoreLogs(logs []*raft.Log) error {
	b := p.db.NewBatch()
	for _, l := range logs {
		if err := b.Set(logKey(l.Index), encodeLog(l), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (p *pebbleLogStore) DeleteRange(lo, hi uint64) error {
	return p.db.DeleteRange(logKey(lo), logKey(hi+1), pebble.Sync)
}

func (p *pebbleLogStore) Set(k, v []byte) error {
	return p.db.Set(append([]byte("s"), k...), v, pebble.Sync)
}

func (p *pebbleLogStore) Get(k []byte) ([]byte, error) {
	v, c, err := p.db.Get(append([]byte("s"), k...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errors.New("not found")
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return append([]byte(nil), v...), nil
}

func (p *pebbleLogStore) SetUint64(k []byte, v uint64) error {
	return p.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

func (p *pebbleLogStore) GetUint64(k []byte) (uint64, error) {
	v, err := p.Get(k)
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

type benchStore interface {
	raft.LogStore
	raft.StableStore
}

// logStores opens each candidate in its own temp folder.
func logStores(b *testing.B) map[string]func() benchStore {
	return map[string]func() benchStore{
		"raft-wal": func() benchStore {
			meta := &metadb.BoltMetaDB{}
			w, err := wal.Open(b.TempDir(), wal.WithMetaStore(meta))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close(); meta.Close() })
			return w
		},
		"pebble-sync": func() benchStore {
			p, err := openPebbleLogStore(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.db.Close() })
			return p
		},
	}
}

// monotonic adapts hashicorp/raft's bench helpers, which store from index 0, to raft-wal,
// which (like Raft itself) numbers logs from 1.
type monotonic struct{ benchStore }

func (m monotonic) StoreLog(l *raft.Log) error {
	c := *l
	c.Index++
	return m.benchStore.StoreLog(&c)
}

// BenchmarkLogStore runs hashicorp/raft's own log store benchmarks against both candidates.
func BenchmarkLogStore(b *testing.B) {
	for _, name := range []string{"raft-wal", "pebble-sync"} {
		open := logStores(b)[name]
		b.Run(name+"/StoreLog", func(b *testing.B) { raftbench.StoreLog(b, monotonic{open()}) })
		b.Run(name+"/StoreLogs", func(b *testing.B) { raftbench.StoreLogs(b, open()) })
		b.Run(name+"/GetLog", func(b *testing.B) { raftbench.GetLog(b, open()) })
		b.Run(name+"/SetUint64", func(b *testing.B) { raftbench.SetUint64(b, open()) })
	}
}

// BenchmarkLogStoreBatch appends batches shaped like ours under load: 256 entries of 512 bytes
// (a Raft batch of proposals) per synced write. It reports entries/s.
func BenchmarkLogStoreBatch(b *testing.B) {
	data := make([]byte, 512)
	for _, name := range []string{"raft-wal", "pebble-sync"} {
		b.Run(name, func(b *testing.B) {
			s := logStores(b)[name]()
			next := uint64(1)
			batch := make([]*raft.Log, 256)
			start := time.Now()
			for b.Loop() {
				for i := range batch {
					batch[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				if err := s.StoreLogs(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next-1)/time.Since(start).Seconds(), "entries/s")
		})
	}
}

func TestPebbleLogStoreRoundTrip(t *testing.T) {
	p, err := openPebbleLogStore(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.db.Close()
	for i := uint64(1); i <= 5; i++ {
		if err := p.StoreLog(&raft.Log{Index: i, Term: 2, Data: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var l raft.Log
	if err := p.GetLog(3, &l); err != nil || string(l.Data) != "3" || l.Term != 2 {
		t.Fatalf("GetLog(3) = %+v, %v", l, err)
	}
	if first, _ := p.FirstIndex(); first != 1 {
		t.Fatalf("first %d", first)
	}
	if err := p.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	if first, _ := p.FirstIndex(); first != 3 {
		t.Fatalf("first after delete %d", first)
	}
}
