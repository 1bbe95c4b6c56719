package push

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"paimon/auth"
)

// conn is one WebSocket client. Its reader runs on the connection's own goroutine (the
// hijacked handler); its writer goroutine runs only while there is something to write (and a
// short linger after), so an idle connection holds one goroutine and no write buffer.
//
// Frames are written as prebuilt WebSocket frames straight to the network connection, many per
// write (see DESIGN.md, "writes"). The websocket library reads: it unmasks, reassembles and
// answers protocol errors, which it writes as single whole frames; a net.Conn write is atomic
// with respect to another, so the two writers never interleave inside a frame.
type conn struct {
	h  *Hub
	ws *websocket.Conn
	nc net.Conn
	ip string

	mu       sync.Mutex
	q        []qframe // frames waiting for the writer
	spare    []qframe // the writer's previous queue, reused
	exempt   int      // frames in q that are not live messages (control, replay)
	groups   int      // live message groups in q (one per command and channel)
	controls int      // control frames in q (replies, pongs, pings, errors, resets)
	replays  int      // replayed frames in q
	writing  bool     // a writer goroutine is running
	dirty    bool     // in the hub's dirty list: the next flush pass writes the queue
	flushing bool     // a flush pass is writing the queue: no writer starts meanwhile
	closing  bool     // a close frame is queued: nothing more is
	slow     bool     // closing as a slow consumer (counted once)
	wake     chan struct{}
	closed   chan struct{} // closed with the network connection
	closeNow sync.Once
	// raw is the bare TCP connection's, for the flush passes' non-blocking writes; nil on a
	// connection that is not bare TCP (TLS), whose frames always go through its writer.
	raw syscall.RawConn
	// markedAt is the apply time of the oldest live frame queued since the connection was
	// marked dirty (under the hub lock), and passRank its place in the last flush pass that
	// took it (the flusher's): the next pass writes the connections oldest first (flush.go).
	markedAt int64
	passRank uint64
	// slot is the heartbeat's part this connection is in (its admission number): the
	// heartbeat pings one part at a time (hub.go, heartbeatLoop).
	slot uint64

	// recheck asks the reader goroutine to re-resolve the identity (set by the hub).
	recheck atomic.Bool
	// cred is the identity's Key and account, for the hub to match changes against (under mu).
	credKey     [32]byte
	credAccount [20]byte
	credHasAcct bool

	// Owned by the reader goroutine.
	who     auth.Principal
	subs    map[channel]struct{}
	limiter *rate.Limiter
	// warnedAt is when the client was last told it sends too many frames, lastOver when it
	// last did: still over a second after the warning, the connection is closed.
	warnedAt, lastOver time.Time
}

// rawConn unwraps fasthttp's hijacked connection: its Close does nothing (fasthttp closes the
// connection when the handler returns), and only the bare TCP connection writes a vector of
// buffers in one system call. Reads still go through the wrapper (its buffer may hold bytes
// the client sent right after the handshake); deadlines set here apply to them.
// The server's listener wraps connections too (it counts them per address) and unwraps the
// same way.
func rawConn(nc net.Conn) net.Conn {
	for {
		u, ok := nc.(interface{ UnsafeConn() net.Conn })
		if !ok {
			return nc
		}
		nc = u.UnsafeConn()
	}
}

// qframe is a queued frame; at is when its message was applied (unix ns, 0 for frames that
// are not live messages), for the delivery latency.
type qframe struct {
	b  []byte
	at int64
}

func newConn(h *Hub, ws *websocket.Conn, ip string, who auth.Principal) *conn {
	c := &conn{
		h: h, ws: ws, nc: rawConn(ws.NetConn()), ip: ip, who: who,
		credKey: who.Key, credAccount: who.Wallet, credHasAcct: who.Session,
		wake: make(chan struct{}, 1), closed: make(chan struct{}),
		subs:    map[channel]struct{}{},
		limiter: rate.NewLimiter(rate.Limit(h.cfg.FramesPerSecond), h.cfg.FrameBurst),
	}
	if tc, ok := c.nc.(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn()
	}
	return c
}

