package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
	pollInterval     time.Duration
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
	fs.IntVar(&o.readBuffer, "read-buffer", 64<<10, "bytes a poller reads from a socket at once")
	fs.DurationVar(&o.pollInterval, "poll-interval", 0, "a poller's wait between serving the ready sockets and looking again")
	fs.DurationVar(&o.handshakeTimeout, "handshake-timeout", 30*time.Second, "longest dial, upgrade and subscribe")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.url == "" || o.count < 1 || o.first < 0 || o.perIP < 1 || o.dialConcurrency < 1 || o.readBuffer < 256 || o.pollInterval < 0 {
		return nil, errors.New("a worker needs -url, -count ≥ 1, -first ≥ 0, -per-ip ≥ 1, -dial-concurrency ≥ 1, -read-buffer ≥ 256, -poll-interval ≥ 0")
	}
	return o, nil
}

// subscribeFrame is the one frame a client sends.
var subscribeFrame = []byte(`{"op":"subscribe","channels":["transactions"]}`)

// worker holds a share of the connections in its own process and reports on them.
type worker struct {
	o       *workerOptions
	url     *url.URL
	token   string
	pollers []*poller

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

// client is one subscribed connection. Its poller alone reads and writes it.
type client struct {
	fd       int
	shard    *benchkit.Hist
	received atomic.Uint64 // events since the last reset
	open     atomic.Bool
	carry    []byte // the start of a frame the last read cut
	out      []byte // a pong being written

	closeMu sync.Mutex // closed and the descriptor, against quit's shutdown
	closed  bool
}

// runWorker is the -worker mode: open the connections, then answer the runner's commands
// until it says quit or closes standard input.
func runWorker(args []string) int {
	o, err := parseWorkerFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ws worker: %v\n", err)
		return 2
	}
	w, err := newWorker(o, os.Getenv(tokenEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ws worker: %v\n", err)
		return 1
	}
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

// newWorker starts the worker's pollers, one per core.
func newWorker(o *workerOptions, token string) (*worker, error) {
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want ws://host:port/path", o.url)
	}
	w := &worker{o: o, url: u, token: token, closeCodes: map[string]int{}}
	for range runtime.GOMAXPROCS(0) {
		p, err := newPoller(w, o.readBuffer)
		if err != nil {
			return nil, err
		}
		w.pollers = append(w.pollers, p)
		go p.run(o.pollInterval)
	}
	return w, nil
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

// connect opens connection i from its source address (workerSource), upgrades with the token,
// subscribes, waits for "subscribed" and hands the connection to a poller.
func (w *worker) connect(ctx context.Context, i int) {
	src, err := workerSource(i, w.o.perIP)
	if err != nil {
		w.fail(&w.failed, &w.firstError, err.Error())
		return
	}
	d, err := dialSubscribed(ctx, w.url, src, w.token, w.o.handshakeTimeout, func() { w.other.Add(1) })
	var refused *refusedError
	var subErr *subscribeError
	switch {
	case errors.As(err, &refused):
		w.fail(&w.refused, &w.firstRefusal, refused.msg)
		return
	case errors.As(err, &subErr):
		w.fail(&w.subFailed, &w.firstError, subErr.Error())
		return
	case err != nil:
		w.fail(&w.failed, &w.firstError, fmt.Sprintf("from %s: %v", src, err))
		return
	}
	c := &client{fd: d.fd, carry: d.rest, shard: &w.shards[i%histShards]}
	c.open.Store(true)
	w.mu.Lock()
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	if err := w.pollers[i%len(w.pollers)].add(c); err != nil {
		c.open.Store(false)
		_ = unix.Close(c.fd)
		w.fail(&w.failed, &w.firstError, err.Error())
		return
	}
	w.opened.Add(1)
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

func (w *worker) keepSample(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frameLen = len(p)
	w.sample = string(p[:min(len(p), 600)])
}

// ended records why a subscribed connection ended, unless the worker is closing it.
func (w *worker) ended(why, detail string) {
	if w.quitting.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed++
	w.closeCodes[why]++
	if w.firstClose == "" {
		w.firstClose = detail
	}
}

// fatal reports that the worker cannot go on.
func (w *worker) fatal(msg string) {
	w.emit(&report{Type: repFatal, Message: msg})
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

// quit shuts every connection down (so the node sees them go at once) and stops dialing and
// the pollers. A descriptor a poller closed is not touched again (its number may be reused).
func (w *worker) quit(cancel context.CancelFunc) {
	w.quitting.Store(true)
	cancel()
	w.mu.Lock()
	conns := w.conns
	w.mu.Unlock()
	for _, c := range conns {
		c.closeMu.Lock()
		if !c.closed {
			_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
		}
		c.closeMu.Unlock()
	}
}
