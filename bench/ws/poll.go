package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A worker reads its connections with epoll, on one goroutine per core (a poller), not with a
// goroutine per connection: at 5,000 connections and 50 updates a second that was a
// goroutine wake-up, two reads (the second one EAGAIN) and a message reader allocated per
// frame, and the workers, on the same cores as the server they measure, took CPU the server
// then lacked. A poller reads whatever a ready socket holds in one read, parses every frame in
// it and times each event at that read's return, the moment its bytes reached the worker, so
// the latency still counts everything up to the client (bench/README.md, "ws").

// poller owns an epoll instance and the connections registered with it.
type poller struct {
	w    *worker
	epfd int
	// buf is readSize bytes for a read after room for what the last one left of a frame.
	buf      []byte
	readSize int

	mu    sync.Mutex
	conns map[int32]*client // by descriptor
}

func newPoller(w *worker, bufSize int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &poller{w: w, epfd: epfd, buf: make([]byte, maxServerFrame+16+bufSize), readSize: bufSize, conns: map[int32]*client{}}, nil
}

// add registers a subscribed connection.
func (p *poller) add(c *client) error {
	p.mu.Lock()
	p.conns[int32(c.fd)] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(c.fd))
		p.mu.Unlock()
		return fmt.Errorf("epoll add: %w", err)
	}
	return nil
}

// run serves ready connections until the worker quits. With a poll interval it waits that
// long after serving what was ready before it looks again, so that under load a wake-up
// serves many sockets and a read takes what several writes sent; an event read after such a
// wait is timed then, so the wait is in the latency measured.
func (p *poller) run(interval time.Duration) {
	events := make([]unix.EpollEvent, 512)
	for !p.w.quitting.Load() {
		if interval > 0 {
			time.Sleep(interval)
		}
		n, err := unix.EpollWait(p.epfd, events, 200)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.w.fatal(fmt.Sprintf("epoll_wait: %v", err))
			return
		}
		for i := range events[:n] {
			p.mu.Lock()
			c := p.conns[events[i].Fd]
			p.mu.Unlock()
			if c != nil {
				p.service(c)
			}
		}
	}
}

// service reads what the socket holds (with what an earlier read left of a frame in front of
// it) and handles every whole frame; it reads again only when a read filled the buffer.
func (p *poller) service(c *client) {
	for {
		k := copy(p.buf, c.carry)
		m, err := unix.Read(c.fd, p.buf[k:k+p.readSize])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			p.end(c, closeWhy(err), err.Error())
			return
		case m == 0:
			p.end(c, "eof", "EOF")
			return
		}
		now := time.Now().UnixMicro()
		data := p.buf[:k+m]
		for len(data) > 0 {
			f, n, err := nextFrame(data, maxServerFrame)
			if err != nil {
				p.end(c, "protocol", err.Error())
				return
			}
			if n == 0 {
				break
			}
			data = data[n:]
			if !p.frame(c, f, now) {
				return
			}
		}
		c.carry = append(c.carry[:0], data...)
		if m < p.readSize {
			return // the socket had no more
		}
	}
}

// frame handles one whole frame; false when it ended the connection.
func (p *poller) frame(c *client, f serverFrame, now int64) bool {
	w := p.w
	switch f.op {
	case opText:
		if !f.fin {
			w.other.Add(1) // the node never fragments; counted, not timed
			return true
		}
		switch kind, v := classify(f.payload); kind {
		case frameEvent:
			c.shard.Add(now - v)
			c.received.Add(1)
			if !w.sampled.Load() && w.sampled.CompareAndSwap(false, true) {
				w.keepSample(f.payload)
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
	case opPing:
		// The node drops a client that answers nothing for ping_interval + pong_timeout.
		var key [4]byte
		_, _ = rand.Read(key[:])
		c.out = clientFrame(c.out[:0], opPong, f.payload, key)
		if _, err := unix.Write(c.fd, c.out); err != nil && !errors.Is(err, unix.EAGAIN) {
			p.end(c, closeWhy(err), err.Error())
			return false
		}
	case opClose:
		code, reason := closeCode(f.payload)
		p.end(c, fmt.Sprint(code), fmt.Sprintf("close %d %q", code, reason))
		return false
	case opPong:
	default:
		w.other.Add(1)
	}
	return true
}

// end closes c and records why, unless the worker is quitting.
func (p *poller) end(c *client, why, detail string) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	delete(p.conns, int32(c.fd))
	p.mu.Unlock()
	c.open.Store(false)
	c.closeMu.Lock()
	_ = unix.Close(c.fd)
	c.closed = true
	c.closeMu.Unlock()
	p.w.ended(why, detail)
}

// closeWhy names a read or write error as CloseReason does.
func closeWhy(err error) string {
	if errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) {
		return "reset"
	}
	return "error"
}
