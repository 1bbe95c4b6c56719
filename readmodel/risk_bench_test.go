package readmodel

import (
	"fmt"
	"testing"

	"paimon/chainlog"
	"paimon/fund"
)

// riskBenchEnv holds n open redemptions (due over the next 30 days), a week of deposits and
// events risk events (CHAIN and SYSTEM, a third of them resolved).
func riskBenchEnv(b *testing.B, n, events int) *env {
	e := newEnv(b)
	owner := addr(1)
	var evs []chainlog.Event
	for h := 0; h < 7*24; h++ {
		evs = append(evs, mk("Deposit", uint64(10+h), 0, testNow-int64(7*24-h)*3600, owner, owner, u(1000), u(1000)))
	}
	e.logs(evs...)
	evs = evs[:0]
	for i := 0; i < n; i++ {
		evs = append(evs, mk("RedemptionRequested", 1000, uint64(i), testNow, i+1, owner, owner, u(1), u(500), u(1), 0, false, uint64(testNow+int64(i%30)*86400), 0))
		if len(evs) == 500 {
			e.logs(evs...)
			evs = evs[:0]
		}
	}
	if len(evs) > 0 {
		e.logs(evs...)
	}
	for i := 0; i < events; i++ {
		if i%2 == 0 {
			e.logs(mk("LowLiquidityAlert", uint64(2000+i), 0, testNow, 900, 1000, e18(1), e18(10)))
		} else {
			e.apply(fund.EncodeRiskEvent(&fund.RiskEventCommand{Time: testNow * 1e9, Type: fmt.Sprintf("BENCH_%d", i), Severity: fund.SeverityHigh, Message: "m"}))
		}
	}
	return e
}

// BenchmarkLiquidityForecast: the 30-day forecast over 5,000 open redemptions (a cache miss of
// GET /v1/risk/liquidity-forecast?horizon=30d).
func BenchmarkLiquidityForecast(b *testing.B) {
	e := riskBenchEnv(b, 5000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := LiquidityForecast(e.st, ForecastQuery{Days: 30}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRiskEvents: the first page (100) of 2,000 risk events, unfiltered and filtered to
// the SYSTEM ones (a cache miss of GET /v1/risk/events).
func BenchmarkRiskEvents(b *testing.B) {
	e := riskBenchEnv(b, 0, 2000)
	for _, bc := range []struct {
		name string
		f    RiskEventFilter
	}{{"all", RiskEventFilter{}}, {"system", RiskEventFilter{Source: fund.SourceSystem}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := RiskEvents(e.st, bc.f, Page{Limit: 100}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
