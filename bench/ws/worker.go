package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/bench/internal/benchkit"
)

// tokenEnv passes the node's token to the workers (not on their command line, which ps shows).
const tokenEnv = "PAIMON_WSBENCH_TOKEN"

// histShards spreads a worker's latency counts over several histograms, so that connections
// read on both cores do not all increment the same cache lines.
const histShards = 16

// workerOptions are a worker's flags, set by the runner.
type workerOptions struct {
	url              string
	first, count     int
	perIP            int
	dialConcurrency  int
	readBuffer       int
	handshakeTimeout time.Duration
}

func parseWorkerFlags(args []string) (*workerOptions, error) {
	o := &workerOptions{}
	fs := flag.NewFlagSet("ws -worker", flag.ContinueOnError)
	fs.Bool("worker", true, "run as a worker (set by the runner)")
	fs.StringVar(&o.url, "url", "", "ws:// URL of the node's /v1/ws")
	fs.IntVar(&o.first, "first", 0, "number of this worker's first connection over all workers")
	fs.IntVar(&o.count, "count", 0, "connections to open")
	fs.IntVar(&o.perIP, "per-ip", 1000, "connections per source address")
	fs.IntVar(&o.dialConcurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.IntVar(&o.readBuffer, "read-buffer", 4096, "read buffer per connection in bytes")
	fs.DurationVar(&o.handshakeTimeout, "handshake-timeout", 30*time.Second, "longest dial, upgrade and subscribe")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.url == "" || o.count < 1 || o.first < 0 || o.perIP < 1 || o.dialConcurrency < 1 || o.readBuffer < 256 {
		return nil, errors.New("a worker needs -url, -count ≥ 1, -first ≥ 0, -per-ip ≥ 1, -dial-concurrency ≥ 1, -read-buffer ≥ 256")
	}
	return o, nil
}

// subscribeFrame is the one frame a client sends.
var subscribeFrame = []byte(`{"op":"subscribe","channels":["transactions"]}`)

// worker holds a share of the connections in its own process and reports on them.
type worker struct {
	o     *workerOptions
	token string

	outMu sync.Mutex // one report line at a time on stdout

	opened, refused, failed, subFailed atomic.Int64
	badEvents, resets, errFrames       atomic.Uint64
	other                              atomic.Uint64
	shards                             [histShards]benchkit.Hist
	quitting                           atomic.Bool
	sampled                            atomic.Bool

	mu           sync.Mutex
	conns        []*client // every subscribed connection, open or not
	closed       int
	closeCodes   map[string]int
	firstRefusal string
	firstError   string
	firstClose   string
	sample       string
	frameLen     int
}

// client is one subscribed connection.
type client struct {
	ws       *websocket.Conn
	shard    *benchkit.Hist
	received atomic.Uint64 // events since the last reset
	open     atomic.Bool
}

// runWorker is the -worker mode: open the connections, then answer the runner's commands
// until it says quit or closes standard input.
func runWorker(args []string) int {
	o, err := parseWorkerFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ws worker: %v\n", err)
		return 2
	}
	w := &worker{o: o, token: os.Getenv(tokenEnv), closeCodes: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	connected := make(chan struct{})
	go func() {
		w.connectAll(ctx)
		close(connected)
	}()
	// Progress while connecting, then ready.
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-connected:
				w.emit(w.snapshot(repReady))
				return
			case <-t.C:
				w.emit(w.snapshot(repProgress))
			}
		}
	}()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case cmdStats:
			w.emit(w.snapshot(repStats))
		case cmdReset:
			w.reset()
			w.emit(w.snapshot(repStats))
		case cmdQuit:
			w.quit(cancel)
			return 0
		default:
			w.emit(&report{Type: repFatal, Message: fmt.Sprintf("unknown command %.40q", in.Text())})
			return 1
		}
	}
	w.quit(cancel) // the runner closed our input (or died)
	return 0
}

func (w *worker) emit(r *report) {
	b := encodeReport(r)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_, _ = os.Stdout.Write(b)
}

// connectAll opens the worker's connections, dialConcurrency at a time.
func (w *worker) connectAll(ctx context.Context) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(w.o.dialConcurrency, w.o.count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				w.connect(ctx, i)
			}
		}()
	}
	for i := w.o.first; i < w.o.first+w.o.count && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// writeBuffers serves the library's write path (the subscribe frame and pongs), so that an
// idle connection holds no write buffer.
var writeBuffers = &sync.Pool{}

