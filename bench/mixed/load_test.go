package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

// TestGenerator runs a short timeline against a fake node: every request of the mix is sent
// once per slot, with its path filled in and the token where it needs one, and the report
// counts answers, errors and latencies per kind.
func TestGenerator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	paths := map[string]int{}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		mu.Lock()
		paths[string(ctx.Method())+" "+string(ctx.RequestURI())]++
		mu.Unlock()
		authed := string(ctx.Request.Header.Peek("Authorization")) == "Bearer tok"
		switch {
		case strings.HasPrefix(p, "/v1/accounts/") != authed && p != "/v1/redemptions" && p != "/v1/admin/logs":
			ctx.SetStatusCode(fasthttp.StatusUnauthorized) // token on a public read or none on a private one
		case p == "/v1/fund/tiers":
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		case p == "/v1/admin/logs" && authed && strings.Contains(string(ctx.PostBody()), `"logs"`):
			ctx.SetBodyString(`{"accepted":1,"duplicates":0,"skipped":0,"index":7}`)
		default:
			ctx.SetBodyString(`{}`)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()

	mix, err := parseMix("overview=2,tiers=1,account=1,price_history=1,write=1")
	if err != nil {
		t.Fatal(err)
	}
	holders := []string{"0x00000000000000000000000000000000000000aa"}
	tgt := &target{base: "http://" + ln.Addr().String(), token: "tok", holders: []common.Address{fundtest.Addr("holder")},
		hexes: holders, assets: []string{"0xasset"}}
	tl := benchkit.Timeline{Rate: 600, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}
	g := newGenerator(tl, deck(mix, 1), tgt, ln.Addr().String(), 8, time.Second, 1)
	g.run(context.Background(), time.Now().Add(10*time.Millisecond))

	r := &report{}
	r.results(g, mix)
	if r.Planned != 300 || r.Sent != 300 || r.Overall.Count != 300 || r.Warmup.Sent != 60 {
		t.Fatalf("planned %d, sent %d, counted %d, warm-up %d", r.Planned, r.Sent, r.Overall.Count, r.Warmup.Sent)
	}
	byKind := map[string]kindResult{}
	for _, k := range r.Kinds {
		byKind[k.Kind] = k
	}
	if k := byKind["tiers"]; k.Non2xx != k.Count || k.Errors["http 503"] != int(k.Count) || !strings.HasPrefix(k.FirstError, "503") {
		t.Errorf("tiers: %+v", k)
	}
	for _, key := range []string{"overview", "account", "price_history", "write"} {
		if k := byKind[key]; k.OK != k.Count || k.Count < 40 || k.LatencyMs.P99 <= 0 || k.ServiceMs.P99 > k.LatencyMs.Max {
			t.Errorf("%s: %+v", key, k)
		}
	}
	if r.Overall.failed() != byKind["tiers"].Count || r.Met {
		t.Errorf("overall: %+v, met %v", r.Overall, r.Met)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"GET /v1/fund/overview", "GET /v1/accounts/" + holders[0], "GET /v1/prices/0xasset?history=1&limit=50", "POST /v1/admin/logs"} {
		if paths[want] == 0 {
			t.Errorf("never sent %s; sent %v", want, paths)
		}
	}
	if r.Generator.MaxInFlight < 1 || r.Generator.LateMs.N != 300 {
		t.Errorf("generator: %+v", r.Generator)
	}
}
