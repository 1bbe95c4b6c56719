package report

import (
	"sync"
	"sync/atomic"

	"paimon/kv"
)

// Cache keeps the rendered reports of closed periods, which no longer change (a period is
// closed once the fund has applied an event after it). A report of the current period is
// computed on every call (the server keeps it in its read cache until something it reads changes). Safe for concurrent use; bounded: when full it starts over.
type Cache struct {
	mu  sync.Mutex
	m   map[cacheKey]cached
	max int
	// builds counts the reports computed (Builds).
	builds atomic.Uint64
}

// Builds returns the number of reports c has computed (a miss of the cache): for tests and
// benchmarks.
func (c *Cache) Builds() uint64 { return c.builds.Load() }

type cacheKey struct {
	p Period
	f Format
}

type cached struct {
	body  []byte
	ctype string
}

// NewCache returns a cache of at most max rendered reports.
func NewCache(max int) *Cache { return &Cache{m: map[cacheKey]cached{}, max: max} }

// Render returns the report of p in format f from r, from the cache when p is closed and was
// rendered before; hit tells which.
func (c *Cache) Render(r kv.Reader, p Period, f Format) (body []byte, ctype string, hit bool, err error) {
	k := cacheKey{p, f}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return e.body, e.ctype, true, nil
	}
	c.builds.Add(1)
	rep, err := Build(r, p)
	if err != nil {
		return nil, "", false, err
	}
	body, ctype, err = rep.Render(f)
	if err != nil || !rep.Closed {
		return body, ctype, false, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = cached{body, ctype}
	c.mu.Unlock()
	return body, ctype, false, nil
}