// connect dials connection i from its source address, upgrades with the token, subscribes,
// waits for "subscribed" and leaves the connection to its reader.
func (w *worker) connect(ctx context.Context, i int) {
	src, err := benchkit.SourceAddr(i, w.o.perIP)
	if err != nil {
		w.fail(&w.failed, &w.firstError, err.Error())
		return
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: w.o.handshakeTimeout}
	d := websocket.Dialer{
		NetDialContext: nd.DialContext, HandshakeTimeout: w.o.handshakeTimeout,
		ReadBufferSize: w.o.readBuffer, WriteBufferSize: 256, WriteBufferPool: writeBuffers,
	}
	hdr := http.Header{}
	if w.token != "" {
		hdr.Set("Authorization", "Bearer "+w.token)
	}
	ws, resp, err := d.DialContext(ctx, w.o.url, hdr)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			w.fail(&w.refused, &w.firstRefusal, fmt.Sprintf("%s from %s: %s", resp.Status, src, benchkit.Snippet(body)))
			return
		}
		w.fail(&w.failed, &w.firstError, fmt.Sprintf("from %s: %v", src, err))
		return
	}
	if err := ws.WriteMessage(websocket.TextMessage, subscribeFrame); err != nil {
		ws.Close()
		w.fail(&w.subFailed, &w.firstError, fmt.Sprintf("subscribe from %s: %v", src, err))
		return
	}
	_ = ws.SetReadDeadline(time.Now().Add(w.o.handshakeTimeout))
	buf := make([]byte, 0, 1024)
	for {
		_, r, err := ws.NextReader()
		if err == nil {
			buf, err = benchkit.ReadMessage(r, buf[:0])
		}
		if err != nil {
			ws.Close()
			w.fail(&w.subFailed, &w.firstError, fmt.Sprintf("waiting for subscribed from %s: %v", src, err))
			return
		}
		kind, _ := classify(buf)
		if kind == frameSubscribed {
			break
		}
		if kind == frameError {
			ws.Close()
			w.fail(&w.subFailed, &w.firstError, fmt.Sprintf("subscribe refused: %s", benchkit.Snippet(buf)))
			return
		}
		w.other.Add(1)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c := &client{ws: ws, shard: &w.shards[i%histShards]}
	c.open.Store(true)
	w.mu.Lock()
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	w.opened.Add(1)
	go w.read(c, buf)
}

// fail counts a failure and keeps the first message of its kind.
func (w *worker) fail(n *atomic.Int64, first *string, msg string) {
	n.Add(1)
	w.mu.Lock()
	if *first == "" {
		*first = msg
	}
	w.mu.Unlock()
}

// read receives c's frames until the connection ends. Per event it costs one small allocation
// in the websocket library (its message reader) and a bytes.Index: the payload is read into a
// buffer the connection reuses and never decoded.
func (w *worker) read(c *client, buf []byte) {
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			buf, err = benchkit.ReadMessage(r, buf[:0])
		}
		if err != nil {
			w.ended(c, err)
			return
		}
		now := time.Now().UnixMicro()
		switch kind, v := classify(buf); kind {
		case frameEvent:
			c.shard.Add(now - v)
			c.received.Add(1)
			if !w.sampled.Load() && w.sampled.CompareAndSwap(false, true) {
				w.keepSample(buf)
			}
		case frameBadEvent:
			w.badEvents.Add(1)
		case frameReset:
			w.resets.Add(1)
		case frameError:
			w.errFrames.Add(1)
		default:
			w.other.Add(1)
		}
	}
}

func (w *worker) keepSample(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frameLen = len(p)
	w.sample = string(p[:min(len(p), 600)])
}

// ended records why a subscribed connection ended, unless the worker is closing it.
func (w *worker) ended(c *client, err error) {
	c.open.Store(false)
	_ = c.ws.Close()
	if w.quitting.Load() {
		return
	}
	why, detail := benchkit.CloseReason(err)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed++
	w.closeCodes[why]++
	if w.firstClose == "" {
		w.firstClose = detail
	}
}

// snapshot is a report of the worker's state.
func (w *worker) snapshot(typ string) *report {
	r := &report{Type: typ, Opened: int(w.opened.Load()), Refused: int(w.refused.Load()), Failed: int(w.failed.Load()),
		SubscribeFailed: int(w.subFailed.Load()), BadEvents: w.badEvents.Load(), Resets: w.resets.Load(),
		Errors: w.errFrames.Load(), Other: w.other.Load(), CPUSeconds: benchkit.SelfCPUSeconds()}
	w.mu.Lock()
	r.FirstRefusal, r.FirstError, r.FirstClose = w.firstRefusal, w.firstError, w.firstClose
	r.Closed, r.Sample, r.FrameLen = w.closed, w.sample, w.frameLen
	if len(w.closeCodes) > 0 {
		r.CloseCodes = make(map[string]int, len(w.closeCodes))
		for k, v := range w.closeCodes {
			r.CloseCodes[k] = v
		}
	}
	conns := w.conns
	w.mu.Unlock()
	if typ == repProgress {
		return r // the cheap part only, four times a second
	}
	for i, c := range conns {
		n := c.received.Load()
		if i == 0 || n < r.MinPerConn {
			r.MinPerConn = n
		}
		r.MaxPerConn = max(r.MaxPerConn, n)
		if c.open.Load() {
			r.Open++
		}
	}
	m := benchkit.NewMerged()
	for i := range w.shards {
		m.Add(w.shards[i].Wire())
	}
	r.Latency = m.Wire()
	r.Received = r.Latency.N
	return r
}

// reset zeroes the received counts and the latencies (right before the load: nothing is
// being received).
func (w *worker) reset() {
	for i := range w.shards {
		w.shards[i].Reset()
	}
	w.badEvents.Store(0)
	w.resets.Store(0)
	w.errFrames.Store(0)
	w.other.Store(0)
	w.mu.Lock()
	conns := w.conns
	w.mu.Unlock()
	for _, c := range conns {
		c.received.Store(0)
	}
}

// quit closes every connection (so the node sees them go at once) and stops dialing.
func (w *worker) quit(cancel context.CancelFunc) {
	w.quitting.Store(true)
	cancel()
	w.mu.Lock()
	conns := w.conns
	w.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.NetConn().Close()
	}
}
