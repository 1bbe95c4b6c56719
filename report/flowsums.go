package report

import (
	"sync"

	"paimon/chainlog"
	"paimon/fund"
)

// maxSummedPeriods bounds the periods a FlowSums keeps: the open day, week and month, and as
// many more (a day asked for before it began, the periods just closed).
const maxSummedPeriods = 6

// FlowSums keeps the flows and fees of the open periods' reports (the day, week and month in
// progress) as running sums, so that such a report is not built from a scan of every ledger
// entry of its period: each ingested batch invalidates the cached report, and the scan's cost
// grows with the period's ledger (bench/RESULTS.md §19). It is node-local memory, not
// replicated state: the sums are those of the state at one Raft index, the last batch
// observed, and Applied moves them with each batch's Changes.Entries.
//
// A period's sums start from the scan of the first report built of it at that index, when the
// scan reached the ledger's end; a reload or a snapshot restore drops them all. A report of the
// state at another index (an older view, or a batch applied but not observed yet) scans and
// keeps nothing. So that the sums always give the scan's answer, whatever the block times
// (DESIGN.md "The open periods"), each period's sums count its entries from one block on
// (floor), and a report uses them only when the scan would see exactly those entries.
//
// Safe for concurrent use; Applied and Reset come from the apply goroutine, in order, before
// the batch's index is published to readers.
type FlowSums struct {
	mu      sync.Mutex
	index   uint64 // the last batch observed (or restored): the sums are the state's there
	periods map[span]*periodSums
	// fromSums counts the reports whose flows came from the sums (tests).
	fromSums int
}

// span is a period's [from, to).
type span struct{ from, to int64 }

// periodSums are a period's flows summed over its flow entries (the events a report sums,
// with a block time in the period) in the blocks from floor on.
type periodSums struct {
	sums
	floor uint64
	// n counts the entries summed; minBlock and maxBlock bound their blocks (a revert leaves
	// them as they were, so they may be wider than the entries left; none when n is 0).
	n                  int64
	minBlock, maxBlock uint64
}

// move adds ev, an entry of the period in the blocks the sums follow, or removes it
// (reverted).
func (ps *periodSums) move(ev *chainlog.Event, reverted bool) {
	if !ps.add(ev, reverted) {
		return
	}
	bn := ev.BlockNumber
	switch {
	case reverted:
		ps.n--
		if ps.n == 0 {
			ps.minBlock, ps.maxBlock = 0, 0
		}
		return
	case ps.n == 0:
		ps.minBlock, ps.maxBlock = bn, bn
	default:
		ps.minBlock, ps.maxBlock = min(ps.minBlock, bn), max(ps.maxBlock, bn)
	}
	ps.n++
}

// NewFlowSums returns running sums that hold no period until a report is built.
func NewFlowSums() *FlowSums { return &FlowSums{periods: map[span]*periodSums{}} }

// Applied moves the sums by a committed batch's ledger entries added or reverted (a
// fund.Observer's Applied calls it with each batch, in order). The first batch after a reload
// of the state machine drops them: the state may have jumped past batches never observed.
func (s *FlowSums) Applied(c *fund.Changes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = c.Index
	if c.Reloaded {
		clear(s.periods)
		return
	}
	for i := range c.Entries {
		ev := &c.Entries[i].Event
		for k, ps := range s.periods {
			if ev.BlockTime >= k.from && ev.BlockTime < k.to && ev.BlockNumber >= ps.floor {
				ps.move(ev, c.Entries[i].Reverted)
			}
		}
	}
}

// Reset drops the sums after the state was replaced at index (a snapshot restore).
func (s *FlowSums) Reset(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	clear(s.periods)
}

// report sets rep's flows and fees from the sums of p when they are what a scan of the state
// at index would find in the blocks [lo, hi) (ledger.bounds): the sums are at index, the scan
// does not reach below their floor (where entries they do not count may lie) and every entry
// they count is inside [lo, hi).
func (s *FlowSums) report(rep *Report, index uint64, p Period, lo, hi uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.periods[span{p.From, p.To}]
	if ps == nil || index != s.index || lo < ps.floor || ps.n > 0 && (ps.minBlock < lo || ps.maxBlock >= hi) {
		return false
	}
	rep.setFlows(&ps.sums)
	s.fromSums++
	return true
}

// keep makes ps, rep's scan of p's blocks from ps.floor on at index, the period's running sums
// when they can be kept: index is the last batch observed, the scan reached the ledger's end
// (complete: so ps counts every entry of p from floor on), and p is open (a closed period's
// report is cached whole, report.Cache). It replaces sums the report could not use.
func (s *FlowSums) keep(rep *Report, index uint64, p Period, ps *periodSums, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !complete || rep.Closed || index != s.index {
		return
	}
	k := span{p.From, p.To}
	if s.periods[k] == nil && len(s.periods) >= maxSummedPeriods {
		// Drop the period that ends first: the open periods end last.
		var old span
		first := true
		for o := range s.periods {
			if first || o.to < old.to || o.to == old.to && o.from < old.from {
				old, first = o, false
			}
		}
		delete(s.periods, old)
	}
	s.periods[k] = ps
}
