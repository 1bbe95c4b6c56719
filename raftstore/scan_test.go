package raftstore

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestScanOverManyVersions checks scan (which steps forward with NextPrefix) against a model
// on a state whose keys were overwritten and deleted many times, so the memtable holds many
// versions of each, with some flushed to tables: forward and reverse, through an indexed
// batch holding more changes (batchRW) and through a snapshot (snapReader), with bounds that
// cut the key range anywhere.
func TestScanOverManyVersions(t *testing.T) {
	st, err := openStateDB(filepath.Join(t.TempDir(), "state"), 8<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	keyOf := func() string { return fmt.Sprintf("P%03d", rng.IntN(40)) }
	change := func(w func(k, v []byte) error, d func(k []byte) error, m map[string]string) {
		k := keyOf()
		if rng.IntN(5) == 0 {
			delete(m, k)
			if err := d([]byte(k)); err != nil {
				t.Fatal(err)
			}
			return
		}
		v := fmt.Sprint(rng.Int())
		m[k] = v
		if err := w([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(m map[string]string, lo, hi string, rev bool) []string {
		var out []string
		for k, v := range m {
			if k >= lo && k < hi {
				out = append(out, k+"="+v)
			}
		}
		slices.Sort(out)
		if rev {
			slices.Reverse(out)
		}
		return out
	}
	collect := func(scan func(lo, hi []byte, rev bool, fn func(k, v []byte) bool) error, lo, hi string, rev bool) []string {
		var out []string
		if err := scan([]byte(lo), []byte(hi), rev, func(k, v []byte) bool {
			out = append(out, string(k)+"="+string(v))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for round := range 30 {
		b := st.db.NewBatch()
		for range 2000 {
			change(func(k, v []byte) error { return b.Set(k, v, nil) }, func(k []byte) error { return b.Delete(k, nil) }, model)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if round%10 == 9 {
			if err := st.db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		ib := st.db.NewIndexedBatch()
		inBatch := maps.Clone(model)
		for range 50 {
			change(func(k, v []byte) error { return ib.Set(k, v, nil) }, func(k []byte) error { return ib.Delete(k, nil) }, inBatch)
		}
		snap := st.db.NewSnapshot()
		for _, rev := range []bool{false, true} {
			lo, hi := keyOf(), keyOf()
			if lo > hi {
				lo, hi = hi, lo
			}
			for _, r := range [][2]string{{"P", "Q"}, {lo, hi}} {
				if got, want := collect(snapReader{snap}.Scan, r[0], r[1], rev), expect(model, r[0], r[1], rev); !slices.Equal(got, want) {
					t.Fatalf("round %d snapshot [%s,%s) rev %v:\n got %v\nwant %v", round, r[0], r[1], rev, got, want)
				}
				if got, want := collect(batchRW{b: ib, db: st.db}.Scan, r[0], r[1], rev), expect(inBatch, r[0], r[1], rev); !slices.Equal(got, want) {
					t.Fatalf("round %d batch [%s,%s) rev %v:\n got %v\nwant %v", round, r[0], r[1], rev, got, want)
				}
			}
		}
		// A scan that stops early stops where the model says.
		var first []byte
		if err := (snapReader{snap}).Scan([]byte("P"), []byte("Q"), false, func(k, _ []byte) bool { first = bytes.Clone(k); return false }); err != nil {
			t.Fatal(err)
		}
		if want := expect(model, "P", "Q", false); len(want) > 0 && !bytes.HasPrefix([]byte(want[0]), append(first, '=')) {
			t.Fatalf("round %d: first key %q, want %q", round, first, want[0])
		}
		snap.Close()
		ib.Close()
	}
}
