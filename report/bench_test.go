package report

import (
	"sync"
	"testing"
	"time"

	"paimon/fund/fundtest"
	"paimon/kv"
)

// benchYear is fundtest.DefaultSpec (5,000 holders, a year of hourly NAV points, 500
// redemptions) applied to kv.Mem: the read-path benchmarks' data set.
var benchYear = sync.OnceValues(func() (*fundtest.Data, *kv.Mem) {
	data := fundtest.Generate(fundtest.DefaultSpec())
	data.Events = withExtras(data)
	return data, applyAll(data.Events)
})

// BenchmarkReport measures a report's generation on a year of data: a closed month built and
// rendered (cold: every request of a closed period the first time, and of the current period
// always), the same from the cache, and every daily report of the year.
//
//	go test ./report -run XXX -bench BenchmarkReport -benchtime 20x -count 3
func BenchmarkReport(b *testing.B) {
	data, st := benchYear()
	mid := time.Unix(data.Events[len(data.Events)/2].BlockTime, 0).UTC()
	month := PeriodOf(Monthly, mid)
	for _, f := range []Format{JSON, CSV, PDF} {
		b.Run("month/cold/"+string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Build(st, month)
				if err != nil || !rep.Closed {
					b.Fatal(err, rep.Closed)
				}
				if _, _, err := rep.Render(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("month/cached/pdf", func(b *testing.B) {
		c := NewCache(16, nil)
		if _, _, _, err := c.Render(st, 0, month, PDF); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, hit, err := c.Render(st, 0, month, PDF); err != nil || !hit {
				b.Fatal(err, hit)
			}
		}
	})
	first, last := data.Events[0].BlockTime, data.Events[len(data.Events)-1].BlockTime
	b.Run("year/daily/json", func(b *testing.B) {
		days := 0
		for b.Loop() {
			days = 0
			for d := first - first%secondsPerDay; d <= last; d += secondsPerDay {
				rep, err := Build(st, PeriodOf(Daily, time.Unix(d, 0).UTC()))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rep.JSON(); err != nil {
					b.Fatal(err)
				}
				days++
			}
		}
		b.ReportMetric(float64(days), "reports/op")
	})
	b.Run("year/monthly/json", func(b *testing.B) {
		for b.Loop() {
			for d := first - first%secondsPerDay; d <= last; {
				p := PeriodOf(Monthly, time.Unix(d, 0).UTC())
				rep, err := Build(st, p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rep.JSON(); err != nil {
					b.Fatal(err)
				}
				d = p.To
			}
		}
	})
	b.Run("year/monthly/cached/pdf", func(b *testing.B) {
		c := NewCache(64, nil)
		var periods []Period
		for d := first - first%secondsPerDay; d <= last; {
			p := PeriodOf(Monthly, time.Unix(d, 0).UTC())
			periods = append(periods, p)
			d = p.To
		}
		periods = periods[:len(periods)-1] // the month in progress is not cached
		for _, p := range periods {
			if _, _, _, err := c.Render(st, 0, p, PDF); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			for _, p := range periods {
				if _, _, hit, err := c.Render(st, 0, p, PDF); err != nil || !hit {
					b.Fatal(err, hit)
				}
			}
		}
		b.ReportMetric(float64(len(periods)), "reports/op")
	})
	b.Logf("%d events", len(data.Events))
}
