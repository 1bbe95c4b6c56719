package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"paimon/chainlog"
	"paimon/fund/fundtest"
	"paimon/readmodel"
)

// The bare fan-out baseline (-server bare): a process that speaks just enough of the node's
// API for this benchmark — GET /v1/ws (upgrade, one subscribe answered "subscribed"),
// POST /v1/admin/logs (each mint becomes the transactions event frame the node would push:
// the same ledger entry JSON, readmodel.LedgerJSONOf, in the same envelope), /readyz and
// /metrics — and writes every frame to every connection with a minimal loop: one goroutine
// per core, each owning a share of the connections, writes each of its connections the frames
// it has not had yet (the log as it is when the pass reaches that connection, as the node's
// flush passes take a queue) in one blocking writev. No Raft, no state machine, no
// hub, no queues, no budgets: what the same frames to the same sockets cost on this machine,
// the measure of the hub's overhead (bench/README.md, "ws").

// bareOptions are the -bare mode's flags (set by the runner).
type bareOptions struct {
	addr         string
	writeTimeout time.Duration
}

func parseBareFlags(args []string) (*bareOptions, error) {
	o := &bareOptions{}
	fs := flag.NewFlagSet("ws -bare", flag.ContinueOnError)
	fs.Bool("bare", true, "run as the bare fan-out server (set by the runner)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address")
	fs.DurationVar(&o.writeTimeout, "write-timeout", 5*time.Second, "a write that makes no progress this long drops the connection (the node's push.write_timeout)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// bareFrame is one event frame with the time its write arrived (unix ns).
type bareFrame struct {
	b  []byte
	at int64
}

// bareConn is one client of the baseline; next is the first frame of the log it has not
// been written (owned by its shard's goroutine).
type bareConn struct {
	nc   net.Conn
	next int
	dead bool
}

// bareShard is a goroutine's share of the connections.
type bareShard struct {
	mu    sync.Mutex
	conns []*bareConn
}

type bareServer struct {
	o      *bareOptions
	reg    *chainlog.Registry
	shards []bareShard

	mu   sync.Mutex
	cond *sync.Cond
	log  []bareFrame // every frame so far (a run's worth: 100/s × 60 s is 6,000 frames)
	seq  uint64

	set                                       *vm.Set
	opened, closed, published, delivered, bad *vm.Counter
	delivery, pass                            *vm.Histogram
}

// runBare is the -bare mode.
func runBare(args []string) int {
	o, err := parseBareFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ws bare: %v\n", err)
		return 2
	}
	s := &bareServer{o: o, reg: fundtest.Registry(), shards: make([]bareShard, runtime.GOMAXPROCS(0)), set: vm.NewSet()}
	s.cond = sync.NewCond(&s.mu)
	// The node's metric names, so the runner reads both alike.
	s.opened = s.set.NewCounter("paimon_push_connections_opened_total")
	s.closed = s.set.NewCounter("paimon_push_connections_closed_total")
	s.published = s.set.NewCounter("paimon_push_messages_published_total")
	s.delivered = s.set.NewCounter("paimon_push_messages_delivered_total")
	s.bad = s.set.NewCounter("paimon_push_write_errors_total")
	s.delivery = s.set.NewHistogram("paimon_push_delivery_seconds")
	s.pass = s.set.NewHistogram("paimon_push_flush_pass_seconds")
	for i := range s.shards {
		go s.fanOut(&s.shards[i])
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ws bare: %v\n", err)
		return 1
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &fasthttp.Server{Handler: s.handle, Concurrency: 1 << 20, ReadBufferSize: 4096}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "ws bare: %v\n", err)
		return 1
	}
	return 0
}

var bareUpgrader = websocket.FastHTTPUpgrader{ReadBufferSize: 512, WriteBufferSize: 256, WriteBufferPool: &sync.Pool{}}

