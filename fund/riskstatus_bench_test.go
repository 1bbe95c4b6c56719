package fund

import (
	"fmt"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/kv"
	"paimon/risk"
)

// riskBenchCommands is benchCommands' traffic in commands of size events each, after a setup
// command that gives the fund what the indicators read: nine priced assets in the three tiers,
// with holdings, and the tier bands. total events in all.
func riskBenchCommands(total, size int) [][]byte {
	var setup []chainlog.Event
	li := uint64(0)
	next := func() uint64 { li++; return li }
	for i := range 9 {
		tok := addr(50 + i)
		tier := i % 3
		setup = append(setup,
			mk("AssetAdded", 1, next(), testNow, tok, tier, 1000),
			mk("PriceSet", 1, next(), testNow, tok, oneE18, testNow, 1),
			mk("AssetPurchased", 1, next(), testNow, tok, tier, e18(100), e18(100)))
	}
	for t := range 3 {
		setup = append(setup, mk("LayerConfigUpdated", 1, next(), testNow, t, 3000, 1000, 5000))
	}
	cmds := [][]byte{EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: setup})}
	var evs []chainlog.Event
	for _, c := range benchCommands(total/256+1, 256) {
		lc, _ := DecodeLogs(c)
		evs = append(evs, lc.Events...)
	}
	evs = evs[:total]
	for i := 0; i < len(evs); i += size {
		cmds = append(cmds, EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: evs[i:min(i+size, len(evs))]}))
	}
	return cmds
}

// BenchmarkRiskShare measures what evaluating the risk indicators costs against applying the
// commands it follows, in the same run: each command is applied (Apply, and EndBatch at the end
// of its batch), and evaluated once more right after its Apply, which finds the state it just
// evaluated and so costs what the evaluation inside Apply cost (books, indicators, statuses;
// no crossing, which is rare). risk-% is that evaluation time over the apply time. Each
// iteration applies 2,048 events of benchCommands' traffic to a fresh kv.Mem (kv.Mem inserts
// into a sorted slice: a bigger store would inflate the apply time, and the share would look
// smaller than on Pebble) after a setup command outside the timer. The shapes: one event per
// command in batches of 64 commands (a log per webhook request, the worst case: one evaluation
// per event), 16 events per command in batches of 4, and 100 (ingest's) in batches of 8. After
// a command that changed an asset or a price, the measured evaluation reads the assets again,
// as the one inside Apply did.
//
//	go test ./fund -run XXX -bench RiskShare -benchtime 20x
func BenchmarkRiskShare(b *testing.B) {
	const total = 2048
	for _, shape := range []struct{ size, batch int }{{1, 64}, {16, 4}, {100, 8}} {
		b.Run(fmt.Sprintf("events=%d/batch=%d", shape.size, shape.batch), func(b *testing.B) {
			cmds := riskBenchCommands(total, shape.size)
			// A command that changes an asset or a price makes the evaluation inside Apply read
			// the assets again; the one measured after it must too.
			rereads := make([]bool, len(cmds))
			for i, c := range cmds {
				lc, _ := DecodeLogs(c)
				for _, ev := range lc.Events {
					rereads[i] = rereads[i] || ev.Kind == chainlog.KindAssetController || ev.Kind == chainlog.KindOracle
				}
			}
			var applyT, riskT time.Duration
			events := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				st, m := kv.NewMem(), NewMachine(testInfo, NewViews(testInfo), nil)
				if _, err := m.Apply(st, 1, cmds[0]); err != nil {
					b.Fatal(err)
				}
				if err := m.EndBatch(st, 1); err != nil {
					b.Fatal(err)
				}
				m.Committed()
				b.StartTimer()
				idx := uint64(1)
				for i, c := range cmds[1:] {
					idx++
					t0 := time.Now()
					if _, err := m.Apply(st, idx, c); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					ac := &applyContext{Machine: m, store: st, index: idx, cmdTime: testNow * 1e9}
					ac.riskStale = true
					ac.riskAssets = ac.riskAssets && !rereads[i+1]
					if err := ac.evaluateRisk(true); err != nil {
						b.Fatal(err)
					}
					t2 := time.Now()
					if (i+1)%shape.batch == 0 || i == len(cmds)-2 {
						if err := m.EndBatch(st, idx); err != nil {
							b.Fatal(err)
						}
						m.Committed()
					}
					t3 := time.Now()
					applyT += t1.Sub(t0) + t3.Sub(t2)
					riskT += t2.Sub(t1)
				}
				events += total
				if s, _ := ReadRiskStatus(st); !s.Evaluated || !s.Values.Has(risk.MaxAssetConcentration) {
					b.Fatalf("the indicators were not evaluated: %+v", s)
				}
			}
			b.ReportMetric(float64(events)/applyT.Seconds(), "events/s")
			b.ReportMetric(float64(riskT.Nanoseconds())/float64(events)*float64(shape.size), "risk-ns/cmd")
			b.ReportMetric(100*riskT.Seconds()/applyT.Seconds(), "risk-%")
		})
	}
}
