package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/time/rate"
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
	// FailedLoginsPerIPWallet failed logins are allowed per FailedLoginWindow for one wallet
	// from one client IP, and FailedLoginsPerIP from one client IP for all wallets; 0 is no
	// limit. There is no budget per wallet alone: then anyone could lock anyone's wallet out
	// (config key ratelimit.failed_login_per_address).
	FailedLoginsPerIPWallet int
	FailedLoginsPerIP       int
	FailedLoginWindow       time.Duration
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

// validate checks the budgets and fills defaults.
func (r *RateLimit) validate() error {
	for _, b := range []struct {
		name string
		b    Budget
	}{{"login", r.Login}, {"read", r.Read}, {"write", r.Write}} {
		if !(b.b.Rate >= 0) || math.IsInf(b.b.Rate, 0) {
			return fmt.Errorf("auth: %s rate %g must be a finite number >= 0", b.name, b.b.Rate)
		}
		if b.b.Rate > 0 && b.b.Burst < 1 {
			return fmt.Errorf("auth: %s burst %d must be at least 1", b.name, b.b.Burst)
		}
	}
	if r.FailedLoginsPerIPWallet < 0 || r.FailedLoginsPerIP < 0 {
		return errors.New("auth: failed login limits must not be negative")
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

// RateLimitError is a request refused because its client spent its budget; RetryAfter is when
// the next token comes. The server answers it with 429 RATE_LIMITED and Retry-After.
type RateLimitError struct {
	Budget     string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit of the %s budget exceeded; retry in %d s", e.Budget, e.Seconds())
}

// Seconds is RetryAfter in whole seconds, rounded up, at least 1: the Retry-After value.
func (e *RateLimitError) Seconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// BudgetID names a request budget.
type BudgetID uint8

// The request budgets.
const (
	BudgetLogin BudgetID = iota
	BudgetReads
	BudgetWrites
	numBudgets
)

// Budget names, as reported in the error details and the metric label.
var budgetNames = [numBudgets]string{"login", "reads", "writes"}

const (
	budgetFailedLogin    = "failed_logins"
	budgetUnknownSession = "unknown_sessions"
)

// budgetLimiter is one budget: its keyed buckets (nil when the budget is off) and the counter
// of requests it refused.
type budgetLimiter struct {
	name    string
	lim     *limiter
	refused *metrics.Counter
}

// limits are the budgets of the node's clients.
type limits struct {
	budgets [numBudgets]budgetLimiter
	// failedIPWallet and failedIP count failed logins per (client IP, wallet) and per client
	// IP; nil when off.
	failedIPWallet, failedIP *limiter
	failedRefused            *metrics.Counter
	// unknownSessions bounds, per client IP, the session tokens unknown here that are checked
	// against the leader's commit before being refused (always on).
	unknownSessions budgetLimiter
}

func newLimits(c RateLimit, unknown Budget, set *metrics.Set) *limits {
	l := &limits{failedRefused: set.GetOrCreateCounter(`paimon_http_rate_limited_total{budget="` + budgetFailedLogin + `"}`)}
	budgets := [numBudgets]Budget{c.Login, c.Read, c.Write}
	for i := range l.budgets {
		b := &l.budgets[i]
		b.name = budgetNames[i]
		b.refused = set.GetOrCreateCounter(`paimon_http_rate_limited_total{budget="` + b.name + `"}`)
		if budgets[i].Rate > 0 {
			b.lim = newLimiter(rate.Limit(budgets[i].Rate), budgets[i].Burst, c.MaxClients, c.IdleEvict)
		}
	}
	perWindow := func(n int) rate.Limit { return rate.Limit(float64(n) / c.FailedLoginWindow.Seconds()) }
	if n := c.FailedLoginsPerIPWallet; n > 0 {
		l.failedIPWallet = newLimiter(perWindow(n), n, c.MaxClients, c.IdleEvict)
	}
	if n := c.FailedLoginsPerIP; n > 0 {
		l.failedIP = newLimiter(perWindow(n), n, c.MaxClients, c.IdleEvict)
	}
	l.unknownSessions = budgetLimiter{
		name:    budgetUnknownSession,
		lim:     newLimiter(rate.Limit(unknown.Rate), unknown.Burst, max(c.MaxClients, 1024), max(c.IdleEvict, time.Minute)),
		refused: set.GetOrCreateCounter(`paimon_http_rate_limited_total{budget="` + budgetUnknownSession + `"}`),
	}
	return l
}

// registerLimitGauges registers the clients each budget remembers, read from the budgets in
// force (SetRateLimit replaces them).
func (a *Auth) registerLimitGauges() {
	for i := range numBudgets {
		a.set.GetOrCreateGauge(`paimon_http_rate_limit_clients{budget="`+budgetNames[i]+`"}`, func() float64 {
			if lim := a.limits.Load().budgets[i].lim; lim != nil {
				return lim.gauge()
			}
			return 0
		})
	}
}

// SetRateLimit replaces the per-client budgets (a configuration reload): r is validated first
// and, when refused, the budgets in force stay. The new budgets start full: every client's
// bucket is forgotten, as after an idle eviction (a reload is rare, and a client can gain at
// most one burst from it). The unknown-session budget is not part of r and stays.
func (a *Auth) SetRateLimit(r RateLimit) error {
	if err := r.validate(); err != nil {
		return err
	}
	old := a.limits.Load()
	l := newLimits(r, Budget{}, a.set)
	l.unknownSessions = old.unknownSessions
	a.limits.Store(l)
	return nil
}

// Limited reports whether budget b limits anything.
func (a *Auth) Limited(b BudgetID) bool { return a.limits.Load().budgets[b].lim != nil }

// Allow spends one token of budget b for the client key (a credential's Key, else IPKey of
// the client's address), or refuses with a *RateLimitError. It does not allocate for a known
// client.
func (a *Auth) Allow(b BudgetID, key *[32]byte, now time.Time) error {
	bl := &a.limits.Load().budgets[b]
	if bl.lim == nil {
		return nil
	}
	return bl.allow(key, now)
}

func (bl *budgetLimiter) allow(key *[32]byte, now time.Time) error {
	ok, wait := bl.lim.allow(key, now)
	if ok {
		return nil
	}
	bl.refused.Inc()
	return &RateLimitError{Budget: bl.name, RetryAfter: wait}
}

// FailedLoginAllowed reports whether a login for wallet from ip may be attempted: whether
// both the (ip, wallet) and the ip failed-login budgets have a failure left. It spends
// nothing; RecordFailedLogin does. When refused, the error is a *RateLimitError saying when
// both have one again. ip is the client IP in text.
func (a *Auth) FailedLoginAllowed(ip string, wallet [20]byte) error {
	now := a.now()
	var retryAfter time.Duration
	ok := true
	lims := a.limits.Load()
	if l := lims.failedIPWallet; l != nil {
		var key [32]byte
		ipWalletKey(&key, ip, wallet)
		if w := l.wait(&key, now); w > 0 {
			ok, retryAfter = false, max(retryAfter, w)
		}
	}
	if l := lims.failedIP; l != nil {
		var key [32]byte
		IPStringKey(&key, ip)
		if w := l.wait(&key, now); w > 0 {
			ok, retryAfter = false, max(retryAfter, w)
		}
	}
	if ok {
		return nil
	}
	lims.failedRefused.Inc()
	return &RateLimitError{Budget: budgetFailedLogin, RetryAfter: retryAfter}
}

// RecordFailedLogin spends one failure of the (ip, wallet) and the ip failed-login budgets.
func (a *Auth) RecordFailedLogin(ip string, wallet [20]byte) {
	now := a.now()
	lims := a.limits.Load()
	if l := lims.failedIPWallet; l != nil {
		var key [32]byte
		ipWalletKey(&key, ip, wallet)
		l.spend(&key, now)
	}
	if l := lims.failedIP; l != nil {
		var key [32]byte
		IPStringKey(&key, ip)
		l.spend(&key, now)
	}
}

// Key prefixes keep the kinds of keys apart; credential keys are SHA-256 sums.
const (
	keyIP       = 1
	keyIPWallet = 2
	keyRaw      = 3
)

// IPKey writes the key of a client IP: the prefix and the 16-byte form of the address. An IPv6
// address counts by its /64, the block one subscriber normally gets, so that one client cannot
// take a fresh budget from each of its 2^64 addresses. It does not allocate.
func IPKey(key *[32]byte, ip net.IP) {
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

// IPStringKey is IPKey for an IP in text; text that is not an IP is used as it is.
func IPStringKey(key *[32]byte, ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		key[0] = keyRaw
		copy(key[1:], ip)
		return
	}
	b := a.As16()
	IPKey(key, b[:])
}

// ipWalletKey is the key of a wallet seen from a client IP (its /64 for IPv6): the SHA-256 of
// both, behind its own prefix. Failed logins are rare; the hash keeps the two whole in 31 bytes.
func ipWalletKey(key *[32]byte, ip string, wallet [20]byte) {
	var k [32 + 20]byte
	IPStringKey((*[32]byte)(k[:32]), ip)
	copy(k[32:], wallet[:])
	*key = sha256.Sum256(k[:])
	key[0] = keyIPWallet
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
