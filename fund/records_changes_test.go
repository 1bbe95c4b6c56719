package fund

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"paimon/chainlog"
)

// Changes.Records: the primary-record changes a batch hands the observer (with the outbox)
// are exactly the outbox's entries and do not depend on the batching. That they render as
// their GET returns them is the read model's test (readmodel/records_json_test.go).

// sameRecords compares Changes.Records with outbox entries, field by field (nil Value for a
// deletion in both).
func sameRecords(t *testing.T, what string, got, want []OutboxEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if g.Index != w.Index || g.Ord != w.Ord || g.Time != w.Time || !bytes.Equal(g.Key, w.Key) ||
			!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
			t.Fatalf("%s: record %d = %d-%d %d %x (nil %v), want %d-%d %d %x (nil %v)", what, i,
				g.Index, g.Ord, g.Time, g.Key, g.Value == nil, w.Index, w.Ord, w.Time, w.Key, w.Value == nil)
		}
	}
}

// lastChanges returns the Changes of the last committed batch.
func (e *env) lastChanges() *Changes {
	e.t.Helper()
	if len(e.obs.got) == 0 {
		e.t.Fatal("no batch committed")
	}
	return e.obs.got[len(e.obs.got)-1]
}

// TestRecordsIndependentOfBatching: the records handed to the observer are the same however
// the commands were batched, including the entries a sync mark of the same batch prunes.
func TestRecordsIndependentOfBatching(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cmds := randomCommands(rand.New(rand.NewPCG(seed, 11)), 150)
			one, many := newOutboxEnv(t), newOutboxEnv(t)
			applyBatches(t, one, rand.New(rand.NewPCG(seed, 1)), cmds, 1)
			applyBatches(t, many, rand.New(rand.NewPCG(seed, 2)), cmds, 12)
			all := func(e *env) []OutboxEntry {
				var out []OutboxEntry
				for _, c := range e.obs.got {
					out = append(out, c.Records...)
				}
				return out
			}
			if len(many.obs.got) >= len(one.obs.got) {
				t.Fatalf("%d batches, not fewer than %d", len(many.obs.got), len(one.obs.got))
			}
			sameRecords(t, "batched", all(many), all(one))
		})
	}
}

func TestRecordsPrunedInTheSameBatch(t *testing.T) {
	price := func(i int) []byte {
		return EncodePrices(&PricesCommand{Time: int64(i) * 1e9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + i)), Price: *u(7), Time: testNow}}})
	}
	e := newOutboxEnv(t)
	for _, c := range [][]byte{price(1), price(2), EncodeSyncMark(2, 5)} {
		e.index++
		if _, err := e.m.Apply(e.st, e.index, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.EndBatch(e.st, e.index); err != nil {
		t.Fatal(err)
	}
	e.m.Committed()
	if n := len(readOutbox(t, e.st, 0)); n != 0 {
		t.Fatalf("%d outbox entries left", n)
	}
	var idx []uint64
	for _, r := range e.lastChanges().Records {
		idx = append(idx, r.Index)
	}
	mustEqual(t, "record indexes", idx, []uint64{1, 1, 1, 2, 2, 2}) // S, P, H of each price
}

func TestRecordsOffWithoutOutbox(t *testing.T) {
	logs, prices := sampleCommands(t)
	e := newEnv(t)
	e.apply(logs)
	e.apply(prices)
	e.logs(removed(sampleEvents()[0]))
	for i, c := range e.obs.got {
		if c.Records != nil {
			t.Fatalf("batch %d: %d records with the outbox off", i, len(c.Records))
		}
	}
}
