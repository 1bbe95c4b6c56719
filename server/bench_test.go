package server

import (
	"net"
	"testing"

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
	return map[string][2]string{
		"overview":          {"/v1/fund/overview", ""},
		"nav":               {"/v1/fund/nav/history", ""},
		"tiers":             {"/v1/fund/tiers", ""},
		"account":           {"/v1/accounts/" + owner, viewerToken},
		"overview_linear":   {"/v1/fund/overview?consistency=local", ""},
		"account_anonymous": {"/v1/fund/flows", ""},
	}
}

// TestCachedReadsDoNotAllocate is the zero-allocation target of the read path: a cache hit
// (anonymous or with a token) allocates nothing.
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
}
