package raftstore

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
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
	cfg := DefaultConfig()
	cfg.Dir = dir
	s, err := New(cfg, fund.NewMachine(info, readmodel.NewViews(info), nil), Deps{Logger: testLogger(b)})
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