func (s *bareServer) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/readyz":
		ctx.SetBodyString("ok")
	case "/metrics":
		s.set.WritePrometheus(ctx)
		vm.WriteProcessMetrics(ctx)
	case "/v1/admin/logs":
		s.post(ctx)
	case "/v1/ws":
		if err := bareUpgrader.Upgrade(ctx, s.serveConn); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		}
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// post turns each log of a POST /v1/admin/logs body into an event frame for every connection.
func (s *bareServer) post(ctx *fasthttp.RequestCtx) {
	var body struct {
		Logs []chainlog.RawLog `json:"logs"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	evs, err := fundtest.Decode(s.reg, body.Logs)
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	now := time.Now()
	for i := range evs {
		data, err := readmodel.LedgerJSONOf(&evs[i], now.Unix())
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.seq++
		s.log = append(s.log, bareFrame{b: bareEventFrame(s.seq, data), at: now.UnixNano()})
		s.mu.Unlock()
	}
	s.published.Add(len(evs))
	s.cond.Broadcast()
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"accepted":` + strconv.Itoa(len(evs)) + `}`)
}

// bareEventFrame is push's event frame: {"type":"event","channel":"transactions","seq":N,
// "data":...} as an unmasked final text frame.
func bareEventFrame(seq uint64, data []byte) []byte {
	p := append([]byte(`{"type":"event","channel":"transactions","seq":`), strconv.FormatUint(seq, 10)...)
	p = append(append(append(p, `,"data":`...), data...), '}')
	var h []byte
	switch n := len(p); {
	case n < 126:
		h = []byte{0x81, byte(n)}
	case n <= 0xFFFF:
		h = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		h = make([]byte, 10)
		h[0], h[1] = 0x81, 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	return append(h, p...)
}

// serveConn answers the subscribe, hands the connection to a shard and reads until it ends
// (the library answers pings and closes).
func (s *bareServer) serveConn(ws *websocket.Conn) {
	nc := ws.NetConn()
	for {
		u, ok := nc.(interface{ UnsafeConn() net.Conn })
		if !ok {
			break
		}
		nc = u.UnsafeConn()
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the subscribe
		return
	}
	s.mu.Lock()
	next, seq := len(s.log), s.seq
	s.mu.Unlock()
	reply := []byte(`{"type":"subscribed","channels":["transactions"],"seq":` + strconv.FormatUint(seq, 10) + `}`)
	if _, err := nc.Write(append([]byte{0x81, byte(len(reply))}, reply...)); err != nil {
		return
	}
	c := &bareConn{nc: nc, next: next}
	sh := &s.shards[int(s.opened.Get())%len(s.shards)]
	sh.mu.Lock()
	sh.conns = append(sh.conns, c)
	sh.mu.Unlock()
	s.opened.Inc()
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	sh.mu.Lock()
	for i, x := range sh.conns {
		if x == c {
			sh.conns = append(sh.conns[:i], sh.conns[i+1:]...)
			break
		}
	}
	sh.mu.Unlock()
	s.closed.Inc()
}

// fanOut is one shard's loop: wait for frames, write each connection what it has not had, in
// one writev. Like the node's flush passes, a pass takes the log as it is when it reaches a
// connection, so that frames posted during a pass reach the connections it has not written
// yet in the same pass.
func (s *bareServer) fanOut(sh *bareShard) {
	seen := 0
	var conns []*bareConn
	var vec net.Buffers
	for {
		s.mu.Lock()
		for len(s.log) == seen {
			s.cond.Wait()
		}
		seen = len(s.log)
		s.mu.Unlock()
		start := time.Now()
		sh.mu.Lock()
		conns = append(conns[:0], sh.conns...)
		sh.mu.Unlock()
		for _, c := range conns {
			s.mu.Lock()
			log := s.log
			s.mu.Unlock()
			if c.dead || c.next >= len(log) {
				continue
			}
			frames := log[c.next:]
			vec = vec[:0]
			for _, f := range frames {
				vec = append(vec, f.b)
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(s.o.writeTimeout))
			w := vec
			if _, err := w.WriteTo(c.nc); err != nil {
				c.dead = true
				s.bad.Inc()
				_ = c.nc.Close()
				if !errors.Is(err, net.ErrClosed) {
					fmt.Fprintf(os.Stderr, "ws bare: write: %v\n", err)
				}
				continue
			}
			c.next = len(log)
			s.delivered.Add(len(frames))
			s.delivery.Update(float64(time.Now().UnixNano()-frames[0].at) / 1e9)
		}
		s.pass.Update(time.Since(start).Seconds())
		clear(conns)
	}
}
