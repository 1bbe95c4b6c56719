package report

import (
	"sync"
	"sync/atomic"

	"paimon/kv"
)

// Cache keeps the rendered reports of closed periods, which no longer change (a period is
// closed once the fund has applied an event after it). A report of the current period is
// computed on every call (the server keeps it in its read cache until something it reads
// changes), its flows from the node's running sums when it has them (FlowSums). Safe for
// concurrent use; bounded: when full it starts over.
type Cache struct {
	mu    sync.Mutex
	m     map[cacheKey]cached
	max   int
	flows *FlowSums
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

// NewCache returns a cache of at most max rendered reports that builds reports with the
// running sums flows (nil: by scanning, Build).
func NewCache(max int, flows *FlowSums) *Cache {
	return &Cache{m: map[cacheKey]cached{}, max: max, flows: flows}
}

// Render returns the report of p in format f from r, the state at Raft index index, from the
// cache when p is closed and was rendered before; hit tells which. Only the PDF reads the
// period's NAV points (its chart).
func (c *Cache) Render(r kv.Reader, index uint64, p Period, f Format) (body []byte, ctype string, hit bool, err error) {
	k := cacheKey{p, f}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return e.body, e.ctype, true, nil
	}
	c.builds.Add(1)
	rep, err := build(r, p, c.flows, index, f == PDF)
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
