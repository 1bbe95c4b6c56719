package push

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/internal/testutil"
)

// stuckDialer dials with a tiny receive buffer, for a client that never reads.
var stuckDialer = &websocket.Dialer{
	NetDial: func(network, addr string) (net.Conn, error) {
		// Set before connecting, so the advertised window stays small.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		return d.Dial(network, addr)
	},
	HandshakeTimeout: 5 * time.Second,
}

// TestSlowConsumerDropped: a client that stops reading is disconnected (the queue limit or the
// write timeout), counted, while a fast client receives every message; the publisher never
// waits for the slow one.
func TestSlowConsumerDropped(t *testing.T) {
	cfg := testConfig()
	cfg.QueueMessages = 2048 // the fast client may stall a moment under -race on a busy machine
	cfg.SendBufferBytes = 16 << 10
	cfg.WriteTimeout = 500 * time.Millisecond
	e := newEnv(t, cfg)
	stuck, _, err := stuckDialer.Dial(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if err := stuck.WriteJSON(map[string]any{"op": "auth", "token": viewerToken}); err != nil {
		t.Fatal(err)
	}
	if err := stuck.WriteJSON(map[string]any{"op": "subscribe", "channels": []string{"transactions", "fund:overview"}}); err != nil {
		t.Fatal(err)
	}
	fast := e.dial(nil)
	fast.auth(viewerToken)
	fast.subscribe(nil, "transactions")
	e.waitSubscribers(3)

	const batches, perBatch = 60, 50
	done := make(chan struct{})
	go func() {
		// A steady stream the fast client keeps up with: 10,000 messages a second.
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range batches {
			<-tick.C
			e.apply(e.mints(perBatch))
		}
	}()
	got := 0
	for got < batches*perBatch {
		f := fast.read()
		if f.Type != "event" || f.Channel != "transactions" {
			t.Fatalf("fast client got %+v", f)
		}
		got++
	}
	<-done
	testutil.CheckFor(t, 10*time.Second, func() error {
		if s := e.hub.Stats(); s.SlowDropped == 0 || s.Conns != 1 {
			return fmt.Errorf("stats %+v: the stuck client is still there", s)
		}
		return nil
	})
	// The stuck client, reading at last, finds its stream ends with close 1008.
	_ = stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := stuck.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			if ce.Code != closePolicy && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("close %d %q, want 1008", ce.Code, ce.Text)
			}
		}
		// When the write of the close frame times out too, the connection is cut without it
		// (1006).
		break
	}
}

