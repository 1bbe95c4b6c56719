package auth

import (
	"sync"
	"time"

	"paimon/fund"
)

// TouchQueue batches session extensions: a session in use is queued once its extension is
// due, and the server proposes the queue as one command per interval.
type TouchQueue struct {
	mu      sync.Mutex
	pending map[[32]byte]int64
	// recent holds when each session was last queued, so that the requests between its
	// flush and the extension's apply do not queue it again.
	recent map[[32]byte]int64
	wake   chan struct{}
}

// touchQuiet is how long a queued session is not queued again.
const touchQuiet = int64(time.Minute)

func newTouchQueue() *TouchQueue {
	return &TouchQueue{pending: map[[32]byte]int64{}, recent: map[[32]byte]int64{}, wake: make(chan struct{}, 1)}
}

// add queues an extension of the session under h to exp, once per touchQuiet.
func (q *TouchQueue) add(h *[32]byte, now, exp int64) {
	q.mu.Lock()
	_, dup := q.pending[*h]
	if last, ok := q.recent[*h]; ok && now-last < touchQuiet && now >= last {
		dup = true
	}
	if !dup && len(q.pending) < 100_000 {
		q.pending[*h] = exp
		q.recent[*h] = now
	}
	q.mu.Unlock()
	if !dup {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// Wake receives when an extension was queued.
func (q *TouchQueue) Wake() <-chan struct{} { return q.wake }

// Take removes up to fund.MaxTouches queued extensions (and forgets sessions queued long ago).
func (q *TouchQueue) Take(now int64) []fund.Touch {
	q.mu.Lock()
	defer q.mu.Unlock()
	for h, t := range q.recent {
		if now-t >= touchQuiet || now < t {
			delete(q.recent, h)
		}
	}
	out := make([]fund.Touch, 0, min(len(q.pending), fund.MaxTouches))
	for h, exp := range q.pending {
		if len(out) == fund.MaxTouches {
			break
		}
		out = append(out, fund.Touch{TokenHash: h, Expires: exp})
		delete(q.pending, h)
	}
	return out
}
