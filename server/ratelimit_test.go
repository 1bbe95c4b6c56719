package server

import (
	"encoding/binary"
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

	"github.com/VictoriaMetrics/metrics"

	"paimon/config"
)

// testClock is the wall clock moved forward by advance, so a test can wait out a Retry-After
// without sleeping.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func withRateLimit(rl RateLimit, clock *testClock) func(*Config) {
	return func(c *Config) {
		c.RateLimit = rl
		if clock != nil {
			c.Now = clock.now
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
	n := newTestNode(t, withRateLimit(RateLimit{Read: Budget{Rate: 0.25, Burst: 5}}, clock))
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
	n := newTestNode(t, withRateLimit(RateLimit{Read: Budget{Rate: 20, Burst: 20}}, nil))
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
	n := newTestNode(t, withRateLimit(RateLimit{
		Login: Budget{Rate: 0.01, Burst: 1}, Read: Budget{Rate: 0.01, Burst: 3}, Write: Budget{Rate: 0.01, Burst: 2},
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
	s := bareServer(t, RateLimit{Read: Budget{Rate: 0.01, Burst: 1}, Write: Budget{Rate: 0.01, Burst: 1}}, nil)
	ctx := handlerCtx("/v1/fund/overview", "")
	for _, tc := range []struct {
		name    string
		rc      reqCtx
		limited bool
	}{
		{"forwarded read", reqCtx{route: rOverview, who: principal{via: "node2"}}, false},
		{"forwarded write with a token", reqCtx{route: rPostPrices, who: principal{name: "ops", role: roleOperator, via: "node2", key: [32]byte{9}}}, false},
		{"member's own call", reqCtx{route: rClusterJoin, who: principal{name: "node:node2", role: roleAdmin, cluster: true, via: "node2"}}, false},
		{"healthz", reqCtx{route: rHealth}, false},
		{"readyz", reqCtx{route: rReady}, false},
		{"metrics", reqCtx{route: rMetrics}, false},
		{"cluster secret", reqCtx{route: rClusterJoin, who: principal{name: "cluster-secret", role: roleAdmin, cluster: true}}, true},
		{"anonymous read", reqCtx{route: rOverview}, true},
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

// bareServer is a server with nothing but its clock and budgets, for calling rateLimit and the
// failed-login methods.
func bareServer(t *testing.T, rl RateLimit, clock *testClock) *Server {
	t.Helper()
	if err := rl.validate(); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: "node1", Addr: "127.0.0.1:0", RateLimit: rl, Now: time.Now}
	if clock != nil {
		cfg.Now = clock.now
	}
	return &Server{cfg: cfg, limits: newRateLimits(rl, metrics.NewSet())}
}

// TestRateLimitFailedLogins: failed logins are budgeted per wallet address and per client IP;
// checking spends nothing; the budgets refill over the window.
func TestRateLimitFailedLogins(t *testing.T) {
	clock := &testClock{}
	s := bareServer(t, RateLimit{FailedLoginsPerAddress: 3, FailedLoginsPerIP: 5, FailedLoginWindow: 15 * time.Minute}, clock)
	a, b, c := [20]byte{0xa}, [20]byte{0xb}, [20]byte{0xc}
	const ip1, ip2 = "203.0.113.7", "2001:db8::1"
	allowed := func(ip string, addr [20]byte) (bool, time.Duration) {
		t.Helper()
		for range 3 { // checking spends nothing
			s.failedLoginAllowed(ip, addr)
		}
		return s.failedLoginAllowed(ip, addr)
	}
	for i := range 3 {
		if ok, _ := allowed(ip1, a); !ok {
			t.Fatalf("failure %d of address a refused", i)
		}
		s.recordFailedLogin(ip1, a)
	}
	// 3 per 15 minutes: one failure comes back every 5 minutes.
	if ok, wait := allowed(ip1, a); ok || wait <= 4*time.Minute || wait > 5*time.Minute {
		t.Fatalf("address a after 3 failures: %v, retry after %s; want refused for about 5m", ok, wait)
	}
	if ok, wait := allowed(ip2, a); ok || wait <= 4*time.Minute {
		t.Fatalf("address a from another IP: %v %s; want refused", ok, wait)
	}
	if ok, _ := allowed(ip1, b); !ok {
		t.Fatal("address b from ip1 refused with 3 of 5 IP failures spent")
	}
	s.recordFailedLogin(ip1, b)
	s.recordFailedLogin(ip1, b)
	// ip1 has spent 5 of 5: every address is refused from it, not from elsewhere.
	if ok, wait := allowed(ip1, c); ok || wait <= 2*time.Minute || wait > 3*time.Minute {
		t.Fatalf("ip1 after 5 failures: %v %s; want refused for about 3m", ok, wait)
	}
	if ok, _ := allowed(ip2, c); !ok {
		t.Fatal("address c from ip2 refused")
	}
	if ok, _ := allowed("2001:db8::2", c); !ok {
		t.Fatal("another IPv6 address of ip2's /64 refused though ip2 failed nothing")
	}
	s.recordFailedLogin(ip2, c)
	s.recordFailedLogin("2001:db8::ffff", c) // same /64 as ip2
	if s.limits.failedIP.len() != 2 {
		t.Fatalf("%d IPs tracked, want 2 (ip1 and ip2's /64)", s.limits.failedIP.len())
	}

	clock.advance(5 * time.Minute)
	if ok, wait := allowed(ip2, a); !ok {
		t.Fatalf("address a 5 minutes later: refused for %s", wait)
	}
	if ok, _ := allowed(ip1, c); !ok {
		t.Fatal("ip1 5 minutes later: refused")
	}

	off := bareServer(t, RateLimit{}, nil)
	for range 100 {
		off.recordFailedLogin(ip1, a)
	}
	if ok, _ := off.failedLoginAllowed(ip1, a); !ok {
		t.Fatal("failed logins limited with the limits off")
	}
}

// TestRateLimitKeys: IPv4 and its IPv6-mapped form are one client, an IPv6 client counts by its
// /64, and the text and binary forms agree.
func TestRateLimitKeys(t *testing.T) {
	key := func(ip string) [32]byte {
		var k [32]byte
		ipStringKey(&k, ip)
		return k
	}
	var v4 [32]byte
	ipKey(&v4, net.IP{192, 0, 2, 1})
	if v4 != key("192.0.2.1") || v4 != key("::ffff:192.0.2.1") {
		t.Fatal("an IPv4 address has several keys")
	}
	var v4in16 [32]byte
	ipKey(&v4in16, net.ParseIP("192.0.2.1"))
	if v4 != v4in16 {
		t.Fatal("the 4- and 16-byte forms of an IPv4 address differ")
	}
	if key("192.0.2.1") == key("192.0.2.2") {
		t.Fatal("two IPv4 addresses share a key")
	}
	if key("2001:db8:1:2::1") != key("2001:db8:1:2:ffff::9") {
		t.Fatal("one IPv6 /64 has several keys")
	}
	if key("2001:db8:1:2::1") == key("2001:db8:1:3::1") {
		t.Fatal("two IPv6 /64s share a key")
	}
	if key("not an ip") == key("not an ip either") || key("not an ip") == key("") {
		t.Fatal("text that is not an IP collapses")
	}
}

// TestLimiterEvictionBoundsMemory: a flood of distinct clients is bounded by max_clients (the
// least recently seen go first, a busy client stays), and idle clients are forgotten.
func TestLimiterEvictionBoundsMemory(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := newLimiter(1, 5, 640, time.Minute)
	var busy [32]byte
	ipKey(&busy, net.IP{198, 51, 100, 1})
	for range 5 {
		l.allow(&busy, t0)
	}
	keyOf := func(i int) *[32]byte {
		var k [32]byte
		ipKey(&k, binary.BigEndian.AppendUint32(nil, uint32(i)))
		return &k
	}
	for i := range 100_000 {
		if ok, _ := l.allow(keyOf(i), t0); !ok {
			t.Fatalf("new client %d refused", i)
		}
		if i%100 == 0 {
			l.allow(&busy, t0) // keeps it recently seen; refused, it has no token left
		}
	}
	if got := l.len(); got > 640 {
		t.Fatalf("%d clients remembered, want at most 640", got)
	}
	if ok, _ := l.allow(&busy, t0); ok {
		t.Fatal("the busy client was forgotten and got a fresh bucket")
	}

	// Two minutes later (idle is max(1m, 5 s to refill)), new clients push out idle ones.
	l2 := newLimiter(1, 5, 100_000, time.Minute)
	for i := range 1000 {
		l2.allow(keyOf(i), t0)
	}
	for i := range 1000 {
		l2.allow(keyOf(1_000_000+i), t0.Add(2*time.Minute))
	}
	if got := l2.len(); got > 1000+64 {
		t.Fatalf("%d clients remembered after the first 1000 went idle, want about 1000", got)
	}
	// Not yet idle: a client seen 30 s ago keeps its (empty) bucket.
	l3 := newLimiter(1, 5, 100_000, time.Minute)
	for range 6 {
		l3.allow(&busy, t0)
	}
	for i := range 100 {
		l3.allow(keyOf(i), t0.Add(30*time.Second))
	}
	if l3.len() != 101 {
		t.Fatalf("%d clients, want 101", l3.len())
	}
}

// TestLimiterRetryAfter: a refused call says when the next token comes, and it does come then.
func TestLimiterRetryAfter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := newLimiter(2, 3, 1000, time.Minute)
	k := &[32]byte{1}
	for i := range 3 {
		if ok, _ := l.allow(k, t0); !ok {
			t.Fatalf("call %d of the burst refused", i)
		}
	}
	if ok, wait := l.allow(k, t0); ok || wait != 500*time.Millisecond {
		t.Fatalf("allow = %v, %s; want refused for 500ms", ok, wait)
	}
	if ok, wait := l.allow(k, t0.Add(100*time.Millisecond)); ok || wait < 399*time.Millisecond || wait > 400*time.Millisecond {
		t.Fatalf("allow 100ms later = %v, %s; want refused for 400ms", ok, wait)
	}
	if ok, _ := l.allow(k, t0.Add(499*time.Millisecond)); ok {
		t.Fatal("allowed before the token came")
	}
	if ok, _ := l.allow(k, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused when the token came")
	}
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {4 * time.Second, 4}} {
		if got := (&rateLimitError{retryAfter: tc.d}).seconds(); got != tc.want {
			t.Errorf("Retry-After of %s = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestRateLimitDoesNotAllocate: checking a known client allocates nothing, so the cached read
// path stays allocation-free with every budget on (reads included, with room for the runs), as
// it is with the defaults of config.example.toml.
func TestRateLimitDoesNotAllocate(t *testing.T) {
	l := newLimiter(1e9, 1e9, 1000, time.Minute)
	k := &[32]byte{7}
	now := time.Now()
	l.allow(k, now)
	if allocs := testing.AllocsPerRun(1000, func() { l.allow(k, now) }); allocs != 0 {
		t.Fatalf("%.1f allocations per check of a known key, want 0", allocs)
	}
	if raceEnabled {
		t.Skip("allocation counts of the handler are meaningless under the race detector (sync.Pool drops items)")
	}
	defaults := RateLimitOf(config.Default().RateLimit)
	if defaults.Login.Rate == 0 || defaults.FailedLoginsPerIP == 0 {
		t.Fatalf("the defaults limit nothing: %+v", defaults)
	}
	for name, rl := range map[string]RateLimit{
		"defaults":    defaults,
		"all budgets": {Read: Budget{Rate: 1e6, Burst: 1e6}, Write: Budget{Rate: 1e6, Burst: 1e6}, Login: defaults.Login},
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
			if rl.Read.Rate > 0 && n.srv.limits.reads.lim.len() == 0 {
				t.Fatal("the read budget saw no client")
			}
		})
	}
}

// BenchmarkLimiterAllow measures a check of known clients from every core.
func BenchmarkLimiterAllow(b *testing.B) {
	l := newLimiter(1e9, 1e9, 100_000, time.Minute)
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var k [32]byte
		ipKey(&k, binary.BigEndian.AppendUint32(nil, next.Add(1)))
		now := time.Now()
		for pb.Next() {
			l.allow(&k, now)
		}
	})
}
