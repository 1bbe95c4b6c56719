package readmodel

import (
	"encoding/json"
	"math/big"
	"sync"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// feeKindsJSON is one figure per kind of fee.
type feeKindsJSON struct {
	Management  string `json:"management"`
	Performance string `json:"performance"`
	Redemption  string `json:"redemption"`
}

// Fees renders GET /v1/fund/fees: the fees accumulated over the fund's life, withdrawable and
// withdrawn, per kind. Management and performance fees are paid out of the vault when collected
// (EVENTS.md), so they are withdrawn as they accrue; redemption fees accrue in the vault
// (RedemptionFeeAdded) until withdrawn (RedemptionFeeReduced), and the withdrawable ones are
// the singleton's fees.redemption. The rates are null: no event and no configuration carries
// them yet.
func Fees(r kv.Reader) ([]byte, error) {
	added, reduced, err := scanFees(r)
	if err != nil {
		return nil, err
	}
	return renderFees(r, added, reduced)
}

// scanFees sums the fees of the ledger's RedemptionFeeAdded and RedemptionFeeReduced entries.
func scanFees(r kv.Reader) (added, reduced *big.Int, err error) {
	if added, err = sumEvents(r, "RedemptionFeeAdded", "fee"); err != nil {
		return nil, nil, err
	}
	if reduced, err = sumEvents(r, "RedemptionFeeReduced", "fee"); err != nil {
		return nil, nil, err
	}
	return added, reduced, nil
}

// renderFees renders GET /v1/fund/fees from the singleton in r and the sums of the ledger's
// redemption fees added and reduced.
func renderFees(r kv.Reader, added, reduced *big.Int) ([]byte, error) {
	f, err := fund.LoadFund(r)
	if err != nil {
		return nil, err
	}
	mgmt, perf := decSigned(&f.FeeManagement), decSigned(&f.FeePerformance)
	return json.Marshal(struct {
		Accumulated  feeKindsJSON       `json:"accumulated"`
		Withdrawable feeKindsJSON       `json:"withdrawable"`
		Withdrawn    feeKindsJSON       `json:"withdrawn"`
		Rates        map[string]*string `json:"rates"`
	}{
		Accumulated:  feeKindsJSON{Management: mgmt, Performance: perf, Redemption: added.String()},
		Withdrawable: feeKindsJSON{Management: "0", Performance: "0", Redemption: decSigned(&f.FeeRedemption)},
		Withdrawn:    feeKindsJSON{Management: mgmt, Performance: perf, Redemption: reduced.String()},
		Rates:        map[string]*string{"management": nil, "performance": nil, "redemption": nil},
	})
}

// sumEvents sums the named uint argument of every ledger entry of the named event, through
// the ledger's event index.
func sumEvents(r kv.Reader, event, arg string) (*big.Int, error) {
	s := chainlog.SpecByName(event)
	sum := new(big.Int)
	prefix := key(fund.PrefixLedgerByEvent, []byte{s.ID})
	err := scan(r, prefix, key(fund.PrefixLedgerByEvent, []byte{s.ID + 1}), false, func(k, _ []byte) (bool, error) {
		v, ok, err := getOpt(r, key(fund.PrefixLedger, k[len(prefix):]))
		if err != nil || !ok {
			return err == nil, err
		}
		ev, err := fund.DecodeLedgerEvent(v)
		if err != nil {
			return false, err
		}
		for i := range ev.Args {
			if ev.Args[i].Name == arg {
				sum.Add(sum, ev.Args[i].Uint.ToBig())
			}
		}
		return true, nil
	})
	return sum, err
}

// FeeSums keeps the sums GET /v1/fund/fees reads (the fees of every RedemptionFeeAdded and
// RedemptionFeeReduced entry of the ledger) as running sums, so that a read does not scan the
// ledger (a scan's cost grows with the fund's history, and every ingested batch invalidates
// the cached answer). It is node-local memory, not replicated state: the sums are those of the
// state at one Raft index, advanced by Applied with each batch's Changes.Entries.
//
// The sums are valid only from a scan onwards: the first read at the index of the last batch
// observed (or after a restore) scans, and the batches after it move them. A read at another
// index than the sums' (an older view, or a batch applied but not observed yet) scans and
// keeps nothing. Safe for concurrent use; Applied and Reset come from the apply goroutine, in
// order, before the batch's index is published to readers.
type FeeSums struct {
	mu             sync.Mutex
	seen           uint64 // index of the last batch observed (or restored)
	valid          bool   // the sums below are the ledger's at index
	index          uint64
	added, reduced big.Int
	scans          int // full scans made (tests)
}

// NewFeeSums returns running sums that are not valid until the first read.
func NewFeeSums() *FeeSums { return &FeeSums{} }

// Applied advances the sums by a committed batch's fee entries added or reverted (a
// fund.Observer's Applied calls it with each batch, in order). The first batch after a reload of the state machine
// makes them invalid: the state may have jumped past batches never observed.
func (s *FeeSums) Applied(c *fund.Changes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = c.Index
	if !s.valid {
		return
	}
	if c.Reloaded {
		s.valid = false
		return
	}
	fee := new(big.Int)
	for i := range c.Entries {
		e := &c.Entries[i]
		var sum *big.Int
		switch e.Event.Name {
		case "RedemptionFeeAdded":
			sum = &s.added
		case "RedemptionFeeReduced":
			sum = &s.reduced
		default:
			continue
		}
		for j := range e.Event.Args {
			if e.Event.Args[j].Name != "fee" {
				continue
			}
			e.Event.Args[j].Uint.IntoBig(&fee)
			if e.Reverted {
				sum.Sub(sum, fee)
			} else {
				sum.Add(sum, fee)
			}
		}
	}
	s.index = c.Index
}

// Reset forgets the sums after the state was replaced at index (a snapshot restore).
func (s *FeeSums) Reset(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.valid, s.seen = false, index
}

// Fees renders GET /v1/fund/fees from r, the state at index: from the running sums when they
// are at index, else from a scan (which makes them valid when index is the last batch
// observed). The answer is the same as Fees(r).
func (s *FeeSums) Fees(r kv.Reader, index uint64) ([]byte, error) {
	s.mu.Lock()
	if s.valid && s.index == index {
		added, reduced := new(big.Int).Set(&s.added), new(big.Int).Set(&s.reduced)
		s.mu.Unlock()
		return renderFees(r, added, reduced)
	}
	s.mu.Unlock()
	added, reduced, err := scanFees(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.scans++
	if !s.valid && s.seen == index {
		s.valid, s.index = true, index
		s.added.Set(added)
		s.reduced.Set(reduced)
	}
	s.mu.Unlock()
	return renderFees(r, added, reduced)
}
