package pgsync

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/pgtest"
	"paimon/internal/testutil"
)

// BenchmarkCatchUp measures how fast the leader drains a backlog into PostgreSQL, as after an
// outage: the node applies a year of realistic data (5,000 holders, 8,760 hourly NAV points, 500
// redemptions) with PostgreSQL away, then the syncer starts and the time until PostgreSQL holds
// everything gives rows/s (outbox entries written per second).
//
//	go test ./pgsync -run XXX -bench CatchUp -benchtime 1x
func BenchmarkCatchUp(b *testing.B) {
	for range b.N {
		dsn := pgtest.NewDatabase(b)
		n := newTestNode(b, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", func(c *Config) {
			c.MaxBackoff = time.Hour // stays away until the benchmark points it at PostgreSQL
		})
		evs, err := fundtest.Decode(fundtest.Registry(), fundtest.Dataset(1, 5000, 8760, 500))
		if err != nil {
			b.Fatal(err)
		}
		n.applyEvents(evs, 100)
		v, _ := n.store.Read()
		backlog, _, _ := fund.OutboxStats(v, 0)
		v.Close()
		n.syncer.Close()
		// The schema exists already, as after an outage: only the drain is timed.
		if _, err := Migrate(context.Background(), testPool(b, dsn), n.syncer.logger); err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.DSN, cfg.BatchRows, cfg.Interval, cfg.MarkInterval = dsn, 20000, 10*time.Millisecond, time.Second
		s, err := New(cfg, n.store, Deps{Logger: n.syncer.logger})
		if err != nil {
			b.Fatal(err)
		}
		n.syncer = s
		b.ResetTimer()
		start := time.Now()
		s.Start()
		n.waitSynced(10 * time.Minute)
		took := time.Since(start)
		b.StopTimer()
		s.Close()
		b.ReportMetric(float64(backlog)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(backlog), "rows")
	}
}

// BenchmarkLagUnderLoad proposes a steady 5,000 commands/s (each one minted Transfer: a ledger
// row, an account, the fund's totals and an hourly flow bucket in the outbox) for 20 s, and
// measures for each command the time from its acknowledgement to PostgreSQL holding it
// (P50/P99/max lag).
//
//	go test ./pgsync -run XXX -bench LagUnderLoad -benchtime 1x
func BenchmarkLagUnderLoad(b *testing.B) {
	const rate, seconds, workers = 5000, 20, 64
	for range b.N {
		dsn := pgtest.NewDatabase(b)
		n := newTestNode(b, dsn, func(c *Config) { c.Interval = 10 * time.Millisecond })
		testutil.CheckFor(b, 30*time.Second, func() error {
			if !n.syncer.Status().Running {
				return fmt.Errorf("syncer not running: %+v", n.syncer.Status())
			}
			return nil
		})

		var mu sync.Mutex
		acked := make([]struct {
			index uint64
			at    time.Time
		}, 0, rate*seconds)
		type sample struct {
			at     time.Time
			synced uint64
		}
		var samples []sample
		stop := make(chan struct{})
		var pollWG sync.WaitGroup
		pollWG.Add(1)
		go func() { // PostgreSQL's synced index every 5 ms
			defer pollWG.Done()
			pool := testPool(b, dsn)
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				var s int64
				if err := pool.QueryRow(context.Background(), `SELECT synced_index FROM sync_checkpoint`).Scan(&s); err == nil {
					samples = append(samples, sample{time.Now(), uint64(s)})
				}
			}
		}()
		jobs := make(chan int, rate)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fundtest.Addr(fmt.Sprintf("lag worker %d", w))
				for seq := range jobs {
					ev, _ := fundtest.Decode(fundtest.Registry(), []chainlog.RawLog{fundtest.MintLog(owner, seq, 1)})
					res, err := n.store.Propose(context.Background(), fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: ev}))
					if err != nil {
						failed.Add(1)
						continue
					}
					mu.Lock()
					acked = append(acked, struct {
						index uint64
						at    time.Time
					}{res.Index, time.Now()})
					mu.Unlock()
				}
			}()
		}
		b.ResetTimer()
		start := time.Now()
		tick := time.NewTicker(time.Millisecond)
		sent := 0
		for time.Since(start) < seconds*time.Second {
			<-tick.C
			due := int(time.Since(start).Seconds() * rate)
			for ; sent < due; sent++ {
				jobs <- sent
			}
		}
		tick.Stop()
		close(jobs)
		wg.Wait()
		achieved := float64(len(acked)) / time.Since(start).Seconds()
		n.waitSynced(time.Minute)
		close(stop)
		pollWG.Wait()
		b.StopTimer()

		lags := make([]time.Duration, 0, len(acked))
		for _, a := range acked {
			i := sort.Search(len(samples), func(i int) bool { return samples[i].synced >= a.index })
			if i == len(samples) {
				continue
			}
			lags = append(lags, max(samples[i].at.Sub(a.at), 0))
		}
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		if len(lags) == 0 {
			b.Fatal("no lag sample")
		}
		b.ReportMetric(achieved, "commands/s")
		b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-lag-ms")
		b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "p99-lag-ms")
		b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "max-lag-ms")
		b.ReportMetric(float64(failed.Load()), "failed")
	}
}
