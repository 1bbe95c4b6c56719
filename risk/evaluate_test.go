package risk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// one evaluates a single indicator with thresholds th from status prev.
func one(i Indicator, th Threshold, prev Status, x int64) Status {
	t := DefaultThresholds()
	t[i] = th
	var p Statuses
	p[i] = prev
	var v Values
	v.Set(i, x)
	var r Report
	Evaluate(&t, Bands{}, &p, &v, &r)
	return r.Status[i]
}

// TestStatus steps one indicator of each direction (higher is worse, lower is worse, absolute)
// from a previous status to a value, through the thresholds and their hysteresis.
func TestStatus(t *testing.T) {
	type step struct {
		name string
		prev Status
		x    int64
		want Status
	}
	for _, group := range []struct {
		name  string
		ind   Indicator
		th    Threshold
		steps []step
	}{
		{"higher is worse", MaxAssetConcentration, Threshold{Warn: 100, Critical: 200, Hysteresis: 10}, []step{
			{"below warn", Normal, 50, Normal},
			{"at warn is not past it", Normal, 100, Normal},
			{"past warn", Normal, 101, Warning},
			{"at critical is not past it", Normal, 200, Warning},
			{"straight to critical", Normal, 201, Critical},
			{"warning holds inside the hysteresis", Warning, 95, Warning},
			{"warning holds at the edge", Warning, 91, Warning},
			{"warning clears at warn - hysteresis", Warning, 90, Normal},
			{"warning escalates", Warning, 250, Critical},
			{"critical holds inside the hysteresis", Critical, 191, Critical},
			{"critical steps down to warning", Critical, 190, Warning},
			{"critical steps down to warning, not past warn - h", Critical, 91, Warning},
			{"critical clears at once", Critical, 0, Normal},
			{"negative values are normal", Normal, -500, Normal},
		}},
		{"lower is worse", RedemptionCoverage, Threshold{Warn: 2000, Critical: 1000, Hysteresis: 100}, []step{
			{"above warn", Normal, 5000, Normal},
			{"at warn is not past it", Normal, 2000, Normal},
			{"below warn", Normal, 1999, Warning},
			{"straight to critical", Normal, 999, Critical},
			{"warning holds inside the hysteresis", Warning, 2099, Warning},
			{"warning clears at warn + hysteresis", Warning, 2100, Normal},
			{"critical holds", Critical, 1099, Critical},
			{"critical to warning", Critical, 1100, Warning},
			{"critical clears", Critical, 9000, Normal},
			{"negative ratio is critical", Normal, -5, Critical},
		}},
		// A lower-is-worse threshold of 0 is off.
		{"lower is worse, thresholds off", RedemptionCoverage, Threshold{}, []step{
			{"critical clears", Critical, -100, Normal},
		}},
		{"absolute drift", NavDriftBps, Threshold{Warn: 50, Critical: 200, Hysteresis: 10}, []step{
			{"below -warn", Normal, -51, Warning},
			{"past warn", Normal, 51, Warning},
			{"below -critical", Normal, -201, Critical},
			{"warning holds inside the hysteresis", Warning, -41, Warning},
			{"warning clears at -(warn - hysteresis)", Warning, -40, Normal},
			{"min int64", Normal, math.MinInt64, Critical},
			{"max int64", Normal, math.MaxInt64, Critical},
		}},
	} {
		for _, st := range group.steps {
			t.Run(group.name+"/"+st.name, func(t *testing.T) {
				if got := one(group.ind, group.th, st.prev, st.x); got != st.want {
					t.Errorf("status(%s, %d) = %s, want %s", st.prev, st.x, got, st.want)
				}
			})
		}
	}
}

func TestUnknownValueIsNormal(t *testing.T) {
	th := DefaultThresholds()
	prev := Statuses{RedemptionCoverage: Critical, NavDriftBps: Warning}
	var v Values
	var r Report
	Evaluate(&th, Bands{}, &prev, &v, &r)
	if r.Status != (Statuses{}) || r.Level != LevelNormal || r.Score != 0 {
		t.Fatalf("no values: %+v", r)
	}
	if c, ok := r.Crossing(RedemptionCoverage); !ok || c.Up() || c.From != Critical || c.To != Normal {
		t.Fatalf("crossing = %+v %v", c, ok)
	}
}

func TestBands(t *testing.T) {
	th := DefaultThresholds()
	got := th.Resolve(Bands{L1Min: 1000, L2Min: 2001})
	if got[L1Ratio].Warn != 1000 || got[L1Ratio].Critical != 500 {
		t.Errorf("l1Ratio from band = %+v", got[L1Ratio])
	}
	if got[L1L2Ratio].Warn != 3001 || got[L1L2Ratio].Critical != 1500 {
		t.Errorf("l1l2Ratio from bands = %+v", got[L1L2Ratio])
	}
	// Configured thresholds win over the bands.
	th[L1Ratio] = Threshold{Warn: 700, Critical: 300}
	if got := th.Resolve(Bands{L1Min: 1000}); got[L1Ratio] != th[L1Ratio] {
		t.Errorf("configured l1Ratio = %+v", got[L1Ratio])
	}
	// No band yet: the thresholds are off.
	d := DefaultThresholds()
	var v Values
	v.Set(L1Ratio, 0)
	var r Report
	Evaluate(&d, Bands{}, &Statuses{}, &v, &r)
	if r.Status[L1Ratio] != Normal {
		t.Errorf("l1Ratio 0 without a band = %s", r.Status[L1Ratio])
	}
	Evaluate(&d, Bands{L1Min: 1000}, &Statuses{}, &v, &r)
	if r.Status[L1Ratio] != Critical {
		t.Errorf("l1Ratio 0 under a band of 1000 = %s", r.Status[L1Ratio])
	}
}

