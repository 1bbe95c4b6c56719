package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/bench/internal/benchkit"
)

// The WebSocket clients: every connection subscribes to the account of a chain holder of its
// own (account:{address}, as a wallet's page would; the chain's events change those accounts),
// connection i to node i mod 3, dialing from its own loopback source address (perIP per
// address, under the nodes' max_conns_per_ip). The first priceClients also subscribe to
// "prices" and measure the WebSocket target on the write load: each acknowledged price write is
// one message, its price the send time (µs). The next eventClients subscribe to "transactions"
// and measure event processing: each chain event of a measured block is one ledger entry,
// latency = received − the block's mined time.

// wsClient is one connection.
type wsClient struct {
	i      int
	node   int
	conn   *websocket.Conn
	probes atomic.Int64 // our price messages received
	events atomic.Int64 // ledger entries of measured blocks received
	msgs   atomic.Int64 // every event frame
	open   atomic.Bool
	prices bool
	ledger bool
}

// wsPool is every connection and what they measured.
type wsPool struct {
	ch       *chain
	priceLat benchkit.Hist // µs, write sent → delivered
	eventLat benchkit.Hist // µs, block mined → delivered

	opened, failed                 atomic.Int64
	resets, errFrames, other, dups atomic.Int64
	quitting                       atomic.Bool

	mu         sync.Mutex
	clients    []*wsClient
	closed     int
	closeCodes map[string]int
	firstErr   string
	firstClose string
}

// wsSpec says how to open the connections.
type wsSpec struct {
	conns, priceClients, eventClients, perIP, holders int
	seed                                              int64
	token                                             string
	timeout                                           time.Duration
}

// openAll opens s.conns connections, 64 at a time, and returns when each is subscribed or
// has failed.
func (p *wsPool) openAll(ctx context.Context, nodes []*member, s wsSpec, holderHex func(int) string) {
	p.closeCodes = map[string]int{}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(64, s.conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := p.open(ctx, nodes, s, i, holderHex(i%s.holders)); err != nil {
					p.failed.Add(1)
					p.mu.Lock()
					if p.firstErr == "" {
						p.firstErr = err.Error()
					}
					p.mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < s.conns && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (p *wsPool) open(ctx context.Context, nodes []*member, s wsSpec, i int, holder string) error {
	src, err := benchkit.SourceAddr(i+wsFirstIP*s.perIP, s.perIP)
	if err != nil {
		return err
	}
	c := &wsClient{i: i, node: i % len(nodes), prices: i < s.priceClients, ledger: i >= s.priceClients && i < s.priceClients+s.eventClients}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: s.timeout}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: s.timeout, ReadBufferSize: 4096, WriteBufferSize: 512}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+s.token)
	ws, resp, err := d.DialContext(ctx, nodes[c.node].wsURL, hdr)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("connection %d from %s: %s %s", i, src, resp.Status, benchkit.Snippet(body))
		}
		return fmt.Errorf("connection %d from %s: %w", i, src, err)
	}
	channels := []string{`"account:` + holder + `"`}
	if c.prices {
		channels = append(channels, `"prices"`)
	}
	if c.ledger {
		channels = append(channels, `"transactions"`)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":[`+strings.Join(channels, ",")+`]}`)); err != nil {
		ws.Close()
		return fmt.Errorf("connection %d: subscribe: %w", i, err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(s.timeout))
	buf := make([]byte, 0, 2048)
	for {
		_, r, err := ws.NextReader()
		if err == nil {
			buf, err = benchkit.ReadMessage(r, buf[:0])
		}
		if err != nil {
			ws.Close()
			return fmt.Errorf("connection %d: waiting for subscribed: %w", i, err)
		}
		if bytes.HasPrefix(buf, []byte(`{"type":"subscribed"`)) {
			break
		}
		if bytes.HasPrefix(buf, []byte(`{"type":"error"`)) {
			ws.Close()
			return fmt.Errorf("connection %d: subscribe refused: %s", i, benchkit.Snippet(buf))
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	c.conn = ws
	c.open.Store(true)
	p.mu.Lock()
	p.clients = append(p.clients, c)
	p.mu.Unlock()
	p.opened.Add(1)
	go p.read(c, buf)
	return nil
}

var (
	eventPrefix   = []byte(`{"type":"event"`)
	pricesChannel = []byte(`"channel":"prices"`)
	txChannel     = []byte(`"channel":"transactions"`)
	ourAsset      = []byte(`"asset":"0x5eed`)
	priceField    = []byte(`"price":"`)
	blockField    = []byte(`"blockNumber":`)
)

// read receives c's frames until the connection ends.
func (p *wsPool) read(c *wsClient, buf []byte) {
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			buf, err = benchkit.ReadMessage(r, buf[:0])
		}
		if err != nil {
			p.ended(c, err)
			return
		}
		now := time.Now()
		switch {
		case bytes.HasPrefix(buf, eventPrefix):
			c.msgs.Add(1)
			switch {
			case c.prices && bytes.Contains(buf, pricesChannel) && bytes.Contains(buf, ourAsset):
				if v, ok := number(buf, priceField); ok {
					p.priceLat.Add(now.UnixMicro() - int64(v))
					c.probes.Add(1)
				}
			case c.ledger && bytes.Contains(buf, txChannel):
				if b, ok := number(buf, blockField); ok {
					if at, ok := p.ch.mined(b); ok {
						p.eventLat.Add(now.Sub(at).Microseconds())
						c.events.Add(1)
					}
				}
			}
		case bytes.HasPrefix(buf, []byte(`{"type":"reset"`)):
			p.resets.Add(1)
		case bytes.HasPrefix(buf, []byte(`{"type":"error"`)):
			p.errFrames.Add(1)
		default:
			p.other.Add(1)
		}
	}
}

// number reads the unsigned integer after field (quoted or not) in a frame.
func number(b, field []byte) (uint64, bool) {
	i := bytes.Index(b, field)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(field):]
	if len(b) > 0 && b[0] == '"' {
		b = b[1:]
	}
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	v, err := strconv.ParseUint(string(b[:j]), 10, 64)
	return v, err == nil
}

// ended records why a connection ended, unless the runner is closing it.
func (p *wsPool) ended(c *wsClient, err error) {
	c.open.Store(false)
	_ = c.conn.Close()
	if p.quitting.Load() {
		return
	}
	why, detail := benchkit.CloseReason(err)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed++
	p.closeCodes[why]++
	if p.firstClose == "" {
		p.firstClose = fmt.Sprintf("connection %d (node%d): %s", c.i, c.node+1, detail)
	}
}

// counts returns, over the probe clients of one kind, the fewest messages a client received
// and how many such clients there are.
func (p *wsPool) fewest(prices bool) (least int64, clients int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	least = -1
	for _, c := range p.clients {
		var n int64
		switch {
		case prices && c.prices:
			n = c.probes.Load()
		case !prices && c.ledger:
			n = c.events.Load()
		default:
			continue
		}
		clients++
		if least < 0 || n < least {
			least = n
		}
	}
	return max(least, 0), clients
}

// openNow returns how many connections are open.
func (p *wsPool) openNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.clients {
		if c.open.Load() {
			n++
		}
	}
	return n
}

// messages returns the event frames received over every connection.
func (p *wsPool) messages() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, c := range p.clients {
		n += c.msgs.Load()
	}
	return n
}

// closeAll closes every connection (the end of the run, not a drop).
func (p *wsPool) closeAll() {
	p.quitting.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		_ = c.conn.NetConn().Close()
	}
}
