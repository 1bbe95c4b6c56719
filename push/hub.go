// Package push fans the changes each node applies out to its WebSocket clients: channels,
// subscriptions, resume windows and backpressure. See DESIGN.md.
package push

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/auth"
	"paimon/fund"
	"paimon/readmodel"
)

// Errors of Serve, before the WebSocket handshake; the server maps them to HTTP responses.
var (
	// ErrTooManyConns: the node has push.max_conns connections.
	ErrTooManyConns = errors.New("push: too many WebSocket connections on this node")
	// ErrTooManyConnsFromIP: the client's address has push.max_conns_per_ip connections.
	ErrTooManyConnsFromIP = errors.New("push: too many WebSocket connections from this address")
	// ErrOriginNotAllowed: a browser's Origin is not in push.allowed_origins.
	ErrOriginNotAllowed = errors.New("push: origin not allowed")
	// ErrClosed: the hub is shutting down.
	ErrClosed = errors.New("push: hub closed")
)

// Authenticator resolves the credentials of WebSocket clients: *auth.Auth, the same the
// server authenticates requests with.
type Authenticator interface {
	// AuthenticateToken returns the principal of an auth frame's token (ip: the client's, for
	// the budget of checks against the leader), or an error for an unknown, expired or revoked
	// token. It extends a session in use.
	AuthenticateToken(ctx context.Context, token, ip string) (auth.Principal, error)
	// Recheck re-resolves a credential by its Key when the hub saw a batch that may have
	// revoked it (a session closed, a wallet's role changed, a reload) or when it expires.
	Recheck(key [32]byte) (auth.Principal, error)
}

// Hub is the push fan-out of one node. It is a fund.Observer: Applied hands each committed
// batch over without blocking, and the hub's goroutine renders the batch's messages once,
// keeps them in the channels' resume windows and queues them on every subscribed connection.
// Connections write on their own goroutines; nothing waits for a client.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	auth Authenticator
	// cat is the channels (server.Channels): names, access, what feeds them.
	cat *catalog
	now func() time.Time
	m   *hubMetrics

	in inbox // applied batches waiting for the hub goroutine

	mu       sync.Mutex
	index    uint64                     // the seq of the last batch published
	started  bool                       // a batch has been published (index is meaningful)
	windows  []window                   // per kind; a per-address kind's channels share one
	subs     []subscribers              // per single kind: its subscribers
	addrSubs []map[[20]byte]subscribers // per per-address kind: the subscribers of each address
	conns    map[*conn]struct{}
	dirty    []*conn // connections with frames for the next flush pass (flush.go)
	// registered counts the connections registered, numbering their heartbeat slots.
	registered uint64
	// dirtySpare is the previous pass's list, reused.
	dirtySpare []*conn
	perIP      map[string]int
	nconns     int // connections admitted, including those upgrading
	closed     bool
	// passRank numbers the connections in the order the flush passes took them (the
	// flusher's).
	passRank uint64

	stopped atomic.Bool // Close began: Applied drops batches
	// flushWake wakes the flusher (flushLoop) when connections were marked for a pass.
	flushWake chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup // the hub goroutines and every connection's goroutines
	once      sync.Once
}

// subscribers maps a subscribed connection to the seq it has already seen up to (messages at
// or below it are skipped: a client resuming from a node that is ahead of this one).
type subscribers map[*conn]uint64

// New returns a hub; Start runs it. authn may be nil (every auth frame is refused). channels
// are the channels it serves, with their access and what feeds them (the server's route
// table: server.Channels). metricsSet receives the paimon_push_* metrics.
func New(cfg Config, authn Authenticator, channels []Channel, log *slog.Logger, metricsSet *metrics.Set) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cat, err := newCatalog(channels)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		cfg: cfg, log: log, auth: authn, cat: cat, now: time.Now, m: newHubMetrics(metricsSet),
		conns: map[*conn]struct{}{}, perIP: map[string]int{}, stop: make(chan struct{}), flushWake: make(chan struct{}, 1),
		windows: make([]window, len(channels)), subs: make([]subscribers, len(channels)),
		addrSubs: make([]map[[20]byte]subscribers, len(channels)),
	}
	for k, c := range channels {
		h.windows[k].init(cfg.WindowMessages)
		if c.PerAddress() {
			h.addrSubs[k] = map[[20]byte]subscribers{}
		} else {
			h.subs[k] = subscribers{}
		}
	}
	h.in.init(cfg.MaxPendingBatches)
	return h, nil
}

