package raftstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
)

// TestFSMBatchesMatchOneByOne applies the same fund commands (new events, duplicates and
// removals) through the batching FSM into Pebble, eight commands per Raft batch, and one command
// per batch into kv.Mem: the two states must be byte-identical (raftstore's own keys aside), as
// must the results. It covers what the fund's tests cannot: the Pebble batch adapter and the
// machine's per-batch overlay together.
func TestFSMBatchesMatchOneByOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	events := fundtest.RandomEvents(3, 2000)
	var cmds [][]byte
	var accepted []chainlog.Event
	for len(events) > 0 {
		n := min(1+rng.IntN(60), len(events))
		evs := append([]chainlog.Event(nil), events[:n]...)
		events = events[n:]
		for i := rng.IntN(8); i > 0 && len(accepted) > 0; i-- {
			ev := accepted[rng.IntN(len(accepted))]
			ev.Removed = rng.IntN(3) > 0 // a removal, else a duplicate
			evs = append(evs, ev)
		}
		accepted = append(accepted, evs[:n]...)
		cmds = append(cmds, fund.EncodeLogs(&fund.LogsCommand{Time: int64(len(cmds)+1) * 1e9, Events: evs}))
	}

	mem := kv.NewMem()
	info := fund.Info{FundID: "bench", Name: "Bench", Symbol: "B", ChainID: 56}
	m := fund.NewMachine(info, readmodel.NewViews(info), nil)
	var want []string
	for i, c := range cmds {
		res, err := m.Apply(mem, uint64(i+1), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.EndBatch(mem, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		m.Committed()
		want = append(want, fmt.Sprintf("%+v", res))
	}

	s := newFundState(t, filepath.Join(t.TempDir(), "state"))
	defer s.state.close()
	var got []string
	for i := 0; i < len(cmds); i += 8 {
		var logs []*raft.Log
		for j := i; j < min(i+8, len(cmds)); j++ {
			logs = append(logs, &raft.Log{Index: uint64(j + 1), Type: raft.LogCommand, Data: cmds[j]})
		}
		for _, res := range s.fsm.ApplyBatch(logs) {
			got = append(got, fmt.Sprintf("%+v", res))
		}
	}
	if err := s.fatalErr(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatal("results differ between batched Pebble apply and one-by-one kv.Mem apply")
	}

	var memDump, pebbleDump strings.Builder
	mem.Dump(func(k, v []byte) { fmt.Fprintf(&memDump, "%x=%x\n", k, v) })
	it, err := s.state.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.HasPrefix(it.Key(), []byte("m/")) {
			fmt.Fprintf(&pebbleDump, "%x=%x\n", it.Key(), it.Value())
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if memDump.Len() == 0 || pebbleDump.String() != memDump.String() {
		t.Fatalf("Pebble state (%d bytes of dump) differs from kv.Mem (%d)", pebbleDump.Len(), memDump.Len())
	}
}
