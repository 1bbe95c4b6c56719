package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
)

// credential is what a read sends as its Authorization.
type credential int

const (
	public  credential = iota // none
	viewer                    // the viewer API token or the wallet session (a viewer), in turn
	session                   // the wallet session only (GET /v1/auth/me)
	admin                     // the admin token (operator, approver and admin reads)
)

// endpoint is one read of the mix. Path parameters: {holder} (a chain holder's account),
// {asset} (a chain asset), {id} (a redemption), {ticket} (an approval ticket), {date} (today).
type endpoint struct {
	Name   string     `json:"name"`
	Path   string     `json:"path"`
	Cred   credential `json:"-"`
	Weight int        `json:"weight"`
}

// endpoints is every public and authenticated read of the API (docs/API.md) with its share of
// the load: the fund's dashboards polling the cached views most, wallets reading their
// account, operators' lists, the rarest the reports and status pages. /healthz, /readyz,
// /metrics and the admin PostgreSQL verify are operations endpoints, not reads of the API.
var endpoints = []endpoint{
	{"fund_overview", "/v1/fund/overview", public, 200},
	{"fund_nav_history", "/v1/fund/nav/history", public, 80},
	{"fund_nav_1h", "/v1/fund/nav/history?interval=1h&limit=100", public, 40},
	{"fund_tiers", "/v1/fund/tiers", public, 50},
	{"fund_assets", "/v1/fund/assets", public, 40},
	{"fund_flows", "/v1/fund/flows", public, 40},
	{"prices", "/v1/prices", public, 80},
	{"price_history", "/v1/prices/{asset}?history=1&limit=50", public, 40},
	{"risk_status", "/v1/risk/status", public, 30},
	{"system_health", "/v1/system/health", public, 10},
	{"account", "/v1/accounts/{holder}", viewer, 100},
	{"account_transactions", "/v1/accounts/{holder}/transactions?limit=20", viewer, 50},
	{"redemptions", "/v1/redemptions?limit=20", viewer, 40},
	{"redemption", "/v1/redemptions/{id}", viewer, 20},
	{"transactions", "/v1/transactions?limit=20", viewer, 40},
	{"audit", "/v1/audit?limit=20", viewer, 10},
	{"alerts", "/v1/alerts?limit=20", viewer, 10},
	{"risk_events", "/v1/risk/events?limit=20", viewer, 10},
	{"liquidity_forecast", "/v1/risk/liquidity-forecast", viewer, 10},
	{"fund_fees", "/v1/fund/fees", viewer, 10},
	{"report_daily", "/v1/reports/daily?date={date}", viewer, 1}, // the open day: a scan of its ledger per request (bench/RESULTS.md §19)
	{"ingest_status", "/v1/ingest/status", viewer, 10},
	{"cluster_status", "/v1/cluster/status", viewer, 10},
	{"system_config", "/v1/system/config", viewer, 5},
	{"auth_me", "/v1/auth/me", session, 10},
	{"executor_transactions", "/v1/executor/transactions?limit=20", admin, 5},
	{"approvals", "/v1/approvals?limit=20", admin, 5},
	{"approval", "/v1/approvals/{ticket}", admin, 5},
	{"pending_approvals", "/v1/redemptions/pending-approvals", admin, 5},
	{"sla_report", "/v1/approvals/sla-report", admin, 3},
	{"admin_roles", "/v1/admin/roles", admin, 2},
}

// readParams are the values the paths draw from, found once the chain's data is in.
type readParams struct {
	holders []string // accounts that exist (lower-case hex)
	assets  []string // the chain's assets with a price
	id      string   // a redemption
	ticket  string   // an approval ticket, "" when none exists (the endpoint is left out)
	date    string   // YYYY-MM-DD
	viewer  string   // the viewer token
	session string   // the wallet session (role viewer)
	admin   string
}

// readStats counts one endpoint's measured requests; many workers update it at once.
type readStats struct {
	lat              benchkit.Hist // µs, due → answered
	ok, failed, sent atomic.Int64

	mu       sync.Mutex
	errs     map[string]int
	firstErr string
}

func (s *readStats) fail(key, msg string) {
	s.failed.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[key]++
	if s.firstErr == "" {
		s.firstErr = msg
	}
}

// reader sends the open-loop read timeline over the three nodes, request i to node i mod 3.
type reader struct {
	tl      benchkit.Timeline
	eps     []endpoint
	deck    []int
	nodes   []*member
	p       *readParams
	workers int
	timeout time.Duration
	seed    uint64

	stats    []readStats
	all      benchkit.Hist // every endpoint
	late     benchkit.Hist // µs, due → sent
	lateOver atomic.Int64  // sent more than 1 ms late
	start    time.Time
	handed   atomic.Int64 // requests handed to a worker
	unsent   int64        // requests never sent: due before the cut-off, every worker busy
	cut      time.Time    // when sending stopped
}

func newReader(tl benchkit.Timeline, eps []endpoint, nodes []*member, p *readParams, workers int, timeout time.Duration, seed uint64) *reader {
	r := &reader{tl: tl, eps: eps, nodes: nodes, p: p, workers: workers, timeout: timeout, seed: seed, stats: make([]readStats, len(eps))}
	for i := range r.stats {
		r.stats[i].errs = map[string]int{}
	}
	r.deck = deck(eps, seed)
	return r
}

