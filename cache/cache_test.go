package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// clock is a manual clock for Config.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	cOverview Class = 0
	cNav      Class = 1
	cAccount  Class = 2 // no TTL of its own: DefaultTTL
)

var testTTLs = []time.Duration{cOverview: time.Minute, cNav: 5 * time.Minute}

const testDefaultTTL = 30 * time.Second

// newTestCache returns a cache on a manual clock with its own metrics set. fastcache splits its
// memory over 512 buckets of 64 KiB chunks and a big value's parts fill whole chunks, so at
// 32 MiB (one chunk a bucket) any write to a part's bucket evicts the part; 256 MiB keeps the
// big values of these tests (pages are only touched when used).
func newTestCache(t testing.TB) (*Cache, *clock) {
	t.Helper()
	clk := newClock()
	c, err := New(Config{SizeBytes: 256 << 20, TTLs: testTTLs, DefaultTTL: testDefaultTTL}, metrics.NewSet(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

// body returns a deterministic body of n bytes that names key and index, so a test can tell
// which Set a value came from.
func body(key string, index uint64, n int) []byte {
	tag := fmt.Sprintf("%s@%d;", key, index)
	return []byte(strings.Repeat(tag, n/len(tag)+1)[:n])
}

// get is Get with a fresh dst.
func get(c *Cache, class Class, group, key string) ([]byte, uint64, bool) {
	var g []byte
	if group != "" {
		g = []byte(group)
	}
	return c.Get(nil, class, g, []byte(key))
}

// wantHit asserts key holds want built at index.
func wantHit(t *testing.T, c *Cache, class Class, group, key string, index uint64, want []byte) {
	t.Helper()
	got, idx, ok := get(c, class, group, key)
	if !ok || idx != index || !bytes.Equal(got, want) {
		t.Fatalf("Get(%d, %q, %q) = %d bytes, index %d, %v; want %d bytes at index %d", class, group, key, len(got), idx, ok, len(want), index)
	}
}

// wantMiss asserts key is a miss, which returns dst untouched.
func wantMiss(t *testing.T, c *Cache, class Class, group, key string) {
	t.Helper()
	var g []byte
	if group != "" {
		g = []byte(group)
	}
	got, idx, ok := c.Get([]byte("dst"), class, g, []byte(key))
	if ok || idx != 0 || string(got) != "dst" {
		t.Fatalf("Get(%d, %q, %q) = %d bytes, index %d, %v; want a miss returning dst", class, group, key, len(got), idx, ok)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		text string
	}{
		{"no size", Config{DefaultTTL: time.Second}, "size"},
		{"no default TTL", Config{SizeBytes: 1 << 20}, "default TTL"},
		{"too many classes", Config{SizeBytes: 1 << 20, DefaultTTL: time.Second, TTLs: make([]time.Duration, MaxClasses+1)}, "classes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, nil, nil)
			if c != nil || err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("New = %v, %v; want an error about %s", c, err, tt.text)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"1 KiB", 1 << 10},
		{"at the one-entry threshold", bigThreshold},
		{"just above the threshold", bigThreshold + 1},
		{"just above 64 KiB", 64<<10 + 1},
		{"300 KiB", 300 << 10},
		{"2 MiB", 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			want := body("k", 42, tt.size)
			c.Set(cOverview, nil, []byte("k"), 42, want)
			wantHit(t, c, cOverview, "", "k", 42, want)

			// Get appends to dst and keeps what dst held.
			got, idx, ok := c.Get([]byte("prefix:"), cOverview, nil, []byte("k"))
			if !ok || idx != 42 || !bytes.Equal(got, append([]byte("prefix:"), want...)) {
				t.Fatalf("Get with a prefix = %d bytes, %d, %v; want the prefix and the body", len(got), idx, ok)
			}
			// With room in dst, the result lives in dst's array.
			dst := make([]byte, 0, tt.size+64)
			got, _, _ = c.Get(dst, cOverview, nil, []byte("k"))
			if tt.size > 0 && &got[0] != &dst[:1][0] {
				t.Error("Get did not use dst's capacity")
			}

			// A later Set replaces the value, whatever the sizes involved.
			for _, n := range []int{10, 200 << 10, tt.size} {
				next := body("k", 43, n)
				c.Set(cOverview, nil, []byte("k"), 43, next)
				wantHit(t, c, cOverview, "", "k", 43, next)
			}
		})
	}
}

func TestMissingKey(t *testing.T) {
	c, _ := newTestCache(t)
	wantMiss(t, c, cOverview, "", "nothing")
	c.Set(cOverview, nil, []byte("k"), 1, []byte("v"))
	wantMiss(t, c, cOverview, "", "k2")
	wantMiss(t, c, cOverview, "", "")
	if s := c.Stats(); s != (Stats{Misses: 3}) {
		t.Fatalf("Stats = %+v, want 3 misses", s)
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	c, _ := newTestCache(t)
	big := body("big", 1, 200<<10)
	entries := []struct {
		class Class
		key   string
		body  []byte
	}{
		{cOverview, "k", []byte("overview")},
		{cNav, "k", []byte("nav")},
		{MaxClasses - 1, "k", []byte("last class")},
		{cNav, "\x00k", []byte("class byte in the key")},
		// A big value's body is stored under a key of its own; no caller key may reach it.
		{cOverview, "b", big},
		{cOverview, "b\xff", []byte("key ending in 0xff")},
		{cAccount, "b", body("b", 1, 100<<10)},
	}
	for i, e := range entries {
		c.Set(e.class, nil, []byte(e.key), uint64(i+1), e.body)
	}
	for i, e := range entries {
		t.Run(fmt.Sprintf("%d/%q", e.class, e.key), func(t *testing.T) {
			wantHit(t, c, e.class, "", e.key, uint64(i+1), e.body)
		})
	}
	wantMiss(t, c, cAccount, "", "k")
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		ttl   time.Duration
		size  int
	}{
		{"overview TTL", cOverview, time.Minute, 10},
		{"nav TTL", cNav, 5 * time.Minute, 10},
		{"DefaultTTL for a class beyond TTLs", cAccount, testDefaultTTL, 10},
		{"DefaultTTL for the last class", MaxClasses - 1, testDefaultTTL, 10},
		{"big value", cNav, 5 * time.Minute, 300 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t)
			v := body("k", 7, tt.size)
			c.Set(tt.class, nil, []byte("k"), 7, v)
			clk.Advance(tt.ttl - time.Nanosecond)
			wantHit(t, c, tt.class, "", "k", 7, v)
			clk.Advance(time.Nanosecond)
			wantMiss(t, c, tt.class, "", "k")
			if s := c.Stats(); s != (Stats{Hits: 1, Expired: 1}) {
				t.Fatalf("Stats = %+v, want 1 hit and 1 expired", s)
			}
			// A new Set restarts the TTL from the current time.
			c.Set(tt.class, nil, []byte("k"), 8, v)
			clk.Advance(tt.ttl - time.Nanosecond)
			wantHit(t, c, tt.class, "", "k", 8, v)
		})
	}
}