// Start runs the hub's goroutines: the publisher, the flusher and the heartbeat.
func (h *Hub) Start() {
	h.wg.Add(3)
	go h.publishLoop()
	go h.flushLoop()
	go h.heartbeatLoop()
}

// Close disconnects every client (1001, going away) and stops the hub; it waits for every
// goroutine. It is idempotent.
func (h *Hub) Close() error {
	h.once.Do(func() {
		h.stopped.Store(true)
		h.mu.Lock()
		h.closed = true
		conns := make([]*conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		close(h.stop)
		for _, c := range conns {
			c.closeWith(closeGoingAway, "node shutting down")
		}
		h.wg.Wait()
	})
	return nil
}

// Applied implements fund.Observer. It is called on the apply path and only appends the
// batch to the hub's inbox.
func (h *Hub) Applied(ch *fund.Changes) {
	if h.stopped.Load() {
		return
	}
	h.in.put(&batch{ch: ch, at: h.now().UnixNano()})
}

// Index is the seq of the last batch the hub published.
func (h *Hub) Index() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.index
}

// Stats is a snapshot of the hub's counters.
type Stats struct {
	Conns       int    // open connections
	Subscribers int    // subscriptions over all channels
	Index       uint64 // last published seq
	Published   uint64 // messages published
	Delivered   uint64 // messages written to clients
	Writes      uint64 // socket writes that carried messages (Delivered / Writes: messages per write)
	SlowDropped uint64 // connections closed as slow consumers
	Resets      uint64 // reset frames sent
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	s := Stats{Conns: len(h.conns), Index: h.index}
	for _, m := range h.subs {
		s.Subscribers += len(m)
	}
	for _, byAddr := range h.addrSubs {
		for _, m := range byAddr {
			s.Subscribers += len(m)
		}
	}
	h.mu.Unlock()
	s.Published = h.m.published.Get()
	s.Delivered = h.m.delivered.Get()
	s.Writes = h.m.writes.Get()
	s.SlowDropped = h.m.slow.Get()
	s.Resets = h.m.resets.Get()
	return s
}

// batch is one committed batch waiting for the publisher.
type batch struct {
	ch *fund.Changes
	at int64 // unix ns when Applied saw it
}

// inbox is the queue from apply to the publisher: put never blocks (a short mutex, no
// channel send that could wait). Past max batches it drops everything waiting and records a
// reset at the dropped batch's index instead, so the publisher resets every subscriber before
// it publishes what follows.
type inbox struct {
	mu      sync.Mutex
	items   []*batch
	max     int
	resetTo uint64 // a drop happened: reset every channel at this index
	wake    chan struct{}
}

func (q *inbox) init(max int) {
	q.max = max
	q.wake = make(chan struct{}, 1)
}

