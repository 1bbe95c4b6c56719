package main

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// hist is a log-linear histogram of non-negative values (microseconds here): values below 128
// are counted exactly, larger ones in 64 buckets per power of two, so a bucket's bounds are
// within 1/64 (1.6 %) of each other. It has a fixed size, adds are lock-free (atomic), and two
// histograms merge by adding their counts: each worker keeps its own and the runner merges
// them.
type hist struct {
	counts [histBuckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	// histBuckets covers every uint64: the largest index is that of 2^64-1.
	histBuckets = (64-histSubBits-1)*histSub + 2*histSub
)

// histIndex is the bucket of v.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e is in [64, 128)
	return e*histSub + int(v>>e)
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	e := i/histSub - 1
	m := uint64(i%histSub + histSub)
	lo = m << e
	return lo, lo + (uint64(1) << e) - 1
}

// add counts one value; a negative value (a clock step) counts as 0.
func (h *hist) add(v int64) {
	u := uint64(max(v, 0))
	h.counts[histIndex(u)].Add(1)
	h.sum.Add(u)
	for {
		m := h.max.Load()
		if u <= m || h.max.CompareAndSwap(m, u) {
			return
		}
	}
}

// reset forgets every value. Values added meanwhile may be half counted: call it when none
// arrive.
func (h *hist) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.sum.Store(0)
	h.max.Store(0)
}

// histWire is a histogram as the worker protocol sends it: only the non-empty buckets.
type histWire struct {
	Buckets [][2]uint64 `json:"buckets,omitempty"` // [index, count], by increasing index
	N       uint64      `json:"n"`
	Sum     uint64      `json:"sum"`
	Max     uint64      `json:"max"`
}

// wire returns h's current counts. Taken while values are being added it is a consistent
// histogram (n is the buckets' total, max at least the last bucket's lower bound), with a sum
// that may be a few values off.
func (h *hist) wire() histWire {
	var w histWire
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
			w.N += c
		}
	}
	w.Sum, w.Max = h.sum.Load(), h.max.Load()
	if len(w.Buckets) > 0 {
		w.Max = max(w.Max, lowerBound(w.Buckets[len(w.Buckets)-1][0]))
	}
	return w
}

// check validates a histogram received from a worker.
func (w *histWire) check() error {
	var total uint64
	last := -1
	for _, b := range w.Buckets {
		if b[0] >= histBuckets || int(b[0]) <= last {
			return fmt.Errorf("histogram bucket %d out of order or range", b[0])
		}
		last = int(b[0])
		if b[1] == 0 {
			return errors.New("histogram bucket with a zero count")
		}
		if total+b[1] < total {
			return errors.New("histogram counts overflow")
		}
		total += b[1]
	}
	if total != w.N {
		return fmt.Errorf("histogram buckets hold %d values, n says %d", total, w.N)
	}
	if w.N > 0 && w.Max < lowerBound(w.Buckets[len(w.Buckets)-1][0]) {
		return fmt.Errorf("histogram max %d below its last bucket", w.Max)
	}
	return nil
}

func lowerBound(i uint64) uint64 {
	lo, _ := histBounds(int(i))
	return lo
}

// merged is the sum of several workers' histograms.
type merged struct {
	counts []uint64 // by bucket index
	n, sum uint64
	max    uint64
}

func newMerged() *merged { return &merged{counts: make([]uint64, histBuckets)} }

// add merges a checked wire histogram.
func (m *merged) add(w histWire) {
	for _, b := range w.Buckets {
		m.counts[b[0]] += b[1]
	}
	m.n += w.N
	m.sum += w.Sum
	m.max = max(m.max, w.Max)
}

// quantile returns the value at quantile q (0 < q ≤ 1): the upper bound of the bucket that
// holds the ceil(q·n)-th smallest value, and never more than the largest value seen; 0 when
// empty.
func (m *merged) quantile(q float64) uint64 {
	if m.n == 0 {
		return 0
	}
	rank := uint64(q*float64(m.n) + 0.999999)
	rank = min(max(rank, 1), m.n)
	var seen uint64
	for i, c := range m.counts {
		if seen += c; seen >= rank {
			_, hi := histBounds(i)
			return min(hi, m.max)
		}
	}
	return m.max
}

// mean returns the average value; 0 when empty.
func (m *merged) mean() float64 {
	if m.n == 0 {
		return 0
	}
	return float64(m.sum) / float64(m.n)
}

// wire returns the merged counts in the worker protocol's form.
func (m *merged) wire() histWire {
	w := histWire{N: m.n, Sum: m.sum, Max: m.max}
	for i, c := range m.counts {
		if c > 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return w
}
