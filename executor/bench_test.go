package executor

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"paimon/internal/fundchain"
)

// BenchmarkDecisionToMined measures, on chainsim's served chain (a block every 50 ms, HTTP
// JSON-RPC), the time from a decision submitted to the leader's executor (intent recorded in an
// in-memory store: no Raft here) to its transaction MINED as the executor sees it: signing,
// the eth_call simulation, the broadcast, the block, the receipt poll (Poll 20 ms). One
// approveRedemption per iteration; reports p50-ms and p99-ms.
func BenchmarkDecisionToMined(b *testing.B) {
	w := newWorldWith(b, 21, fundchain.DefaultParams())
	if err := w.f.Faucet(w.ctx, w.user, fundchain.E18(int64(200_000*b.N+1_000_000))); err != nil {
		b.Fatal(err)
	}
	if _, err := w.f.Deposit(w.ctx, w.user, fundchain.E18(int64(150_000*b.N))); err != nil {
		b.Fatal(err)
	}
	ids := make([]*big.Int, b.N)
	for i := range ids {
		id, _, err := w.f.RequestRedemption(w.ctx, w.user, fundchain.E18(140_000), fundchain.ChannelStandard)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	store, l := &memStore{}, newLeadership()
	e := w.newExecutorDeps(b, time.Minute, store, l, nil)
	l.set(true, 1)
	checkFor(b, 10*time.Second, func() error {
		_, err := e.Submit(context.Background(), Decision{Purpose: PurposeApprove, Reference: "warm-up", RedemptionID: w.id})
		return err
	})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		it, err := e.Submit(w.ctx, Decision{Purpose: PurposeApprove, Reference: fmt.Sprintf("ticket-%d", i), RedemptionID: ids[i]})
		if err != nil {
			b.Fatal(err)
		}
		for {
			s := store.get(it.Seq).State
			if s == StateMined || s == StateConfirmed {
				break
			}
			if s == StateFailed {
				b.Fatalf("intent %d failed: %s", it.Seq, store.get(it.Seq).Reason)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
