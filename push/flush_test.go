package push

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestFlushCoalesces: batches published while a flush pass cannot run go out together, one
// socket write per connection carrying all of them, to real clients, in order. The test holds
// the hub lock while it applies the batches: the publisher takes at most the first before it
// waits for the lock, and the rest wait in the inbox, so each connection gets at most two
// writes for the batches (one per pass), not one per batch.
func TestFlushCoalesces(t *testing.T) {
	e := newEnv(t, testConfig())
	const clients, batches = 5, 20
	hdr := http.Header{"Authorization": {"Bearer " + viewerToken}}
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = e.dial(hdr)
		cs[i].subscribe(nil, "transactions")
	}
	e.waitConns(clients)
	before := e.hub.Stats()

	e.hub.mu.Lock()
	var last uint64
	for range batches {
		last = e.apply(e.mints(1))
	}
	e.hub.mu.Unlock()
	e.waitPublished(last)

	for i, c := range cs {
		evs := c.events(batches)
		for j, f := range evs {
			if f.Type != "event" || f.Channel != "transactions" || f.Seq == nil || *f.Seq != last-batches+1+uint64(j) {
				t.Fatalf("client %d, event %d: %s %s seq %v, want seq %d", i, j, f.Type, f.Channel, f.Seq, last-batches+1+uint64(j))
			}
		}
		c.quiet()
	}
	s := e.hub.Stats()
	delivered, writes := s.Delivered-before.Delivered, s.Writes-before.Writes
	t.Logf("%d messages in %d socket writes (%.1f per write)", delivered, writes, float64(delivered)/float64(writes))
	if delivered != clients*batches {
		t.Fatalf("delivered %d messages, want %d", delivered, clients*batches)
	}
	if writes > 2*clients {
		t.Fatalf("%d socket writes for %d batches to %d clients: the batches were not coalesced (at most %d)", writes, batches, clients, 2*clients)
	}
}

// TestFlushAfterWriteDeadline: a write deadline a connection's writer set (on its first frames)
// that has passed since does not cut the connection when a flush pass writes to it later: the
// pass hands the frames to a writer, which sets a new deadline (found by bench/ws: every
// connection closed with a write error write_timeout after it subscribed).
func TestFlushAfterWriteDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 100 * time.Millisecond
	e := newEnv(t, cfg)
	c := e.dial(http.Header{"Authorization": {"Bearer " + viewerToken}})
	c.subscribe(nil, "transactions") // its writer sets the deadline
	e.waitConns(1)
	for i := range 5 {
		time.Sleep(3 * cfg.WriteTimeout)
		last := e.apply(e.mints(1))
		e.waitPublished(last)
		if f := c.read(); f.Type != "event" || f.Seq == nil || *f.Seq != last {
			t.Fatalf("round %d: %+v, want the event at %d", i, f, last)
		}
	}
	if s := e.hub.Stats(); s.Conns != 1 || s.SlowDropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestPassOrder: a pass writes the connections oldest first. The publisher marks a message's
// subscribers in map order (random); the pass must still write them in the order of the
// previous pass (so that no connection waits longer than a pass), except that a connection
// with an older frame waiting goes before them.
func TestPassOrder(t *testing.T) {
	const n = 100
	cs := make([]*conn, n)
	for i := range cs {
		cs[i] = &conn{markedAt: 1000}
	}
	shuffled := func() []*conn {
		l := slices.Clone(cs)
		rand.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		return l
	}
	first := shuffled()
	rank := passOrder(first, 0)
	if rank != n {
		t.Fatalf("rank %d after %d connections", rank, n)
	}
	for pass := range 5 {
		l := shuffled()
		// One connection got a frame before the others (an earlier batch).
		old := l[n/2]
		old.markedAt = 999
		rank = passOrder(l, rank)
		if l[0] != old {
			t.Fatalf("pass %d: the connection with the oldest frame is at %d, want 0", pass, slices.Index(l, old))
		}
		// The others in the order they had in the previous pass.
		var prev []*conn
		for _, c := range first {
			if c != old {
				prev = append(prev, c)
			}
		}
		if !slices.Equal(l[1:], prev) {
			t.Fatalf("pass %d: the connections are not in the previous pass's order", pass)
		}
		for i, c := range l {
			c.markedAt = 1000 + int64(pass) + 1
			if i > 0 && c.passRank <= l[i-1].passRank {
				t.Fatalf("pass %d: ranks not increasing at %d", pass, i)
			}
		}
		first = l
	}
}