// enqueue queues the live frames of one message group (called by the publisher under the hub
// lock). A connection whose queue is full gets a close frame instead: it is a slow consumer.
// It reports false when it closed the connection.
func (c *conn) enqueue(frames [][]byte, at int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return true
	}
	// A command's messages on a channel come as one group and count as one message: a burst
	// from one command (a block with many events) is the node's, not the client's lag. The
	// frames are bounded too, to 4 × queue_messages (the hub sends a reset instead of a group
	// larger than queue_messages).
	if c.groups >= c.h.cfg.QueueMessages || len(c.q)-c.exempt+len(frames) > 4*c.h.cfg.QueueMessages {
		c.closing, c.slow = true, true
		c.q = append(c.q, qframe{b: closeFrame(closePolicy, "slow consumer: too many messages waiting")})
		c.startWriterLocked()
		c.h.log.Info("push: dropping slow consumer", "remote", c.nc.RemoteAddr().String(), "queued", len(c.q))
		return false
	}
	for _, f := range frames {
		c.q = append(c.q, qframe{b: f, at: at})
	}
	c.groups++
	c.markLocked(at)
	return true
}

// markLocked hands the queue to the hub's next flush pass (hub lock held: the publisher's,
// right after the batches it is publishing), which writes it without waking a goroutine of
// the connection's. A connection whose writer goroutine runs (it has a backlog) wakes it; one
// that is not bare TCP starts it.
func (c *conn) markLocked(at int64) {
	if c.writing || c.raw == nil {
		c.startWriterLocked()
		return
	}
	if !c.dirty {
		c.dirty, c.markedAt = true, at
		c.h.dirty = append(c.h.dirty, c)
	}
}

// enqueueControl queues a control frame (pong, ping, reset, error, replies) for the
// connection's writer goroutine. Control frames have a budget of their own, queue_messages
// frames: a client that makes the node queue more (pings it, or refused frames, without
// reading the answers) is closed with 1008.
func (c *conn) enqueueControl(f []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.controlLocked(f) {
		c.startWriterLocked()
	}
}

// queueControl queues a control frame for the next flush pass, like a message (hub lock held;
// the caller kicks the flusher): the heartbeat's pings, which would otherwise start a writer
// goroutine on every connection at once.
func (c *conn) queueControl(f []byte, at int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.controlLocked(f) {
		c.markLocked(at)
	}
}

// controlLocked appends a control frame within the budget; false when it did not (the
// connection is closing, or now closes over its budget).
func (c *conn) controlLocked(f []byte) bool {
	if c.closing {
		return false
	}
	if c.controls >= c.h.cfg.QueueMessages {
		c.overBudgetLocked(budgetQueue, codeLimitExceeded, "too many replies waiting: read what the node sends", "queue over push.queue_messages")
		return false
	}
	c.q = append(c.q, qframe{b: f})
	c.exempt++
	c.controls++
	return true
}

// replayBudget bounds the replayed frames waiting on a connection: every channel kind's whole
// window, what subscribing to everything with an old since may replay at once.
func (c *conn) replayBudget() int { return len(c.h.cat.chans) * c.h.cfg.WindowMessages }

// enqueueReplay queues replayed messages, bounded by replayBudget: a client that subscribes
// again and again without reading the replays is closed with 1008.
func (c *conn) enqueueReplay(frames [][]byte) {
	if len(frames) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if c.replays+len(frames) > c.replayBudget() {
		c.overBudgetLocked(budgetQueue, codeLimitExceeded, "too many replayed messages waiting: read what the node sends", "queue over push.queue_messages")
		return
	}
	for _, f := range frames {
		c.q = append(c.q, qframe{b: f})
	}
	c.exempt += len(frames)
	c.replays += len(frames)
	c.startWriterLocked()
}

