package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Accept backoff: a temporary accept error (out of file descriptors, a connection aborted
// before it was accepted) is retried after acceptBackoffMin, doubling up to acceptBackoffMax,
// and at once when one of this server's connections closes (which frees a descriptor).
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Lingering close: a connection answered with a transport error (an oversized body, a
// malformed request) is half-closed after the answer and what the client still sends is read
// and dropped, up to lingerBytes or lingerTimeout, before it is closed. Closing with unread
// data makes the kernel send a reset, which can destroy the answer before the client reads it.
const (
	lingerTimeout = 2 * time.Second
	lingerMinimum = 4 << 20
)

// listener is the API's TCP listener. fasthttp stops serving for good on an accept error it
// does not know to be temporary (EMFILE is not: "too many open files" stopped the node's HTTP
// server while the process lived on), so this Accept returns no error until it is closed: it
// retries with backoff, counts each failure in paimon_http_accept_errors_total, logs at most
// once a second (an error other than running out of descriptors or an aborted connection at
// level error, the others at warn), and reports itself failing (/readyz) until a connection is
// accepted again. It also bounds
// the connections from one address (http.max_conns_per_ip; an IPv6 address counts by its
// /64): one over the limit is answered 429 (without TLS) and closed as soon as it is accepted.
type listener struct {
	net.Listener
	logger     *slog.Logger
	maxPerIP   int
	tls        bool // fasthttp serves TLS over this listener: refuse without an answer
	lingerMax  int64
	errs       *metrics.Counter
	refusedIP  *metrics.Counter
	freed      chan struct{} // a connection closed: retry a failing accept now
	done       chan struct{} // Close was called
	closeOnce  sync.Once
	failing    atomic.Bool
	lastLogged time.Time // accept goroutine only

	mu    sync.Mutex
	perIP map[[16]byte]int
	// lingers are the lingering closes in progress (each ends within lingerTimeout); Close
	// of the server waits for them (waitLingers). noLinger, under mu, is set once it waits:
	// fasthttp's workers may still close a connection after its Shutdown returned (over TLS,
	// the tls.Conn's Close reaches ours late), and a WaitGroup must not be added to while it
	// is waited for, so such a close is a plain one.
	lingers  sync.WaitGroup
	noLinger bool
}

// startLinger counts a lingering close, unless the server is already waiting for them.
func (l *listener) startLinger() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.noLinger {
		return false
	}
	l.lingers.Add(1)
	return true
}

// waitLingers waits for the lingering closes in progress; later closes do not linger.
func (l *listener) waitLingers() {
	l.mu.Lock()
	l.noLinger = true
	l.mu.Unlock()
	l.lingers.Wait()
}

func newListener(ln net.Listener, tls bool, maxPerIP, maxBody int, logger *slog.Logger, ms *metrics.Set) *listener {
	return &listener{
		Listener:  ln,
		tls:       tls,
		logger:    logger,
		maxPerIP:  maxPerIP,
		lingerMax: int64(max(4*maxBody, lingerMinimum)),
		errs:      ms.GetOrCreateCounter("paimon_http_accept_errors_total"),
		refusedIP: ms.GetOrCreateCounter("paimon_http_conns_refused_total"),
		freed:     make(chan struct{}, 1),
		done:      make(chan struct{}),
		perIP:     map[[16]byte]int{},
	}
}

// temporaryAcceptError reports whether an accept error is known to pass: the process or the
// system is out of descriptors (or memory for one), or the client gave up before it was
// accepted.
func temporaryAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Accept returns the next connection from an address under its limit. It returns an error
// only when the listener is closed.
func (l *listener) Accept() (net.Conn, error) {
	delay := time.Duration(0)
	var timer *time.Timer
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
			}
			l.errs.Inc()
			l.failing.Store(true)
			if now := time.Now(); now.Sub(l.lastLogged) >= time.Second {
				l.lastLogged = now
				level := slog.LevelWarn
				if !temporaryAcceptError(err) {
					level = slog.LevelError // not known to pass; retried all the same
				}
				l.logger.Log(context.Background(), level, "http accept failing; retrying", "error", err, "failures", l.errs.Get())
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			select {
			case <-timer.C:
			case <-l.freed:
				// Since Go 1.23 a stopped timer's channel holds no stale value: no drain
				// (which could block here for good).
				timer.Stop()
			case <-l.done:
				timer.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		if l.failing.Swap(false) {
			l.logger.Info("http accept recovered", "failures", l.errs.Get())
		}
		delay = 0
		key := connKey(c.RemoteAddr())
		l.mu.Lock()
		n := l.perIP[key]
		if n >= l.maxPerIP {
			l.mu.Unlock()
			l.refusedIP.Inc()
			l.refuse(c)
			continue
		}
		l.perIP[key] = n + 1
		l.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		return &trackedConn{Conn: c, l: l, key: key}, nil
	}
}

// tooManyConns is the answer to a connection over http.max_conns_per_ip on a plain HTTP
// listener, written whole before anything is read.
var tooManyConns = func() []byte {
	body := `{"error":{"code":"RATE_LIMITED","message":"too many open connections from this address (http.max_conns_per_ip)"}}`
	return []byte(fmt.Sprintf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}()

// refuse closes a connection over the per-address limit: on plain HTTP after a 429 (a short
// write into an empty socket buffer, which does not hold up the accept loop; a TLS client
// gets no answer, as it has not finished its handshake).
func (l *listener) refuse(c net.Conn) {
	if !l.tls {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		_, _ = c.Write(tooManyConns)
	}
	_ = c.Close()
}

// Close stops Accept (also one waiting to retry) and closes the socket.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *listener) release(key [16]byte) {
	l.mu.Lock()
	if n := l.perIP[key] - 1; n > 0 {
		l.perIP[key] = n
	} else {
		delete(l.perIP, key)
	}
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// connKey is the per-address key of a remote address: the IPv4 address, or an IPv6 address's
// /64.
func connKey(a net.Addr) [16]byte {
	var k [16]byte
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return k
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		copy(k[12:], ip4)
		k[10], k[11] = 0xff, 0xff
		return k
	}
	copy(k[:8], ta.IP.To16())
	return k
}

// trackedConn is an accepted connection: closing it frees its address's slot, after a
// lingering close when the server asked for one.
type trackedConn struct {
	net.Conn
	l      *listener
	key    [16]byte
	linger atomic.Bool
	once   sync.Once
}

// UnsafeConn is the bare connection, which push writes vectors of frames to (see push's
// rawConn); closing it directly is fine, Close here still runs when fasthttp lets go of it.
func (c *trackedConn) UnsafeConn() net.Conn { return c.Conn }

func (c *trackedConn) Close() error {
	var err error
	c.once.Do(func() {
		if c.linger.Load() && c.l.startLinger() {
			go c.lingerClose()
			return
		}
		err = c.Conn.Close()
		c.l.release(c.key)
	})
	return err
}

// lingerClose half-closes the connection (the answer already written goes out, then FIN),
// reads what the client still sends until it closes its side or the bounds pass, and closes.
func (c *trackedConn) lingerClose() {
	defer c.l.lingers.Done()
	defer c.l.release(c.key)
	if tc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, c.l.lingerMax))
	_ = c.Conn.Close()
}

// lingerOnClose asks for a lingering close of the request's connection (see lingerClose).
func lingerOnClose(nc net.Conn) {
	for nc != nil {
		if tc, ok := nc.(*trackedConn); ok {
			tc.linger.Store(true)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn }) // *tls.Conn
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

// DefaultMaxConnsPerIP is http.max_conns_per_ip's default.
const DefaultMaxConnsPerIP = 256

// DefaultConcurrency is http.concurrency's default: the process's descriptor limit less what
// the rest of the node needs — Pebble's table files, the Raft log and transport, PostgreSQL's
// pool, log files: a quarter of the limit, at least 64 and at most 4096 descriptors — and at
// most 262,144. WebSocket connections are not in it (push.max_conns bounds them); see the
// README for the LimitNOFILE to set.
func DefaultConcurrency() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 256 * 1024
	}
	return concurrencyFor(rl.Cur)
}

func concurrencyFor(limit uint64) int {
	reserve := min(max(limit/4, 64), 4096)
	if limit <= reserve+16 {
		return 16
	}
	return int(min(limit-reserve, 256*1024))
}
