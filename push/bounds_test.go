package push

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"paimon/internal/testutil"
)

// TestInvalidUTF8Closes: a text frame that is not UTF-8 closes the connection with 1007.
func TestInvalidUTF8Closes(t *testing.T) {
	e := newEnv(t, testConfig())
	c := e.dial(nil)
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte("{\"op\":\"ping\",\"x\":\"\xff\xfe\"}")); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.tryRead(5 * time.Second)
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
			t.Fatalf("after invalid UTF-8: %v, want close 1007", err)
		}
		break
	}
	e.waitConns(0)
}

// TestHandshakeChecks: a Sec-WebSocket-Key that is not 16 bytes in base64, or a version other
// than 13, is refused before the upgrade; the refusal quotes nothing of the request.
func TestHandshakeChecks(t *testing.T) {
	e := newEnv(t, testConfig())
	addr := strings.TrimSuffix(strings.TrimPrefix(e.url, "ws://"), "/v1/ws")
	good := "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's example: 16 bytes
	for _, tc := range []struct {
		name, key, version string
		status             int
	}{
		{"good", good, "13", 101},
		{"key not base64", "not*base64*at*all*secret", "13", 400},
		{"key of 15 bytes", "AAAAAAAAAAAAAAAAAAAA", "13", 400},
		{"key of 17 bytes", "AAAAAAAAAAAAAAAAAAAAAAA=", "13", 400},
		{"key of 21 bytes (28 characters)", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "13", 400},
		{"key missing", "", "13", 400},
		{"version 8", good, "8", 400},
		{"two versions", good, "13, 8", 400},
		{"version missing", good, "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			req := "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			if tc.key != "" {
				req += "Sec-WebSocket-Key: " + tc.key + "\r\n"
			}
			if tc.version != "" {
				req += "Sec-WebSocket-Version: " + tc.version + "\r\n"
			}
			if _, err := io.WriteString(c, req+"\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
			if strings.Contains(string(body), "secret") {
				t.Fatalf("the refusal quotes the key: %s", body)
			}
		})
	}
}

// pipeConn is a connection of h whose socket is one end of an unread pipe: its writer blocks
// on the first write, so whatever is queued after stays queued.
func pipeConn(h *Hub) (*conn, net.Conn) {
	a, b := net.Pipe()
	return &conn{
		h: h, nc: a, ip: "192.0.2.1",
		wake: make(chan struct{}, 1), closed: make(chan struct{}),
		subs:    map[channel]struct{}{},
		limiter: rate.NewLimiter(rate.Limit(h.cfg.FramesPerSecond), h.cfg.FrameBurst),
	}, b
}

// waitTaken waits until c's writer has taken every queued frame.
func waitTaken(t *testing.T, c *conn) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.q) > 0 {
			return fmt.Errorf("%d frames not taken", len(c.q))
		}
		return nil
	})
}

// TestControlFramesBounded: control frames (pongs, error frames, replies) count against
// queue_messages: a connection whose client makes the node queue more without reading is
// closed with 1008 after one error frame, and counted; replays are bounded too.
func TestControlFramesBounded(t *testing.T) {
	cfg := testConfig()
	cfg.QueueMessages = 10
	cfg.WriteTimeout = time.Minute // the blocked writer must stay blocked while the test looks
	h, err := New(cfg, testAuth{}, testChannels, testutil.Logger(t, "push", slog.LevelWarn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, peer := pipeConn(h)
	// The writer takes the first frame and blocks writing it (nobody reads the pipe yet); wait
	// for that, or a writer scheduled late takes every queued frame at once.
	c.enqueueControl(pongFrame)
	waitTaken(t, c)
	for range 99 {
		c.enqueueControl(pongFrame)
	}
	c.mu.Lock()
	queued, closing := len(c.q), c.closing
	c.mu.Unlock()
	// One frame is in the writer's blocked write; 10 wait, then the error and the close.
	if !closing || queued != cfg.QueueMessages+2 {
		t.Fatalf("closing %v with %d frames queued, want closing with %d", closing, queued, cfg.QueueMessages+2)
	}
	if got := h.m.overQueue.Get(); got != 1 {
		t.Fatalf("over-budget closes counted: %d", got)
	}
	// The client that finally reads gets the pongs, one error frame, and a close 1008.
	br := bufio.NewReader(peer)
	var codes []string
	for {
		op, payload := readServerFrame(t, br)
		if op == 0x8 {
			if code := int(payload[0])<<8 | int(payload[1]); code != closePolicy {
				t.Fatalf("closed with %d, want 1008", code)
			}
			break
		}
		if op == 0x1 {
			var f serverFrame
			if err := jsonUnmarshal(payload, &f); err != nil {
				t.Fatal(err)
			}
			if f.Type == "error" {
				codes = append(codes, f.Code)
			}
		}
	}
	if len(codes) != 1 || codes[0] != codeLimitExceeded {
		t.Fatalf("text frames before the close: %v, want one LIMIT_EXCEEDED error", codes)
	}

	// Replays: within every kind's window at once, then over.
	r, rpeer := pipeConn(h)
	defer rpeer.Close()
	frames := make([][]byte, cfg.WindowMessages)
	for i := range frames {
		frames[i] = pongFrame
	}
	r.enqueueControl(pongFrame) // taken by the writer, which then blocks
	waitTaken(t, r)
	for range testChannels {
		r.enqueueReplay(frames)
	}
	if r.isClosing() {
		t.Fatal("closed within the replay budget")
	}
	r.enqueueReplay(frames)
	if !r.isClosing() || h.m.overQueue.Get() != 2 {
		t.Fatalf("a replay over the budget: closing %v, counted %d", r.isClosing(), h.m.overQueue.Get())
	}
}

// TestFrameRateBudget: control pings count against frames_per_second like data frames; a
// client over it gets one RATE_LIMITED error frame, and one still over a second later is
// closed with 1008 and counted.
func TestFrameRateBudget(t *testing.T) {
	cfg := testConfig()
	cfg.FramesPerSecond, cfg.FrameBurst = 20, 20
	e := newEnv(t, cfg)
	c := e.dial(nil)
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		var err error
		if i%2 == 0 {
			err = c.ws.WriteControl(websocket.PingMessage, []byte("flood"), time.Now().Add(time.Second))
		} else {
			err = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping"}`))
		}
		if err != nil {
			break // closed by the node
		}
		time.Sleep(2 * time.Millisecond)
	}
	var limited int
	for {
		f, err := c.tryRead(5 * time.Second)
		if err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("ended with %v, want close 1008", err)
			}
			break
		}
		if f.Type == "error" {
			if f.Code != codeLimit {
				t.Fatalf("error %s %s", f.Code, f.Message)
			}
			limited++
		}
	}
	// The warning and the closing one; a client stalled for over a second in between (a
	// loaded machine) is warned again, once a second at most.
	if limited < 2 || limited > 4 {
		t.Fatalf("%d RATE_LIMITED frames, want the warning and the closing one (one a second at most)", limited)
	}
	if got := e.hub.m.overFrames.Get(); got != 1 {
		t.Fatalf("over-budget closes counted: %d", got)
	}
	e.waitConns(0)
}

