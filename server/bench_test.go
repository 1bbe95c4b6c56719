package server

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// handlerCtx prepares a reusable request context for calling the handler directly.
func handlerCtx(path, token string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.Header.SetMethod("GET")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	return ctx
}

func cachedPaths(t testing.TB, n *testNode) map[string][2]string {
	t.Helper()
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	owner := n.mustGet("/v1/redemptions/1", viewerToken)["owner"].(string)
	w := newWallet(t)
	n.mint(w, 1)
	session := n.login(w)
	return map[string][2]string{
		"overview_token":    {"/v1/fund/overview", viewerToken},
		"overview_session":  {"/v1/fund/overview", session},
		"account_owner":     {"/v1/accounts/" + w.addr, session},
		"overview":          {"/v1/fund/overview", ""},
		"nav":               {"/v1/fund/nav/history", ""},
		"tiers":             {"/v1/fund/tiers", ""},
		"account":           {"/v1/accounts/" + owner, viewerToken},
		"overview_linear":   {"/v1/fund/overview?consistency=local", ""},
		"account_anonymous": {"/v1/fund/flows", ""},
		"risk_status":       {"/v1/risk/status", ""},
	}
}

// encodedReads are cached reads with an Accept-Encoding (path, Accept-Encoding, If-None-Match,
// the Content-Encoding of the answer), read after cachedPaths and loadDataset: the NAV
// history in each coding, the overview (under minCompressBytes: identity for every client)
// and a 304.
var encodedReads = map[string][4]string{
	"nav_gzip":      {"/v1/fund/nav/history", "gzip", "", "gzip"},
	"nav_br":        {"/v1/fund/nav/history", "gzip, deflate, br, zstd", "", "br"},
	"nav_zstd":      {"/v1/fund/nav/history", "zstd;q=1, br;q=0.5", "", "zstd"},
	"nav_identity":  {"/v1/fund/nav/history", "identity", "", ""},
	"nav_gzip_304":  {"/v1/fund/nav/history", "gzip", "*", ""},
	"overview_gzip": {"/v1/fund/overview", "gzip, br", "", ""},
}

// encodedCtx is handlerCtx with the headers of an encodedReads row.
func encodedCtx(r [4]string) *fasthttp.RequestCtx {
	ctx := handlerCtx(r[0], "")
	ctx.Request.Header.Set("Accept-Encoding", r[1])
	if r[2] != "" {
		ctx.Request.Header.Set("If-None-Match", r[2])
	}
	return ctx
}

// TestCachedReadsDoNotAllocate is the zero-allocation target of the read path: a cache hit
// (anonymous, with a token or with a wallet session) allocates nothing.
func TestCachedReadsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	n := newTestNode(t)
	for name, p := range cachedPaths(t, n) {
		t.Run(name, func(t *testing.T) {
			ctx := handlerCtx(p[0], p[1])
			n.srv.Handler(ctx) // warm the cache and the buffers
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("%s: %d %s", p[0], ctx.Response.StatusCode(), ctx.Response.Body())
			}
			allocs := testing.AllocsPerRun(200, func() {
				ctx.Response.Reset()
				n.srv.Handler(ctx)
			})
			if allocs != 0 {
				t.Fatalf("%s: %.1f allocations per cached request, want 0", p[0], allocs)
			}
		})
	}
	m := newTestNode(t) // the walkthrough's NAV history is too small to compress
	loadDataset(t, m)
	for name, r := range encodedReads {
		t.Run(name, func(t *testing.T) {
			ctx := encodedCtx(r)
			m.srv.Handler(ctx) // warm: renders the representation
			m.srv.Handler(ctx)
			if st := ctx.Response.StatusCode(); st != 200 && st != 304 || string(ctx.Response.Header.ContentEncoding()) != r[3] {
				t.Fatalf("%s (%s): %d, Content-Encoding %q", r[0], r[1], st, ctx.Response.Header.ContentEncoding())
			}
			allocs := testing.AllocsPerRun(200, func() {
				ctx.Response.Reset()
				m.srv.Handler(ctx)
			})
			if allocs != 0 {
				t.Fatalf("%s (%s): %.1f allocations per cached request, want 0", r[0], r[1], allocs)
			}
		})
	}
}

