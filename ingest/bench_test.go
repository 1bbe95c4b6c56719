package ingest

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"testing"
	"time"

	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

// BenchmarkBackfill measures how fast ingest catches up with a chain far ahead: the simulated
// chain is mined first (a flood of the fund's events), then a node starts from block 0, and the
// time until it has applied everything gives events/s decoded and applied (through Raft and
// the FSM into Pebble).
//
//	go test ./ingest -run XXX -bench Backfill -benchtime 1x
func BenchmarkBackfill(b *testing.B) {
	for range b.N {
		sim := newSim(b, chainsim.Flood)
		if err := sim.Mine(context.Background(), 200); err != nil {
			b.Fatal(err)
		}
		st := sim.Stats()
		b.ResetTimer()
		start := time.Now()
		r := newRig(b, sim, nil, func(c *Config) { c.Confirmations, c.MaxBlockRange = 0, 200 })
		head, _ := sim.Head()
		testutil.CheckFor(b, 10*time.Minute, func() error {
			if s := r.ing.Status(); s.LastApplied < head {
				return fmt.Errorf("applied %d of %d", s.LastApplied, head)
			}
			return nil
		})
		took := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(st.CanonicalEvents)/took.Seconds(), "events/s")
		b.ReportMetric(float64(st.CanonicalEvents), "events")
		b.ReportMetric(float64(head)/took.Seconds(), "blocks/s")
	}
}

var liveDuration = flag.Duration("ingest.live", 20*time.Second, "how long BenchmarkLive runs (the target is measured over 5m)")

// BenchmarkLive measures the time from a block becoming confirmed (the block `confirmations`
// above it is mined) to the state having applied it, with the chain producing 500 events/s in
// one-second blocks.
//
//	go test ./ingest -run XXX -bench Live -benchtime 1x -ingest.live 5m
func BenchmarkLive(b *testing.B) {
	const confirmations = 3
	for range b.N {
		sim := newSim(b, 500)
		r := newRig(b, sim, nil, func(c *Config) { c.Confirmations, c.PollInterval = confirmations, 50*time.Millisecond })
		mined := map[uint64]time.Time{} // block → when it was mined
		var lat []time.Duration
		seen := uint64(0)
		b.ResetTimer()
		end := time.Now().Add(*liveDuration)
		next := time.Now()
		for time.Now().Before(end) {
			next = next.Add(time.Second)
			if err := sim.Mine(context.Background(), 1); err != nil {
				b.Fatal(err)
			}
			head, _ := sim.Head()
			mined[head] = time.Now()
			// Until the next block is due, watch the checkpoint.
			for time.Now().Before(next) {
				a := r.ing.Status().LastApplied
				for ; seen < a; seen++ {
					if c, ok := mined[seen+1+confirmations]; ok {
						lat = append(lat, time.Since(c))
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		b.StopTimer()
		if len(lat) == 0 {
			b.Fatal("no block was applied")
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		st := sim.Stats()
		b.ReportMetric(float64(st.CanonicalEvents)/liveDuration.Seconds(), "events/s")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	}
}
