package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paimon/auth"
)

// testClock is the wall clock moved forward by advance, so a test can wait out a Retry-After
// without sleeping.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func withRateLimit(rl auth.RateLimit, clock *testClock) func(*setup) {
	return func(su *setup) {
		su.auth.RateLimit = rl
		if clock != nil {
			su.clock = clock.now
		}
	}
}

// clientFrom is an HTTP client whose connections leave from the loopback address ip
// (127.0.0.0/8 is all loopback on Linux), so the server sees it as another client IP.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// fetch is n.do for other goroutines and other clients: it returns errors instead of failing.
func fetch(c *http.Client, method, url, token string, body string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// checkRateLimited checks a 429 against the contract: Retry-After in whole seconds, equal to
// details.retryAfterSeconds, and the budget named. It returns the Retry-After.
func checkRateLimited(t *testing.T, r response, budget string) int {
	t.Helper()
	if r.status != 429 || r.errorCode() != "RATE_LIMITED" {
		t.Fatalf("status %d %s, want 429 RATE_LIMITED", r.status, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
	body := r.json(t)
	if got := field(body, "error.details.retryAfterSeconds"); got != float64(secs) {
		t.Fatalf("details.retryAfterSeconds %v, Retry-After %d: %s", got, secs, r.body)
	}
	if got := field(body, "error.details.budget"); got != budget {
		t.Fatalf("details.budget %v, want %s: %s", got, budget, r.body)
	}
	if msg, _ := field(body, "error.message").(string); msg == "" {
		t.Fatalf("no message: %s", r.body)
	}
	return secs
}

// TestRateLimitBurst: a burst past the read budget gets 429 with Retry-After and the documented
// body; health, readiness and metrics stay open; the refusals are counted; a token comes back
// after the Retry-After.
func TestRateLimitBurst(t *testing.T) {
	clock := &testClock{}
	n := newTestNode(t, withRateLimit(auth.RateLimit{Read: auth.Budget{Rate: 0.25, Burst: 5}}, clock))
	for i := range 5 {
		if r := n.get("/v1/fund/overview", ""); r.status != 200 {
			t.Fatalf("request %d of the burst: %d %s", i, r.status, r.body)
		}
	}
	// 0.25 tokens a second: the next one is 4 s away.
	if secs := checkRateLimited(t, n.get("/v1/fund/overview", ""), "reads"); secs != 4 {
		t.Fatalf("Retry-After %d, want 4", secs)
	}
	secs := checkRateLimited(t, n.get("/v1/fund/tiers", ""), "reads")
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/metrics"} {
		if r := n.get(p, ""); r.status == 429 {
			t.Fatalf("%s is rate limited: %s", p, r.body)
		}
	}
	if m := string(n.get("/metrics", "").body); !strings.Contains(m, `paimon_http_rate_limited_total{budget="reads"} 2`) ||
		!strings.Contains(m, `paimon_http_rate_limit_clients{budget="reads"} 1`) {
		t.Fatalf("metrics lack the refusals:\n%s", grepLines(m, "rate_limit"))
	}

	clock.advance(time.Duration(secs) * time.Second)
	if r := n.get("/v1/fund/overview", ""); r.status != 200 {
		t.Fatalf("after waiting Retry-After %d s: %d %s", secs, r.status, r.body)
	}
	// One token came back, not the burst.
	checkRateLimited(t, n.get("/v1/fund/overview", ""), "reads")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRateLimitWellBehavedClient: while one client bursts far past its budget, clients sending
// at a modest rate, from another IP or with a token from the same IP, are never refused.
func TestRateLimitWellBehavedClient(t *testing.T) {
	n := newTestNode(t, withRateLimit(auth.RateLimit{Read: auth.Budget{Rate: 20, Burst: 20}}, nil))
	stop := make(chan struct{})
	var refused, served atomic.Int64
	var wg sync.WaitGroup
	burster := clientFrom("127.0.0.1")
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := fetch(burster, "GET", n.url+"/v1/fund/overview", "", "")
				if err != nil {
					continue
				}
				switch r.status {
				case 429:
					refused.Add(1)
				case 200:
					served.Add(1)
				}
			}
		})
	}
	modest := []struct {
		name   string
		client *http.Client
		token  string
	}{
		{"another IP", clientFrom("127.0.0.2"), ""},
		{"a token from the burster's IP", clientFrom("127.0.0.1"), viewerToken},
	}
	errs := make(chan error, len(modest))
	for _, m := range modest {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond) // 10/s, half the budget
			defer tick.Stop()
			for i := range 20 {
				<-tick.C
				r, err := fetch(m.client, "GET", n.url+"/v1/fund/overview", m.token, "")
				if err != nil {
					errs <- fmt.Errorf("%s, request %d: %w", m.name, i, err)
					return
				}
				if r.status != 200 {
					errs <- fmt.Errorf("%s, request %d: %d %s", m.name, i, r.status, r.body)
					return
				}
			}
			errs <- nil
		})
	}
	for range modest {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if refused.Load() == 0 || served.Load() == 0 {
		t.Fatalf("the burster was served %d and refused %d times; want both", served.Load(), refused.Load())
	}
	t.Logf("burster: %d served, %d refused", served.Load(), refused.Load())
}