// deck is the endpoints drawn in proportion to their weights, shuffled, so that every
// stretch of the timeline carries the whole mix.
func deck(eps []endpoint, seed uint64) []int {
	var d []int
	for i, e := range eps {
		for range e.Weight {
			d = append(d, i)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

// pick returns request i's endpoint (an index in eps) and node: node i mod nodes and deck
// entry (i / nodes) mod len(deck), so every endpoint reaches every node (deck[i mod len], with
// a deck whose length is a multiple of the nodes, would pin each entry to one node).
func pick(deck []int, nodes int, i int64) (endpoint, node int) {
	return deck[(i/int64(nodes))%int64(len(deck))], int(i % int64(nodes))
}

// run sends the timeline from start and returns once every request is answered or timed out.
func (r *reader) run(ctx context.Context, start time.Time) {
	r.start = start
	r.cut = drive(ctx, r.tl, start, r.timeout, r.workers, func(w int, ch <-chan int64) { r.worker(ch, uint64(w)) })
	r.unsent = countUnsent(r.tl, r.handed.Load(), start, r.cut, &r.all)
}

func (r *reader) worker(ch <-chan int64, id uint64) {
	rng := rand.New(rand.NewPCG(r.seed, id))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for i := range ch {
		r.handed.Add(1)
		due := r.start.Add(r.tl.Due(i))
		k, n := pick(r.deck, len(r.nodes), i)
		m := r.nodes[n]
		r.prepare(req, m, &r.eps[k], i, rng)
		sent := time.Now()
		err := m.reads.Do(req, resp)
		done := time.Now()
		r.record(k, due, sent, done, resp, err)
		resp.Reset()
	}
}

func (r *reader) prepare(req *fasthttp.Request, m *member, e *endpoint, i int64, rng *rand.Rand) {
	req.Reset()
	req.Header.SetMethod("GET")
	path := e.Path
	if strings.Contains(path, "{") {
		path = strings.NewReplacer("{holder}", r.p.holders[rng.IntN(len(r.p.holders))], "{asset}", r.p.assets[rng.IntN(len(r.p.assets))],
			"{id}", r.p.id, "{ticket}", r.p.ticket, "{date}", r.p.date).Replace(path)
	}
	req.SetRequestURI("http://" + m.httpAddr + path)
	switch e.Cred {
	case viewer:
		if i%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+r.p.viewer)
		} else {
			req.Header.Set("Authorization", "Bearer "+r.p.session)
		}
	case session:
		req.Header.Set("Authorization", "Bearer "+r.p.session)
	case admin:
		req.Header.Set("Authorization", "Bearer "+r.p.admin)
	}
	req.SetTimeout(r.timeout)
}

// record counts one answered (or failed) request; a failure's latency is in the histograms
// too (a timeout at its full length).
func (r *reader) record(k int, due, sent, done time.Time, resp *fasthttp.Response, err error) {
	st := &r.stats[k]
	st.sent.Add(1)
	lat := done.Sub(due).Microseconds()
	st.lat.Add(lat)
	r.all.Add(lat)
	late := sent.Sub(due)
	r.late.Add(late.Microseconds())
	if late > time.Millisecond {
		r.lateOver.Add(1)
	}
	code := resp.StatusCode()
	switch {
	case err != nil:
		st.fail("transport: "+errKind(err), err.Error())
	case code != 200:
		st.fail(fmt.Sprintf("http %d", code), fmt.Sprintf("%d %s", code, benchkit.Snippet(resp.Body())))
	default:
		st.ok.Add(1)
	}
}

// errKind names a transport error for the error counts.
func errKind(err error) string {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return "timeout"
	}
	return err.Error()
}

// drive runs a test's open-loop timeline (benchkit.Drive) and stops handing requests out once
// its window and grace have passed: a generator whose every worker is busy (the nodes answer
// slower than the rate needs) would otherwise run on long after the plan's duration. It
// returns the cut-off.
func drive(ctx context.Context, tl benchkit.Timeline, start time.Time, grace time.Duration, workers int, work func(int, <-chan int64)) time.Time {
	cut := start.Add(tl.Warmup + tl.Duration + grace)
	dctx, cancel := context.WithDeadline(ctx, cut)
	defer cancel()
	benchkit.Drive(dctx, tl, start, workers, work)
	if now := time.Now(); now.Before(cut) {
		return now
	}
	return cut
}

// countUnsent returns how many requests of tl were never handed out (Pace hands them out in
// order, so they are the last ones) and adds each to lat with the latency it had at least:
// from its due time to the cut-off (0 for one due after it).
func countUnsent(tl benchkit.Timeline, handed int64, start, cut time.Time, lat *benchkit.Hist) int64 {
	total := tl.Total()
	for i := handed; i < total; i++ {
		lat.Add(cut.Sub(start.Add(tl.Due(i))).Microseconds())
	}
	return max(total-handed, 0)
}
