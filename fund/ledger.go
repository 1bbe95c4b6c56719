package fund

import (
	"encoding/binary"
	"fmt"
	"paimon/chainlog"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// ledgerRecord is the stored form of a ledger entry: the event (with its effective block
// time) and the undo journal of its effects.
type ledgerRecord struct {
	ev      chainlog.Event
	journal []byte
}

func encodeLedger(ev *chainlog.Event, journal []byte) []byte {
	b := make([]byte, 0, 160+len(journal))
	b = append(b, recVersion)
	b = appendEvent(b, ev)
	return appendBytes(b, journal)
}

func decodeLedger(v []byte) (*ledgerRecord, error) {
	d := &dec{b: v}
	d.recordVersion()
	r := &ledgerRecord{}
	d.event(&r.ev)
	r.journal = append([]byte{}, d.raw()...)
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// ledgerIndexKeys returns the secondary index keys of a ledger entry: one per distinct
// non-zero address argument, one for the event name, one for the contract. The keys share
// one allocation (each is capped, so none can grow into another).
func ledgerIndexKeys(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) [][]byte {
	addrs := make([]int, 0, 8) // indexes of the distinct address arguments
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Type != chainlog.ArgAddress || a.Address == (common.Address{}) {
			continue
		}
		dup := false
		for _, j := range addrs {
			dup = dup || ev.Args[j].Address == a.Address
		}
		if !dup {
			addrs = append(addrs, i)
		}
	}
	n := len(addrs)
	buf := make([]byte, 0, n*(1+20+ledgerPosLen)+(1+1+ledgerPosLen)+(1+20+ledgerPosLen))
	keys := make([][]byte, 0, n+2)
	add := func(prefix byte, mid []byte) {
		start := len(buf)
		buf = append(append(append(buf, prefix), mid...), pos[:]...)
		keys = append(keys, buf[start:len(buf):len(buf)])
	}
	for _, i := range addrs {
		add(pLedgerAddr, ev.Args[i].Address[:])
	}
	add(pLedgerEv, []byte{s.ID})
	add(pLedgerCon, ev.Contract[:])
	return keys
}

// inLedger reports whether the log (txHash, logIndex) whose key is tk (txKey) is in the ledger.
func (ac *applyContext) inLedger(tk []byte) (bool, error) {
	_, ok, err := ac.get(tk)
	return ok, err
}

// applyEvent applies an event that is not in the ledger and records it there with its undo
// journal; tk is its txKey, or nil. Events must be applied in ledger order (see order.go):
// the sequencer makes room for an event that comes before entries already applied.
func (ac *applyContext) applyEvent(ev *chainlog.Event, s *chainlog.Spec, tk []byte) error {
	ac.blockTime = ev.BlockTime
	if ac.blockTime == 0 {
		ac.blockTime = ac.cmdTime / 1e9
	}
	ev.BlockTime = ac.blockTime
	ac.journal = ac.journal[:0]
	if ev.BlockNumber > uint64(ac.fund.ints[fLastBlock]) {
		ac.fundSetInt(fLastBlock, int64(ev.BlockNumber))
	}
	if ac.blockTime > ac.fund.ints[fLatestTime] {
		if err := ac.snapshotDays(ac.blockTime); err != nil {
			return err
		}
		ac.fundSetInt(fLatestTime, ac.blockTime)
	}
	ac.fundSetInt(fUpdatedAt, ac.cmdTime)
	pos := makeLedgerPos(ev.BlockNumber, ev.LogIndex, ev.TxHash)
	if err := ac.applyEffects(ev, s, &pos); err != nil {
		return err
	}
	ac.booksEvent(ev, s, false)
	if err := ac.rebalanceEvent(ev, s); err != nil { // after the books: a completed plan records them
		return err
	}
	if err := ac.set(key(pLedger, pos[:]), encodeLedger(ev, ac.journal)); err != nil {
		return err
	}
	if tk == nil {
		tk = txKey(ev.TxHash, ev.LogIndex)
	}
	if err := ac.set(tk, be64(ev.BlockNumber)); err != nil {
		return err
	}
	for _, k := range ledgerIndexKeys(ev, s, &pos) {
		if err := ac.set(k, nil); err != nil {
			return err
		}
	}
	ac.raiseTip(&pos)
	ac.mark(ClassLedger)
	ac.noteEntry(ev, false)
	return nil
}

// noteEntry records a ledger entry added or reverted in Changes.Entries.
func (ac *applyContext) noteEntry(ev *chainlog.Event, reverted bool) {
	ac.changes.Entries = append(ac.changes.Entries, EntryChange{Event: *ev, Reverted: reverted})
}

// ledgerEntry finds the ledger entry of the log (txHash, logIndex): its position and record.
func (ac *applyContext) ledgerEntry(tx common.Hash, logIndex uint64) (ledgerPos, *ledgerRecord, bool, error) {
	v, ok, err := ac.get(txKey(tx, logIndex))
	if err != nil || !ok {
		return ledgerPos{}, nil, false, err
	}
	if len(v) != 8 {
		return ledgerPos{}, nil, false, corrupt("ledger tx key", fmt.Errorf("%d bytes", len(v)))
	}
	pos := makeLedgerPos(binary.BigEndian.Uint64(v), logIndex, tx)
	rv, ok, err := ac.get(key(pLedger, pos[:]))
	if err != nil {
		return ledgerPos{}, nil, false, err
	}
	if !ok {
		return ledgerPos{}, nil, false, corrupt("ledger", fmt.Errorf("entry %x missing", pos))
	}
	rec, err := decodeLedger(rv)
	if err != nil {
		return ledgerPos{}, nil, false, corrupt("ledger entry", err)
	}
	return pos, rec, true, nil
}

// revertEntry undoes the ledger entry at pos: its journal is replayed backwards, then the
// entry and its index keys are deleted. It returns the entry's spec.
func (ac *applyContext) revertEntry(pos ledgerPos, rec *ledgerRecord) (*chainlog.Spec, error) {
	s, verr := eventSpec(&rec.ev)
	if verr != nil {
		return nil, corrupt("ledger entry", verr)
	}
	ops, err := parseJournal(rec.journal)
	if err != nil {
		return nil, corrupt("ledger journal", err)
	}
	ac.booksEvent(&rec.ev, s, true)
	for i := len(ops) - 1; i >= 0; i-- {
		if err := ac.undo(&ops[i]); err != nil {
			return nil, err
		}
	}
	tk := txKey(rec.ev.TxHash, rec.ev.LogIndex)
	for _, k := range append(ledgerIndexKeys(&rec.ev, s, &pos), key(pLedger, pos[:]), tk) {
		if err := ac.del(k); err != nil {
			return nil, err
		}
	}
	ac.mark(ClassLedger)
	ac.noteEntry(&rec.ev, true)
	return s, nil
}

// eventTime turns an event's uint256 timestamp into unix seconds; zero or out-of-range values
// fall back to the block time.
func eventTime(u *uint256.Int, fallback int64) int64 {
	if u.IsZero() || !u.IsUint64() || u.Uint64() > chainlog.MaxUnixSeconds {
		return fallback
	}
	return int64(u.Uint64())
}
