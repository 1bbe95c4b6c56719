package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"paimon/config"
)

// RateLimit configures the per-client budgets of the API: a token bucket per credential (static
// token or session), else per client IP. A budget with a zero Rate is off; the zero RateLimit
// limits nothing.
type RateLimit struct {
	// Login is spent by POST /v1/auth/nonce and /v1/auth/login, always per client IP.
	Login Budget
	// Read is spent by every GET except /healthz, /readyz and /metrics.
	Read Budget
	// Write is spent by every other POST.
	Write Budget
	// FailedLoginsPerAddress and FailedLoginsPerIP failed logins are allowed per
	// FailedLoginWindow for one wallet address and from one client IP; 0 is no limit.
	FailedLoginsPerAddress int
	FailedLoginsPerIP      int
	FailedLoginWindow      time.Duration
	// MaxClients bounds the clients each budget remembers; the least recently seen is
	// forgotten first (default 100000).
	MaxClients int
	// IdleEvict forgets a client after this long without a request (default 10 minutes), or
	// after its bucket has refilled, whichever is later, so forgetting never grants tokens.
	IdleEvict time.Duration
}

// Budget is a token bucket: Rate tokens a second, at most Burst at once.
type Budget struct {
	Rate  float64
	Burst int
}

// RateLimitOf maps the [ratelimit] section to the server's budgets; enabled = false is the
// zero RateLimit.
func RateLimitOf(c config.RateLimit) RateLimit {
	if !c.Enabled {
		return RateLimit{}
	}
	return RateLimit{
		Login:                  Budget{Rate: c.LoginRate, Burst: c.LoginBurst},
		Read:                   Budget{Rate: c.ReadRate, Burst: c.ReadBurst},
		Write:                  Budget{Rate: c.WriteRate, Burst: c.WriteBurst},
		FailedLoginsPerAddress: c.FailedLoginPerAddress,
		FailedLoginsPerIP:      c.FailedLoginPerIP,
		FailedLoginWindow:      c.FailedLoginWindow.D(),
		MaxClients:             c.MaxClients,
		IdleEvict:              c.IdleEvict.D(),
	}
}

// validate checks the budgets and fills defaults.
func (r *RateLimit) validate() error {
	for _, b := range []struct {
		name string
		b    Budget
	}{{"login", r.Login}, {"read", r.Read}, {"write", r.Write}} {
		if !(b.b.Rate >= 0) || math.IsInf(b.b.Rate, 0) {
			return fmt.Errorf("server: %s rate %g must be a finite number >= 0", b.name, b.b.Rate)
		}
		if b.b.Rate > 0 && b.b.Burst < 1 {
			return fmt.Errorf("server: %s burst %d must be at least 1", b.name, b.b.Burst)
		}
	}
	if r.FailedLoginsPerAddress < 0 || r.FailedLoginsPerIP < 0 {
		return errors.New("server: failed login limits must not be negative")
	}
	if r.FailedLoginWindow <= 0 {
		r.FailedLoginWindow = 15 * time.Minute
	}
	if r.MaxClients <= 0 {
		r.MaxClients = 100000
	}
	if r.IdleEvict <= 0 {
		r.IdleEvict = 10 * time.Minute
	}
	return nil
}

// rateLimitError is a request refused because its client spent its budget; retryAfter is when
// the next token comes. apiErrorOf maps it to 429 RATE_LIMITED with Retry-After.
type rateLimitError struct {
	budget     string
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limit of the %s budget exceeded; retry in %d s", e.budget, e.seconds())
}

