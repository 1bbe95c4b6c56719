package report

import (
	"encoding/binary"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// ledger finds the entries of a period in the ledger, which is in block order: the block times
// of a chain grow with its block numbers, so the entries of [from, to) are those from the first
// block with time ≥ from up to the first with time ≥ to, found by binary search (a few dozen
// seeks) rather than by scanning the fund's whole history.
type ledger struct {
	r            kv.Reader
	empty        bool
	first, last  uint64 // block numbers of the first and last entries
	firstTime    int64
	probe, limit []byte
}

func newLedger(r kv.Reader) (*ledger, error) {
	lg := &ledger{r: r, empty: true, limit: []byte{fund.PrefixLedger + 1}}
	var ferr error
	for _, rev := range []bool{false, true} {
		err := r.Scan([]byte{fund.PrefixLedger}, lg.limit, rev, func(k, v []byte) bool {
			bn := binary.BigEndian.Uint64(k[1:9])
			lg.empty = false
			if rev {
				lg.last = bn
				return false
			}
			lg.first = bn
			ev, err := fund.DecodeLedgerEvent(v)
			if err != nil {
				ferr = err
			} else {
				lg.firstTime = ev.BlockTime
			}
			return false
		})
		if err != nil {
			return nil, err
		}
		if ferr != nil {
			return nil, ferr
		}
	}
	return lg, nil
}

func blockKey(bn uint64) []byte { return binary.BigEndian.AppendUint64([]byte{fund.PrefixLedger}, bn) }

// anyBefore tells whether the ledger holds an entry with a block time before t.
func (lg *ledger) anyBefore(t int64) (bool, error) { return !lg.empty && lg.firstTime < t, nil }

// firstBlockFrom returns the lowest block number from which every entry has a block time ≥ t
// (last+1 when none has).
func (lg *ledger) firstBlockFrom(t int64) (uint64, error) {
	if lg.empty {
		return 0, nil
	}
	lo, hi := lg.first, lg.last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		var (
			bn    uint64
			bt    int64
			found bool
			ferr  error
		)
		err := lg.r.Scan(blockKey(mid), lg.limit, false, func(k, v []byte) bool {
			ev, err := fund.DecodeLedgerEvent(v)
			if err != nil {
				ferr = err
				return false
			}
			bn, bt, found = binary.BigEndian.Uint64(k[1:9]), ev.BlockTime, true
			return false
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return 0, err
		}
		if !found || bt >= t {
			hi = mid
		} else {
			lo = bn + 1
		}
	}
	return lo, nil
}

// bounds returns the block range [lo, hi) that holds the entries of [from, to): lo is the first
// block from which every entry has a block time ≥ from, hi the same for to (both end() when no
// entry has).
func (lg *ledger) bounds(from, to int64) (lo, hi uint64, err error) {
	if lo, err = lg.firstBlockFrom(from); err != nil {
		return 0, 0, err
	}
	hi, err = lg.firstBlockFrom(to)
	return lo, hi, err
}

// end returns the block after the last entry's (0 for an empty ledger): a range [lo, end())
// holds every entry from block lo on.
func (lg *ledger) end() uint64 {
	if lg.empty {
		return 0
	}
	return lg.last + 1
}

// scan calls fn for every ledger entry of the blocks [lo, hi) with a block time in [from, to).
func (lg *ledger) scan(lo, hi uint64, from, to int64, fn func(ev *chainlog.Event)) error {
	if lg.empty || lo >= hi {
		return nil
	}
	var ferr error
	err := lg.r.Scan(blockKey(lo), blockKey(hi), false, func(_, v []byte) bool {
		ev, err := fund.DecodeLedgerEvent(v)
		if err != nil {
			ferr = err
			return false
		}
		if ev.BlockTime >= from && ev.BlockTime < to {
			fn(ev)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}
