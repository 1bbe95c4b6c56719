package report

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
)

// TestFlowSumsEqualScan applies random histories to a Machine in Raft batches of one to four
// commands: blocks of random events (mostly the flows a report sums) whose block times cross
// into later UTC days, weeks and a month, late logs inserted into earlier blocks (of an earlier day too, the
// sequencer reverting and re-applying the entries after them), reverts, duplicates, refused
// commands, logs without a block time (dated by their command) or with a time out of their
// block's order, reloads of the Machine and snapshot restores. After every batch, the reports of
// the open day, week and month, of the day before and of the day after built with the running
// sums (FlowSums, observing every batch) must be byte for byte, in JSON and CSV, those built by
// scanning the ledger (Build) at the batch's index; a report of an older index must scan and
// give that index's report; the open day's JSON and CSV through Cache (the server's path) are
// the scan's too. And the sums must be used: more than half of the reports at the current
// index come from them.
func TestFlowSumsEqualScan(t *testing.T) {
	info := fund.Info{FundID: "flowsums"}
	render := func(rep *Report, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return renderBoth(t, rep)
	}
	var reads, fromSums, lateIntoEarlierDay, rollovers int
	for seed := range uint64(24) {
		rng := rand.New(rand.NewPCG(seed, 14))
		fs := NewFlowSums()
		st := kv.NewMem()
		m := fund.NewMachine(info, readmodel.NewViews(info), fund.Observers{fs})
		h := &flowHistory{rng: rng, bn: 100, time: 20116*secondsPerDay - 3*3600} // 2025-01-27 21:00 UTC: into February
		var index uint64
		var old struct {
			st    *kv.Mem
			index uint64
			p     Period
		}
		openDay := int64(0)
		for batch := range 100 {
			switch rng.IntN(30) {
			case 0:
				if err := m.Load(st); err != nil {
					t.Fatal(err)
				}
			case 1:
				fs.Reset(index) // as a snapshot restore at index
			}
			for range 1 + rng.IntN(4) {
				index++
				cmd := h.command()
				res, err := m.Apply(st, index, fund.EncodeLogs(cmd))
				if err != nil {
					t.Fatalf("seed %d batch %d: apply: %v", seed, batch, err)
				}
				if r, ok := res.(*fund.LogsResult); ok {
					lateIntoEarlierDay += h.accepted(cmd, r)
				}
			}
			if err := m.EndBatch(st, index); err != nil {
				t.Fatal(err)
			}
			m.Committed()

			books, err := fund.ReadBooks(st)
			if err != nil {
				t.Fatal(err)
			}
			if d := books.BlockTime / secondsPerDay; d != openDay {
				openDay = d
				rollovers++
			}
			periods := flowPeriods(books.BlockTime, h.time)
			for _, p := range periods {
				want := render(Build(st, p))
				for range 2 { // the second build uses the sums the first may have kept
					before := fs.fromSums
					got := render(build(st, p, fs, index, true))
					if !bytes.Equal(got, want) {
						t.Fatalf("seed %d batch %d %s (sums used: %v):\nrunning sums\n%s\nscan\n%s", seed, batch, p.Name(), fs.fromSums > before, got, want)
					}
					reads++
				}
			}
			// The server's path (Cache, which reads no NAV point for JSON and CSV) for the open day.
			scanned, err := Build(st, periods[0])
			if err != nil {
				t.Fatal(err)
			}
			cache := NewCache(1, fs)
			for _, f := range []Format{JSON, CSV} {
				want, _, err := scanned.Render(f)
				if err != nil {
					t.Fatal(err)
				}
				got, _, _, err := cache.Render(st, index, periods[0], f)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("seed %d batch %d: Cache.Render %s: %v\n%s\nscan\n%s", seed, batch, f, err, got, want)
				}
				reads++
			}
			if old.st != nil {
				before := fs.fromSums
				got, want := render(build(old.st, old.p, fs, old.index, true)), render(Build(old.st, old.p))
				if !bytes.Equal(got, want) || fs.fromSums != before {
					t.Fatalf("seed %d batch %d: a report at the older index %d (sums used: %v):\n%s\nwant\n%s", seed, batch, old.index, fs.fromSums != before, got, want)
				}
			}
			if batch%10 == 0 {
				old.st, old.index, old.p = st.Clone(), index, periods[0]
			}
		}
		fromSums += fs.fromSums
	}
	t.Logf("%d reports at the current index, %d from the running sums; %d late logs into an earlier day, %d day rollovers",
		reads, fromSums, lateIntoEarlierDay, rollovers)
	if fromSums*2 <= reads {
		t.Errorf("%d of %d reports from the running sums: they were not used", fromSums, reads)
	}
	if lateIntoEarlierDay == 0 || rollovers < 24*2 {
		t.Errorf("the histories tested little: %d late logs into an earlier day, %d day rollovers", lateIntoEarlierDay, rollovers)
	}
}

// flowPeriods returns the periods the test reports on: the open day, week and month (of the
// fund's latest block time, and of the chain's newest block when a log out of its block's
// order moved the former ahead), the day before and the day after.
func flowPeriods(latest, newest int64) []Period {
	var out []Period
	add := func(k Kind, t int64) {
		p := PeriodOf(k, time.Unix(t, 0).UTC())
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, t := range []int64{latest, newest} {
		add(Daily, t)
		add(Weekly, t)
		add(Monthly, t)
	}
	add(Daily, max(latest-secondsPerDay, 0))
	add(Daily, latest+secondsPerDay)
	return out
}

// renderBoth renders a report as JSON and CSV, with whether it is closed.
func renderBoth(t *testing.T, rep *Report) []byte {
	t.Helper()
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	csv, _, err := rep.Render(CSV)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, "closed %v\n%s\n%s", rep.Closed, js, csv)
}

