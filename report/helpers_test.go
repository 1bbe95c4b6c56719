package report

import (
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
)

// yearData is a generated year of the fund (hourly NAV points, deposits, investments,
// redemptions in every state, monthly and quarterly fees) applied to a Machine on kv.Mem,
// built once for the package's tests and benchmarks.
var yearData = sync.OnceValues(func() (*fundtest.Data, *kv.Mem) {
	data := fundtest.Generate(fundtest.Spec{Seed: 13, Holders: 300, NavHours: 8760, Redemptions: 80})
	data.Events = withExtras(data)
	return data, applyAll(data.Events)
})

// withExtras adds what the generator does not emit: a Withdraw and a RedemptionFeeAdded in
// the block of every 97th event (log indexes after the block's own).
func withExtras(data *fundtest.Data) []chainlog.Event {
	var vault common.Address
	for _, ev := range data.Events {
		if ev.Name == "Deposit" {
			vault = ev.Contract
			break
		}
	}
	out := make([]chainlog.Event, 0, len(data.Events)+len(data.Events)/40)
	for i, ev := range data.Events {
		out = append(out, ev)
		if i%97 != 0 {
			continue
		}
		who := data.Holders[i%len(data.Holders)]
		amount := fundtest.E18(uint64(i%7 + 1))
		for j, x := range []struct {
			name string
			args []any
		}{{"Withdraw", []any{who, who, who, amount, amount}}, {"RedemptionFeeAdded", []any{fundtest.E18(uint64(i%3 + 1))}}} {
			e, err := fundtest.NewEvent(x.name, x.args...)
			if err != nil {
				panic(err)
			}
			e.TxHash, e.LogIndex, e.BlockNumber, e.BlockHash, e.BlockTime, e.Contract = crypto.Keccak256Hash([]byte(fmt.Sprint("extra", i, j))),
				10_000+uint64(j), ev.BlockNumber, ev.BlockHash, ev.BlockTime, vault
			out = append(out, e)
		}
	}
	return out
}

// applyAll applies evs as version-2 logs commands of 500 events, one batch each.
func applyAll(evs []chainlog.Event) *kv.Mem {
	info := fund.Info{FundID: "report"}
	st := kv.NewMem()
	m := fund.NewMachine(info, readmodel.NewViews(info), nil)
	var index uint64
	for i := 0; i < len(evs); i += 500 {
		index++
		chunk := evs[i:min(i+500, len(evs))]
		// Proposed a minute after its last block, as an ingester would: the command time dates
		// what it raises (RULE risk events).
		cmd := fund.EncodeLogs(&fund.LogsCommand{Time: (chunk[len(chunk)-1].BlockTime + 60) * 1e9, Events: chunk})
		res, err := m.Apply(st, index, cmd)
		if err != nil {
			panic(err)
		}
		if v, ok := res.(*fund.ValidationError); ok {
			panic(v)
		}
		if err := m.EndBatch(st, index); err != nil {
			panic(err)
		}
		m.Committed()
	}
	return st
}

func year(t testing.TB) (*fundtest.Data, *kv.Mem) {
	t.Helper()
	return yearData()
}

// totals sums the figures of a report's flows and fees from the events themselves.
type totals struct {
	deposits, withdrawals, locked, gross, fee, net, mgmt, perf, red big.Int
	requested, settled                                              int64
}

func (s *totals) addEvent(ev *chainlog.Event) {
	add := func(z *big.Int, name string) { z.Add(z, arg(ev, name).ToBig()) }
	switch ev.Name {
	case "Deposit":
		add(&s.deposits, "assets")
	case "Withdraw":
		add(&s.withdrawals, "assets")
	case "RedemptionRequested":
		s.requested++
		add(&s.locked, "lockedAmount")
	case "RedemptionSettled":
		s.settled++
		add(&s.gross, "grossAmount")
		add(&s.fee, "fee")
		add(&s.net, "netAmount")
	case "ManagementFeeCollected":
		add(&s.mgmt, "feeAmount")
	case "PerformanceFeeCollected":
		add(&s.perf, "feeAmount")
	case "RedemptionFeeAdded":
		add(&s.red, "fee")
	}
}

func (s *totals) addReport(t *testing.T, rep *Report) {
	t.Helper()
	add := func(z *big.Int, v string) {
		x, ok := new(big.Int).SetString(v, 10)
		if !ok {
			t.Fatalf("figure %q is not an integer", v)
		}
		z.Add(z, x)
	}
	f := &rep.Flows
	add(&s.deposits, f.Deposits)
	add(&s.withdrawals, f.Withdrawals)
	add(&s.locked, f.RedemptionsRequested.LockedAmount)
	add(&s.gross, f.RedemptionsSettled.Gross)
	add(&s.fee, f.RedemptionsSettled.Fee)
	add(&s.net, f.RedemptionsSettled.Net)
	add(&s.mgmt, rep.Fees.Management)
	add(&s.perf, rep.Fees.Performance)
	add(&s.red, rep.Fees.Redemption)
	s.requested += f.RedemptionsRequested.Count
	s.settled += f.RedemptionsSettled.Count
}

func (s *totals) strings() []string {
	out := []string{}
	for _, z := range []*big.Int{&s.deposits, &s.withdrawals, &s.locked, &s.gross, &s.fee, &s.net, &s.mgmt, &s.perf, &s.red} {
		out = append(out, z.String())
	}
	return append(out, big.NewInt(s.requested).String(), big.NewInt(s.settled).String())
}
