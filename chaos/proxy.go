// Package chaos is the fault campaign of issue 14: real paimon processes behind TCP proxies the
// test controls, a seeded nemesis, clients recording every operation, and a linearizability
// checker (porcupine) over the history. This file is the proxy; the campaign is in the tests.
package chaos

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Unknown is the source name of a connection whose owner the proxy's Identify could not name
// (the test's own clients, or a process that has exited meanwhile).
const Unknown = "unknown"

// Link is what the proxy does to the connections one source opens to it.
type Link struct {
	// Cut closes the source's open connections and every new one as soon as it is accepted:
	// the source can no longer reach the target (one way: the target's own connections to the
	// source go through the source's proxy and are not affected).
	Cut bool
	// Latency delays every chunk copied on the source's connections, in both directions.
	Latency time.Duration
	// Bandwidth, when positive, limits the bytes per second the source's connections carry, in
	// each direction: all of its connections share one token bucket per direction (a link of
	// that capacity), whose burst is a tenth of a second's worth (at least 4 KiB).
	Bandwidth int
}

// Proxy forwards TCP connections from a listen address to a target address and applies a Link
// per source. A node advertises its proxy's address, so every peer reaches it through the
// proxy; the proxy names the peer that opened a connection with Identify (see ConnOwner), which
// makes per-link and asymmetric cuts possible on one loopback interface.
type Proxy struct {
	target   string
	identify func(net.Conn) string
	ln       net.Listener

	mu      sync.Mutex
	links   map[string]Link
	buckets map[string]*[2]*rate.Limiter     // by source, for a Link with a Bandwidth: to the target, back
	conns   map[string]map[net.Conn]struct{} // by source, both halves of each proxied connection
	wg      sync.WaitGroup
	done    bool
	ident   identifyStats
}

// identifyStats is what naming the accepted connections has cost: the proxy forwards nothing
// before its Identify returns, so a peer's handshake waits that long for its first byte.
type identifyStats struct {
	calls, inFlight int
	total, max      time.Duration
}

// NewProxy listens on listen (e.g. "127.0.0.1:0") and forwards to target. identify names the
// source of an accepted connection; nil names every connection Unknown.
func NewProxy(listen, target string, identify func(net.Conn) string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	if identify == nil {
		identify = func(net.Conn) string { return Unknown }
	}
	p := &Proxy{target: target, identify: identify, ln: ln, links: map[string]Link{}, buckets: map[string]*[2]*rate.Limiter{}, conns: map[string]map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetLink sets what happens to the connections from source; a cut closes the open ones now.
func (p *Proxy) SetLink(source string, l Link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l == (Link{}) {
		delete(p.links, source)
	} else {
		p.links[source] = l
	}
	delete(p.buckets, source)
	if l.Bandwidth > 0 {
		burst := max(l.Bandwidth/10, 4<<10)
		p.buckets[source] = &[2]*rate.Limiter{rate.NewLimiter(rate.Limit(l.Bandwidth), burst), rate.NewLimiter(rate.Limit(l.Bandwidth), burst)}
	}
	if l.Cut {
		for c := range p.conns[source] {
			c.Close()
		}
	}
}

// Heal removes every link rule.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.links)
	clear(p.buckets)
}

// Close stops accepting, closes every proxied connection and waits for the copying to end.
// It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	err := p.ln.Close()
	for _, cs := range p.conns {
		for c := range cs {
			c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) link(source string) Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.links[source]
}

// bucket is the token bucket of source's traffic in direction dir (0: to the target), or nil.
func (p *Proxy) bucket(source string, dir int) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.buckets[source]; b != nil {
		return b[dir]
	}
	return nil
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track registers c under source; it refuses (false) when the proxy is closing or the link
// is cut.
func (p *Proxy) track(source string, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done || p.links[source].Cut {
		return false
	}
	if p.conns[source] == nil {
		p.conns[source] = map[net.Conn]struct{}{}
	}
	for _, c := range cs {
		p.conns[source][c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(source string, cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns[source], c)
		c.Close()
	}
}

func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	source := p.timedIdentify(in)
	if p.link(source).Cut {
		in.Close()
		return
	}
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(source, in, out) {
		in.Close()
		out.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(source, 0, out, in) }()
	go func() { defer wg.Done(); p.copy(source, 1, in, out) }()
	wg.Wait()
	p.untrack(source, in, out)
}

// timedIdentify names in's source and counts what that cost.
func (p *Proxy) timedIdentify(in net.Conn) string {
	p.mu.Lock()
	p.ident.inFlight++
	p.mu.Unlock()
	start := time.Now()
	source := p.identify(in)
	d := time.Since(start)
	p.mu.Lock()
	p.ident.inFlight--
	p.ident.calls++
	p.ident.total += d
	p.ident.max = max(p.ident.max, d)
	p.mu.Unlock()
	return source
}

// State describes the proxy for a failure message: its rules, its open connections by source
// and what naming the sources has cost so far.
func (p *Proxy) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var links, conns []string
	for s, l := range p.links {
		links = append(links, fmt.Sprintf("%s:%+v", s, l))
	}
	for s, cs := range p.conns {
		if len(cs) > 0 {
			conns = append(conns, fmt.Sprintf("%s:%d", s, len(cs)/2)) // both halves are tracked
		}
	}
	sort.Strings(links)
	sort.Strings(conns)
	mean := time.Duration(0)
	if p.ident.calls > 0 {
		mean = p.ident.total / time.Duration(p.ident.calls)
	}
	return fmt.Sprintf("%s -> %s: links [%s], open connections [%s], identify %d calls (mean %s, max %s, %d in progress)",
		p.Addr(), p.target, strings.Join(links, " "), strings.Join(conns, " "), p.ident.calls, mean.Round(time.Microsecond), p.ident.max.Round(time.Microsecond), p.ident.inFlight)
}

// IdentifyMax is the longest one Identify has taken so far.
func (p *Proxy) IdentifyMax() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ident.max
}

// copy copies src to dst chunk by chunk, applying the source's link to each chunk (dir is the
// direction: 0 to the target, 1 back); it closes both ends when either side ends or the link
// is cut.
func (p *Proxy) copy(source string, dir int, dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l := p.link(source)
			if l.Cut {
				return
			}
			if l.Latency > 0 {
				time.Sleep(l.Latency)
			}
			if werr := p.write(source, dir, dst, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: either way this direction is over
		}
	}
}

// write writes b to dst, in pieces no larger than the bucket's burst, each once the source's
// bucket for dir holds its bytes (the bucket is looked up per piece, so a heal applies at once).
func (p *Proxy) write(source string, dir int, dst net.Conn, b []byte) error {
	for len(b) > 0 {
		n := len(b)
		if lim := p.bucket(source, dir); lim != nil {
			n = min(n, lim.Burst())
			if err := lim.WaitN(context.Background(), n); err != nil {
				return err
			}
		}
		if _, err := dst.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