func BenchmarkCachedRead(b *testing.B) {
	n := newTestNode(b)
	for name, p := range cachedPaths(b, n) {
		b.Run(name, func(b *testing.B) {
			ctx := handlerCtx(p[0], p[1])
			n.srv.Handler(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				n.srv.Handler(ctx)
			}
		})
	}
	m := newTestNode(b) // the walkthrough's NAV history is too small to compress
	loadDataset(b, m)
	for name, r := range encodedReads {
		b.Run(name, func(b *testing.B) {
			ctx := encodedCtx(r)
			m.srv.Handler(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				m.srv.Handler(ctx)
			}
			b.ReportMetric(float64(len(ctx.Response.Body())), "body-bytes")
		})
	}
}

// BenchmarkAuthenticatedRead compares the same cached read (the fund overview) anonymous, with
// a static token and with a wallet session, interleaved in rounds so that the machine's noise
// falls on all three alike. It reports ns per request of each and the overheads in percent
// (the target: an authenticated cached read costs at most 10 % more than an anonymous one).
func BenchmarkAuthenticatedRead(b *testing.B) {
	n := newTestNode(b)
	paths := cachedPaths(b, n)
	kinds := []string{"overview", "overview_token", "overview_session"}
	ctxs := make([]*fasthttp.RequestCtx, len(kinds))
	for i, k := range kinds {
		ctxs[i] = handlerCtx(paths[k][0], paths[k][1])
		n.srv.Handler(ctxs[i])
		if ctxs[i].Response.StatusCode() != 200 {
			b.Fatalf("%s: %d %s", k, ctxs[i].Response.StatusCode(), ctxs[i].Response.Body())
		}
	}
	const round = 2000
	var total [3]time.Duration
	rounds := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, ctx := range ctxs {
			start := time.Now()
			for range round {
				ctx.Response.Reset()
				n.srv.Handler(ctx)
			}
			total[i] += time.Since(start)
		}
		rounds++
	}
	per := func(i int) float64 { return float64(total[i].Nanoseconds()) / float64(rounds*round) }
	b.ReportMetric(per(0), "ns/anon")
	b.ReportMetric(per(1), "ns/token")
	b.ReportMetric(per(2), "ns/session")
	b.ReportMetric(100*(per(1)/per(0)-1), "%token-overhead")
	b.ReportMetric(100*(per(2)/per(0)-1), "%session-overhead")
}

// BenchmarkRiskStatusOverHTTP compares GET /v1/risk/status with GET /v1/fund/overview over
// real HTTP on 127.0.0.1 (a fasthttp client, 32 concurrent requesters), in alternating rounds
// of 20,000 requests each, so that the machine's noise falls on both alike. It reports the
// requests per second of each and their ratio (the target: the risk status serves as fast as
// the overview). The client shares the cores with the server: the absolute figures are lower
// than wrk's (bench/httpbench), the ratio is what counts.
func BenchmarkRiskStatusOverHTTP(b *testing.B) {
	n := newTestNode(b)
	cachedPaths(b, n) // the walkthrough's logs
	addr := strings.TrimPrefix(n.url, "http://")
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 64}
	paths := []string{"/v1/fund/overview", "/v1/risk/status"}
	const round, workers = 20000, 32
	var elapsed [2]time.Duration
	run := func(path string) time.Duration {
		var wg sync.WaitGroup
		var failed atomic.Int64
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://" + addr + path)
				for i := w; i < round; i += workers {
					if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%s: %d failed requests", path, f)
		}
		return time.Since(start)
	}
	for _, p := range paths { // warm the cache and the connections
		run(p)
	}
	rounds := 0
	b.ResetTimer()
	for b.Loop() {
		for i, p := range paths {
			elapsed[i] += run(p)
		}
		rounds++
	}
	rps := func(i int) float64 { return float64(rounds*round) / elapsed[i].Seconds() }
	b.ReportMetric(rps(0), "overview-req/s")
	b.ReportMetric(rps(1), "risk-req/s")
	b.ReportMetric(rps(1)/rps(0), "risk/overview")
}
