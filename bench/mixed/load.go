package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

// mintValue is the shares each write mints (base units): small, so the fund's figures stay
// plausible over a run.
const mintValue = 1_000_000

// target is the node the load goes to and what the requests draw from.
type target struct {
	base    string // http://host:port
	token   string
	holders []common.Address // accounts read and credited, drawn uniformly
	hexes   []string         // the holders as the API spells them (lower-case 0x + 40 hex)
	assets  []string         // assets of /v1/prices/{asset}
}

// kindStats counts one kind's measured requests. Many workers update it at once.
type kindStats struct {
	lat, svc                     benchkit.Hist // µs: due → answered, sent → answered
	ok, non2xx, transport, other atomic.Int64  // other: a 200 to a write that did not accept it

	mu       sync.Mutex
	errs     map[string]int
	firstErr string
}

func (s *kindStats) fail(counter *atomic.Int64, key, msg string) {
	counter.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[key]++
	if s.firstErr == "" {
		s.firstErr = msg
	}
}

// generator sends a timeline of requests from a pool of workers over pooled keep-alive
// connections and measures each one.
type generator struct {
	tl      benchkit.Timeline
	deck    []int // kinds, see deck
	tgt     *target
	client  *fasthttp.HostClient
	workers int
	timeout time.Duration
	seed    uint64

	stats    []kindStats   // by kind, measured requests only
	late     benchkit.Hist // µs from due to sent, measured requests
	lateOver atomic.Int64  // measured requests sent more than lateLimit after their due time
	warmSent, warmFailed,
	sent, inFlight, maxInFlight atomic.Int64
	lastDone atomic.Int64 // unix ns of the last measured answer
	start    time.Time    // of the timeline, set by run
}

// lateLimit is how late a send may be before the generator counts it as late: the pacer's
// wake-up (timer slack) and the hand-off to a worker take 0.05–0.3 ms on an idle machine.
const lateLimit = time.Millisecond

func newGenerator(tl benchkit.Timeline, d []int, tgt *target, addr string, workers int, timeout time.Duration, seed uint64) *generator {
	g := &generator{tl: tl, deck: d, tgt: tgt, workers: workers, timeout: timeout, seed: seed, stats: make([]kindStats, len(kinds)),
		// One connection per worker at most: a worker has one request in flight at a time.
		client: &fasthttp.HostClient{Addr: addr, MaxConns: workers, ReadTimeout: timeout, WriteTimeout: timeout,
			MaxIdleConnDuration: time.Minute, MaxConnWaitTimeout: timeout}}
	for i := range g.stats {
		g.stats[i].errs = map[string]int{}
	}
	return g
}

// run sends the whole timeline from start (a moment in the near future, so that every worker
// is waiting when the first request is due) and returns when every request sent has been
// answered or has timed out; ctx stops sending.
func (g *generator) run(ctx context.Context, start time.Time) {
	g.start = start
	benchkit.Drive(ctx, g.tl, start, g.workers, func(w int, ch <-chan int64) { g.worker(ch, uint64(w)) })
}

// windowStart is when the first measured request was due.
func (g *generator) windowStart() time.Time { return g.windowStartAt(g.start) }

// windowStartAt is when the first measured request is due on a timeline that starts at start.
func (g *generator) windowStartAt(start time.Time) time.Time {
	return start.Add(g.tl.Due(g.tl.SlotsIn(g.tl.Warmup)))
}

// worker sends the requests it is handed until ch closes, one at a time.
func (g *generator) worker(ch <-chan int64, id uint64) {
	rng := rand.New(rand.NewPCG(g.seed, id))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var uri []byte
	for i := range ch {
		due := g.start.Add(g.tl.Due(i))
		k := g.deck[i%int64(len(g.deck))]
		uri = g.prepare(req, uri, &kinds[k], i, rng)
		n := g.inFlight.Add(1)
		for m := g.maxInFlight.Load(); n > m && !g.maxInFlight.CompareAndSwap(m, n); m = g.maxInFlight.Load() {
		}
		sent := time.Now()
		err := g.client.Do(req, resp)
		done := time.Now()
		g.inFlight.Add(-1)
		g.record(i, k, due, sent, done, resp, err)
		resp.Reset()
	}
}

// prepare fills req for request i of kind k: a holder or an asset drawn with rng where the
// path has one; a write mints to a holder, with i as the mint's sequence number (unique, so
// never a duplicate).
func (g *generator) prepare(req *fasthttp.Request, uri []byte, k *kind, i int64, rng *rand.Rand) []byte {
	req.Reset()
	req.Header.SetMethod(k.Method)
	uri = append(uri[:0], g.tgt.base...)
	path := k.path
	h := rng.IntN(len(g.tgt.holders))
	if strings.Contains(path, "{addr}") {
		path = strings.Replace(path, "{addr}", g.tgt.hexes[h], 1)
	}
	if strings.Contains(path, "{asset}") {
		path = strings.Replace(path, "{asset}", g.tgt.assets[rng.IntN(len(g.tgt.assets))], 1)
	}
	uri = append(uri, path...)
	req.SetRequestURIBytes(uri)
	if k.Auth {
		req.Header.Set("Authorization", "Bearer "+g.tgt.token)
	}
	if k.Write {
		req.Header.SetContentType("application/json")
		req.SetBody(fundtest.Body(fundtest.MintLog(g.tgt.holders[h], int(i), mintValue)))
	}
	req.SetTimeout(g.timeout)
	return uri
}

var acceptedOne = []byte(`"accepted":1`)

// record counts request i: in the warm-up only whether it failed; after it its latency from
// the due time and from the send, how late it was sent, and its outcome. Failed requests are
// in the latency histograms too (a timeout at its full length).
func (g *generator) record(i int64, k int, due, sent, done time.Time, resp *fasthttp.Response, err error) {
	code := resp.StatusCode()
	if !g.tl.Measured(i) {
		g.warmSent.Add(1)
		if err != nil || code < 200 || code > 299 {
			g.warmFailed.Add(1)
		}
		return
	}
	g.sent.Add(1)
	st := &g.stats[k]
	st.lat.Add(done.Sub(due).Microseconds())
	st.svc.Add(done.Sub(sent).Microseconds())
	late := sent.Sub(due)
	g.late.Add(late.Microseconds())
	if late > lateLimit {
		g.lateOver.Add(1)
	}
	for last := g.lastDone.Load(); done.UnixNano() > last && !g.lastDone.CompareAndSwap(last, done.UnixNano()); last = g.lastDone.Load() {
	}
	switch {
	case err != nil:
		st.fail(&st.transport, "transport: "+errKind(err), err.Error())
	case code < 200 || code > 299:
		st.fail(&st.non2xx, fmt.Sprintf("http %d", code), fmt.Sprintf("%d %s", code, benchkit.Snippet(resp.Body())))
	case kinds[k].Write && !bytes.Contains(resp.Body(), acceptedOne):
		st.fail(&st.other, "write not accepted", benchkit.Snippet(resp.Body()))
	default:
		st.ok.Add(1)
	}
}

// errKind names a transport error for the error counts: a timeout, or the error's text.
func errKind(err error) string {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return "timeout"
	}
	return err.Error()
}