// TestRateLimitSeparateBudgets: exhausting the write budget leaves reads and logins open, and
// each budget is per client.
func TestRateLimitSeparateBudgets(t *testing.T) {
	n := newTestNode(t, withRateLimit(auth.RateLimit{
		Login: auth.Budget{Rate: 0.01, Burst: 1}, Read: auth.Budget{Rate: 0.01, Burst: 3}, Write: auth.Budget{Rate: 0.01, Burst: 2},
	}, &testClock{}))
	prices := `{"prices":[{"asset":"0x0000000000000000000000000000000000000b01","price":"1000000000000000000","time":"2025-01-01T00:00:00Z"}]}`
	// A refused write is refused before its body is looked at, and a bad body costs a token.
	for i := range 2 {
		if r := n.do("POST", "/v1/admin/prices", operatorToken, []byte(prices)); r.status == 429 {
			t.Fatalf("write %d: %s", i, r.body)
		}
	}
	checkRateLimited(t, n.do("POST", "/v1/admin/prices", operatorToken, []byte(prices)), "writes")
	checkRateLimited(t, n.do("POST", "/v1/admin/logs", operatorToken, []byte(`{"logs":[]}`)), "writes")
	if r := n.do("POST", "/v1/admin/prices", adminToken, []byte(prices)); r.status == 429 {
		t.Fatalf("another token's write: %s", r.body)
	}

	for i := range 3 {
		if r := n.get("/v1/fund/overview", operatorToken); r.status != 200 {
			t.Fatalf("read %d with the token whose writes are exhausted: %d %s", i, r.status, r.body)
		}
	}
	checkRateLimited(t, n.get("/v1/fund/overview", operatorToken), "reads")
	if r := n.get("/v1/fund/overview", ""); r.status != 200 {
		t.Fatalf("an anonymous read from the same IP: %d %s", r.status, r.body)
	}

	// Logins count per IP whatever the token, apart from reads and writes.
	nonce := `{"address":"0x00000000000000000000000000000000000000a1"}`
	if r := n.do("POST", "/v1/auth/nonce", "", []byte(nonce)); r.status == 429 {
		t.Fatalf("first login request: %s", r.body)
	}
	checkRateLimited(t, n.do("POST", "/v1/auth/nonce", "", []byte(nonce)), "login")
	checkRateLimited(t, n.do("POST", "/v1/auth/login", adminToken, []byte(`{}`)), "login")
}

