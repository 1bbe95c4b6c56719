package readmodel

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/fund"
)

// TestPricesViewKeptEqualsScan applies random histories of price changes, in Raft batches of
// one to five commands, and checks after every batch that the prices view the Machine stored
// (rendered by Views from the prices it kept, reading only those the batch wrote) is byte for
// byte the view rendered from a scan of every current price (renderPrices, as before). The
// changes: operator prices (newer or older than the current one, several in one command),
// deletions of a price point (the current one or an older one, or none: refused), oracle
// prices through ingest and their reverts (the current price recomputed from the history),
// refused commands, and reloads of the Machine (the view rendered from scratch).
func TestPricesViewKeptEqualsScan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 14))
		e := newEnv(t)
		assets := make([]common.Address, 6)
		for i := range assets {
			assets[i] = addr(60 + i)
		}
		times := map[common.Address][]int64{} // operator points written, per asset
		var oracle []chainlog.Event           // oracle prices applied and not reverted
		bn := uint64(100)
		ops := fund.Actor{Name: "ops", Role: "operator"}
		for batch := range 60 {
			if rng.IntN(20) == 0 {
				if err := e.m.Load(e.st); err != nil {
					t.Fatal(err)
				}
			}
			for range 1 + rng.IntN(5) {
				var cmd []byte
				switch r := rng.IntN(10); {
				case r < 5:
					ps := make([]fund.PriceUpdate, 1+rng.IntN(3))
					for i := range ps {
						a := assets[rng.IntN(len(assets))]
						ps[i] = fund.PriceUpdate{Asset: chainlog.HexAddress(a), Time: testNow - 500 + rng.Int64N(1000)}
						ps[i].Price.SetUint64(1 + rng.Uint64N(1e6))
						times[a] = append(times[a], ps[i].Time)
					}
					if rng.IntN(10) == 0 {
						ps[0].Price.Clear() // refused: nothing changes
					}
					cmd = fund.EncodePrices(&fund.PricesCommand{Time: testNow * 1e9, Actor: ops, Prices: ps})
				case r < 7:
					a := assets[rng.IntN(len(assets))]
					pt := testNow + 1000 // no such point: refused
					if ts := times[a]; len(ts) > 0 && rng.IntN(4) > 0 {
						pt = ts[rng.IntN(len(ts))] // maybe deleted already: refused then
					}
					cmd = fund.EncodePriceDelete(&fund.PriceDeleteCommand{Time: testNow * 1e9, Actor: ops, Asset: a, PointTime: pt})
				case r < 9 || len(oracle) == 0:
					bn++
					ev := mk("PriceSet", bn, 0, testNow, assets[rng.IntN(len(assets))], u(1+rng.Uint64N(1e6)), testNow-500+rng.Int64N(1000), rng.IntN(3))
					oracle = append(oracle, ev)
					cmd = fund.EncodeLogs(&fund.LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{ev}})
				default:
					i := rng.IntN(len(oracle))
					ev := oracle[i]
					oracle = append(oracle[:i], oracle[i+1:]...)
					cmd = fund.EncodeLogs(&fund.LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{removed(ev)}})
				}
				e.index++
				if _, err := e.m.Apply(e.st, e.index, cmd); err != nil {
					t.Fatalf("seed %d batch %d: apply: %v", seed, batch, err)
				}
			}
			if err := e.m.EndBatch(e.st, e.index); err != nil {
				t.Fatalf("seed %d batch %d: end batch: %v", seed, batch, err)
			}
			e.m.Committed()
			got, err := ReadView(e.st, ViewPrices)
			if err != nil {
				t.Fatal(err)
			}
			want, err := renderPrices(e.st)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d batch %d: kept prices view\n%s\nscan\n%s", seed, batch, got, want)
			}
		}
		if v := e.view(ViewPrices); len(v["items"].([]any)) == 0 {
			t.Fatalf("seed %d: no current price at the end: the history tested nothing", seed)
		}
	}
}
