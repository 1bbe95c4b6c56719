package benchkit

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Hist is a log-linear histogram of non-negative values (latencies in microseconds, in the
// runners): values below 128 are counted exactly, larger ones in 64 buckets per power of two,
// so a bucket's bounds are within 1/64 (1.6 %) of each other, like an HDR histogram with two
// significant digits. It has a fixed size (~30 KB), adds are lock-free (atomic) so many
// goroutines may share one, and histograms merge by adding their counts (Merged): bench/ws
// workers each keep their own and send them to the runner as HistWire.
type Hist struct {
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

// Add counts one value; a negative value (a clock step) counts as 0.
func (h *Hist) Add(v int64) {
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

// Reset forgets every value. Values added meanwhile may be half counted: call it when none
// arrive.
func (h *Hist) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.sum.Store(0)
	h.max.Store(0)
}

// HistWire is a histogram as bench/ws's worker protocol sends it (JSON): only the non-empty
// buckets.
type HistWire struct {
	Buckets [][2]uint64 `json:"buckets,omitempty"` // [index, count], by increasing index
	N       uint64      `json:"n"`
	Sum     uint64      `json:"sum"`
	Max     uint64      `json:"max"`
}

// Wire returns h's current counts. Taken while values are being added it is a consistent
// histogram (n is the buckets' total, max at least the last bucket's lower bound), with a sum
// that may be a few values off.
func (h *Hist) Wire() HistWire {
	var w HistWire
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

// Check validates a histogram received from another process.
func (w *HistWire) Check() error {
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

// Merged is the sum of several histograms, and what their quantiles are read from.
type Merged struct {
	counts []uint64 // by bucket index
	n, sum uint64
	max    uint64
}

// NewMerged returns an empty sum.
func NewMerged() *Merged { return &Merged{counts: make([]uint64, histBuckets)} }

// Add merges a checked wire histogram.
func (m *Merged) Add(w HistWire) {
	for _, b := range w.Buckets {
		m.counts[b[0]] += b[1]
	}
	m.n += w.N
	m.sum += w.Sum
	m.max = max(m.max, w.Max)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the upper bound of the bucket that
// holds the ceil(q·n)-th smallest value, and never more than the largest value seen; 0 when
// empty.
func (m *Merged) Quantile(q float64) uint64 {
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

// Mean returns the average value; 0 when empty.
func (m *Merged) Mean() float64 {
	if m.n == 0 {
		return 0
	}
	return float64(m.sum) / float64(m.n)
}

// Wire returns the merged counts in the wire form.
func (m *Merged) Wire() HistWire {
	w := HistWire{N: m.n, Sum: m.sum, Max: m.max}
	for i, c := range m.counts {
		if c > 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return w
}

// AddHist merges h's current counts.
func (m *Merged) AddHist(h *Hist) { m.Add(h.Wire()) }

// N returns how many values were counted.
func (m *Merged) N() uint64 { return m.n }

// Max returns the largest value counted; 0 when empty.
func (m *Merged) Max() uint64 { return m.max }

// LatencyMs is a latency distribution in milliseconds, as the runners report it.
type LatencyMs struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// LatencyOf summarizes a histogram of microseconds.
func LatencyOf(m *Merged) LatencyMs {
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	return LatencyMs{N: m.n, Mean: m.Mean() / 1000, P50: ms(m.Quantile(0.50)), P90: ms(m.Quantile(0.90)),
		P99: ms(m.Quantile(0.99)), P999: ms(m.Quantile(0.999)), Max: ms(m.max)}
}
