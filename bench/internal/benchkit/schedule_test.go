package benchkit

import (
	"context"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	tl := Timeline{Rate: 2000, Warmup: 5 * time.Second, Duration: 30 * time.Second}
	if tl.Total() != 70000 || tl.SlotsIn(tl.Warmup) != 10000 {
		t.Errorf("total %d, warm-up %d", tl.Total(), tl.SlotsIn(tl.Warmup))
	}
	for _, tc := range []struct {
		i    int64
		want time.Duration
	}{{0, 0}, {1, 500 * time.Microsecond}, {1999, 999500 * time.Microsecond}, {1_000_000, 500 * time.Second}} {
		if got := tl.Due(tc.i); got != tc.want {
			t.Errorf("due(%d) = %s, want %s", tc.i, got, tc.want)
		}
	}
	if tl.Measured(9999) || !tl.Measured(10000) {
		t.Error("the warm-up ends at request 10,000")
	}
	// A rate that does not divide a second: 3 req/s for 1 s is due at 0, 333.3 and 666.7 ms.
	odd := Timeline{Rate: 3, Duration: time.Second}
	if odd.Total() != 3 || odd.Due(2) != 666666666 || !odd.Measured(0) {
		t.Errorf("rate 3: total %d, due(2) %s", odd.Total(), odd.Due(2))
	}
	if (Timeline{Rate: 3, Duration: 1100 * time.Millisecond}).Total() != 4 {
		t.Error("a request due at 1 s belongs to a 1.1 s timeline")
	}
}

func TestPace(t *testing.T) {
	tl := Timeline{Rate: 1000, Warmup: 20 * time.Millisecond, Duration: 180 * time.Millisecond}
	start := time.Now().Add(10 * time.Millisecond)
	ch := make(chan int64)
	go Pace(context.Background(), tl, start, ch)
	var next int64
	var late time.Duration
	for i := range ch {
		now := time.Now()
		due := start.Add(tl.Due(i))
		if i != next {
			t.Fatalf("got request %d, want %d", i, next)
		}
		if now.Before(due) {
			t.Fatalf("request %d handed out %s early", i, due.Sub(now))
		}
		late = max(late, now.Sub(due))
		next++
	}
	if next != 200 {
		t.Errorf("handed out %d requests, want 200", next)
	}
	t.Logf("latest hand-out %s after its due time", late)
}

func TestPaceSlowConsumer(t *testing.T) {
	// One consumer slower than the rate: nothing is skipped, the requests are just late.
	tl := Timeline{Rate: 1000, Duration: 50 * time.Millisecond}
	start := time.Now()
	ch := make(chan int64)
	go Pace(context.Background(), tl, start, ch)
	var got int64
	var lastLate time.Duration
	for i := range ch {
		lastLate = time.Since(start.Add(tl.Due(i)))
		got++
		time.Sleep(2 * time.Millisecond) // the consumer's work: twice the interval
	}
	if got != 50 || lastLate < 40*time.Millisecond {
		t.Errorf("%d requests, the last %s late; want 50, about 50 ms late", got, lastLate)
	}
}

func TestPaceCancel(t *testing.T) {
	tl := Timeline{Rate: 10, Duration: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan int64)
	done := make(chan struct{})
	go func() {
		Pace(ctx, tl, time.Now(), ch)
		close(done)
	}()
	<-ch // request 0, due at once
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("pace did not return after cancel")
	}
	for range ch { // closed
	}
}
