package benchkit

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistBuckets(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 4095, 4096, 123456, 1 << 40, math.MaxInt64, math.MaxUint64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, out of [0, %d)", v, i, histBuckets)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Fatalf("%d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= 128 && float64(hi-lo+1) > float64(lo)/64 {
			t.Fatalf("bucket %d = [%d, %d] wider than 1/64 of its lower bound", i, lo, hi)
		}
	}
	// Consecutive buckets tile the line without gaps or overlaps.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, prevHi)
		}
	}
	if _, hi := histBounds(histBuckets - 1); hi != math.MaxUint64 {
		t.Errorf("the last bucket ends at %d", hi)
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for v := int64(1); v <= 10000; v++ {
		h.Add(v)
	}
	h.Add(-5) // a clock step counts as 0
	m := NewMerged()
	m.Add(h.Wire())
	if m.n != 10001 || m.max != 10000 {
		t.Fatalf("n %d, max %d", m.n, m.max)
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 5000}, {0.9, 9000}, {0.99, 9900}, {1, 10000}} {
		got := float64(m.Quantile(tc.q))
		if got < tc.want || got > tc.want*(1+1.0/64) {
			t.Errorf("quantile(%v) = %v, want %v within +1/64", tc.q, got, tc.want)
		}
	}
	if got := m.Mean(); math.Abs(got-5000.0*10000/10001) > 1 {
		t.Errorf("mean %v", got)
	}
	if NewMerged().Quantile(0.5) != 0 || NewMerged().Mean() != 0 {
		t.Error("an empty histogram has a quantile")
	}
}

func TestHistMerge(t *testing.T) {
	// Two workers' histograms merged equal one histogram of every value.
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, all Hist
	for range 5000 {
		v := int64(r.ExpFloat64() * 20000)
		all.Add(v)
		if r.IntN(2) == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	m := NewMerged()
	for _, w := range []HistWire{a.Wire(), b.Wire()} {
		if err := w.Check(); err != nil {
			t.Fatal(err)
		}
		m.Add(w)
	}
	one := NewMerged()
	one.Add(all.Wire())
	if !slices.Equal(m.counts, one.counts) || m.n != one.n || m.sum != one.sum || m.max != one.max {
		t.Fatal("merged histogram differs from the histogram of all values")
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if m.Quantile(q) != one.Quantile(q) {
			t.Errorf("quantile(%v): merged %d, one %d", q, m.Quantile(q), one.Quantile(q))
		}
	}
	if w := m.Wire(); w.Check() != nil || w.N != 5000 {
		t.Errorf("re-encoded merge: n %d, %v", w.N, w.Check())
	}
	a.Reset()
	if w := a.Wire(); w.N != 0 || len(w.Buckets) != 0 || w.Max != 0 {
		t.Errorf("after reset: %+v", w)
	}
}

func TestHistWireCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    HistWire
	}{
		{"out of order", HistWire{Buckets: [][2]uint64{{5, 1}, {3, 1}}, N: 2, Max: 5}},
		{"repeated", HistWire{Buckets: [][2]uint64{{5, 1}, {5, 1}}, N: 2, Max: 5}},
		{"out of range", HistWire{Buckets: [][2]uint64{{histBuckets, 1}}, N: 1, Max: math.MaxUint64}},
		{"zero count", HistWire{Buckets: [][2]uint64{{5, 0}}, N: 0, Max: 5}},
		{"wrong n", HistWire{Buckets: [][2]uint64{{5, 2}}, N: 3, Max: 5}},
		{"max too small", HistWire{Buckets: [][2]uint64{{200, 1}}, N: 1, Max: 10}},
		{"overflow", HistWire{Buckets: [][2]uint64{{1, math.MaxUint64}, {2, 2}}, N: 1, Max: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.w.Check(); err == nil {
				t.Error("accepted")
			}
		})
	}
	if err := (&HistWire{}).Check(); err != nil {
		t.Errorf("empty: %v", err)
	}
}

func TestLatencyOf(t *testing.T) {
	var h Hist
	for v := int64(1); v <= 1000; v++ {
		h.Add(v * 10) // 10 µs … 10 ms
	}
	m := NewMerged()
	m.AddHist(&h)
	l := LatencyOf(m)
	if l.N != 1000 || m.N() != 1000 || l.Max != 10 || m.Max() != 10000 {
		t.Fatalf("%+v", l)
	}
	for _, tc := range []struct{ got, want float64 }{{l.P50, 5}, {l.P90, 9}, {l.P99, 9.9}, {l.P999, 9.99}, {l.Mean, 5.005}} {
		if tc.got < tc.want*0.999 || tc.got > tc.want*(1+1.0/64) {
			t.Errorf("got %v ms, want %v within +1/64", tc.got, tc.want)
		}
	}
}
