package fund

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// Ledger order. The fund's state after a set of logs is the state of those logs applied in
// ledger order (blockNumber, logIndex, txHash), whatever order and however many times they
// arrived. A log that belongs before entries already applied is applied at its place: the
// entries after it are reverted newest first (their journals make that exact), the log is
// applied, and the reverted entries are applied again in order. A removal is the same in
// reverse: the entries after the removed one are reverted, the removed one is reverted, the
// others are applied again. Reverting in exactly the reverse order restores every field, the
// "set" ones (share price, current prices, lastBlock, emergency mode, tier bands) included, so
// the result is the in-order replay of the logs that remain.
//
// The work is bounded by the reorder window, which the command carries
// (LogsCommand.ReorderWindow: the proposer's ingest.reorder_window_blocks, never the applying
// node's, so that every replica applies the same rule): a new log, or a removal, more than that
// many blocks behind the highest block applied is refused (CONFLICT), so a command re-applies
// at most the window's entries. Within a command the events are taken in
// ledger order, so a shuffled command reverts the tail at most once.

// DefaultReorderWindow is the default of ingest.reorder_window_blocks, the reorder window the
// server writes into a version-2 CmdLogs when its configuration sets none: a log may arrive up
// to this many blocks behind the highest block applied.
const DefaultReorderWindow = 256

// sequencer applies the events of one command at their place in the ledger order.
type sequencer struct {
	ac *applyContext
	// suspended are entries reverted to make room for an earlier event, in ascending position;
	// they are applied again before the first later event and at the end of the command.
	suspended []suspendedEntry
}

// suspendedEntry is a reverted ledger entry waiting to be applied again.
type suspendedEntry struct {
	pos  ledgerPos
	ev   chainlog.Event
	spec *chainlog.Spec
}

// add applies a new event at its place; an event already in the ledger (or waiting to be
// applied again) is a duplicate and changes nothing.
func (sq *sequencer) add(ev *chainlog.Event, s *chainlog.Spec) (dup bool, err error) {
	if sq.suspendedIndex(ev.TxHash, ev.LogIndex) >= 0 {
		return true, nil
	}
	tk := txKey(ev.TxHash, ev.LogIndex) // one key for the lookup and the write (the overlay keeps it)
	if ok, err := sq.ac.inLedger(tk); err != nil || ok {
		return ok, err
	}
	pos := makeLedgerPos(ev.BlockNumber, ev.LogIndex, ev.TxHash)
	if err := sq.makeRoom(&pos); err != nil {
		return false, err
	}
	return false, sq.ac.applyEvent(ev, s, tk)
}

// remove reverts the ledger entry of a removed log, matched by (blockHash, txHash, logIndex):
// a log we hold from another block (another fork) is not found and nothing changes.
func (sq *sequencer) remove(ev *chainlog.Event) (found bool, err error) {
	if i := sq.suspendedIndex(ev.TxHash, ev.LogIndex); i >= 0 {
		if sq.suspended[i].ev.BlockHash != ev.BlockHash {
			return false, nil
		}
		sq.suspended = slices.Delete(sq.suspended, i, i+1) // already reverted: not applied again
		return true, nil
	}
	pos, rec, found, err := sq.ac.ledgerEntry(ev.TxHash, ev.LogIndex)
	if err != nil || !found || rec.ev.BlockHash != ev.BlockHash {
		return false, err
	}
	if err := sq.makeRoom(&pos); err != nil {
		return false, err
	}
	_, err = sq.ac.revertEntry(pos, rec)
	return err == nil, err
}

// makeRoom brings the ledger to the state just before pos: suspended entries before pos are
// applied again, applied entries after pos are reverted (newest first) and suspended.
func (sq *sequencer) makeRoom(pos *ledgerPos) error {
	ac := sq.ac
	for len(sq.suspended) > 0 && bytes.Compare(sq.suspended[0].pos[:], pos[:]) < 0 {
		e := &sq.suspended[0]
		if err := ac.applyEvent(&e.ev, e.spec, nil); err != nil {
			return err
		}
		sq.suspended = sq.suspended[1:]
	}
	after, err := ac.ledgerAfter(pos)
	if err != nil || !after {
		return err
	}
	keys, err := ac.scanKeys(key(pLedger, pos[:]), []byte{pLedger + 1})
	if err != nil {
		return err
	}
	var reverted []suspendedEntry
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if len(k) != 1+ledgerPosLen {
			return corrupt("ledger key", fmt.Errorf("%x", k))
		}
		p := ledgerPos(k[1:])
		if p == *pos {
			continue
		}
		v, ok, err := ac.get(k)
		if err != nil {
			return err
		}
		if !ok {
			return corrupt("ledger", fmt.Errorf("entry %x vanished", k))
		}
		rec, err := decodeLedger(v)
		if err != nil {
			return corrupt("ledger entry", err)
		}
		s, err := ac.revertEntry(p, rec)
		if err != nil {
			return err
		}
		reverted = append(reverted, suspendedEntry{pos: p, ev: rec.ev, spec: s})
	}
	slices.Reverse(reverted)
	sq.suspended = append(reverted, sq.suspended...)
	slices.SortStableFunc(sq.suspended, func(a, b suspendedEntry) int { return bytes.Compare(a.pos[:], b.pos[:]) })
	ac.tip, ac.tipKnown, ac.hasTip = *pos, true, true // nothing applied lies after pos now
	return nil
}