// seconds is retryAfter in whole seconds, rounded up, at least 1: the Retry-After value.
func (e *rateLimitError) seconds() int {
	s := int((e.retryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Budget names, as reported in the error details and the metric label.
const (
	budgetLogin       = "login"
	budgetReads       = "reads"
	budgetWrites      = "writes"
	budgetFailedLogin = "failed_logins"
)

// budgetLimiter is one budget: its keyed buckets (nil when the budget is off) and the counter
// of requests it refused.
type budgetLimiter struct {
	name    string
	lim     *limiter
	refused *metrics.Counter
}

// rateLimits are the server's budgets.
type rateLimits struct {
	login, reads, writes budgetLimiter
	// failedAddr and failedIP count failed logins per wallet address and per client IP; nil
	// when off.
	failedAddr, failedIP *limiter
	failedRefused        *metrics.Counter
}

func newRateLimits(c RateLimit, set *metrics.Set) *rateLimits {
	rl := &rateLimits{
		login:         budgetLimiter{name: budgetLogin},
		reads:         budgetLimiter{name: budgetReads},
		writes:        budgetLimiter{name: budgetWrites},
		failedRefused: set.GetOrCreateCounter(`paimon_http_rate_limited_total{budget="` + budgetFailedLogin + `"}`),
	}
	for _, b := range []struct {
		bl *budgetLimiter
		b  Budget
	}{{&rl.login, c.Login}, {&rl.reads, c.Read}, {&rl.writes, c.Write}} {
		b.bl.refused = set.GetOrCreateCounter(`paimon_http_rate_limited_total{budget="` + b.bl.name + `"}`)
		if b.b.Rate > 0 {
			b.bl.lim = newLimiter(rate.Limit(b.b.Rate), b.b.Burst, c.MaxClients, c.IdleEvict)
			set.GetOrCreateGauge(`paimon_http_rate_limit_clients{budget="`+b.bl.name+`"}`, b.bl.lim.gauge)
		}
	}
	perWindow := func(n int) rate.Limit { return rate.Limit(float64(n) / c.FailedLoginWindow.Seconds()) }
	if n := c.FailedLoginsPerAddress; n > 0 {
		rl.failedAddr = newLimiter(perWindow(n), n, c.MaxClients, c.IdleEvict)
	}
	if n := c.FailedLoginsPerIP; n > 0 {
		rl.failedIP = newLimiter(perWindow(n), n, c.MaxClients, c.IdleEvict)
	}
	return rl
}

// rateLimit spends one token of the request's budget, or refuses it with a *rateLimitError.
// /healthz, /readyz and /metrics are never limited, nor are requests a member forwarded (it
// limited the client already) or a member's own calls. The login budget is per client IP; the
// others per credential, else per client IP. It does not allocate for a known client.
func (s *Server) rateLimit(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	rt := &routes[rc.route]
	var b *budgetLimiter
	switch {
	case rc.route == rHealth || rc.route == rReady || rc.route == rMetrics, rc.who.via != "":
		return nil
	case rt.login:
		b = &s.limits.login
	case rt.method == "GET":
		b = &s.limits.reads
	default:
		b = &s.limits.writes
	}
	if b.lim == nil {
		return nil
	}
	var key [32]byte
	if rc.who.key != ([32]byte{}) && !rt.login {
		key = rc.who.key
	} else {
		ipKey(&key, ctx.RemoteIP())
	}
	ok, wait := b.lim.allow(&key, time.Unix(0, s.requestTime(ctx)))
	if ok {
		return nil
	}
	b.refused.Inc()
	return &rateLimitError{budget: b.name, retryAfter: wait}
}

// failedLoginAllowed reports whether a login for addr from ip may be attempted: whether both
// the address's and the IP's failed-login budgets have a failure left. It spends nothing;
// recordFailedLogin does. When refused, retryAfter is when both have one again. ip is the
// client IP as clientIP returns it.
func (s *Server) failedLoginAllowed(ip string, addr [20]byte) (ok bool, retryAfter time.Duration) {
	now := s.cfg.Now()
	ok = true
	if l := s.limits.failedAddr; l != nil {
		var key [32]byte
		addrKey(&key, addr)
		if w := l.wait(&key, now); w > 0 {
			ok, retryAfter = false, max(retryAfter, w)
		}
	}
	if l := s.limits.failedIP; l != nil {
		var key [32]byte
		ipStringKey(&key, ip)
		if w := l.wait(&key, now); w > 0 {
			ok, retryAfter = false, max(retryAfter, w)
		}
	}
	if !ok {
		s.limits.failedRefused.Inc()
	}
	return ok, retryAfter
}

// recordFailedLogin spends one failure of addr's and of ip's failed-login budgets.
func (s *Server) recordFailedLogin(ip string, addr [20]byte) {
	now := s.cfg.Now()
	if l := s.limits.failedAddr; l != nil {
		var key [32]byte
		addrKey(&key, addr)
		l.spend(&key, now)
	}
	if l := s.limits.failedIP; l != nil {
		var key [32]byte
		ipStringKey(&key, ip)
		l.spend(&key, now)
	}
}

// Key prefixes keep the kinds of keys apart; credential keys are SHA-256 sums.
const (
	keyIP   = 1
	keyAddr = 2
	keyRaw  = 3
)

// ipKey writes the key of a client IP: the prefix and the 16-byte form of the address. An IPv6
// address counts by its /64, the block one subscriber normally gets, so that one client cannot
// take a fresh budget from each of its 2^64 addresses. It does not allocate.
func ipKey(key *[32]byte, ip net.IP) {
	key[0] = keyIP
	switch len(ip) {
	case net.IPv4len:
		key[11], key[12] = 0xff, 0xff
		copy(key[13:17], ip)
	case net.IPv6len:
		copy(key[1:17], ip)
		if ip.To4() == nil {
			clear(key[9:17])
		}
	}
}

// ipStringKey is ipKey for an IP in text; text that is not an IP is used as it is.
func ipStringKey(key *[32]byte, ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		key[0] = keyRaw
		copy(key[1:], ip)
		return
	}
	b := a.As16()
	ipKey(key, b[:])
}

func addrKey(key *[32]byte, addr [20]byte) {
	key[0] = keyAddr
	copy(key[1:], addr[:])
}

// limiterShards splits a limiter so that requests on different cores rarely share a mutex.
const limiterShards = 64

// limiter is a token bucket (rate.Limiter) per key, kept in shards, each a map and a list from
// most to least recently seen. A shard holds at most its share of maxClients: a new key evicts
// the least recently seen one, and every call forgets up to two keys idle longer than idle, so
// neither a flood of new clients nor time grows memory without bound.
type limiter struct {
	limit    rate.Limit
	burst    int
	perShard int
	idle     time.Duration
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu sync.Mutex
	m  map[[32]byte]*bucket
	// lru is the sentinel of the list: lru.next is the most recently seen, lru.prev the least.
	lru bucket
	_   [40]byte // keep neighbouring shards' mutexes off one cache line
}

type bucket struct {
	key        [32]byte
	lim        *rate.Limiter
	seen       int64 // unix nanoseconds of the last call
	prev, next *bucket
}

func newLimiter(limit rate.Limit, burst, maxClients int, idle time.Duration) *limiter {
	l := &limiter{limit: limit, burst: burst, perShard: max(1, (maxClients+limiterShards-1)/limiterShards)}
	// Forgetting a bucket before it has refilled would hand its client a full one early.
	refill := time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	l.idle = max(idle, refill)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.m = make(map[[32]byte]*bucket)
		sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
	}
	return l
}

// allow spends one token of key's bucket. When there is none it spends nothing and returns how
// long until there is one. It does not allocate for a key it knows.
func (l *limiter) allow(key *[32]byte, now time.Time) (ok bool, retryAfter time.Duration) {
	sh := l.shard(key)
	sh.mu.Lock()
	b := l.get(sh, key, now, true)
	if b.lim.AllowN(now, 1) {
		sh.mu.Unlock()
		return true, 0
	}
	retryAfter = l.waitOf(b, now)
	sh.mu.Unlock()
	return false, retryAfter
}

// wait returns how long until key's bucket has a token, 0 if it has one now. It spends nothing
// and does not remember a key it does not know.
func (l *limiter) wait(key *[32]byte, now time.Time) time.Duration {
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := l.get(sh, key, now, false)
	if b == nil {
		return 0
	}
	return l.waitOf(b, now)
}

// spend takes one token from key's bucket, even if that leaves it in debt: a failure that
// happened is counted whatever the budget.
func (l *limiter) spend(key *[32]byte, now time.Time) {
	sh := l.shard(key)
	sh.mu.Lock()
	b := l.get(sh, key, now, true)
	b.lim.ReserveN(now, 1)
	sh.mu.Unlock()
}

func (l *limiter) waitOf(b *bucket, now time.Time) time.Duration {
	tokens := b.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
}

// get finds key's bucket, marks it seen and forgets idle ones; with create it adds a missing
// key (evicting the least recently seen when the shard is full), else returns nil for one.
// The shard's mutex is held.
func (l *limiter) get(sh *limiterShard, key *[32]byte, now time.Time, create bool) *bucket {
	ns := now.UnixNano()
	for range 2 {
		if old := sh.lru.prev; old != &sh.lru && ns-old.seen > int64(l.idle) {
			sh.remove(old)
		}
	}
	b := sh.m[*key]
	if b == nil {
		if !create {
			return nil
		}
		if len(sh.m) >= l.perShard {
			sh.remove(sh.lru.prev)
		}
		b = &bucket{key: *key, lim: rate.NewLimiter(l.limit, l.burst)}
		sh.m[*key] = b
	} else {
		b.prev.next, b.next.prev = b.next, b.prev
	}
	b.seen = ns
	b.prev, b.next = &sh.lru, sh.lru.next
	sh.lru.next.prev = b
	sh.lru.next = b
	return b
}

func (sh *limiterShard) remove(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(sh.m, b.key)
}

// shard picks key's shard from all its bytes: an IP key differs from another only in a few.
func (l *limiter) shard(key *[32]byte) *limiterShard {
	h := binary.LittleEndian.Uint64(key[0:]) ^
		binary.LittleEndian.Uint64(key[8:])*0xff51afd7ed558ccd ^
		binary.LittleEndian.Uint64(key[16:])*0xc4ceb9fe1a85ec53 ^
		binary.LittleEndian.Uint64(key[24:])*0x9e3779b97f4a7c15
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return &l.shards[h%limiterShards]
}

// len is the number of clients the limiter remembers.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (l *limiter) gauge() float64 { return float64(l.len()) }