func TestZeroTTLUsesDefault(t *testing.T) {
	clk := newClock()
	c, err := New(Config{SizeBytes: 1 << 20, TTLs: []time.Duration{0, -time.Second}, DefaultTTL: time.Second}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []Class{0, 1} {
		c.Set(class, nil, []byte("k"), 1, []byte("v"))
	}
	clk.Advance(time.Second - 1)
	wantHit(t, c, 0, "", "k", 1, []byte("v"))
	wantHit(t, c, 1, "", "k", 1, []byte("v"))
	clk.Advance(1)
	wantMiss(t, c, 0, "", "k")
	wantMiss(t, c, 1, "", "k")
}

func TestInvalidate(t *testing.T) {
	for _, size := range []int{10, 300 << 10} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			c, _ := newTestCache(t)
			for _, idx := range []uint64{5, 9, 10, 11} {
				key := fmt.Sprint("k", idx)
				c.Set(cNav, nil, []byte(key), idx, body(key, idx, size))
				c.Set(cNav, []byte("acct"), []byte("g"+key), idx, body(key, idx, size))
				c.Set(cOverview, nil, []byte(key), idx, body(key, idx, size))
			}
			c.Invalidate(cNav, 10)
			for _, idx := range []uint64{5, 9} {
				wantMiss(t, c, cNav, "", fmt.Sprint("k", idx))
				wantMiss(t, c, cNav, "acct", fmt.Sprint("gk", idx))
			}
			for _, idx := range []uint64{10, 11} {
				key := fmt.Sprint("k", idx)
				wantHit(t, c, cNav, "", key, idx, body(key, idx, size))
				wantHit(t, c, cNav, "acct", "g"+key, idx, body(key, idx, size))
			}
			// Another class keeps its values.
			for _, idx := range []uint64{5, 9, 10, 11} {
				key := fmt.Sprint("k", idx)
				wantHit(t, c, cOverview, "", key, idx, body(key, idx, size))
			}
			if s := c.Stats(); s != (Stats{Hits: 8, Stale: 4}) {
				t.Fatalf("Stats = %+v, want 8 hits and 4 stale", s)
			}
			// The invalidation index never goes back.
			c.Invalidate(cNav, 3)
			wantMiss(t, c, cNav, "", "k5")
			c.Invalidate(cNav, 11)
			wantMiss(t, c, cNav, "", "k10")
			wantHit(t, c, cNav, "", "k11", 11, body("k11", 11, size))
		})
	}
}

