package raftstore

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// TestWALReopensAfterTailTruncation: a follower that had an uncommitted entry and then met a
// new leader clears its log suffix (raft calls DeleteRange on the tail). raft-wal v0.4.0 marked
// the truncated segment sealed without writing its index block, so the next open failed with
// "sealed segment has no index block" and raft.NewRaft panicked: the node could not restart
// (hashicorp/raft-wal#31, found by the chaos campaign). v0.4.1 seals it properly. The WAL is
// opened as the Store opens it, truncated, closed and opened again, and every entry is read.
func TestWALReopensAfterTailTruncation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	open := func() (*wal.WAL, *metadb.BoltMetaDB) {
		t.Helper()
		meta := &metadb.BoltMetaDB{}
		w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithSegmentSize(DefaultConfig().LogSegmentBytes))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return w, meta
	}
	closeBoth := func(w *wal.WAL, meta *metadb.BoltMetaDB) {
		t.Helper()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := meta.Close(); err != nil {
			t.Fatal(err)
		}
	}
	entries := func(from, to, term uint64) []*raft.Log {
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d term %d", i, term)})
		}
		return logs
	}

	w, meta := open()
	if err := w.StoreLogs(entries(1, 6, 1)); err != nil {
		t.Fatal(err)
	}
	// "clearing log suffix from=6 to=6": the uncommitted entry goes, the new leader's comes.
	if err := w.DeleteRange(6, 6); err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLogs(entries(6, 8, 2)); err != nil {
		t.Fatal(err)
	}
	closeBoth(w, meta)

	w, meta = open()
	defer closeBoth(w, meta)
	if last, err := w.LastIndex(); err != nil || last != 8 {
		t.Fatalf("last index after reopening: %d, %v", last, err)
	}
	for i := uint64(1); i <= 8; i++ {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil {
			t.Fatalf("log %d after reopening: %v", i, err)
		}
		term := uint64(1)
		if i >= 6 {
			term = 2
		}
		if l.Term != term || string(l.Data) != fmt.Sprintf("entry %d term %d", i, term) {
			t.Fatalf("log %d after reopening: term %d, %q", i, l.Term, l.Data)
		}
	}
}
