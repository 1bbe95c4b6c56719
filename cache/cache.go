// Package cache is the read path's in-process cache: fastcache with an expiry and the Raft index
// inside every value, invalidation by index, and per-class TTLs.
//
// fastcache has no TTL and no versioning, so each value starts with a header: a flag byte, the
// expiry (unix ns) and the Raft index the value was built at. Invalidation does not enumerate
// keys: each class keeps the index of its last change (whole class) and of its last change per
// group bucket (for example one account), and a value built before that index is a miss. The
// state machine's apply path bumps those indexes before it publishes the new applied index, so
// a reader that sees applied index A and a valid value can serve it as the state at A.
//
// The cache does not decide what to cache: callers choose classes, groups and keys.
package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
)

// Class is a kind of cached data with its own TTL and invalidation index. Callers number their
// classes from 0.
type Class uint8

const (
	// MaxClasses is the number of classes a cache supports.
	MaxClasses = 32
	// groupBuckets is the number of invalidation buckets per class for grouped keys.
	groupBuckets = 1024
	headerSize   = 17
	flagBig      = 1
	// bigThreshold is the largest value stored in one fastcache entry; larger values go through
	// fastcache's SetBig, which splits them.
	bigThreshold = 60 << 10
)

// Config configures a Cache.
type Config struct {
	// SizeBytes is fastcache's memory budget.
	SizeBytes int
	// TTLs holds the time to live of each class, indexed by Class; a class beyond the slice
	// uses DefaultTTL.
	TTLs       []time.Duration
	DefaultTTL time.Duration
}

// DefaultConfig returns config.example.toml's [cache] size and default lifetime, with no class
// of its own (every class lives DefaultTTL; the server's classes are mapped by config).
func DefaultConfig() Config {
	return Config{SizeBytes: 64 << 20, DefaultTTL: time.Minute}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.SizeBytes <= 0 {
		return fmt.Errorf("cache: size %d must be positive", c.SizeBytes)
	}
	if c.DefaultTTL <= 0 {
		return fmt.Errorf("cache: default TTL must be positive")
	}
	if len(c.TTLs) > MaxClasses {
		return fmt.Errorf("cache: %d classes, at most %d", len(c.TTLs), MaxClasses)
	}
	return nil
}

// Cache is safe for concurrent use.
type Cache struct {
	fc      *fastcache.Cache
	ttl     [MaxClasses]int64
	version [MaxClasses]atomic.Uint64
	groups  [MaxClasses][groupBuckets]atomic.Uint64
	now     func() time.Time

	hits, misses, expired, stale *metrics.Counter
}

// New returns an empty cache.
func New(cfg Config, set *metrics.Set, now func() time.Time) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{fc: fastcache.New(cfg.SizeBytes), now: now}
	if c.now == nil {
		c.now = time.Now
	}
	for i := range c.ttl {
		c.ttl[i] = int64(cfg.DefaultTTL)
		if i < len(cfg.TTLs) && cfg.TTLs[i] > 0 {
			c.ttl[i] = int64(cfg.TTLs[i])
		}
	}
	if set == nil {
		set = metrics.NewSet()
	}
	c.hits = set.GetOrCreateCounter(`paimon_cache_requests_total{result="hit"}`)
	c.misses = set.GetOrCreateCounter(`paimon_cache_requests_total{result="miss"}`)
	c.expired = set.GetOrCreateCounter(`paimon_cache_requests_total{result="expired"}`)
	c.stale = set.GetOrCreateCounter(`paimon_cache_requests_total{result="stale"}`)
	set.GetOrCreateGauge("paimon_cache_bytes", func() float64 {
		var s fastcache.Stats
		c.fc.UpdateStats(&s)
		return float64(s.BytesSize)
	})
	return c, nil
}

// Stats are the cache's counters.
type Stats struct {
	Hits, Misses, Expired, Stale uint64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Get(), Misses: c.misses.Get(), Expired: c.expired.Get(), Stale: c.stale.Get()}
}

// cacheKey prefixes key with its class so classes never collide. It appends to buf.
func cacheKey(buf []byte, class Class, key []byte) []byte {
	buf = append(buf, byte(class))
	return append(buf, key...)
}

// bigKey is the key of a big value's body: the class byte with its top bit set, which no
// cacheKey starts with (classes are below MaxClasses), so no caller key can reach it.
func bigKey(buf []byte, class Class, key []byte) []byte {
	buf = append(buf, byte(class)|0x80)
	return append(buf, key...)
}