// TestRateLimitExemptions: member calls (a member forwarding a client, or its own) are not
// limited again, nor are health, readiness and metrics; a cluster-secret caller is, by IP.
func TestRateLimitExemptions(t *testing.T) {
	s := bareServer(t, auth.RateLimit{Read: auth.Budget{Rate: 0.01, Burst: 1}, Write: auth.Budget{Rate: 0.01, Burst: 1}}, nil)
	ctx := handlerCtx("/v1/fund/overview", "")
	for _, tc := range []struct {
		name    string
		rc      reqCtx
		limited bool
	}{
		{"forwarded read", reqCtx{route: routeNamed("fund_overview"), who: principal{Via: "node2"}}, false},
		{"forwarded write with a token", reqCtx{route: routeNamed("admin_prices"), who: principal{Name: "ops", Role: auth.RoleOperator, Via: "node2", Key: [32]byte{9}}}, false},
		{"member's own call", reqCtx{route: routeNamed("cluster_join"), who: principal{Name: "node:node2", Role: auth.RoleAdmin, Cluster: true, Via: "node2"}}, false},
		{"healthz", reqCtx{route: routeNamed("healthz")}, false},
		{"readyz", reqCtx{route: routeNamed("readyz")}, false},
		{"metrics", reqCtx{route: routeNamed("metrics")}, false},
		{"cluster secret", reqCtx{route: routeNamed("cluster_join"), who: principal{Name: "cluster-secret", Role: auth.RoleAdmin, Cluster: true}}, true},
		{"anonymous read", reqCtx{route: routeNamed("fund_overview")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for range 3 {
				if err = s.rateLimit(ctx, &tc.rc); err != nil {
					break
				}
			}
			if limited := err != nil; limited != tc.limited {
				t.Fatalf("limited = %v (%v), want %v", limited, err, tc.limited)
			}
		})
	}
}

// bareServer is a server with nothing but its clock and auth's budgets, for calling rateLimit.
func bareServer(t *testing.T, rl auth.RateLimit, clock *testClock) *Server {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	a, err := auth.New(auth.Config{RateLimit: rl}, auth.Deps{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: Config{NodeID: "node1", Addr: "127.0.0.1:0"}, now: now, auth: a}
}

// TestRateLimitDoesNotAllocate: checking a known client allocates nothing, so the cached read
// path stays allocation-free with every budget on (reads included, with room for the runs), as
// it is with the defaults of config.example.toml.
func TestRateLimitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts of the handler are meaningless under the race detector (sync.Pool drops items)")
	}
	// config.example.toml's [ratelimit] (config.Config.AuthConfig maps it).
	defaults := auth.RateLimit{Login: auth.Budget{Rate: 1, Burst: 20}, Read: auth.Budget{Burst: 200}, Write: auth.Budget{Burst: 100},
		FailedLoginsPerIPWallet: 5, FailedLoginsPerIP: 20, FailedLoginWindow: 15 * time.Minute, MaxClients: 100000, IdleEvict: 10 * time.Minute}
	if defaults.Login.Rate == 0 || defaults.FailedLoginsPerIP == 0 {
		t.Fatalf("the defaults limit nothing: %+v", defaults)
	}
	for name, rl := range map[string]auth.RateLimit{
		"defaults":    defaults,
		"all budgets": {Read: auth.Budget{Rate: 1e6, Burst: 1e6}, Write: auth.Budget{Rate: 1e6, Burst: 1e6}, Login: defaults.Login},
	} {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t, withRateLimit(rl, nil))
			for pname, p := range cachedPaths(t, n) {
				ctx := handlerCtx(p[0], p[1])
				n.srv.Handler(ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("%s: %d %s", p[0], ctx.Response.StatusCode(), ctx.Response.Body())
				}
				allocs := testing.AllocsPerRun(200, func() {
					ctx.Response.Reset()
					n.srv.Handler(ctx)
				})
				if allocs != 0 {
					t.Fatalf("%s (%s): %.1f allocations per cached request, want 0", pname, p[0], allocs)
				}
			}
		})
	}
}
