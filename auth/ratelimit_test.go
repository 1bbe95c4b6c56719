package auth

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is the wall clock moved forward by advance.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// limitsOnly is an Auth with nothing but its clock and budgets.
func limitsOnly(t *testing.T, rl RateLimit, clock *testClock) *Auth {
	t.Helper()
	deps := Deps{Now: time.Now}
	if clock != nil {
		deps.Now = clock.now
	}
	a, err := New(Config{RateLimit: rl}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestFailedLoginsLockNobodyElse: failed logins are budgeted per (client IP, wallet) and per
// client IP, never per wallet alone: bad signatures from one address do not lock the wallet
// for another address; checking spends nothing; the budgets refill over the window.
func TestFailedLoginsLockNobodyElse(t *testing.T) {
	clock := &testClock{}
	a := limitsOnly(t, RateLimit{FailedLoginsPerIPWallet: 3, FailedLoginsPerIP: 5, FailedLoginWindow: 15 * time.Minute}, clock)
	victim, b, c := [20]byte{0xa}, [20]byte{0xb}, [20]byte{0xc}
	const attacker, owner, attacker6 = "203.0.113.7", "198.51.100.9", "2001:db8::1"
	allowed := func(ip string, w [20]byte) (bool, time.Duration) {
		t.Helper()
		for range 3 { // checking spends nothing
			_ = a.FailedLoginAllowed(ip, w)
		}
		err := a.FailedLoginAllowed(ip, w)
		if err == nil {
			return true, 0
		}
		rl, ok := err.(*RateLimitError)
		if !ok || rl.Budget != "failed_logins" {
			t.Fatalf("refusal %v, want a *RateLimitError of failed_logins", err)
		}
		return false, rl.RetryAfter
	}
	for i := range 3 {
		if ok, _ := allowed(attacker, victim); !ok {
			t.Fatalf("failure %d against the victim refused", i)
		}
		a.RecordFailedLogin(attacker, victim)
	}
	// 3 per 15 minutes: one failure comes back every 5 minutes.
	if ok, wait := allowed(attacker, victim); ok || wait <= 4*time.Minute || wait > 5*time.Minute {
		t.Fatalf("the victim's wallet from the attacker after 3 failures: %v, retry after %s; want refused for about 5m", ok, wait)
	}
	for _, tc := range []struct {
		name string
		ip   string
		w    [20]byte
	}{
		{"the victim's wallet from its owner's address", owner, victim},
		{"the victim's wallet from an IPv6 address", attacker6, victim},
		{"another wallet from the attacker (2 of 5 IP failures left)", attacker, b},
	} {
		if ok, wait := allowed(tc.ip, tc.w); !ok {
			t.Errorf("%s: refused for %s", tc.name, wait)
		}
	}
	a.RecordFailedLogin(attacker, b)
	a.RecordFailedLogin(attacker, b)
	// The attacker has spent 5 of 5: every wallet is refused from it, none from elsewhere.
	if ok, wait := allowed(attacker, c); ok || wait <= 2*time.Minute || wait > 3*time.Minute {
		t.Fatalf("the attacker after 5 failures: %v %s; want refused for about 3m", ok, wait)
	}
	for _, w := range [][20]byte{victim, b, c} {
		if ok, _ := allowed(owner, w); !ok {
			t.Errorf("wallet %x from the owner's address refused", w[0])
		}
	}
	// An IPv6 client counts by its /64, for the address and for (address, wallet).
	for range 3 {
		a.RecordFailedLogin(attacker6, c)
	}
	if ok, _ := allowed("2001:db8::ffff", c); ok {
		t.Error("another address of the same IPv6 /64 escapes the (address, wallet) budget")
	}
	if ok, _ := allowed("2001:db8:0:1::1", c); !ok {
		t.Error("another IPv6 /64 is refused")
	}
	if n := a.limits.Load().failedIP.len(); n != 2 {
		t.Fatalf("%d IPs tracked, want 2 (the attacker and attacker6's /64)", n)
	}

	clock.advance(5 * time.Minute)
	if ok, wait := allowed(attacker, victim); !ok {
		t.Fatalf("the victim's wallet from the attacker 5 minutes later: refused for %s", wait)
	}

	off := limitsOnly(t, RateLimit{}, nil)
	for range 100 {
		off.RecordFailedLogin(attacker, victim)
	}
	if err := off.FailedLoginAllowed(attacker, victim); err != nil {
		t.Fatal("failed logins limited with the limits off")
	}
}

// TestRateLimitKeys: IPv4 and its IPv6-mapped form are one client, an IPv6 client counts by its
// /64, and the text and binary forms agree.
func TestRateLimitKeys(t *testing.T) {
	key := func(ip string) [32]byte {
		var k [32]byte
		IPStringKey(&k, ip)
		return k
	}
	var v4 [32]byte
	IPKey(&v4, net.IP{192, 0, 2, 1})
	if v4 != key("192.0.2.1") || v4 != key("::ffff:192.0.2.1") {
		t.Fatal("an IPv4 address has several keys")
	}
	var v4in16 [32]byte
	IPKey(&v4in16, net.ParseIP("192.0.2.1"))
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
	IPKey(&busy, net.IP{198, 51, 100, 1})
	for range 5 {
		l.allow(&busy, t0)
	}
	keyOf := func(i int) *[32]byte {
		var k [32]byte
		IPKey(&k, binary.BigEndian.AppendUint32(nil, uint32(i)))
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
		if got := (&RateLimitError{RetryAfter: tc.d}).Seconds(); got != tc.want {
			t.Errorf("Retry-After of %s = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// BenchmarkLimiterAllow measures a check of known clients from every core.
func BenchmarkLimiterAllow(b *testing.B) {
	l := newLimiter(1e9, 1e9, 100_000, time.Minute)
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var k [32]byte
		IPKey(&k, binary.BigEndian.AppendUint32(nil, next.Add(1)))
		now := time.Now()
		for pb.Next() {
			l.allow(&k, now)
		}
	})
}

// TestLimiterDoesNotAllocate: checking a known key allocates nothing.
func TestLimiterDoesNotAllocate(t *testing.T) {
	l := newLimiter(1e9, 1e9, 1000, time.Minute)
	k := &[32]byte{7}
	now := time.Now()
	l.allow(k, now)
	if allocs := testing.AllocsPerRun(1000, func() { l.allow(k, now) }); allocs != 0 {
		t.Fatalf("%.1f allocations per check of a known key, want 0", allocs)
	}
}

// TestSetRateLimit: SetRateLimit switches a budget on and off while Auth runs, and a budget
// that does not validate is refused with the budgets in force unchanged.
func TestSetRateLimit(t *testing.T) {
	clock := &testClock{}
	a := limitsOnly(t, RateLimit{}, clock)
	var key [32]byte
	IPStringKey(&key, "192.0.2.1")
	if a.Limited(BudgetReads) || a.Allow(BudgetReads, &key, clock.now()) != nil {
		t.Fatal("reads limited with no budget")
	}
	if err := a.SetRateLimit(RateLimit{Read: Budget{Rate: 0.001, Burst: 2}}); err != nil {
		t.Fatal(err)
	}
	var refused int
	for range 3 {
		if a.Allow(BudgetReads, &key, clock.now()) != nil {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("3 reads with a burst of 2: %d refused, want 1", refused)
	}
	if err := a.SetRateLimit(RateLimit{Read: Budget{Rate: -1, Burst: 2}}); err == nil {
		t.Fatal("a negative rate was accepted")
	}
	if a.Allow(BudgetReads, &key, clock.now()) == nil {
		t.Fatal("the refused reload changed the budget in force")
	}
	if err := a.SetRateLimit(RateLimit{}); err != nil || a.Limited(BudgetReads) {
		t.Fatalf("switching the budget off: %v, limited %v", err, a.Limited(BudgetReads))
	}
}