// groupsInBuckets returns two groups that land in different buckets and two that share one.
func groupsInBuckets(t *testing.T) (a, b, sameAsA string) {
	t.Helper()
	a, b = "account:0xaaa", "account:0xbbb"
	if bucket([]byte(a)) == bucket([]byte(b)) {
		t.Fatalf("%s and %s share bucket %d: pick other groups", a, b, bucket([]byte(a)))
	}
	for i := 0; ; i++ {
		g := fmt.Sprintf("account:%d", i)
		if bucket([]byte(g)) == bucket([]byte(a)) {
			return a, b, g
		}
	}
}

func TestInvalidateGroup(t *testing.T) {
	a, b, sameAsA := groupsInBuckets(t)
	for _, size := range []int{10, 300 << 10} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			c, _ := newTestCache(t)
			v := body("v", 5, size)
			for _, g := range []string{a, b, sameAsA} {
				c.Set(cAccount, []byte(g), []byte(g+"/balance"), 5, v)
				c.Set(cNav, []byte(g), []byte(g+"/balance"), 5, v)
			}
			c.Set(cAccount, nil, []byte("class-wide"), 5, v)

			c.InvalidateGroup(cAccount, []byte(a), 6)
			wantMiss(t, c, cAccount, a, a+"/balance")
			// The bucket is what is invalidated: a group sharing it is invalidated too.
			wantMiss(t, c, cAccount, sameAsA, sameAsA+"/balance")
			// Another bucket, the same group in another class and class-wide keys stay valid.
			wantHit(t, c, cAccount, b, b+"/balance", 5, v)
			wantHit(t, c, cNav, a, a+"/balance", 5, v)
			wantHit(t, c, cAccount, "", "class-wide", 5, v)

			// A value built at the invalidation index or later is valid.
			c.Set(cAccount, []byte(a), []byte(a+"/balance"), 6, v)
			wantHit(t, c, cAccount, a, a+"/balance", 6, v)
			if s := c.Stats(); s != (Stats{Hits: 4, Stale: 2}) {
				t.Fatalf("Stats = %+v, want 4 hits and 2 stale", s)
			}
		})
	}
}

