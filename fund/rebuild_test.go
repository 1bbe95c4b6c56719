package fund

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"paimon/kv"
)

// randomState applies random commands (events with reverts and duplicates, operator prices,
// audit entries; sync marks unless noMarks) in random batches.
func randomState(t *testing.T, seed uint64, info Info, noMarks bool) *env {
	rng := rand.New(rand.NewPCG(seed, 17))
	var cmds [][]byte
	for _, c := range randomCommands(rng, 160) {
		if !noMarks || c[0] != CmdSyncMark {
			cmds = append(cmds, c)
		}
	}
	o := &recObserver{}
	e := &env{t: t, st: kv.NewMem(), m: NewMachine(info, NewViews(info), o), obs: o}
	applyBatches(t, e, rng, cmds, 8)
	return e
}

func isIndexKey(k []byte) bool { return len(k) > 0 && bytes.IndexByte(indexPrefixes, k[0]) >= 0 }

func copyMem(t *testing.T, src *kv.Mem, keep func(k []byte) bool) *kv.Mem {
	dst := kv.NewMem()
	src.Dump(func(k, v []byte) {
		if keep(k) {
			if err := dst.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
	})
	return dst
}

// dumpMem lists m's keys and values, leaving out the risk observations (isObservation).
func dumpMem(m *kv.Mem) string {
	var b strings.Builder
	m.Dump(func(k, v []byte) {
		if !isObservation(k, v) {
			fmt.Fprintf(&b, "%x=%x\n", k, v)
		}
	})
	return b.String()
}

func TestRebuildIndexes(t *testing.T) {
	tests := []struct {
		name    string
		chunk   int
		corrupt func(t *testing.T, st *kv.Mem, rng *rand.Rand)
	}{
		{"untouched", rebuildChunk, func(*testing.T, *kv.Mem, *rand.Rand) {}},
		{"all index keys removed", rebuildChunk, func(t *testing.T, st *kv.Mem, _ *rand.Rand) {
			for _, p := range indexPrefixes {
				if err := st.DeleteRange([]byte{p}, []byte{p + 1}); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"all index keys removed, small chunks", 7, func(t *testing.T, st *kv.Mem, _ *rand.Rand) {
			for _, p := range indexPrefixes {
				if err := st.DeleteRange([]byte{p}, []byte{p + 1}); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"stale and extra index keys", 5, func(t *testing.T, st *kv.Mem, rng *rand.Rand) {
			var drop, rewrite [][]byte
			st.Dump(func(k, v []byte) {
				if isIndexKey(k) && rng.IntN(3) == 0 {
					drop = append(drop, bytes.Clone(k))
				} else if k[0] == pLedgerTx && rng.IntN(3) == 0 {
					rewrite = append(rewrite, bytes.Clone(k))
				}
			})
			for _, k := range drop {
				if err := st.Delete(k); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range rewrite {
				if err := st.Set(k, be64(12345)); err != nil { // a stale block number
					t.Fatal(err)
				}
			}
			for _, p := range indexPrefixes {
				// Keys no record explains: a removed entry's, one of another length, one past
				// every real key.
				for _, k := range [][]byte{key(p, make([]byte, 60)), {p, 1}, key(p, bytes.Repeat([]byte{0xff}, 80))} {
					if err := st.Set(k, []byte("stale")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(drop) == 0 || len(rewrite) == 0 {
				t.Fatal("nothing corrupted")
			}
		}},
	}
	for seed := uint64(1); seed <= 3; seed++ {
		orig := randomState(t, seed, outboxInfo, false)
		for _, p := range []byte{pLedgerTx, pLedgerAddr, pLedgerEv, pLedgerCon, pRedOwner, pRedStatus, pAuditIdx, pTxDecision, pTxIntent} {
			if orig.count(p) == 0 {
				t.Fatalf("seed %d: no %c keys in the state", seed, p)
			}
		}
		want := dumpMem(orig.st)
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%d/%s", seed, tc.name), func(t *testing.T) {
				st := copyMem(t, orig.st, func([]byte) bool { return true })
				tc.corrupt(t, st, rand.New(rand.NewPCG(seed, 1)))
				if tc.name != "untouched" && dumpMem(st) == want {
					t.Fatal("the state was not changed")
				}
				if err := rebuildIndexes(st, tc.chunk); err != nil {
					t.Fatal(err)
				}
				if got := dumpMem(st); got != want {
					t.Fatalf("rebuilt state differs:\n%s", diffDumps(want, got))
				}
			})
		}
	}
}

// TestRestoreFromOutbox is `paimon pg restore` in miniature: the primary records PostgreSQL
// holds (the outbox replayed), their indexes rebuilt and the views rendered make the state
// the node had (apart from the outbox, the mark and the alert outbox), and a machine loaded on it goes on
// exactly as the original.
func TestRestoreFromOutbox(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			orig := randomState(t, seed, outboxInfo, true)
			restored := kv.NewMem()
			replay(t, restored, readOutbox(t, orig.st, 0))
			if err := RebuildIndexes(restored); err != nil {
				t.Fatal(err)
			}
			m := NewMachine(outboxInfo, NewViews(outboxInfo), nil)
			for _, name := range ViewNames() {
				body, err := m.RenderView(restored, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := restored.Set(ViewKey(name), body); err != nil {
					t.Fatal(err)
				}
			}
			// PostgreSQL holds neither the sync's bookkeeping nor the alert outbox.
			notSync := func(k []byte) bool { return k[0] != pOutbox && k[0] != pSyncMark && !isAlertKey(k) }
			if want, got := dumpMem(copyMem(t, orig.st, notSync)), dumpMem(restored); got != want {
				t.Fatalf("restored state differs:\n%s", diffDumps(want, got))
			}
			if err := m.Load(restored); err != nil {
				t.Fatal(err)
			}
			// Both go on with the same commands (removals of restored events included).
			start := orig.index
			next := &env{t: t, st: restored, m: m, index: start}
			for _, c := range randomCommands(rand.New(rand.NewPCG(seed, 99)), 30) {
				if c[0] == CmdSyncMark {
					continue
				}
				a, b := fmt.Sprintf("%+v", orig.apply(c)), fmt.Sprintf("%+v", next.apply(c))
				if a != b {
					t.Fatalf("results differ: %s / %s", a, b)
				}
			}
			if want, got := dumpMem(copyMem(t, orig.st, notSync)), dumpMem(copyMem(t, restored, notSync)); got != want {
				t.Fatalf("states differ after more commands:\n%s", diffDumps(want, got))
			}
			// The restored node's outbox holds the new changes only: the same but for the risk
			// observations (their entries shift the ordinals, which are therefore left out).
			outbox := func(st *kv.Mem) string {
				var b strings.Builder
				for _, e := range readOutbox(t, st, start) {
					if !isObservation(e.Key, e.Value) {
						fmt.Fprintf(&b, "%d %d %x=%x\n", e.Index, e.Time, e.Key, e.Value)
					}
				}
				return b.String()
			}
			if want, got := outbox(orig.st), outbox(restored); got != want || want == "" {
				t.Fatalf("outboxes differ after more commands:\n%s", diffDumps(want, got))
			}
		})
	}
}

func TestRecordTypeCoversEveryPrimaryPrefix(t *testing.T) {
	for i, primary := range primaryPrefixes {
		p := byte(i)
		if !primary {
			continue
		}
		k := []byte{p}
		if p != pFund {
			k = append(k, make([]byte, 8)...)
		}
		if IsPrimaryRecord(k) && RecordType(k) == "" {
			t.Errorf("prefix %q is a primary record without a type", p)
		}
	}
	for _, k := range [][]byte{nil, []byte("V overview"), []byte("m/applied"), []byte("Tx"), []byte("SS")} {
		if RecordType(k) != "" {
			t.Errorf("%q typed %q", k, RecordType(k))
		}
	}
}