func (q *inbox) put(b *batch) {
	q.mu.Lock()
	if len(q.items) >= q.max {
		clear(q.items)
		q.items = q.items[:0]
		q.resetTo = b.ch.Index
	} else {
		q.items = append(q.items, b)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *inbox) take(spare []*batch) (items []*batch, resetTo uint64) {
	q.mu.Lock()
	items, q.items = q.items, spare[:0]
	resetTo, q.resetTo = q.resetTo, 0
	q.mu.Unlock()
	return items, resetTo
}

func (h *Hub) publishLoop() {
	defer h.wg.Done()
	var spare []*batch
	for {
		select {
		case <-h.stop:
			return
		case <-h.in.wake:
		}
		items, resetTo := h.in.take(spare)
		if resetTo != 0 {
			h.m.overflows.Inc()
			h.log.Warn("push fell behind apply: dropped batches, resetting every subscriber", "index", resetTo)
			h.resetAll(resetTo)
		}
		for _, b := range items {
			h.publish(b)
		}
		// The flusher writes what this round queued: the next pass, or the running one for the
		// connections it has not reached yet (flush.go).
		h.kickFlush()
		clear(items)
		spare = items
	}
}

// heartbeatSlots is how many parts a ping interval is cut into: each connection belongs to
// one (by the order it came in) and a tick of the heartbeat pings one part's connections. Pinged
// all at once, 5,000 connections got 5,000 pings in one burst every ping_interval, each
// starting the connection's writer goroutine, and then 5,000 pongs woke 5,000 readers: a
// stall of 100–150 ms on two cores that held up every write and message behind it
// (bench/RESULTS.md §17).
const heartbeatSlots = 32

// heartbeatTick is how often the heartbeat pings a part of the connections: each connection
// is still pinged once per ping_interval.
func heartbeatTick(interval time.Duration) (time.Duration, uint64) {
	slots := uint64(heartbeatSlots)
	if n := uint64(interval / time.Millisecond); n < slots {
		slots = max(n, 1)
	}
	return interval / time.Duration(slots), slots
}

// heartbeatLoop pings one slot's connections each tick. The pings go out with the next flush
// pass (a connection's writer goroutine, if it has one, writes them), not on a goroutine of
// their own.
func (h *Hub) heartbeatLoop() {
	defer h.wg.Done()
	tick, slots := heartbeatTick(h.cfg.PingInterval)
	t := time.NewTicker(tick)
	defer t.Stop()
	for slot := uint64(0); ; slot = (slot + 1) % slots {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		at := h.now().UnixNano()
		h.mu.Lock()
		for c := range h.conns {
			if c.slot%slots == slot {
				c.queueControl(pingFrame, at)
			}
		}
		h.mu.Unlock()
		h.kickFlush()
	}
}

var pingFrame = frame(opPingF, nil)

// recheckLocked asks the connections whose credential a batch may have revoked or changed (a
// session closed, a wallet's role changed, or any after a reload) to recheck it: it marks them
// and pings them, and each rechecks on its own goroutine when the pong (or any frame) arrives.
func (h *Hub) recheckLocked(ch *fund.Changes) {
	if h.auth == nil {
		return
	}
	var closed map[[32]byte]bool
	var roles map[[20]byte]bool
	for _, s := range ch.Sessions {
		if s.Session == nil {
			if closed == nil {
				closed = map[[32]byte]bool{}
			}
			closed[s.TokenHash] = true
		}
	}
	for _, r := range ch.Roles {
		if roles == nil {
			roles = map[[20]byte]bool{}
		}
		roles[r.Address] = true
	}
	if closed == nil && roles == nil && !ch.Reloaded {
		return
	}
	for c := range h.conns {
		c.mu.Lock()
		due := c.credKey != ([32]byte{}) && (ch.Reloaded || closed[c.credKey] || (c.credHasAcct && roles[c.credAccount]))
		c.mu.Unlock()
		if due {
			c.recheck.Store(true)
			c.queueControl(pingFrame, h.now().UnixNano()) // the publisher kicks the pass after the round
		}
	}
}

// msg is one rendered message of a batch.
type msg struct {
	ch    channel
	seq   uint64
	frame []byte
}

// render turns a batch into messages, in order: the records' changes per command, then the
// views as of the batch, each on the channel it feeds.
func (h *Hub) render(b *batch, out []msg) []msg {
	for i := range b.ch.Records {
		r := &b.ch.Records[i]
		rk, addr, ref := readmodel.RecordRef(r.Key)
		k, ok := h.cat.byRecord[rk]
		if !ok {
			continue
		}
		c := h.cat.channel(k, addr)
		if r.Value == nil {
			out = append(out, msg{ch: c, seq: r.Index, frame: eventFrame("removed", c, r.Index, ref)})
			continue
		}
		body, _, err := readmodel.RecordJSON(r.Key, r.Value)
		if err != nil {
			// The state machine wrote it: a record it cannot render is a bug, not a client's
			// problem. Skip it rather than stop every channel.
			h.m.renderErrors.Inc()
			h.log.Error("push: cannot render record", "key", r.Key, "index", r.Index, "err", err)
			continue
		}
		out = append(out, msg{ch: c, seq: r.Index, frame: eventFrame("event", c, r.Index, body)})
	}
	for _, v := range b.ch.Views {
		if k, ok := h.cat.byView[v.Name]; ok {
			c := h.cat.channel(k, [20]byte{})
			out = append(out, msg{ch: c, seq: b.ch.Index, frame: eventFrame("event", c, b.ch.Index, v.Body)})
		}
	}
	return out
}

// publish renders a batch and, under the hub lock, keeps its messages in the windows and
// queues them on the subscribers: subscribe takes the same lock, so a subscriber sees either
// a message in its replay or live, never both and never neither.
func (h *Hub) publish(b *batch) {
	var buf [16]msg
	msgs := h.render(b, buf[:0])
	now := h.now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recheckLocked(b.ch)
	if b.ch.Reloaded || !h.started {
		// The state may have jumped past commands this hub never saw: nothing before this
		// batch can be replayed.
		h.resetLocked(b.ch.Index, h.started)
		h.started = true
		h.index = b.ch.Index
		return
	}
	if b.ch.Index > h.index {
		h.index = b.ch.Index
	}
	// Messages of one channel in one batch are queued together on each connection, so a
	// client's writer never splits a command's messages of a channel across two writes.
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].ch == msgs[i].ch {
			j++
		}
		h.fanOut(msgs[i:j], b.at, now)
		i = j
	}
	h.m.published.Add(len(msgs))
	h.m.publishLag.Update(float64(now-b.at) / 1e9)
}