func TestSetBeforeInvalidationIsDropped(t *testing.T) {
	a, _, _ := groupsInBuckets(t)
	tests := []struct {
		name       string
		group      string
		invalidate func(*Cache)
	}{
		{"class", "", func(c *Cache) { c.Invalidate(cNav, 10) }},
		{"class, grouped key", a, func(c *Cache) { c.Invalidate(cNav, 10) }},
		{"group", a, func(c *Cache) { c.InvalidateGroup(cNav, []byte(a), 10) }},
	}
	for _, tt := range tests {
		for _, size := range []int{10, 300 << 10} {
			t.Run(fmt.Sprintf("%s/%d bytes", tt.name, size), func(t *testing.T) {
				c, _ := newTestCache(t)
				var g []byte
				if tt.group != "" {
					g = []byte(tt.group)
				}
				c.Set(cNav, g, []byte("k"), 3, body("k", 3, size))
				tt.invalidate(c)
				c.Set(cNav, g, []byte("k"), 9, body("k", 9, size))
				// Not stored: the older value is still there and still stale.
				wantMiss(t, c, cNav, tt.group, "k")
				if s := c.Stats(); s != (Stats{Stale: 1}) {
					t.Fatalf("Stats = %+v, want 1 stale: the value built at 9 must not be stored", s)
				}
				c.Set(cNav, g, []byte("k"), 10, body("k", 10, size))
				wantHit(t, c, cNav, tt.group, "k", 10, body("k", 10, size))
			})
		}
	}
}

// TestBigValueTornWrite replays, step by step, two Sets of one big key racing: the body of
// the Set at index 6 has landed but its header has not. Get must not serve that body as the
// state at index 5 (nor the body of index 5, which is gone).
func TestBigValueTornWrite(t *testing.T) {
	c, clk := newTestCache(t)
	key := []byte("nav/page")
	c.Set(cNav, nil, key, 5, body("page", 5, 200<<10))

	var hdr6 [headerSize]byte
	hdr6[0] = flagBig
	binary.BigEndian.PutUint64(hdr6[1:9], uint64(clk.Now().UnixNano()+int64(5*time.Minute)))
	binary.BigEndian.PutUint64(hdr6[9:17], 6)
	c.fc.SetBig(bigKey(nil, cNav, key), append(hdr6[:], body("page", 6, 200<<10)...))
	wantMiss(t, c, cNav, "", "nav/page")

	c.fc.Set(cacheKey(nil, cNav, key), hdr6[:])
	wantHit(t, c, cNav, "", "nav/page", 6, body("page", 6, 200<<10))
	if s := c.Stats(); s != (Stats{Hits: 1, Misses: 1}) {
		t.Fatalf("Stats = %+v, want 1 hit and 1 miss", s)
	}
}

func TestReset(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set(cOverview, nil, []byte("small"), 5, []byte("v"))
	c.Set(cNav, nil, []byte("big"), 5, body("big", 5, 300<<10))
	c.Invalidate(cAccount, 4)
	c.Reset()
	wantMiss(t, c, cOverview, "", "small")
	wantMiss(t, c, cNav, "", "big")
	// Invalidation indexes survive a Reset: they only ever grow with the Raft index.
	c.Set(cAccount, nil, []byte("k"), 3, []byte("old"))
	wantMiss(t, c, cAccount, "", "k")
	c.Set(cOverview, nil, []byte("small"), 6, []byte("v2"))
	wantHit(t, c, cOverview, "", "small", 6, []byte("v2"))
}

func TestStats(t *testing.T) {
	set := metrics.NewSet()
	clk := newClock()
	c, err := New(Config{SizeBytes: 1 << 20, TTLs: testTTLs, DefaultTTL: testDefaultTTL}, set, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(cOverview, nil, []byte("a"), 1, []byte("a"))
	c.Set(cNav, nil, []byte("b"), 1, []byte("b"))
	c.Set(cAccount, nil, []byte("c"), 1, []byte("c"))
	get(c, cOverview, "", "a")       // hit
	get(c, cOverview, "", "a")       // hit
	get(c, cOverview, "", "missing") // miss
	c.Invalidate(cAccount, 2)
	get(c, cAccount, "", "c") // stale
	clk.Advance(time.Minute)
	get(c, cOverview, "", "a") // expired
	get(c, cNav, "", "b")      // hit: nav lives 5 minutes
	get(c, cAccount, "", "c")  // expired is checked before stale
	want := Stats{Hits: 3, Misses: 1, Expired: 2, Stale: 1}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, line := range []string{
		`paimon_cache_requests_total{result="hit"} 3`,
		`paimon_cache_requests_total{result="miss"} 1`,
		`paimon_cache_requests_total{result="expired"} 2`,
		`paimon_cache_requests_total{result="stale"} 1`,
		`paimon_cache_bytes `,
	} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("metrics lack %q:\n%s", line, buf.String())
		}
	}
}

