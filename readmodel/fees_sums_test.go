package readmodel

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// TestFeeSumsEqualScan applies random histories of ledger events in Raft batches of one to
// five commands: redemption fees added and reduced, their reverts (a reorg), other events
// (deposits, management fees), duplicates and refused commands, reloads of the Machine and
// snapshot restores. After every batch, GET /v1/fund/fees rendered from the running sums
// (FeeSums, observing every batch) must be byte for byte the one rendered from a scan of the
// ledger (Fees), at the batch's index; a read at an older index must scan and answer that
// index's fees. And the sums must be used: a scan happens only after a reload or a restore.
func TestFeeSumsEqualScan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 15))
		sums := NewFeeSums()
		st := kv.NewMem()
		m := fund.NewMachine(testInfo, NewViews(testInfo), fund.Observers{sums})
		var applied []chainlog.Event // events in the ledger, revertible
		bn, index, resets := uint64(100), uint64(0), 1
		var old struct {
			st    *kv.Mem
			index uint64
			body  []byte
		}
		for batch := range 80 {
			switch rng.IntN(25) {
			case 0:
				if err := m.Load(st); err != nil {
					t.Fatal(err)
				}
				resets++
			case 1:
				sums.Reset(index) // as a snapshot restore at index
				resets++
			}
			for range 1 + rng.IntN(5) {
				var evs []chainlog.Event
				switch r := rng.IntN(10); {
				case r < 6:
					bn++
					for li := range uint64(1 + rng.IntN(3)) {
						var ev chainlog.Event
						switch rng.IntN(4) {
						case 0:
							ev = mk("RedemptionFeeAdded", bn, li, testNow, u(1+rng.Uint64N(1e9)))
						case 1:
							ev = mk("RedemptionFeeReduced", bn, li, testNow, u(1+rng.Uint64N(1e9)))
						case 2:
							ev = mk("ManagementFeeCollected", bn, li, testNow, u(1+rng.Uint64N(1e9)), e18(100), 86400)
						default:
							ev = mk("Deposit", bn, li, testNow, addr(1), addr(1), u(1+rng.Uint64N(1e9)), u(1+rng.Uint64N(1e9)))
						}
						evs = append(evs, ev)
						applied = append(applied, ev)
					}
				case r < 8 && len(applied) > 0:
					i := rng.IntN(len(applied))
					evs = []chainlog.Event{removed(applied[i])}
					applied = append(applied[:i], applied[i+1:]...)
				case r < 9 && len(applied) > 0:
					evs = []chainlog.Event{applied[rng.IntN(len(applied))]} // a duplicate
				default:
					evs = []chainlog.Event{{Name: "NoSuchEvent"}} // refused
				}
				index++
				if _, err := m.Apply(st, index, fund.EncodeLogs(&fund.LogsCommand{Time: testNow * 1e9, Events: evs})); err != nil {
					t.Fatalf("seed %d batch %d: apply: %v", seed, batch, err)
				}
			}
			if err := m.EndBatch(st, index); err != nil {
				t.Fatal(err)
			}
			m.Committed()
			want, err := Fees(st)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second read uses the sums the first may have made valid
				got, err := sums.Fees(st, index)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("seed %d batch %d: running sums\n%s\nscan\n%s", seed, batch, got, want)
				}
			}
			if old.st != nil {
				got, err := sums.Fees(old.st, old.index)
				if err != nil || !bytes.Equal(got, old.body) {
					t.Fatalf("seed %d batch %d: a read at the older index %d: %s %v, want %s", seed, batch, old.index, got, err, old.body)
				}
				resets++ // that read scanned
			}
			if batch%10 == 0 {
				old.st, old.index, old.body = st.Clone(), index, want
			}
		}
		if sums.scans > resets {
			t.Errorf("seed %d: %d scans for %d reloads, restores and older reads: the running sums were not used", seed, sums.scans, resets)
		}
		e := &env{t: t}
		if added := field(e.json(sums.Fees(st, index)), "accumulated.redemption"); added == "0" {
			t.Errorf("seed %d: no fee at the end: the history tested nothing", seed)
		}
	}
}

// BenchmarkFeesMiss: a cache miss of GET /v1/fund/fees over a ledger of 7,500 redemption fee
// entries (5 minutes of bench/seedplan's chain at 500 events/s holds about that many) among
// 30,000 entries, after a batch that added one more fee: "scan" sums the fee entries through
// the event index (Fees, as before), "sums" renders from the running sums (FeeSums) that the
// batch moved.
//
//	go test ./readmodel -run XXX -bench FeesMiss
func BenchmarkFeesMiss(b *testing.B) {
	sums := NewFeeSums()
	e := newEnv(b)
	e.m = fund.NewMachine(testInfo, NewViews(testInfo), fund.Observers{sums})
	bn := uint64(100)
	var evs []chainlog.Event
	for i := range 30_000 {
		if i%4 == 0 {
			evs = append(evs, mk("RedemptionFeeAdded", bn, uint64(len(evs)), testNow, u(uint64(1+i))))
		} else {
			evs = append(evs, mk("Deposit", bn, uint64(len(evs)), testNow, addr(1), addr(1), u(10), u(10)))
		}
		if len(evs) == 500 {
			e.logs(evs...)
			evs, bn = evs[:0], bn+1
		}
	}
	if _, err := sums.Fees(e.st, e.index); err != nil { // the one scan that makes the sums valid
		b.Fatal(err)
	}
	e.logs(mk("RedemptionFeeAdded", bn+1, 0, testNow, u(7)))
	want, err := Fees(e.st)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		render func() ([]byte, error)
	}{
		{"scan", func() ([]byte, error) { return Fees(e.st) }},
		{"sums", func() ([]byte, error) { return sums.Fees(e.st, e.index) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				got, err := bc.render()
				if err != nil || !bytes.Equal(got, want) {
					b.Fatalf("%s %v, want %s", got, err, want)
				}
			}
		})
	}
}