// flowHistory generates the logs commands of a random chain: blocks mined minutes to hours
// apart, each with a time of its own, and what happens to their logs.
type flowHistory struct {
	rng     *rand.Rand
	bn      uint64 // the newest block
	time    int64  // its time
	blocks  []flowBlock
	applied []chainlog.Event // in the ledger: may be reverted or sent again
	late    bool             // the last command sends late logs into earlier blocks
}

type flowBlock struct {
	bn     uint64
	time   int64
	nextLI uint64
}

// flowEvents are the events a report sums, which the history emits most.
var flowEvents = []string{"Deposit", "Withdraw", "RedemptionRequested", "RedemptionSettled",
	"ManagementFeeCollected", "PerformanceFeeCollected", "RedemptionFeeAdded"}

// command returns the next logs command: new blocks, late logs into earlier blocks, reverts,
// duplicates, or an event the Machine refuses.
func (h *flowHistory) command() *fund.LogsCommand {
	rng := h.rng
	var evs []chainlog.Event
	h.late = false
	switch r := rng.IntN(100); {
	case r < 55 || len(h.applied) == 0:
		for range 1 + rng.IntN(2) {
			h.bn++
			h.time += rng.Int64N(4 * 3600)
			h.blocks = append(h.blocks, flowBlock{bn: h.bn, time: h.time})
			b := &h.blocks[len(h.blocks)-1]
			for range 1 + rng.IntN(3) {
				evs = append(evs, h.event(b))
			}
		}
	case r < 70:
		// Late logs into earlier blocks, in the order they arrive.
		h.late = true
		for range 1 + rng.IntN(2) {
			n := min(len(h.blocks), 30)
			b := &h.blocks[len(h.blocks)-n+rng.IntN(n)]
			evs = append(evs, h.event(b))
		}
	case r < 85:
		i := rng.IntN(len(h.applied))
		evs = append(evs, chainlogtest.Removed(h.applied[i]))
	case r < 95:
		evs = append(evs, h.applied[rng.IntN(len(h.applied))]) // a duplicate
	default:
		n := min(len(h.blocks), 5)
		evs = append(evs, h.event(&h.blocks[len(h.blocks)-n+rng.IntN(n)]), chainlog.Event{Name: "NoSuchEvent"}) // refused whole
	}
	// Proposed a minute after the newest block, as an ingester would.
	return &fund.LogsCommand{Time: (h.time + 60) * 1e9, Events: evs}
}

// accepted takes what the Machine did with cmd into the history and returns how many of its
// logs went into a block of an earlier day than the newest block's.
func (h *flowHistory) accepted(cmd *fund.LogsCommand, r *fund.LogsResult) int {
	late := 0
	for i, o := range r.Outcomes {
		ev := cmd.Events[i]
		switch o.Status {
		case fund.OutcomeAccepted:
			h.applied = append(h.applied, ev)
			if h.late && ev.BlockTime != 0 && ev.BlockTime/secondsPerDay < h.time/secondsPerDay {
				late++
			}
		case fund.OutcomeReverted:
			for j := range h.applied {
				if h.applied[j].TxHash == ev.TxHash && h.applied[j].LogIndex == ev.LogIndex {
					h.applied = append(h.applied[:j], h.applied[j+1:]...)
					break
				}
			}
		}
	}
	return late
}

// event returns a new log of block b: mostly a flow, now and then any event; now and then
// without a block time (dated by its command) or with a time other than its block's, which
// breaks the order of block times the ledger's scan relies on.
func (h *flowHistory) event(b *flowBlock) chainlog.Event {
	rng := h.rng
	s := chainlog.SpecByName(flowEvents[rng.IntN(len(flowEvents))])
	if rng.IntN(4) == 0 {
		s = chainlog.SpecByID(uint8(1 + rng.IntN(int(chainlog.NumSpecs))))
	}
	bt := b.time
	switch rng.IntN(80) {
	case 0:
		bt = 0
	case 1:
		bt = max(1, b.time+rng.Int64N(3*secondsPerDay)-secondsPerDay*3/2)
	}
	args := make([]any, len(s.Args))
	for i, a := range s.Args {
		switch a.Type {
		case chainlog.ArgAddress:
			if a.Name == "token" || a.Name == "asset" {
				args[i] = chainlogtest.Address(50 + rng.IntN(3))
			} else {
				args[i] = chainlogtest.Address(1 + rng.IntN(5))
			}
		case chainlog.ArgUint256:
			switch {
			case a.Name == "requestId":
				args[i] = 1 + rng.IntN(6)
			case strings.Contains(strings.ToLower(a.Name), "time"):
				args[i] = b.time + rng.Int64N(10*secondsPerDay)
			default:
				args[i] = new(uint256.Int).Mul(uint256.NewInt(1+rng.Uint64N(1000)), uint256.NewInt(1e15))
			}
		case chainlog.ArgUint8:
			args[i] = rng.IntN(4)
		case chainlog.ArgBool:
			args[i] = rng.IntN(2) == 0
		case chainlog.ArgString:
			args[i] = "kyc"
		}
	}
	li := b.nextLI
	b.nextLI++
	return chainlogtest.Event(s.Name, b.bn, li, bt, args...)
}