// TestConcurrent runs readers, writers and invalidations on shared keys (run it with -race).
// Every hit must return the body built at the index it reports (big values included), and no
// hit may be older than an invalidation that finished before the Get started.
func TestConcurrent(t *testing.T) {
	c, err := New(Config{SizeBytes: 256 << 20, DefaultTTL: time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const (
		writers = 4
		readers = 4
		rounds  = 2000
	)
	keys := []string{"k0", "k1", "k2", "big"}
	size := func(key string) int {
		if key == "big" {
			return 100 << 10
		}
		return 64
	}
	var index atomic.Uint64 // the "applied index": invalidated up to it
	var hits, bigHits atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				key := keys[i%len(keys)]
				idx := index.Load() + uint64(w%2) // some writes race the next invalidation
				c.Set(cNav, []byte(key), []byte(key), idx, body(key, idx, size(key)))
				if i%50 == w {
					next := index.Add(1)
					if w%2 == 0 {
						c.Invalidate(cNav, next)
					} else {
						for _, k := range keys {
							c.InvalidateGroup(cNav, []byte(k), next)
						}
					}
				}
			}
		}()
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, 0, 128<<10)
			for i := 0; i < rounds; i++ {
				key := keys[(i+r)%len(keys)]
				floor := index.Load()
				got, idx, ok := c.Get(dst[:0], cNav, []byte(key), []byte(key))
				if !ok {
					continue
				}
				hits.Add(1)
				if key == "big" {
					bigHits.Add(1)
				}
				if !bytes.Equal(got, body(key, idx, size(key))) {
					errs <- fmt.Errorf("Get(%s) at index %d returned a body built at another index", key, idx)
					return
				}
				// A writer raises index before it invalidates up to it, and each writer has
				// at most one invalidation in flight, so the one to floor-writers is done.
				if floor > writers && idx < floor-writers {
					errs <- fmt.Errorf("Get(%s) served index %d after invalidation to %d", key, idx, floor)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if hits.Load() == 0 {
		t.Fatal("no Get hit: the test exercised nothing")
	}
	t.Logf("%d hits, %d of them on the big value", hits.Load(), bigHits.Load())
	s := c.Stats()
	if got := int64(s.Hits + s.Misses + s.Expired + s.Stale); got != readers*rounds {
		t.Fatalf("Stats = %+v, %d lookups counted, want %d", s, got, readers*rounds)
	}
}

func TestGetHitDoesNotAllocate(t *testing.T) {
	c, _ := newTestCache(t)
	group, key := []byte("account:0xaaa"), []byte("overview")
	v := body("overview", 9, 4<<10)
	c.Set(cOverview, group, key, 9, v)
	dst := make([]byte, 0, 8<<10)
	allocs := testing.AllocsPerRun(200, func() {
		got, _, ok := c.Get(dst[:0], cOverview, group, key)
		if !ok || len(got) != len(v) {
			t.Fatal("Get missed")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get hit allocates %.1f times, want 0", allocs)
	}
}

func BenchmarkGetHit(b *testing.B) {
	for _, size := range []int{256, 4 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			c, _ := newTestCache(b)
			group, key := []byte("account:0xaaa"), []byte("overview")
			c.Set(cOverview, group, key, 9, body("overview", 9, size))
			dst := make([]byte, 0, size+256)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, _, ok := c.Get(dst[:0], cOverview, group, key); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}
