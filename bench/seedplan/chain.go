package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"paimon/bench/internal/benchkit"
	"paimon/internal/chainsim"
)

// chain is the chain simulator (in this process) and the wall-clock time each block was mined,
// from which event processing is measured: block mined → the event delivered to a WebSocket
// client of a node. A block's own timestamp has whole seconds and is stamped before it is
// built, so the runner watches the head instead (every 5 ms).
type chain struct {
	sim *chainsim.Sim

	mu      sync.Mutex
	minedAt map[uint64]time.Time

	// The measured blocks: from first to last (inclusive); last is MaxUint64 while the
	// window runs, and first is MaxUint64 before it starts.
	first, last atomic.Uint64
}

func newChain(sim *chainsim.Sim) *chain {
	c := &chain{sim: sim, minedAt: map[uint64]time.Time{}}
	c.first.Store(math.MaxUint64)
	c.last.Store(math.MaxUint64)
	return c
}

// watch records when each new head appears until ctx is done.
func (c *chain) watch(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head, _ := c.sim.Head()
		if head <= seen {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		for b := seen + 1; b <= head; b++ {
			c.minedAt[b] = now
		}
		c.mu.Unlock()
		seen = head
	}
}

// mined returns when block b was mined, if it is a measured block.
func (c *chain) mined(b uint64) (time.Time, bool) {
	if b < c.first.Load() || b > c.last.Load() {
		return time.Time{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.minedAt[b]
	return t, ok
}

// startWindow makes the blocks mined from now on measured.
func (c *chain) startWindow() {
	head, _ := c.sim.Head()
	c.first.Store(head + 1)
}

// endWindow stops the events (blocks from now on are empty) and returns the last measured
// block. SetRate waits for a block being mined, so every block up to the head returned
// carries events at the old rate and none after it.
func (c *chain) endWindow() (uint64, error) {
	if err := c.sim.SetRate(0); err != nil {
		return 0, err
	}
	head, _ := c.sim.Head()
	c.last.Store(head)
	return head, nil
}

// expectedEvents counts the fund's logs on the canonical chain in the measured blocks.
func (c *chain) expectedEvents(ctx context.Context) (int, error) {
	logs, err := c.sim.Canonical(ctx)
	if err != nil {
		return 0, err
	}
	first, last := c.first.Load(), c.last.Load()
	n := 0
	for _, l := range logs {
		if l.BlockNumber >= first && l.BlockNumber <= last {
			n++
		}
	}
	return n, nil
}

// blocks returns how many blocks were measured.
func (c *chain) blocks() uint64 {
	first, last := c.first.Load(), c.last.Load()
	if first == math.MaxUint64 || last == math.MaxUint64 || last < first {
		return 0
	}
	return last - first + 1
}

// visibility measures event processing through the API: each node's newest ledger entry
// (GET /v1/transactions?limit=1, newest first) polled every 100 ms; a measured block counts
// once it is at or below that, with the latency mined → seen. Unlike the WebSocket figure it
// does not depend on the push streaming every event (a batch of more than the channel's
// window is a "reset" there).
type visibility struct {
	lat     benchkit.Hist // µs
	blocks  atomic.Int64  // (block, node) pairs seen
	mu      sync.Mutex
	seen    []uint64 // per node, the newest block seen
	lastErr string
}

func (c *chain) pollVisible(ctx context.Context, nodes []*member, v *visibility) {
	v.seen = make([]uint64, len(nodes))
	var wg sync.WaitGroup
	for i, m := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				b, err := m.api.Get(ctx, "/v1/transactions?limit=1", true)
				if err != nil {
					v.mu.Lock()
					v.lastErr = err.Error()
					v.mu.Unlock()
					continue
				}
				newest, ok := number(b, blockField)
				if !ok {
					continue
				}
				now := time.Now()
				v.mu.Lock()
				from := v.seen[i] + 1
				v.seen[i] = max(v.seen[i], newest)
				v.mu.Unlock()
				for blk := from; blk <= newest; blk++ {
					if at, ok := c.mined(blk); ok {
						v.lat.Add(now.Sub(at).Microseconds())
						v.blocks.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// missing returns the (block, node) pairs of the measured blocks not seen.
func (v *visibility) missing(c *chain) int64 {
	first, last := c.first.Load(), c.last.Load()
	if c.blocks() == 0 {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var n int64
	for _, s := range v.seen {
		if s < last {
			n += int64(last - max(s, first-1))
		}
	}
	return n
}
