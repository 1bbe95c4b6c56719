package push

import (
	"cmp"
	"errors"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Flush passes (DESIGN.md, "Writes"): the publisher queues a round of batches' frames on every
// subscriber, marks the connections and wakes the flusher; a pass writes each marked
// connection's whole queue with one non-blocking writev, on GOMAXPROCS goroutines at most. No
// goroutine of the connection's is woken per message. The publisher does not wait for a pass:
// what it queues while one runs goes out in that pass for the connections it has not reached
// yet (their queue is taken when the pass gets to them), and in the next pass, with whatever
// else came meanwhile, for the others. Since a pass writes the connections oldest first
// (passOrder), a message therefore waits at most about one pass, not the rest of the running
// one and then its place in the next. A write the socket cannot take
// at once (its buffer is full: a slow client) leaves the rest to the connection's writer
// goroutine, which waits with the write deadline as before.

const (
	// flushShard is the fewest connections one goroutine of a pass writes: below that, a
	// second goroutine costs more than it saves.
	flushShard = 256
	// maxIovecs is the most buffers one writev takes (IOV_MAX on Linux); a longer queue goes
	// to the writer goroutine, whose net.Buffers splits it.
	maxIovecs = 1024
	// yieldEvery is how many connections a pass goroutine writes before it yields (~0.5 ms).
	yieldEvery = 32
)

// kickFlush wakes the flusher: the publisher after each round of batches, broadcastEvent after
// its frames. It never waits; a wake-up already pending covers this one.
func (h *Hub) kickFlush() {
	select {
	case h.flushWake <- struct{}{}:
	default:
	}
}

// flushLoop is the flusher: a pass each time it is woken.
func (h *Hub) flushLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-h.flushWake:
		}
		h.flushDirty()
	}
}

// flushDirty runs one pass over the connections marked since the last one, oldest first
// (passOrder). The pass's goroutines take the connections from the list one after another
// (an atomic index), so together they go through it in that order and a goroutine that the
// machine holds up does not hold its share of the list with it.
func (h *Hub) flushDirty() {
	h.mu.Lock()
	conns := h.dirty
	h.dirty, h.dirtySpare = h.dirtySpare[:0], nil
	h.mu.Unlock()
	if len(conns) == 0 {
		h.putDirtySpare(conns)
		return
	}
	start := h.now()
	h.passRank = passOrder(conns, h.passRank)
	workers := min(runtime.GOMAXPROCS(0), (len(conns)+flushShard-1)/flushShard)
	p := &pass{conns: conns}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run()
		}()
	}
	p.run()
	wg.Wait()
	h.m.flushPass.Update(h.now().Sub(start).Seconds())
	clear(conns)
	h.putDirtySpare(conns)
}

// passOrder sorts a pass's connections oldest first — by the apply time of the oldest frame
// each has waiting, then by the place each had in the previous pass — and numbers them from
// rank on for the next pass; it returns the last number. The publisher marks the subscribers
// of a message in map order, which is random: the list came in rounds of marking (the
// connections a pass had written before each message), each round in a random order, so a
// connection written early in one pass could come late in its round in the next and wait up
// to a round longer than a pass. A connection's markedAt and passRank change only once a pass
// took it, so they are stable here.
func passOrder(conns []*conn, rank uint64) uint64 {
	slices.SortFunc(conns, func(a, b *conn) int {
		if c := cmp.Compare(a.markedAt, b.markedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.passRank, b.passRank)
	})
	for _, c := range conns {
		rank++
		c.passRank = rank
	}
	return rank
}

func (h *Hub) putDirtySpare(conns []*conn) {
	h.mu.Lock()
	if h.dirtySpare == nil {
		h.dirtySpare = conns[:0]
	}
	h.mu.Unlock()
}

// pass is one flush pass's list; its goroutines take the connections in order.
type pass struct {
	conns []*conn
	next  atomic.Int64
}

func (p *pass) run() {
	var iov [][]byte
	for {
		i := int(p.next.Add(1) - 1)
		if i >= len(p.conns) {
			break
		}
		iov = p.conns[i].flush(iov[:0])
		if i%yieldEvery == yieldEvery-1 {
			// A pass holds every P of the process (a non-blocking writev does not give its P
			// up): let the node's other goroutines — the HTTP handlers, Raft, apply, the
			// publisher — run between writes rather than wait for the scheduler's 10 ms
			// preemption.
			runtime.Gosched()
		}
	}
	clear(iov)
}

// flush writes the connection's queue without waiting, if no writer goroutine has it. It
// returns its scratch buffer list for the next connection.
func (c *conn) flush(iov [][]byte) [][]byte {
	c.mu.Lock()
	c.dirty = false
	switch {
	case c.writing || c.flushing || len(c.q) == 0:
		// A running writer was woken when the frames were queued.
		c.mu.Unlock()
		return iov
	case c.closing || len(c.q) > maxIovecs:
		c.startWriterLocked()
		c.mu.Unlock()
		return iov
	}
	out := c.q
	c.q, c.spare, c.exempt, c.groups, c.controls, c.replays = c.spare[:0], nil, 0, 0, 0, 0
	c.flushing = true
	c.mu.Unlock()

	for i := range out {
		iov = append(iov, out[i].b)
	}
	n, err := c.writeNow(iov)
	// The frames written whole; the rest, from the first one cut, is the writer's.
	k := 0
	var oldest int64
	live := 0
	for ; k < len(out) && n >= len(out[k].b); k++ {
		n -= len(out[k].b)
		if at := out[k].at; at != 0 {
			live++
			if oldest == 0 || at < oldest {
				oldest = at
			}
		}
	}
	if live > 0 {
		c.h.m.delivered.Add(live)
		c.h.m.writes.Inc()
		c.h.m.deliveryLag.Update(float64(c.h.now().UnixNano()-oldest) / 1e9)
	}

	c.mu.Lock()
	c.flushing = false
	switch {
	case err != nil:
		c.writing, c.closing, c.q = false, true, nil
		c.mu.Unlock()
		c.h.m.writeErrors.Inc()
		c.closeNC()
		return iov
	case k < len(out):
		rest := out[k:]
		rest[0].b = rest[0].b[n:]
		c.writing = true
		c.h.wg.Add(1)
		go c.writeLoop(rest)
	default:
		clear(out)
		c.spare = out[:0]
		if len(c.q) > 0 {
			c.startWriterLocked() // control frames queued during the write
		}
	}
	c.mu.Unlock()
	return iov
}

// writeNow writes bufs with one writev that does not wait: it returns what the socket took
// (0 when its buffer is full) and an error only for a broken connection.
func (c *conn) writeNow(bufs [][]byte) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if werr != unix.EINTR {
				return true // done, or EAGAIN: never wait here
			}
		}
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline a writer goroutine set earlier has passed (nothing was written): the
		// writer takes the frames and sets a new one.
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if werr == unix.EAGAIN {
		return max(n, 0), nil
	}
	return max(n, 0), werr
}