// Budgets a connection can exceed (paimon_push_over_budget_total{budget}).
const (
	budgetFrames = "frames" // push.frames_per_second
	budgetQueue  = "queue"  // push.queue_messages (control frames, replays)
)

// overBudgetLocked queues one error frame and a close (1008) after what is queued, counts the
// connection, and queues nothing more.
func (c *conn) overBudgetLocked(budget, code, msg, reason string) {
	c.closing = true
	c.q = append(c.q, qframe{b: errorFrame(code, msg)}, qframe{b: closeFrame(closePolicy, reason)})
	c.h.m.overBudget(budget).Inc()
	c.startWriterLocked()
	c.h.log.Info("push: closing a connection over its budget", "remote", c.nc.RemoteAddr().String(), "budget", budget)
}

// isClosing reports whether a close frame is queued (the reader stops reading then).
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// errStopReading ends the reader of a connection that is closing (over its budget, or a
// protocol violation).
var errStopReading = errors.New("push: the connection is closing")

// allowFrame spends one of the client's frames_per_second on a frame it sent (data or
// control). Over budget, the client gets one RATE_LIMITED error frame and its frames are
// dropped, each after a pause of one token's time; if it is still over a second after that
// warning, the connection is closed (1008) and allowFrame returns errStopReading. A second
// without excess frames forgets the warning. Reader goroutine.
func (c *conn) allowFrame() (bool, error) {
	if c.limiter.Allow() {
		return true, nil
	}
	now := c.h.now()
	switch {
	case c.warnedAt.IsZero() || now.Sub(c.lastOver) > time.Second:
		c.warnedAt = now
		c.refuse(&frameError{code: codeLimit, msg: "too many frames (push.frames_per_second); slow down or be disconnected"})
	case now.Sub(c.warnedAt) > time.Second:
		c.mu.Lock()
		if !c.closing {
			c.overBudgetLocked(budgetFrames, codeLimit, "too many frames for over a second (push.frames_per_second)", "too many frames")
		}
		c.mu.Unlock()
		return false, errStopReading
	}
	c.lastOver = now
	// Read on only when the bucket has a token again (at most 100 ms): a flooding client is
	// held back by TCP (its writes block once the socket buffers fill) instead of costing the
	// node a read and a refusal for every frame it can push until it is closed.
	time.Sleep(min(time.Duration(float64(time.Second)/c.h.cfg.FramesPerSecond), 100*time.Millisecond))
	return false, nil
}

// closeWith queues a close frame after whatever is queued; the writer closes the connection
// once it is written (or its write times out).
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	c.q = append(c.q, qframe{b: closeFrame(code, reason)})
	c.startWriterLocked()
}

func (c *conn) startWriterLocked() {
	if c.flushing {
		return // the flush pass writing the queue starts the writer after, if it is needed
	}
	if c.writing {
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return
	}
	c.writing = true
	c.h.wg.Add(1)
	go c.writeLoop(nil)
}

// closeNC closes the network connection, which ends the reader and any write in progress.
func (c *conn) closeNC() {
	c.closeNow.Do(func() {
		_ = c.nc.Close()
		close(c.closed)
	})
}

