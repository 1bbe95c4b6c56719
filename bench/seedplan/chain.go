package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

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