// TestPingFloodBounded: 100 connections flood the node with op pings and control pings and
// never read, reconnecting when closed, for 10 seconds: the heap stays under a bound derived
// from the configuration, and a fresh client is served during and after the flood.
func TestPingFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s flood")
	}
	const conns, duration = 100, 10 * time.Second
	cfg := testConfig()
	e := newEnv(t, cfg)

	// What one connection may hold because of what its client sends: its control-frame budget
	// of queue_messages frames (a queued frame's slice header and at most a 125-byte pong
	// payload with its 2-byte header, rounded up to the allocator's 144-byte class), twice
	// (the queue and the writer's spare), plus the error and close frames; the reader's pooled
	// frame buffer (max_frame_bytes); the library's read buffer and the connection's own
	// state, a few KiB. The clients live in this process too: a dialer's buffers (8 KiB) and
	// a goroutine each.
	perConn := 2*(cfg.QueueMessages+2)*(32+144) + cfg.MaxFrameBytes + 16<<10
	bound := uint64(conns*perConn) + 32<<20 // + the runtime's slack and the test's own churn
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials, closed atomic.Int64
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := []byte(strings.Repeat("p", 125))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ws, _, err := websocket.DefaultDialer.Dial(e.url, nil)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				dials.Add(1)
				for i := 0; ; i++ {
					select {
					case <-stop:
						ws.Close()
						return
					default:
					}
					if i%2 == 0 {
						err = ws.WriteControl(websocket.PingMessage, payload, time.Now().Add(time.Second))
					} else {
						err = ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping"}`))
					}
					if err != nil {
						closed.Add(1)
						ws.Close()
						break
					}
					// Up to 50,000 frames a second, a thousand times the budget. A hostile
					// client runs on its own CPU; these share two cores with the node, and
					// without a pause they would measure the scheduler, not the node.
					if i%50 == 49 {
						time.Sleep(time.Millisecond)
					}
				}
			}
		}()
	}

	// A fresh client must be served, not refused or starved; how fast depends on the two
	// cores the flood, the node (and the race detector) share: the slowest is logged.
	var slowest time.Duration
	fresh := func() error {
		start := time.Now()
		defer func() { slowest = max(slowest, time.Since(start)) }()
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		ws, _, err := d.Dial(e.url, nil)
		if err != nil {
			return err
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":["prices"]}`)); err != nil {
			return err
		}
		var f serverFrame
		if err := ws.ReadJSON(&f); err != nil {
			return err
		}
		if f.Type != "subscribed" {
			return fmt.Errorf("fresh client got %+v", f)
		}
		return nil
	}

	var peak uint64
	end := time.Now().Add(duration)
	nextFresh := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		if peak > base+bound {
			close(stop)
			wg.Wait()
			t.Fatalf("heap %d MiB over the bound %d MiB (base %d MiB)", peak>>20, (base+bound)>>20, base>>20)
		}
		if time.Now().After(nextFresh) {
			nextFresh = time.Now().Add(time.Second)
			if err := fresh(); err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("a fresh client during the flood: %v", err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := fresh(); err != nil {
		t.Fatalf("a fresh client after the flood: %v", err)
	}
	over := e.hub.m.overFrames.Get() + e.hub.m.overQueue.Get()
	t.Logf("flood: %d connections for %s, %d dials, %d closed by the node (%d over budget); heap peak %.1f MiB over a base of %.1f MiB (bound %.1f MiB: %d KiB a connection + 32 MiB); fresh clients served within %s",
		conns, duration, dials.Load(), closed.Load(), over, float64(peak-base)/(1<<20), float64(base)/(1<<20), float64(bound)/(1<<20), perConn>>10, slowest.Round(time.Millisecond))
	if over == 0 {
		t.Fatal("no flooding connection was closed for its budget")
	}
}

// readServerFrame reads one unmasked server frame: its opcode and payload.
func readServerFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			t.Fatal(err)
		}
		n = int(l[0])<<8 | int(l[1])
	case 127:
		t.Fatal("unexpectedly large frame")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, p
}