// writeLoop writes the queue while it has frames, with a write deadline; first is what a
// flush pass could not write without waiting (written before the queue). On bare TCP it ends
// as soon as the queue is empty (the flush passes write the steady stream); on other
// connections it lingers for more.
func (c *conn) writeLoop(first []qframe) {
	defer c.h.wg.Done()
	var (
		timer    *time.Timer
		vec      net.Buffers
		joined   []byte
		deadline time.Time
	)
	for {
		c.mu.Lock()
		var out []qframe
		switch {
		case first != nil:
			out, first = first, nil
		case len(c.q) == 0 && c.raw != nil && !c.closing:
			c.writing = false
			c.mu.Unlock()
			return
		}
		if out == nil && len(c.q) == 0 {
			if c.closing {
				c.writing = false
				c.mu.Unlock()
				c.closeNC()
				return
			}
			c.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(c.h.cfg.Linger)
			} else {
				timer.Reset(c.h.cfg.Linger)
			}
			select {
			case <-c.wake:
				continue
			case <-c.closed:
			case <-timer.C:
			}
			c.mu.Lock()
			if len(c.q) == 0 && !c.closing {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		if out == nil {
			out = c.q
			c.q, c.spare, c.exempt, c.groups, c.controls, c.replays = c.spare[:0], nil, 0, 0, 0, 0
		}
		c.mu.Unlock()

		vec = vec[:0]
		var oldest int64
		live := 0
		for i := range out {
			vec = append(vec, out[i].b)
			if at := out[i].at; at != 0 {
				live++
				if oldest == 0 || at < oldest {
					oldest = at
				}
			}
		}
		// The deadline is moved only when less than half the write timeout is left (setting it
		// re-arms the poller's timer: ~5 % of the node's CPU when it was set for every write),
		// so a write that makes no progress is cut after write_timeout/2 to write_timeout.
		if now := c.h.now(); deadline.Sub(now) < c.h.cfg.WriteTimeout/2 {
			deadline = now.Add(c.h.cfg.WriteTimeout)
			_ = c.nc.SetWriteDeadline(deadline)
		}
		var err error
		if _, ok := c.nc.(*net.TCPConn); ok || len(vec) == 1 {
			w := vec // WriteTo consumes its receiver
			_, err = w.WriteTo(c.nc)
		} else {
			// Not a bare TCP connection (TLS): one write of the frames joined, not one each.
			joined = joined[:0]
			for _, b := range vec {
				joined = append(joined, b...)
			}
			_, err = c.nc.Write(joined)
		}
		clear(out)
		if err != nil {
			c.mu.Lock()
			counted := c.slow
			c.slow = true
			c.mu.Unlock()
			if errors.Is(err, os.ErrDeadlineExceeded) && !counted {
				c.h.m.slow.Inc()
				c.h.log.Info("push: dropping slow consumer", "remote", c.nc.RemoteAddr().String(), "err", err)
			}
			c.h.m.writeErrors.Inc()
			c.mu.Lock()
			c.writing, c.closing, c.q = false, true, nil
			c.mu.Unlock()
			c.closeNC()
			return
		}
		if live > 0 {
			c.h.m.delivered.Add(live)
			c.h.m.writes.Inc()
			c.h.m.deliveryLag.Update(float64(c.h.now().UnixNano()-oldest) / 1e9)
		}
		c.mu.Lock()
		c.spare = out[:0]
		c.mu.Unlock()
	}
}

// readPool holds client frame buffers: a connection holds one only while reading a frame.
var readPool = sync.Pool{New: func() any { return new([]byte) }}

// readLoop serves the client's frames until the connection ends. It runs on the connection's
// goroutine.
func (c *conn) readLoop() {
	cfg := &c.h.cfg
	c.ws.SetReadLimit(int64(max(64*cfg.MaxFrameBytes, 1<<20)))
	extend := func() { _ = c.nc.SetReadDeadline(c.h.now().Add(cfg.PingInterval + cfg.PongTimeout)) }
	// Control frames spend the frame budget like any other: a client pinging without
	// reading the pongs would otherwise grow its queue without bound.
	c.ws.SetPingHandler(func(data string) error {
		extend()
		if ok, err := c.allowFrame(); !ok {
			return err
		}
		c.enqueueControl(frame(opPongF, []byte(data)))
		return nil
	})
	c.ws.SetPongHandler(func(string) error {
		extend()
		if ok, err := c.allowFrame(); !ok {
			return err
		}
		c.maybeRecheck()
		return nil
	})
	c.ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = closeNormal
		}
		c.closeWith(code, "")
		return nil
	})
	for !c.isClosing() {
		extend()
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		bp := readPool.Get().(*[]byte)
		data, tooBig, err := readFrame(r, (*bp)[:0], cfg.MaxFrameBytes)
		if err != nil {
			readPool.Put(bp)
			return
		}
		extend()
		c.maybeRecheck()
		ok, err := c.allowFrame()
		switch {
		case err != nil:
		case !ok:
		case tooBig:
			c.refuse(&frameError{code: codeTooLarge, msg: "frame over push.max_frame_bytes"})
		case mt != websocket.TextMessage:
			c.refuse(badFrame("frames are JSON text, not binary"))
		case !utf8.Valid(data):
			// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection.
			c.closeWith(closeInvalidData, "text frame is not valid UTF-8")
			err = errStopReading
		default:
			c.handle(data)
		}
		*bp = data[:0]
		readPool.Put(bp)
		if err != nil {
			return
		}
	}
}

