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
				old.st, old.index, old.body = memCopy(st), index, want
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

// memCopy returns a copy of st (the state at one index, for a read at an older index).
func memCopy(st *kv.Mem) *kv.Mem {
	c := kv.NewMem()
	if err := st.Scan(nil, nil, false, func(k, v []byte) bool {
		_ = c.Set(bytes.Clone(k), bytes.Clone(v))
		return true
	}); err != nil {
		panic(err)
	}
	return c
}
