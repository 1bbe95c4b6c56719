package fund

import (
	"bytes"
	"math/rand/v2"
	"paimon/chainlog"
	"reflect"
	"testing"
)

// TestDecodeLedgerEvent checks the event-only decoder against the full one on random events
// with undo journals of every size (empty included): the same event; the full decoder's
// journal is its own copy (the stored bytes may be reused); a truncated journal or bytes after
// it are refused by both.
func TestDecodeLedgerEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for i := range 300 {
		ev := randomEvent(rng, uint64(1+i), uint64(i%7))
		journal := randomBytes(rng, rng.IntN(3)*rng.IntN(400))
		v := encodeLedger(&ev, journal)

		got, err := DecodeLedgerEvent(v)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		rec, err := decodeLedger(v)
		if err != nil {
			t.Fatalf("event %d: full decode: %v", i, err)
		}
		if !reflect.DeepEqual(*got, rec.ev) {
			t.Fatalf("event %d: %+v, the full decoder says %+v", i, *got, rec.ev)
		}
		if !bytes.Equal(rec.journal, journal) || rec.journal == nil {
			t.Fatalf("event %d: journal %x, want %x (non-nil)", i, rec.journal, journal)
		}
		for j := range v {
			v[j] ^= 0xff // the decoded journal does not alias the stored bytes
		}
		if len(journal) > 0 && !bytes.Equal(rec.journal, journal) {
			t.Fatalf("event %d: the journal changed with the stored bytes", i)
		}
		for j := range v {
			v[j] ^= 0xff
		}

		if len(journal) > 0 {
			if _, err := DecodeLedgerEvent(v[:len(v)-1]); err == nil {
				t.Fatalf("event %d: a truncated journal was accepted", i)
			}
			if _, err := decodeLedger(v[:len(v)-1]); err == nil {
				t.Fatalf("event %d: full decode accepted a truncated journal", i)
			}
		}
		if _, err := DecodeLedgerEvent(append(v[:len(v):len(v)], 0)); err == nil {
			t.Fatalf("event %d: trailing bytes were accepted", i)
		}
	}
}

// BenchmarkDecodeLedgerEvent compares DecodeLedgerEvent as it was (the full record: the event,
// the journal copied into a string and again into bytes) with the event-only decode, on one
// entry with a journal of 200 bytes.
//
//	go test ./fund -run XXX -bench DecodeLedgerEvent -count 5
func BenchmarkDecodeLedgerEvent(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	ev := randomEvent(rng, 100, 3)
	v := encodeLedger(&ev, randomBytes(rng, 200))
	before := func(v []byte) (*chainlog.Event, error) {
		d := &dec{b: v}
		d.recordVersion()
		r := &ledgerRecord{}
		d.event(&r.ev)
		r.journal = []byte(d.str())
		return &r.ev, d.finish()
	}
	for _, c := range []struct {
		name   string
		decode func([]byte) (*chainlog.Event, error)
	}{{"before", before}, {"after", DecodeLedgerEvent}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.decode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