// readFrame reads a message into buf, up to max bytes; past that it discards the rest and
// reports tooBig.
func readFrame(r io.Reader, buf []byte, max int) (data []byte, tooBig bool, err error) {
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				_, err = io.Copy(io.Discard, r)
				return buf, true, err
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			_, err = io.Copy(io.Discard, r)
			return buf, true, err
		}
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

func (c *conn) refuse(e *frameError) {
	c.h.m.refused.Inc()
	c.enqueueControl(errorFrame(e.code, e.msg))
}

// handle serves one client frame.
func (c *conn) handle(data []byte) {
	f, ferr := decodeClientFrame(c.h.cat, data)
	if ferr != nil {
		c.refuse(ferr)
		return
	}
	switch f.Op {
	case opPing:
		c.enqueueControl(pongFrame)
	case opAuth:
		c.authenticate(f.Token)
	case opSubscribe:
		c.subscribe(f.Channels, f.Since)
	case opUnsubscribe:
		c.unsubscribe(f.Channels)
	}
}

func (c *conn) authenticate(token string) {
	if c.h.auth == nil {
		c.refuse(&frameError{code: codeAuthInvalid, msg: "this node accepts no tokens"})
		return
	}
	who, err := c.h.auth.AuthenticateToken(context.Background(), token, c.ip)
	if err != nil {
		c.refuse(&frameError{code: codeAuthInvalid, msg: err.Error()})
		return
	}
	c.setIdentity(who)
	// A new identity may not read every channel the old one did.
	lost := c.dropUnauthorized()
	var addr string
	if who.Session {
		addr = string(appendAddress(nil, &who.Wallet))
	}
	c.enqueueControl(authenticatedFrame(who.Label(), who.Role.String(), addr))
	if len(lost) > 0 {
		c.refuse(&frameError{code: codeForbidden, msg: "unsubscribed from channels the new identity may not read: " + strings.Join(lost, ", ")})
	}
}

// setIdentity replaces the connection's identity (reader goroutine).
func (c *conn) setIdentity(who auth.Principal) {
	c.who = who
	c.mu.Lock()
	c.credKey, c.credAccount, c.credHasAcct = who.Key, who.Wallet, who.Session
	c.mu.Unlock()
}

// dropUnauthorized unsubscribes the channels the identity may no longer read and names them.
func (c *conn) dropUnauthorized() []string {
	var lost []string
	for ch := range c.subs {
		if c.authorize(ch) != nil {
			lost = append(lost, ch.String())
			delete(c.subs, ch)
			c.h.mu.Lock()
			c.h.unsubscribe(c, ch)
			c.h.mu.Unlock()
		}
	}
	slices.Sort(lost)
	return lost
}

