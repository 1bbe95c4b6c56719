package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/bench/internal/benchkit"
	"paimon/internal/testutil"
)

// fakeNode is a WebSocket server that speaks the part of push's protocol the workers use:
// it checks the token, answers subscribe with subscribed, and sends events on demand.
type fakeNode struct {
	t     *testing.T
	mu    sync.Mutex
	conns []*websocket.Conn
	from  map[string]int // source address → connections
	pongs atomic.Int64   // pongs with the payload "hb"
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"error":{"code":"AUTH_INVALID"}}`, http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	_, p, err := c.ReadMessage()
	if err != nil || string(p) != string(subscribeFrame) {
		f.t.Errorf("first frame %q, %v", p, err)
		c.Close()
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	f.mu.Lock() // held while answering: publish writes to the connection too
	defer f.mu.Unlock()
	f.conns = append(f.conns, c)
	f.from[host]++
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribed","channels":["transactions"],"seq":4}`))
	c.SetPongHandler(func(p string) error {
		if p == "hb" {
			f.pongs.Add(1)
		}
		return nil
	})
	go func() { // reads the client's pongs
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
}

// ping pings every connection.
func (f *fakeNode) ping() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second))
	}
}

// publish sends every connection a transactions event minted at (now − ago), with pad bytes
// of padding in its data (a frame longer than the worker's reads).
func (f *fakeNode) publish(seq int, ago time.Duration, pad int) {
	frame := fmt.Sprintf(`{"type":"event","channel":"transactions","seq":%d,"data":{"event":"Transfer","pad":"%s","args":{"from":"0x00","value":"%d"}}}`,
		seq, strings.Repeat("x", pad), time.Now().Add(-ago).UnixMicro())
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.WriteMessage(websocket.TextMessage, []byte(frame))
	}
}

// testWorker is a worker of count connections, two per source address, with a small read
// buffer (frames are cut across reads).
func testWorker(t *testing.T, url, token string, count int) *worker {
	t.Helper()
	w, err := newWorker(&workerOptions{url: url, count: count, perIP: 2, dialConcurrency: 3, readBuffer: 300,
		handshakeTimeout: 5 * time.Second}, token)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWorkerAgainstAWebSocketServer(t *testing.T) {
	f := &fakeNode{t: t, from: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"

	w := testWorker(t, url, "tok", 5)
	w.connectAll(context.Background())
	defer w.quit(func() {})
	if r := w.snapshot(repReady); r.Opened != 5 || r.Open != 5 || r.Failed+r.Refused+r.SubscribeFailed != 0 {
		t.Fatalf("after connecting: %+v", r)
	}
	f.mu.Lock()
	from := fmt.Sprint(f.from)
	f.mu.Unlock()
	if from != "map[127.0.0.2:2 127.0.0.3:2 127.0.0.4:1]" {
		t.Errorf("connections by source address: %s", from)
	}

	// Frames of 120 to 1,100 bytes, read 300 bytes at a time: cut across reads.
	for seq := range 3 {
		f.publish(seq, 20*time.Millisecond, seq*500)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if r := w.snapshot(repStats); r.Received != 15 {
			return fmt.Errorf("received %d of 15", r.Received)
		}
		return nil
	})
	r := w.snapshot(repStats)
	m := benchkit.NewMerged()
	m.Add(r.Latency)
	if r.MinPerConn != 3 || r.MaxPerConn != 3 || m.Quantile(0.01) < 20000 || m.Max() > 5e6 || !strings.Contains(r.Sample, `"seq":0`) {
		t.Errorf("stats %+v, latency P1 %dµs, max %dµs", r, m.Quantile(0.01), m.Max())
	}
	if _, err := decodeReport(encodeReport(r)); err != nil {
		t.Errorf("the report does not decode: %v", err)
	}

	w.reset()
	if r := w.snapshot(repStats); r.Received != 0 || r.MaxPerConn != 0 || r.Latency.N != 0 {
		t.Errorf("after reset: %+v", r)
	}

	// The node's heartbeat: every connection answers a ping with a pong of its payload.
	f.ping()
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := f.pongs.Load(); n != 5 {
			return fmt.Errorf("%d pongs of 5", n)
		}
		return nil
	})
	if r := w.snapshot(repStats); r.Other != 0 || r.Open != 5 {
		t.Errorf("after the pings: %+v", r)
	}

	// The node drops one client as a slow consumer.
	f.mu.Lock()
	_ = f.conns[0].WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1008, "slow consumer"))
	f.mu.Unlock()
	testutil.CheckFor(t, 5*time.Second, func() error {
		if r := w.snapshot(repStats); r.Closed != 1 || r.Open != 4 || r.CloseCodes["1008"] != 1 {
			return fmt.Errorf("after a close: %+v", r)
		}
		return nil
	})
}

func TestWorkerReportsRefusals(t *testing.T) {
	f := &fakeNode{t: t, from: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	w := testWorker(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/ws", "wrong", 2)
	defer w.quit(func() {})
	w.connectAll(context.Background())
	r := w.snapshot(repReady)
	if r.Refused != 2 || r.Opened != 0 || !strings.Contains(r.FirstRefusal, "401") || !strings.Contains(r.FirstRefusal, "AUTH_INVALID") {
		t.Errorf("refused: %+v", r)
	}

	// Nothing listening: failures, not refusals.
	w2 := testWorker(t, "ws://127.0.0.1:1/v1/ws", "tok", 1)
	defer w2.quit(func() {})
	w2.connectAll(context.Background())
	if r := w2.snapshot(repReady); r.Failed != 1 || r.FirstError == "" {
		t.Errorf("no server: %+v", r)
	}
}