func TestLevelAndScore(t *testing.T) {
	tests := []struct {
		warn, crit int
		score      int64
		level      Level
	}{
		{0, 0, 0, LevelNormal},
		{1, 0, 10, LevelElevated},
		{2, 0, 20, LevelElevated},
		{3, 0, 30, LevelHigh},
		{5, 0, 50, LevelCritical},
		{0, 1, 50, LevelCritical},
		{2, 2, 100, LevelCritical},
		{0, 9, 100, LevelCritical},
	}
	for _, tt := range tests {
		// Set statuses through thresholds: higher-is-worse counts with warn 0, critical 1.
		th := DefaultThresholds()
		var v Values
		n := 0
		for i := range NumIndicators {
			if i.LowerIsWorse() {
				continue
			}
			th[i] = Threshold{Warn: 10, Critical: 20}
			switch {
			case n < tt.warn:
				v.Set(i, 15)
			case n < tt.warn+tt.crit:
				v.Set(i, 25)
			}
			n++
		}
		for i := range NumIndicators {
			if i.LowerIsWorse() && n < tt.warn+tt.crit {
				th[i] = Threshold{Warn: 20, Critical: 10}
				v.Set(i, 5)
				n++
			}
		}
		var r Report
		Evaluate(&th, Bands{}, &Statuses{}, &v, &r)
		if r.Score != tt.score || r.Level != tt.level {
			t.Errorf("%d warnings, %d critical: score %d level %s, want %d %s", tt.warn, tt.crit, r.Score, r.Level, tt.score, tt.level)
		}
	}
}

func TestCrossingThreshold(t *testing.T) {
	th := DefaultThresholds()
	th[PendingApprovals] = Threshold{Warn: 5, Critical: 20, Hysteresis: 1}
	var v Values
	v.Set(PendingApprovals, 25)
	var r Report
	Evaluate(&th, Bands{}, &Statuses{}, &v, &r)
	c, ok := r.Crossing(PendingApprovals)
	if !ok || !c.Up() || c.To != Critical || c.Threshold != 20 || c.Value != 25 {
		t.Fatalf("up crossing = %+v %v", c, ok)
	}
	prev := r.Status
	v.Set(PendingApprovals, 5)
	Evaluate(&th, Bands{}, &prev, &v, &r)
	if r.Status[PendingApprovals] != Warning {
		t.Fatalf("5 pending after critical: %s, want WARNING (not at 5 - 1 yet)", r.Status[PendingApprovals])
	}
	c, _ = r.Crossing(PendingApprovals)
	if c.Up() || c.From != Critical || c.Threshold != 20 || c.Hysteresis != 1 {
		t.Fatalf("down crossing = %+v", c)
	}
	if _, ok := r.Crossing(NavDriftBps); ok {
		t.Fatal("an unchanged indicator crossed")
	}
}

// TestHoveringCrossesOnce: a value that hovers around a threshold, never leaving threshold ±
// hysteresis, crosses it at most once, whatever the walk (property test).
func TestHoveringCrossesOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	walks, crossed := 0, 0
	for iter := range 2000 {
		i := Indicator(rng.IntN(int(NumIndicators)))
		th := randomThreshold(rng, i)
		th.Hysteresis = max(th.Hysteresis, 1)
		if th.Warn < th.Hysteresis && !i.LowerIsWorse() {
			th.Warn = th.Hysteresis
			th.Critical = max(th.Critical, th.Warn)
		}
		thr := th.Warn
		if thr == 0 { // an off lower-is-worse warn
			continue
		}
		var lo, hi int64 // the band the value hovers in: (thr - h, +inf) or (-inf, thr + h)
		if i.LowerIsWorse() {
			lo, hi = thr-3*th.Hysteresis, thr+th.Hysteresis-1
			if th.Critical > 0 {
				lo = max(lo, th.Critical) // stay out of critical
			}
		} else {
			lo, hi = thr-th.Hysteresis+1, thr+3*th.Hysteresis
			hi = min(hi, th.Critical) // stay out of critical
		}
		if lo > hi {
			continue
		}
		tt := DefaultThresholds()
		tt[i] = th
		var prev Statuses
		var r Report
		var v Values
		crossings := 0
		for range 50 {
			x := lo + rng.Int64N(hi-lo+1)
			if i == NavDriftBps && rng.IntN(2) == 0 {
				x = -x
			}
			v.Set(i, x)
			Evaluate(&tt, Bands{}, &prev, &v, &r)
			if _, ok := r.Crossing(i); ok {
				crossings++
			}
			prev = r.Status
		}
		if crossings > 1 {
			t.Fatalf("iteration %d: %s %+v hovering in [%d, %d] crossed %d times", iter, i.Name(), th, lo, hi, crossings)
		}
		walks++
		crossed += crossings
	}
	if walks < 1000 || crossed < walks/2 {
		t.Fatalf("%d walks, %d crossings: the property was hardly exercised", walks, crossed)
	}
}

