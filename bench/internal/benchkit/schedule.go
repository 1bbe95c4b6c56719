package benchkit

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// Timeline is an open-loop schedule: request i is due at start + i/Rate, whether or not the
// requests before it have been answered. The first Warmup's worth of requests is sent but not
// measured. bench/mixed and bench/seedplan drive their load with it.
type Timeline struct {
	Rate     int // requests per second
	Warmup   time.Duration
	Duration time.Duration // measured, after the warm-up
}

// Total returns how many requests the timeline holds (warm-up and measured).
func (t Timeline) Total() int64 { return t.SlotsIn(t.Warmup + t.Duration) }

// SlotsIn returns how many requests are due in the first d of the timeline.
func (t Timeline) SlotsIn(d time.Duration) int64 {
	// The last slot due before d: ceil(d·rate/1s), in integers so that nothing drifts.
	n := int64(d) * int64(t.Rate)
	return (n + int64(time.Second) - 1) / int64(time.Second)
}

// Due returns when request i is due, from the start of the timeline. Integer arithmetic:
// request 1,000,000 at 2,000 req/s is due at exactly 500 s.
func (t Timeline) Due(i int64) time.Duration {
	return time.Duration(i * int64(time.Second) / int64(t.Rate))
}

// Measured reports whether request i falls after the warm-up.
func (t Timeline) Measured(i int64) bool { return i >= t.SlotsIn(t.Warmup) }

// Pace hands the requests of t out on ch at their due times, start + Due(i), in order, and
// closes ch after the last one or when ctx is done. ch is unbuffered: a request is handed to
// a worker that is free, and when every worker is busy the next one waits, so it is sent late
// and its latency, measured from its due time, includes that wait (no coordinated omission).
//
// The pacer sleeps with nanosleep(2) rather than a Go timer: with nothing else to run, the Go
// runtime waits for its timers in epoll_wait, whose timeout is in whole milliseconds, so a
// timer fires up to ~1 ms late (0.5 ms typically), which would be counted as the node's
// latency. A blocking nanosleep wakes within the kernel's timer slack (50 µs).
func Pace(ctx context.Context, t Timeline, start time.Time, ch chan<- int64) {
	defer close(ch)
	total := t.Total()
	for i := int64(0); i < total; i++ {
		due := start.Add(t.Due(i))
		for {
			if ctx.Err() != nil {
				return
			}
			wait := time.Until(due)
			if wait <= 0 {
				break
			}
			// At most 100 ms at a time, so that a cancelled ctx is seen soon.
			ts := syscall.NsecToTimespec(int64(min(wait, 100*time.Millisecond)))
			_ = syscall.Nanosleep(&ts, nil) // EINTR: the loop sleeps again for what is left
		}
		select {
		case ch <- i:
		case <-ctx.Done():
			return
		}
	}
}

// Drive runs workers goroutines, each calling work with its number and the channel Pace hands
// the requests of t out on from start, and returns once Pace is done and every worker has
// returned (every request sent has been answered or has timed out); ctx stops sending. start
// should be a moment in the near future, so that every worker waits when the first is due.
func Drive(ctx context.Context, t Timeline, start time.Time, workers int, work func(w int, ch <-chan int64)) {
	ch := make(chan int64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w, ch)
		}()
	}
	Pace(ctx, t, start, ch)
	wg.Wait()
}
