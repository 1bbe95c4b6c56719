package raftstore

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"paimon/fund"
	"paimon/fund/fundtest"
)

// BenchmarkFSMApply measures the state machine's apply path into Pebble, without consensus:
// Raft batches of commands, each carrying decoded chain events, applied through the batching
// FSM exactly as Raft would hand them over (one Pebble batch per Raft batch). It reports
// events/s.
//
//	go test ./raftstore -run XXX -bench FSMApply -benchtime 20x
func BenchmarkFSMApply(b *testing.B) {
	const eventsPerCmd, cmdsPerBatch = 100, 8
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	cfg.Logger = testLogger(b)
	s, err := New(cfg, fund.NewMachine(fund.Info{FundID: "bench", Name: "Bench", Symbol: "B", ChainID: 56}, nil))
	if err != nil {
		b.Fatal(err)
	}
	if s.state, err = openStateDB(filepath.Join(cfg.Dir, "state"), cfg.StateCacheBytes, s.logger); err != nil {
		b.Fatal(err)
	}
	defer s.state.close()
	if err := s.fsm.loadState(); err != nil {
		b.Fatal(err)
	}

	perBatch := eventsPerCmd * cmdsPerBatch
	events := fundtest.RandomEvents(1, perBatch*(b.N+1))
	var index uint64
	var total int
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		logs := make([]*raft.Log, cmdsPerBatch)
		for i := range logs {
			evs := events[(n*cmdsPerBatch+i)*eventsPerCmd : (n*cmdsPerBatch+i+1)*eventsPerCmd]
			index++
			logs[i] = &raft.Log{Index: index, Type: raft.LogCommand, Data: fund.EncodeLogs(&fund.LogsCommand{Time: int64(index) * 1e9, Events: evs})}
		}
		b.StartTimer()
		for i, res := range s.fsm.ApplyBatch(logs) {
			if lr, ok := res.(*fund.LogsResult); !ok || lr.Accepted+lr.Duplicates+lr.Reverted+lr.NotFound != eventsPerCmd {
				b.Fatalf("entry %d: result %#v", i, res)
			}
		}
		total += perBatch
	}
	b.StopTimer()
	if err := s.fatalErr(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
