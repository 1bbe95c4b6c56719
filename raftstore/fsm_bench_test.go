package raftstore

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
)

// Batch shape of the FSM benchmarks: ingest proposes commands of ~100 events, and Raft hands
// the FSM ~8 of them per batch.
const benchEventsPerCmd, benchCmdsPerBatch = 100, 8

// BenchmarkFSMApply measures the state machine's apply path into Pebble, without consensus:
// Raft batches of commands, each carrying decoded chain events, applied through the batching
// FSM exactly as Raft would hand them over (one Pebble batch per Raft batch). One iteration is
// one Raft batch; it reports events/s.
//
//   - random: fundtest.RandomEvents, every event kind over small pools of holders, tokens and
//     request ids (a worst case for contention on the same records).
//
//   - dataset: the realistic backfill of fundtest.Dataset (5,000 holders, a year of hourly NAV
//     points, 500 redemptions), decoded with fundtest.Registry(), in chain order. When the
//     data set is exhausted the benchmark starts over on a fresh store, outside the timer.
//
// The -outbox variants run the same batches with fund.Info.Outbox on (the PostgreSQL sync's
// outbox written in every batch, never pruned during the run).
//
//	go test ./raftstore -run XXX -bench FSMApply -benchtime 100x
func BenchmarkFSMApply(b *testing.B) {
	for _, outbox := range []bool{false, true} {
		suffix := ""
		if outbox {
			suffix = "-outbox"
		}
		b.Run("random"+suffix, func(b *testing.B) {
			events := fundtest.RandomEvents(1, benchEventsPerCmd*benchCmdsPerBatch*b.N)
			benchApplyBatches(b, benchBatches(events), outbox)
		})
		b.Run("dataset"+suffix, func(b *testing.B) {
			events, err := fundtest.Decode(fundtest.Registry(), fundtest.Dataset(1, 5000, 8760, 500))
			if err != nil {
				b.Fatal(err)
			}
			benchApplyBatches(b, benchBatches(events), outbox)
		})
	}
}

// benchBatches cuts events into commands of benchEventsPerCmd events (the last may be
// shorter) and groups them into Raft batches of benchCmdsPerBatch commands. Raft indexes start
// at 1 and follow the order of the batches.
func benchBatches(events []chainlog.Event) [][]*raft.Log {
	var batches [][]*raft.Log
	var index uint64
	for len(events) > 0 {
		logs := make([]*raft.Log, 0, benchCmdsPerBatch)
		for len(logs) < benchCmdsPerBatch && len(events) > 0 {
			n := min(benchEventsPerCmd, len(events))
			index++
			cmd := fund.EncodeLogs(&fund.LogsCommand{Time: int64(index) * 1e9, Events: events[:n]})
			logs = append(logs, &raft.Log{Index: index, Type: raft.LogCommand, Data: cmd})
			events = events[n:]
		}
		batches = append(batches, logs)
	}
	return batches
}