// TestDeadPeerDropped: a client that answers no ping is dropped after ping_interval +
// pong_timeout; one that answers stays.
func TestDeadPeerDropped(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 200 * time.Millisecond
	cfg.PongTimeout = 400 * time.Millisecond
	e := newEnv(t, cfg)
	dead, _, err := websocket.DefaultDialer.Dial(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close() // never reads, so never answers a ping
	alive := e.dial(nil)
	go func() {
		for { // the client library answers pings while it reads
			if _, _, err := alive.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	e.waitConns(2)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := e.hub.Stats().Conns; n != 1 {
			return fmt.Errorf("%d connections, want the dead one dropped", n)
		}
		return nil
	})
	// And the live one stays through several ping intervals.
	deadline := time.Now().Add(6 * cfg.PingInterval)
	for time.Now().Before(deadline) {
		if n := e.hub.Stats().Conns; n != 1 {
			t.Fatalf("%d connections: the live client was dropped", n)
		}
		time.Sleep(cfg.PingInterval / 2)
	}
}

// TestHeartbeatSpread: the heartbeat pings the connections a part at a time, each once per
// ping_interval, rather than all of them in one burst (which started a writer goroutine on
// every connection at once and stalled a node with thousands of them).
func TestHeartbeatSpread(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 640 * time.Millisecond
	cfg.PongTimeout = 5 * time.Second
	e := newEnv(t, cfg)
	const n = 64
	var mu sync.Mutex
	pings := make([][]time.Time, n)
	for i := range n {
		c := e.dial(nil)
		c.ws.SetPingHandler(func(data string) error {
			mu.Lock()
			pings[i] = append(pings[i], time.Now())
			mu.Unlock()
			return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			for {
				if _, _, err := c.ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	e.waitConns(n)
	time.Sleep(3 * cfg.PingInterval)
	mu.Lock()
	defer mu.Unlock()
	var first []time.Time
	for i, p := range pings {
		if len(p) < 2 {
			t.Fatalf("connection %d was pinged %d times in 3 ping intervals, want 2 or more", i, len(p))
		}
		for j := 1; j < len(p); j++ {
			if gap := p[j].Sub(p[j-1]); gap < cfg.PingInterval/2 || gap > cfg.PingInterval*3/2 {
				t.Errorf("connection %d: pings %v apart, want about the ping interval %v", i, gap, cfg.PingInterval)
			}
		}
		first = append(first, p[0])
	}
	lo := slices.MinFunc(first, time.Time.Compare)
	hi := slices.MaxFunc(first, time.Time.Compare)
	if span := hi.Sub(lo); span < cfg.PingInterval/2 {
		t.Fatalf("the first pings of %d connections came within %v, want them spread over the %v interval", n, span, cfg.PingInterval)
	}
}

// TestOverflowResets: when apply outruns the publisher past max_pending_batches, the hub drops
// the waiting batches and resets every subscriber instead of blocking apply.
func TestOverflowResets(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPendingBatches = 2
	e := newEnv(t, cfg)
	c := e.dial(nil)
	c.subscribe(nil, "fund:nav")
	e.waitSubscribers(1)
	// Hold the publisher: it takes the hub lock for every batch.
	e.hub.mu.Lock()
	for i := range 5 {
		e.apply(e.navUpdate(int64(1e18 + i)))
	}
	e.hub.mu.Unlock()
	e.waitPublished(e.index) // published, or dropped and reset at it
	last := e.apply(e.navUpdate(5e18))
	var resetAt uint64
	for {
		f := c.read()
		if f.Type == "reset" {
			resetAt = *f.Seq
		}
		if f.Type == "event" && *f.Seq == last {
			break
		}
	}
	if resetAt == 0 {
		t.Fatal("no reset after an overflow")
	}
	// Nothing before the reset can be resumed; after it, it can.
	d := e.dial(nil)
	d.subscribe(u64(resetAt-1), "fund:nav")
	d.expect("reset")
	r := e.dial(nil)
	r.subscribe(u64(resetAt), "fund:nav")
	if f := r.events(1); f[0].Type != "event" {
		t.Fatalf("resume at the reset: %+v", f[0])
	}
}

func (e *env) waitSubscribers(n int) {
	e.t.Helper()
	testutil.CheckFor(e.t, 10*time.Second, func() error {
		if got := e.hub.Stats().Subscribers; got != n {
			return fmt.Errorf("%d subscriptions, want %d", got, n)
		}
		return nil
	})
}

// TestLargeCommands: a command's messages on a channel count as one against queue_messages,
// so a fast client takes commands bigger than the queue (a block with many events) without
// being dropped; a command bigger than the frame bound is not streamed but reset.
func TestLargeCommands(t *testing.T) {
	cfg := testConfig()
	cfg.QueueMessages = 50
	e := newEnv(t, cfg)
	c := e.dial(nil)
	c.auth(viewerToken)
	c.subscribe(nil, "transactions")
	e.waitSubscribers(1)

	// Three commands of 120 ledger entries each (over queue_messages, under 4 × it): every
	// entry arrives, the connection stays. Each is read before the next is applied: two
	// applied back to back fit the frame bound (4 × queue_messages) only if the writer took
	// the first in between, which a busy machine does not promise (this failed 6 times in
	// 30 on a loaded 2-core machine, before and after issue 18's budgets).
	for range 3 {
		last := e.apply(e.mints(120))
		if got := c.events(120); *got[119].Seq != last {
			t.Fatalf("last of 120 events has seq %d, want %d", *got[119].Seq, last)
		}
	}
	for _, f := range c.events(0) {
		t.Fatalf("unexpected %+v", f)
	}
	c.quiet()

	// A command of 250 (over 4 × 50): a reset at its seq instead of the entries, then the
	// stream goes on.
	big := e.apply(e.mints(250))
	f := c.read()
	if f.Type != "reset" || f.Seq == nil || *f.Seq != big || f.Channel != "transactions" {
		t.Fatalf("after a 250-entry command: %+v, want a reset at %d", f, big)
	}
	next := e.apply(e.mints(1))
	if got := c.events(1); got[0].Type != "event" || *got[0].Seq != next {
		t.Fatalf("after the reset: %+v", got[0])
	}
	if st := e.hub.Stats(); st.SlowDropped != 0 {
		t.Fatalf("%d slow consumers dropped", st.SlowDropped)
	}
}