// TestStatusProperties checks, over random walks, that escalation is immediate (the status
// is never below the level the value is in), that a status is left only once the value is
// past its threshold by the hysteresis, and that with no hysteresis the status is exactly
// the value's level (property test).
func TestStatusProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 3000 {
		i := Indicator(rng.IntN(int(NumIndicators)))
		th := randomThreshold(rng, i)
		noHyst := rng.IntN(4) == 0
		if noHyst {
			th.Hysteresis = 0
		}
		tt := DefaultThresholds()
		tt[i] = th
		var prev Statuses
		var r Report
		var v Values
		span := max(th.Warn, th.Critical)*2 + 10
		for step := range 40 {
			x := rng.Int64N(span) - 5
			v.Set(i, x)
			Evaluate(&tt, Bands{}, &prev, &v, &r)
			got := r.Status[i]
			lvl := rawLevel(i, th, x)
			if got < lvl {
				t.Fatalf("iter %d step %d: %s %+v x=%d status %s below its level %s", iter, step, i.Name(), th, x, got, lvl)
			}
			if noHyst && got != lvl {
				t.Fatalf("iter %d step %d: %s %+v no hysteresis x=%d status %s != level %s", iter, step, i.Name(), th, x, got, lvl)
			}
			if got < prev[i] && inHysteresis(i, th, prev[i], x) {
				t.Fatalf("iter %d step %d: %s %+v x=%d left %s inside the hysteresis", iter, step, i.Name(), th, x, prev[i])
			}
			if got > lvl && got > prev[i] {
				t.Fatalf("iter %d step %d: %s rose to %s above the value's level %s", iter, step, i.Name(), got, lvl)
			}
			if (r.Crossed&(1<<i) != 0) != (got != prev[i]) {
				t.Fatalf("iter %d step %d: Crossed %b for %s -> %s", iter, step, r.Crossed, prev[i], got)
			}
			prev = r.Status
		}
	}
}

// rawLevel is the level value x is in, ignoring history.
func rawLevel(i Indicator, th Threshold, x int64) Status {
	if i == NavDriftBps && x < 0 {
		x = -x
	}
	if i.LowerIsWorse() {
		switch {
		case th.Critical > 0 && x < th.Critical:
			return Critical
		case th.Warn > 0 && x < th.Warn:
			return Warning
		}
		return Normal
	}
	switch {
	case x > th.Critical:
		return Critical
	case x > th.Warn:
		return Warning
	}
	return Normal
}

// inHysteresis says whether x is still within the hysteresis of status s's threshold.
func inHysteresis(i Indicator, th Threshold, s Status, x int64) bool {
	thr := th.Warn
	if s == Critical {
		thr = th.Critical
	}
	if i.LowerIsWorse() {
		return thr > 0 && x < thr+th.Hysteresis
	}
	return x > thr-th.Hysteresis
}

// randomThreshold draws thresholds that Check accepts for indicator i.
func randomThreshold(rng *rand.Rand, i Indicator) Threshold {
	for {
		a, b := rng.Int64N(5000), rng.Int64N(5000)
		h := rng.Int64N(300)
		var th Threshold
		if i.LowerIsWorse() {
			th = Threshold{Warn: max(a, b), Critical: min(a, b), Hysteresis: h}
		} else {
			th = Threshold{Warn: min(a, b), Critical: max(a, b), Hysteresis: h}
		}
		var t Thresholds = DefaultThresholds()
		t[i] = th
		if t.Check() == nil {
			return th
		}
	}
}

func TestEvaluateAllocatesNothing(t *testing.T) {
	th := DefaultThresholds()
	var v Values
	for i := range NumIndicators {
		v.Set(i, int64(i)*1000)
	}
	var prev Statuses
	var r Report
	allocs := testing.AllocsPerRun(100, func() {
		Evaluate(&th, Bands{L1Min: 500, L2Min: 1000}, &prev, &v, &r)
		for i := range NumIndicators {
			if c, ok := r.Crossing(i); ok {
				_ = c
			}
		}
		prev = r.Status
	})
	if allocs != 0 {
		t.Fatalf("Evaluate allocates %v times", allocs)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	th := DefaultThresholds()
	var v Values
	for i := range NumIndicators {
		v.Set(i, int64(i)*1000)
	}
	var prev Statuses
	var r Report
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(&th, Bands{L1Min: 500, L2Min: 1000}, &prev, &v, &r)
		prev = r.Status
	}
}
