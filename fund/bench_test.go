package fund

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/kv"
)

// benchCommands builds n commands of size events each: a realistic mix of deposits (mint +
// Deposit), transfers, price updates, NAV points and redemption traffic over 1,000 holders.
func benchCommands(n, size int) [][]byte {
	var cmds [][]byte
	bn := uint64(1)
	for c := 0; c < n; c++ {
		evs := make([]chainlog.Event, 0, size)
		for len(evs) < size {
			bn++
			h := addr(int(bn % 1000))
			bt := testNow + int64(bn)*3
			switch bn % 10 {
			case 0, 1, 2:
				evs = append(evs, mk("Transfer", bn, 0, bt, common.Address{}, h, e18(10)), mk("Deposit", bn, 1, bt, h, h, e18(10), e18(10)))
			case 3, 4, 5:
				evs = append(evs, mk("Transfer", bn, 0, bt, h, addr(int(bn%997)), e18(1)))
			case 6:
				evs = append(evs, mk("PriceSet", bn, 0, bt, addr(50+int(bn%3)), oneE18, bt, 1))
			case 7:
				evs = append(evs, mk("NavUpdated", bn, 0, bt, oneE18, oneE18, bt))
			case 8:
				evs = append(evs, mk("SharesLocked", bn, 0, bt, h, e18(1)),
					mk("RedemptionRequested", bn, 1, bt, int(bn), h, h, e18(1), e18(1), u(1), 0, false, bt+7*day, 1))
			case 9:
				evs = append(evs, mk("RedemptionSettled", bn, 0, bt, int(bn-1), h, h, e18(1), u(1), e18(1), 0))
			}
		}
		cmds = append(cmds, EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: evs[:size]}))
	}
	return cmds
}

// BenchmarkApply measures Apply + EndBatch throughput on kv.Mem (one 256-event command per
// batch). kv.Mem inserts into a sorted slice, so the store is reset every 8 batches (outside
// the timer) to keep its cost from dominating; Pebble numbers come from bench/.
func BenchmarkApply(b *testing.B) { benchApply(b, testInfo) }

// benchApply is BenchmarkApply for the fund info.
func benchApply(b *testing.B, info Info) {
	const size, perStore = 256, 8
	cmds := benchCommands(perStore, size)
	var st *kv.Mem
	var m *Machine
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%perStore == 0 {
			b.StopTimer()
			st, m = kv.NewMem(), NewMachine(info, NewViews(info), nil)
			b.StartTimer()
		}
		idx := uint64(i + 1)
		if _, err := m.Apply(st, idx, cmds[i%perStore]); err != nil {
			b.Fatal(err)
		}
		if err := m.EndBatch(st, idx); err != nil {
			b.Fatal(err)
		}
		m.Committed()
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBooks measures computing the Books inside apply (what refreshFigures, a NAV point,
// a day's snapshot and the risk indicators do) over the sample state's assets, the overlay
// warm as in a batch: allocation-free once the buffer has room.
func BenchmarkBooks(b *testing.B) {
	e := recordsEnv(b)
	ac := &applyContext{Machine: e.m, store: e.st}
	var bk Books
	if err := ac.books(&bk); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ac.books(&bk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(bk.Assets)), "assets")
}
