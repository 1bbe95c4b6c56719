package push

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"paimon/auth"
)

// ErrBadHandshake: the request is not a valid WebSocket handshake.
var ErrBadHandshake = errors.New("push: not a WebSocket handshake")

// Serve upgrades the request to a WebSocket connection served by the hub. who is who the
// request's Authorization header authenticated (the zero Principal: anonymous; a browser
// authenticates with an auth frame instead). Errors come before the upgrade, with nothing
// written: the caller maps them to an HTTP response.
func (h *Hub) Serve(ctx *fasthttp.RequestCtx, who auth.Principal) error {
	if origin := ctx.Request.Header.Peek("Origin"); len(origin) > 0 && !h.originAllowed(origin) {
		return fmt.Errorf("%w: %.100q", ErrOriginNotAllowed, origin)
	}
	if err := checkHandshake(&ctx.Request.Header); err != nil {
		return err
	}
	ip := ctx.RemoteIP().String()
	if err := h.admit(ip); err != nil {
		return err
	}
	var reason error
	up := websocket.FastHTTPUpgrader{
		HandshakeTimeout: 10 * time.Second,
		// The library reads through this buffer; writes bypass its buffers (conn.go).
		ReadBufferSize:  512,
		WriteBufferSize: 128,
		WriteBufferPool: writeBufferPool,
		CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true }, // checked above
		Error:           func(_ *fasthttp.RequestCtx, _ int, r error) { reason = r },
	}
	err := up.Upgrade(ctx, func(ws *websocket.Conn) {
		if n := h.cfg.SendBufferBytes; n > 0 {
			if s, ok := rawConn(ws.NetConn()).(interface{ SetWriteBuffer(int) error }); ok {
				_ = s.SetWriteBuffer(n)
			}
		}
		c := newConn(h, ws, ip, who)
		if !h.register(c) {
			_ = ws.NetConn().Close()
			return
		}
		defer h.wg.Done() // after the close below: a writer starts only while this is counted
		h.m.opened.Inc()
		c.readLoop()
		h.remove(c)
		// Let the writer send what is queued and a close frame, within the write timeout.
		c.closeWith(closeNormal, "")
		select {
		case <-c.closed:
		case <-time.After(h.cfg.WriteTimeout):
		}
		c.closeNC()
	})
	if err != nil {
		h.release(ip)
		if reason == nil {
			reason = err
		}
		return fmt.Errorf("%w: %v", ErrBadHandshake, reason)
	}
	return nil
}

// checkHandshake refuses what the library lets through: a Sec-WebSocket-Key that is not 16
// bytes in base64 (RFC 6455 §4.2.1), a Sec-WebSocket-Version other than exactly 13. The
// messages are fixed: nothing of the request is quoted back.
func checkHandshake(hdr *fasthttp.RequestHeader) error {
	key := bytes.TrimSpace(hdr.Peek("Sec-WebSocket-Key"))
	// 16 bytes are 24 characters of base64; the length is checked first, since Decode
	// writes as much as its input holds (a longer key overran the buffer: found by
	// FuzzHandshake).
	var raw [18]byte
	if len(key) != 24 {
		return fmt.Errorf("%w: Sec-WebSocket-Key must be 16 bytes in base64", ErrBadHandshake)
	}
	if n, err := base64.StdEncoding.Decode(raw[:], key); err != nil || n != 16 {
		return fmt.Errorf("%w: Sec-WebSocket-Key must be 16 bytes in base64", ErrBadHandshake)
	}
	if v := bytes.TrimSpace(hdr.Peek("Sec-WebSocket-Version")); string(v) != "13" {
		return fmt.Errorf("%w: Sec-WebSocket-Version must be 13", ErrBadHandshake)
	}
	return nil
}

// writeBufferPool serves the library's write path, which only ever writes a close frame for a
// protocol error: one small pool for every connection.
var writeBufferPool = &sync.Pool{}

func (h *Hub) originAllowed(origin []byte) bool {
	if len(h.cfg.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range h.cfg.AllowedOrigins {
		if o == "*" || bytes.EqualFold([]byte(o), origin) {
			return true
		}
	}
	return false
}

// admit reserves a connection slot for ip.
func (h *Hub) admit(ip string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return ErrClosed
	case h.nconns >= h.cfg.MaxConns:
		h.m.refusedConns.Inc()
		return fmt.Errorf("%w (push.max_conns = %d)", ErrTooManyConns, h.cfg.MaxConns)
	case h.perIP[ip] >= h.cfg.MaxConnsPerIP:
		h.m.refusedConns.Inc()
		return fmt.Errorf("%w (push.max_conns_per_ip = %d)", ErrTooManyConnsFromIP, h.cfg.MaxConnsPerIP)
	}
	h.nconns++
	h.perIP[ip]++
	return nil
}

func (h *Hub) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked(ip)
}

func (h *Hub) releaseLocked(ip string) {
	h.nconns--
	if h.perIP[ip]--; h.perIP[ip] <= 0 {
		delete(h.perIP, ip)
	}
}

// register adds an upgraded connection; false when the hub closed meanwhile.
func (h *Hub) register(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.releaseLocked(c.ip)
		return false
	}
	h.conns[c] = struct{}{}
	c.slot = h.registered
	h.registered++
	h.wg.Add(1) // the connection's handler, done when it returns
	return true
}

// remove drops a connection from every channel and frees its slot.
func (h *Hub) remove(c *conn) {
	h.mu.Lock()
	for ch := range c.subs {
		h.unsubscribe(c, ch)
	}
	delete(h.conns, c)
	h.releaseLocked(c.ip)
	h.mu.Unlock()
	h.m.closedConns.Inc()
}