func bucket(group []byte) uint64 { return xxhash.Sum64(group) % groupBuckets }

// Get appends the cached body of key to dst and returns it with the index it was built at. It
// reports false for a missing, expired or invalidated value. group selects the invalidation
// bucket (nil for a class-wide key). Get does not allocate when dst has room for the key, a
// 17-byte header and the value; a value above 60 KiB, stored in parts, costs an allocation.
func (c *Cache) Get(dst []byte, class Class, group, key []byte) ([]byte, uint64, bool) {
	start := len(dst)
	dst = cacheKey(dst, class, key)
	k := dst[start:]
	val := c.fc.Get(dst, k)
	v := val[len(dst):]
	if len(v) < headerSize {
		c.misses.Inc()
		return dst[:start], 0, false
	}
	flags := v[0]
	expiry := int64(binary.BigEndian.Uint64(v[1:9]))
	index := binary.BigEndian.Uint64(v[9:17])
	if c.now().UnixNano() >= expiry {
		c.expired.Inc()
		return dst[:start], 0, false
	}
	if index < c.version[class].Load() || (group != nil && index < c.groups[class][bucket(group)].Load()) {
		c.stale.Inc()
		return dst[:start], 0, false
	}
	if flags&flagBig != 0 {
		// The small entry only holds the header; the body, after a copy of the header, was
		// stored with SetBig under bigKey. Copy the header out: GetBig overwrites dst.
		var hdr [headerSize]byte
		copy(hdr[:], v)
		out := c.fc.GetBig(dst[:start], bigKey(make([]byte, 0, len(key)+1), class, key))
		if len(out)-start < headerSize || !bytes.Equal(out[start:start+headerSize], hdr[:]) {
			// Evicted, or the body of another Set of the same key (see Set).
			c.misses.Inc()
			return dst[:start], 0, false
		}
		c.hits.Inc()
		return append(out[:start], out[start+headerSize:]...), index, true
	}
	c.hits.Inc()
	// Move the body over the key and header in place (memmove handles the overlap).
	return append(dst[:start], v[headerSize:]...), index, true
}

// Set stores body for key, built from the state at index; body may come in parts (a header of
// the caller's and the bytes), which are stored as one value. A value built before the
// class's or its group's last invalidation is not stored.
func (c *Cache) Set(class Class, group, key []byte, index uint64, body ...[]byte) {
	if index < c.version[class].Load() || (group != nil && index < c.groups[class][bucket(group)].Load()) {
		return
	}
	k := cacheKey(make([]byte, 0, len(key)+1), class, key)
	var hdr [headerSize]byte
	binary.BigEndian.PutUint64(hdr[1:9], uint64(c.now().UnixNano()+c.ttl[class]))
	binary.BigEndian.PutUint64(hdr[9:17], index)
	n := 0
	for _, b := range body {
		n += len(b)
	}
	v := make([]byte, 0, headerSize+n)
	if n > bigThreshold {
		// fastcache stores a big value as several entries, so header and body cannot be
		// written at once: the body goes first, with its own copy of the header, then the
		// header. Get serves the body only if both headers match, so two Sets racing on one
		// key never pair one's header (index) with the other's body.
		hdr[0] = flagBig
		c.fc.SetBig(bigKey(k[:0:0], class, key), appendAll(append(v, hdr[:]...), body))
		c.fc.Set(k, hdr[:])
		return
	}
	c.fc.Set(k, appendAll(append(v, hdr[:]...), body))
}

func appendAll(dst []byte, parts [][]byte) []byte {
	for _, b := range parts {
		dst = append(dst, b...)
	}
	return dst
}

// Invalidate makes every value of class built before index a miss.
func (c *Cache) Invalidate(class Class, index uint64) {
	raise(&c.version[class], index)
}

// InvalidateGroup makes the values of class in group's bucket built before index a miss.
func (c *Cache) InvalidateGroup(class Class, group []byte, index uint64) {
	raise(&c.groups[class][bucket(group)], index)
}

// Reset drops everything, for example after the state was replaced by a snapshot.
func (c *Cache) Reset() { c.fc.Reset() }

func raise(v *atomic.Uint64, to uint64) {
	for {
		cur := v.Load()
		if cur >= to || v.CompareAndSwap(cur, to) {
			return
		}
	}
}
