package config

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
)

// TestDifferentlyConfiguredNodesAgree: the log a leader configured one way proposes is applied
// to the same bytes by a node configured another way (DESIGN.md invariants 1 and 5). The rules
// issue 18 made configurable, the reorder window (ingest.reorder_window_blocks) and the price
// future skew (prices.max_future_skew), travel in the version-2 CmdLogs and CmdPrices the leader
// writes; a node's own settings never decide what a command does. The risk thresholds ([risk])
// travel in the CmdRiskThresholds the leader proposes (node/risk.go).
func TestDifferentlyConfiguredNodesAgree(t *testing.T) {
	leader, other := Default(), Default()
	leader.Ingest.ReorderWindowBlocks, leader.Prices.MaxFutureSkew = 10, time.Minute
	other.Ingest.ReorderWindowBlocks, other.Prices.MaxFutureSkew = 1000, time.Hour
	leader.Risk.NavDriftBpsWarn, other.Risk.NavDriftBpsWarn = 20, 150
	leader.Risk.OracleStalenessSecondsWarn, other.Risk.OracleStalenessSecondsWarn = 7200, 200_000

	chain := fundtest.NewChain(fundtest.ChainConfig{Seed: 18})
	for i := range 30 {
		chain.Deposit(fundtest.Addr(fmt.Sprint("holder", i%4)), fundtest.E18(1), fundtest.E18(1))
		chain.Advance(30 * time.Second) // 10 blocks
	}
	evs := chain.Events()
	// The fifth deposit (two logs, 250 blocks behind the last) arrives after the others: inside
	// the other node's window, outside the leader's.
	late := evs[8:10]
	onTime := append(append([]chainlog.Event(nil), evs[:8]...), evs[10:]...)
	cmdTime := chain.Now() * 1e9
	sc := leader.ServerConfig()
	cmds := [][]byte{
		fund.EncodeLogs(&fund.LogsCommand{Time: cmdTime, Events: onTime, ReorderWindow: sc.ReorderWindow}),
		fund.EncodeLogs(&fund.LogsCommand{Time: cmdTime, Events: late, ReorderWindow: sc.ReorderWindow}),
		// Ten minutes ahead of the command: past the leader's skew, within the other node's.
		fund.EncodePrices(&fund.PricesCommand{Time: cmdTime, MaxFutureSkew: sc.MaxPriceFutureSkew, Prices: []fund.PriceUpdate{
			{Asset: chainlog.HexAddress(fundtest.Addr("asset")), Price: *fundtest.E18(2), Time: chain.Now() + 600}}}),
		// What the leader's node/risk.go proposes.
		fund.EncodeRiskThresholds(&fund.RiskThresholdsCommand{Time: cmdTime, Thresholds: leader.Risk.Thresholds()}),
	}

	apply := func(c *Config) (*kv.Mem, []any) {
		info := c.FundInfo()
		st, m := kv.NewMem(), fund.NewMachine(info, readmodel.NewViews(info), nil)
		var results []any
		for i, cmd := range cmds {
			res, err := m.Apply(st, uint64(i+1), cmd)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
			if err := m.EndBatch(st, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		return st, results
	}
	a, resA := apply(leader)
	b, resB := apply(other)
	for i := range cmds {
		if fmt.Sprint(resA[i]) != fmt.Sprint(resB[i]) {
			t.Errorf("command %d: the leader's result %v, the other node's %v", i, resA[i], resB[i])
		}
	}
	// The leader's rules decided: the late deposit and the future price were refused.
	for i := 1; i < 3; i++ {
		if _, ok := resA[i].(*fund.ValidationError); !ok {
			t.Errorf("command %d: %T %v, want the leader's rules to refuse it", i, resA[i], resA[i])
		}
	}
	if r, ok := resA[3].(*fund.RiskThresholdsResult); !ok || !r.Changed {
		t.Errorf("risk thresholds: %T %v, want them applied", resA[3], resA[3])
	}
	for _, st := range []*kv.Mem{a, b} {
		if th, replicated, err := fund.RiskThresholds(st); err != nil || !replicated || th != leader.Risk.Thresholds() {
			t.Errorf("risk thresholds %v (replicated %v, %v), want the leader's", th, replicated, err)
		}
	}
	if da, db := dump(a), dump(b); da != db {
		t.Fatalf("the stores differ: %d bytes of dump against %d", len(da), len(db))
	}
}

func dump(st *kv.Mem) string {
	var b bytes.Buffer
	st.Dump(func(k, v []byte) { fmt.Fprintf(&b, "%x=%x\n", k, v) })
	return b.String()
}