func (h *Hub) fanOut(ms []msg, at, now int64) {
	c := ms[0].ch
	w := &h.windows[c.kind]
	for i := range ms {
		w.push(entry{seq: ms[i].seq, at: now, addr: c.addr, frame: ms[i].frame})
	}
	w.evict(h.cfg.WindowMessages, now-h.cfg.WindowAge.Nanoseconds())
	subs := h.subsOf(c, false)
	if len(subs) == 0 {
		return
	}
	if len(ms) > 4*h.cfg.QueueMessages {
		// More messages on one channel than a connection may queue, from one command (ingest
		// catching up over many blocks): not streamed. Subscribers get a reset and refetch by
		// HTTP; the window keeps what it can for those who resume later.
		last := ms[len(ms)-1].seq
		f := resetFrame(c, last)
		for cn, seen := range subs {
			if seen < last {
				subs[cn] = last
				cn.enqueueControl(f)
				h.m.resets.Inc()
			}
		}
		return
	}
	frames := make([][]byte, 0, len(ms))
	for cn, seen := range subs {
		frames = frames[:0]
		for i := range ms {
			if ms[i].seq > seen {
				frames = append(frames, ms[i].frame)
			}
		}
		if len(frames) > 0 && !cn.enqueue(frames, at) {
			h.m.slow.Inc()
		}
	}
}

// resetAll resets every channel at index (the publisher fell behind and dropped batches).
func (h *Hub) resetAll(index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resetLocked(index, true)
	if index > h.index {
		h.index = index
	}
}

// resetLocked forgets every window (nothing at or below index can be replayed any more) and,
// when notify, sends every subscriber a reset for each of its channels.
func (h *Hub) resetLocked(index uint64, notify bool) {
	for k := range h.windows {
		h.windows[k].clearTo(index)
	}
	if !notify {
		return
	}
	reset := func(c channel, subs subscribers) {
		f := resetFrame(c, index)
		for cn := range subs {
			cn.enqueueControl(f)
			h.m.resets.Inc()
		}
	}
	for k := range h.cat.chans {
		reset(h.cat.channel(kind(k), [20]byte{}), h.subs[k])
		for addr, subs := range h.addrSubs[k] {
			reset(h.cat.channel(kind(k), addr), subs)
		}
	}
}

// subscribe adds cn to c. With since, it first queues what the window keeps after since, or a
// reset when the window no longer reaches back to since. It returns whether it reset.
func (h *Hub) subscribe(cn *conn, c channel, since *uint64) (reset bool) {
	subs := h.subsOf(c, true)
	seen := h.index
	if since != nil {
		w := &h.windows[c.kind]
		switch {
		case *since > h.index:
			// The client saw a later state (on a node ahead of this one): continue after it.
			seen = *since
		case !h.started || *since < w.floor:
			cn.enqueueControl(resetFrame(c, h.index))
			h.m.resets.Inc()
			reset = true
		default:
			w.evict(h.cfg.WindowMessages, h.now().UnixNano()-h.cfg.WindowAge.Nanoseconds())
			if *since < w.floor {
				cn.enqueueControl(resetFrame(c, h.index))
				h.m.resets.Inc()
				reset = true
				break
			}
			var frames [][]byte
			w.each(*since, func(e *entry) {
				if !c.perAddr || e.addr == c.addr {
					frames = append(frames, e.frame)
				}
			})
			cn.enqueueReplay(frames)
			h.m.replayed.Add(len(frames))
		}
	}
	subs[cn] = seen
	return reset
}

func (h *Hub) subsOf(c channel, create bool) subscribers {
	if !c.perAddr {
		return h.subs[c.kind]
	}
	s := h.addrSubs[c.kind][c.addr]
	if s == nil && create {
		s = subscribers{}
		h.addrSubs[c.kind][c.addr] = s
	}
	return s
}

func (h *Hub) unsubscribe(cn *conn, c channel) {
	subs := h.subsOf(c, false)
	delete(subs, cn)
	if c.perAddr && len(subs) == 0 {
		delete(h.addrSubs[c.kind], c.addr)
	}
}