// finish applies the suspended entries again (end of the command).
func (sq *sequencer) finish() error {
	for i := range sq.suspended {
		e := &sq.suspended[i]
		if err := sq.ac.applyEvent(&e.ev, e.spec, nil); err != nil {
			return err
		}
	}
	sq.suspended = sq.suspended[:0]
	return nil
}

func (sq *sequencer) suspendedIndex(tx common.Hash, logIndex uint64) int {
	for i := range sq.suspended {
		if e := &sq.suspended[i].ev; e.TxHash == tx && e.LogIndex == logIndex {
			return i
		}
	}
	return -1
}

// ledgerAfter reports whether an applied ledger entry may lie after pos. The Machine keeps an
// upper bound of the applied positions (tip), computed once after Load and raised by every
// applied event, so that events arriving in order cost no scan.
func (ac *applyContext) ledgerAfter(pos *ledgerPos) (bool, error) {
	if !ac.tipKnown {
		k, ok, err := ac.lastKey([]byte{pLedger}, []byte{pLedger + 1})
		if err != nil {
			return false, err
		}
		if ok && len(k) != 1+ledgerPosLen {
			return false, corrupt("ledger key", fmt.Errorf("%x", k))
		}
		ac.tipKnown, ac.hasTip = true, ok
		if ok {
			ac.tip = ledgerPos(k[1:])
		}
	}
	return ac.hasTip && bytes.Compare(ac.tip[:], pos[:]) > 0, nil
}

// raiseTip keeps the tip an upper bound after an event was applied at pos.
func (ac *applyContext) raiseTip(pos *ledgerPos) {
	if ac.tipKnown && (!ac.hasTip || bytes.Compare(pos[:], ac.tip[:]) > 0) {
		ac.tip, ac.hasTip = *pos, true
	}
}

// lastKey returns the greatest key in [lo, hi) as the machine sees it now: the store's keys
// merged with the batch's writes in the overlay (whose deletions hide the store's keys).
func (ac *applyContext) lastKey(lo, hi []byte) ([]byte, bool, error) {
	var best []byte
	for i := range ac.overlay.entries {
		e := &ac.overlay.entries[i]
		if e.ok && bytes.Compare(e.key, lo) >= 0 && bytes.Compare(e.key, hi) < 0 && (best == nil || bytes.Compare(e.key, best) > 0) {
			best = e.key
		}
	}
	var stored []byte
	err := ac.store.Scan(lo, hi, true, func(k, _ []byte) bool {
		if i, ok := ac.overlay.idx[string(k)]; ok && !ac.overlay.entries[i].ok {
			return true // deleted in this batch
		}
		stored = bytes.Clone(k)
		return false
	})
	if err != nil {
		return nil, false, fmt.Errorf("fund: scan: %w", err)
	}
	if stored != nil && (best == nil || bytes.Compare(stored, best) > 0) {
		best = stored
	}
	return best, best != nil, nil
}

// checkWindow refuses (CONFLICT, changing nothing) a command whose new logs or removals lie
// more than the command's reorder window behind the highest block applied (window 0: no
// window). A log already in the ledger is a duplicate whatever its age, and a removal of a log
// we do not hold is not found.
func (ac *applyContext) checkWindow(events []chainlog.Event, window uint64) (*ValidationError, error) {
	highest := uint64(ac.fund.ints[fLastBlock])
	if window == 0 || highest <= window {
		return nil, nil
	}
	floor := highest - window
	for i := range events {
		ev := &events[i]
		if ev.BlockNumber >= floor {
			continue
		}
		var held bool
		if ev.Removed {
			_, rec, found, err := ac.ledgerEntry(ev.TxHash, ev.LogIndex)
			if err != nil {
				return nil, err
			}
			held = found && rec.ev.BlockHash == ev.BlockHash
			if !held {
				continue // not found: changes nothing
			}
		} else {
			ok, err := ac.inLedger(txKey(ev.TxHash, ev.LogIndex))
			if err != nil {
				return nil, err
			}
			if ok {
				continue // a duplicate
			}
		}
		what := "log"
		if ev.Removed {
			what = "removal"
		}
		return &ValidationError{
			Code: CodeConflict,
			Message: fmt.Sprintf("events[%d]: %s of block %d is more than %d blocks behind the highest block %d (the reorder window)",
				i, what, ev.BlockNumber, window, highest),
			Details: map[string]any{"index": i, "blockNumber": ev.BlockNumber, "window": window, "highestBlock": highest},
		}, nil
	}
	return nil, nil
}

// ledgerOrder returns the indexes of events in ledger order (stable: the same log's events
// keep their order), or nil when they already are.
func ledgerOrder(events []chainlog.Event) []int {
	less := func(a, b *chainlog.Event) int {
		pa, pb := makeLedgerPos(a.BlockNumber, a.LogIndex, a.TxHash), makeLedgerPos(b.BlockNumber, b.LogIndex, b.TxHash)
		return bytes.Compare(pa[:], pb[:])
	}
	sorted := true
	for i := 1; i < len(events) && sorted; i++ {
		sorted = less(&events[i-1], &events[i]) <= 0
	}
	if sorted {
		return nil
	}
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return less(&events[a], &events[b]) })
	return order
}