// benchApplyBatches applies batches[i % len(batches)] in iteration i, starting over on a
// fresh store each time the batches run out, and checks that every event was accepted.
func benchApplyBatches(b *testing.B, batches [][]*raft.Log, outbox bool) {
	eventsOf := make([][]int, len(batches)) // events of each command
	for i, logs := range batches {
		for _, l := range logs {
			c, err := fund.DecodeLogs(l.Data)
			if err != nil {
				b.Fatal(err)
			}
			eventsOf[i] = append(eventsOf[i], len(c.Events))
		}
	}
	var s *Store
	closeStore := func() {
		if s != nil {
			if err := s.fatalErr(); err != nil {
				b.Fatal(err)
			}
			s.state.close()
		}
	}
	defer closeStore()
	total, round := 0, 0
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		i := n % len(batches)
		if i == 0 {
			b.StopTimer()
			closeStore()
			s = newFundStateInfo(b, filepath.Join(b.TempDir(), strconv.Itoa(round)), fund.Info{FundID: "bench", Name: "Bench", Symbol: "B", ChainID: 56, Outbox: outbox})
			round++
			b.StartTimer()
		}
		for j, res := range s.fsm.ApplyBatch(batches[i]) {
			if lr, ok := res.(*fund.LogsResult); !ok || lr.Accepted != eventsOf[i][j] {
				b.Fatalf("batch %d entry %d: result %#v", i, j, res)
			}
			total += eventsOf[i][j]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// newFundState opens a fund state machine over a fresh Pebble state in dir, without Raft, for
// driving the FSM directly.
func newFundState(b testing.TB, dir string) *Store {
	return newFundStateInfo(b, dir, fund.Info{FundID: "bench", Name: "Bench", Symbol: "B", ChainID: 56})
}

// newFundStateInfo is newFundState with the fund's Info (e.g. Outbox on).
func newFundStateInfo(b testing.TB, dir string, info fund.Info) *Store {
	return newFundStateViews(b, dir, info, readmodel.NewViews(info))
}

// newFundStateViews is newFundStateInfo with a view renderer of the caller's.
func newFundStateViews(b testing.TB, dir string, info fund.Info, views fund.ViewRenderer) *Store {
	cfg := DefaultConfig()
	cfg.Dir = dir
	s, err := New(cfg, fund.NewMachine(info, views, nil), Deps{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	if s.state, err = openStateDB(filepath.Join(cfg.Dir, "state"), int64(cfg.StateCacheMiB)<<20, s.logger); err != nil {
		b.Fatal(err)
	}
	if err := s.fsm.loadState(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkFSMApplyPrices measures the apply path of operator price writes as bench/seedplan
// sends them: POST /v1/admin/prices with one price each, 100 writers with an asset each, Raft
// batches of benchCmdsPerBatch commands. Every write overwrites its asset's current price, so
// the memtable holds one version of that key per write until it is flushed (64 MiB), and the
// prices view is rendered after every batch. Before timing, -prefill writes (default 50,000:
// 50 s of the plan) fill the memtable. One iteration is one batch; it reports writes/s.
//
//   - scan-next: the prices view rendered from a scan of every current price, stepping with
//     Next (as before bench/RESULTS.md §19's fix: every version of every price is visited);
//
//   - scan-nextprefix: the same scan stepping with NextPrefix (scan's step: one seek per key);
//
//   - kept: the view kept across batches (readmodel.Views), each batch reading only the prices
//     it wrote.
//
//     go test ./raftstore -run XXX -bench FSMApplyPrices -benchtime 2000x -count 3
func BenchmarkFSMApplyPrices(b *testing.B) {
	for _, c := range []struct {
		name string
		step func(*pebble.Iterator) bool
		scan bool // render the prices view from a full scan in every batch
	}{
		{"scan-next", (*pebble.Iterator).Next, true},
		{"scan-nextprefix", (*pebble.Iterator).NextPrefix, true},
		{"kept", (*pebble.Iterator).NextPrefix, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			defer func(old func(*pebble.Iterator) bool) { scanNext = old }(scanNext)
			scanNext = c.step
			info := fund.Info{FundID: "bench", Name: "Bench", Symbol: "B", ChainID: 56, Outbox: true} // the seedplan's nodes sync PostgreSQL
			var views fund.ViewRenderer = readmodel.NewViews(info)
			if c.scan {
				views = scanPrices{views}
			}
			s := newFundStateViews(b, b.TempDir(), info, views)
			defer s.state.close()
			var index uint64
			batch := func() []*raft.Log {
				logs := make([]*raft.Log, benchCmdsPerBatch)
				for i := range logs {
					index++
					w := index % 100
					p := fund.PriceUpdate{Asset: fmt.Sprintf("0x5eed%036x", w+1), Time: 1_700_000_000 + int64(index)}
					p.Price.SetUint64(index)
					logs[i] = &raft.Log{Index: index, Type: raft.LogCommand, Data: fund.EncodePrices(&fund.PricesCommand{
						Time: int64(index) * 1e9, Actor: fund.Actor{Name: "bench", Role: "admin"}, Prices: []fund.PriceUpdate{p}})}
				}
				return logs
			}
			apply := func() {
				for j, res := range s.fsm.ApplyBatch(batch()) {
					if pr, ok := res.(*fund.PricesResult); !ok || pr.Count != 1 {
						b.Fatalf("entry %d: result %#v", j, res)
					}
				}
			}
			for range *benchPricePrefill / benchCmdsPerBatch {
				apply()
			}
			b.ResetTimer()
			for range b.N {
				apply()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchCmdsPerBatch)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

var benchPricePrefill = flag.Int("prefill", 50_000, "BenchmarkFSMApplyPrices: price writes applied before timing")

// scanPrices renders the prices view from a full scan in every batch (RenderView), as
// readmodel.Views did before it kept the view.
type scanPrices struct{ fund.ViewRenderer }

func (s scanPrices) RenderBatch(r kv.Reader, name string) ([]byte, error) {
	if name == readmodel.ViewPrices {
		return s.RenderView(r, name)
	}
	return s.ViewRenderer.RenderBatch(r, name)
}