// maybeRecheck re-resolves the identity when the hub asked for it or the credential expired,
// and ends what the new answer no longer allows: a credential that is gone leaves the
// connection anonymous (AUTH_INVALID), a lesser role loses its channels (FORBIDDEN). Reader
// goroutine.
func (c *conn) maybeRecheck() {
	due := c.recheck.Swap(false)
	if !c.who.Authenticated() || c.who.Key == ([32]byte{}) || c.h.auth == nil {
		return
	}
	if !due && (c.who.Expires == 0 || c.h.now().UnixNano() < c.who.Expires) {
		return
	}
	who, err := c.h.auth.Recheck(c.who.Key)
	if err != nil {
		c.setIdentity(auth.Principal{})
		lost := c.dropUnauthorized()
		msg := "the session ended (logged out, expired or revoked); authenticate again"
		if len(lost) > 0 {
			msg += "; unsubscribed from " + strings.Join(lost, ", ")
		}
		c.refuse(&frameError{code: codeAuthInvalid, msg: msg})
		return
	}
	c.setIdentity(who)
	if lost := c.dropUnauthorized(); len(lost) > 0 {
		c.refuse(&frameError{code: codeForbidden, msg: "the identity's role changed; unsubscribed from " + strings.Join(lost, ", ")})
	}
}

// authorize says whether the connection's identity may subscribe to ch: the channel's access
// (the server's resource table) checked by auth, as a route's is.
func (c *conn) authorize(ch channel) *frameError {
	var account *[20]byte
	if ch.perAddr {
		account = &ch.addr
	}
	err := c.h.cat.chans[ch.kind].Access.Check(&c.who, c.who.Role, account)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrAuthRequired):
		return &frameError{code: codeAuthRequired, msg: ch.String() + " needs authentication: send {\"op\":\"auth\",\"token\":...} first"}
	}
	return &frameError{code: codeForbidden, msg: ch.String() + ": " + strings.TrimPrefix(err.Error(), auth.ErrForbidden.Error()+": ")}
}

// subscribe subscribes to every channel or, if one is refused, to none.
func (c *conn) subscribe(names []string, since *uint64) {
	chans := make([]channel, 0, len(names))
	added := 0
	for _, n := range names {
		ch, ferr := c.h.cat.parse(n)
		if ferr == nil {
			ferr = c.authorize(ch)
		}
		if ferr != nil {
			c.refuse(ferr)
			return
		}
		if _, ok := c.subs[ch]; !ok && !containsChannel(chans, ch) {
			added++
		}
		if !containsChannel(chans, ch) {
			chans = append(chans, ch)
		}
	}
	if len(c.subs)+added > c.h.cfg.MaxSubscriptions {
		c.refuse(&frameError{code: codeLimitExceeded, msg: "subscription limit push.max_subscriptions reached"})
		return
	}
	canon := make([]string, len(chans))
	for i, ch := range chans {
		canon[i] = ch.String()
		c.subs[ch] = struct{}{}
	}
	h := c.h
	h.mu.Lock()
	// subscribed first, then each channel's replay or reset, then live messages: all queued
	// under the hub lock, so nothing published in between is lost or doubled.
	c.enqueueControl(subscribedFrame(canon, h.index))
	for _, ch := range chans {
		h.subscribe(c, ch, since)
	}
	h.mu.Unlock()
}

func containsChannel(s []channel, ch channel) bool {
	for _, x := range s {
		if x == ch {
			return true
		}
	}
	return false
}

// unsubscribe leaves the channels; leaving one not subscribed is not an error.
func (c *conn) unsubscribe(names []string) {
	chans := make([]channel, 0, len(names))
	canon := make([]string, 0, len(names))
	for _, n := range names {
		ch, ferr := c.h.cat.parse(n)
		if ferr != nil {
			c.refuse(ferr)
			return
		}
		chans = append(chans, ch)
		canon = append(canon, ch.String())
	}
	h := c.h
	h.mu.Lock()
	for _, ch := range chans {
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			h.unsubscribe(c, ch)
		}
	}
	c.enqueueControl(unsubscribedFrame(canon, h.index))
	h.mu.Unlock()
}
