package risk

// Values are the indicators' values at one point. An indicator may have no value (no
// liability to cover, no price yet, a drift that cannot be computed): it renders as null and
// its status is NORMAL.
type Values struct {
	V     [NumIndicators]int64
	Known uint16 // bit i: V[i] is known
}

// valueLimit bounds a value so that negating it and adding a threshold cannot overflow.
const valueLimit = 1 << 62

// Set records the value of indicator i, clamped to ±2^62.
func (v *Values) Set(i Indicator, x int64) {
	v.V[i] = min(max(x, -valueLimit), valueLimit)
	v.Known |= 1 << i
}

// Has says whether indicator i has a value.
func (v *Values) Has(i Indicator) bool { return v.Known&(1<<i) != 0 }

// Statuses are the indicators' statuses, by Indicator: the state the hysteresis keeps.
type Statuses [NumIndicators]Status

// Bands are the fund's tier bands that l1Ratio and l1l2Ratio follow when configured so
// (Config): the minRatio of L1 and of L2, in basis points.
type Bands struct {
	L1Min, L2Min int64
}

// Report is the outcome of one evaluation: the thresholds applied (band-derived ones filled
// in), each indicator's status, the crossings against the previous statuses, the level and
// the score. It holds no pointer: evaluating allocates nothing.
type Report struct {
	Values   Values
	Limits   Thresholds // the thresholds applied, l1Ratio and l1l2Ratio resolved from the bands
	Status   Statuses
	Previous Statuses
	Crossed  uint16 // bit i: Status[i] != Previous[i]
	Level    Level
	Score    int64
}

// Points per indicator in the score, and the score from which each level starts.
const (
	WarningPoints  = 10
	CriticalPoints = 50
	MaxScore       = 100

	ElevatedFrom = 10
	HighFrom     = 30
	CriticalFrom = 50
)

// Evaluate fills r with the statuses of values v under thresholds t (band-derived ones from
// b), given the previous statuses prev:
//
//   - a status is entered as soon as the value is past its threshold (above it for a
//     higher-is-worse indicator, below it for a lower-is-worse one; a drift by its absolute
//     value), so escalation is immediate, straight to CRITICAL if need be;
//   - a status is left only when the value is back past the threshold by the hysteresis: a
//     higher-is-worse WARNING (CRITICAL) holds while value > warn − hysteresis (critical −
//     hysteresis), a lower-is-worse one while value < warn + hysteresis (critical +
//     hysteresis). A value hovering around a threshold therefore crosses it once, and must
//     come back past threshold ± hysteresis to re-arm;
//   - an indicator without a value is NORMAL, and a lower-is-worse threshold of 0 is off.
//
// Score = min(100, 10 × #WARNING + 50 × #CRITICAL); level NORMAL below 10, ELEVATED from 10
// (a warning), HIGH from 30 (three warnings), CRITICAL from 50 (a critical indicator, or five
// warnings). Evaluate is pure and allocates nothing.
func Evaluate(t *Thresholds, b Bands, prev *Statuses, v *Values, r *Report) {
	r.Values = *v
	r.Limits = t.Resolve(b)
	r.Previous = *prev
	r.Crossed = 0
	var warn, crit int64
	for i := range NumIndicators {
		s := Normal
		if v.Has(i) {
			s = next(prev[i], v.V[i], &r.Limits[i], &specs[i])
		}
		r.Status[i] = s
		if s != prev[i] {
			r.Crossed |= 1 << i
		}
		switch s {
		case Warning:
			warn++
		case Critical:
			crit++
		}
	}
	r.Score = min(MaxScore, WarningPoints*warn+CriticalPoints*crit)
	r.Level = LevelOf(r.Score)
}

// LevelOf is the level of a score.
func LevelOf(score int64) Level {
	switch {
	case score >= CriticalFrom:
		return LevelCritical
	case score >= HighFrom:
		return LevelHigh
	case score >= ElevatedFrom:
		return LevelElevated
	}
	return LevelNormal
}

// Resolve returns t with l1Ratio and l1l2Ratio configured from the bands (warn and critical 0)
// filled in: warn at the band's minRatio (L1, respectively L1 + L2), critical at half of it.
func (t *Thresholds) Resolve(b Bands) Thresholds {
	out := *t
	for i := range NumIndicators {
		th := &out[i]
		if !specs[i].fromBand || th.Warn != 0 || th.Critical != 0 {
			continue
		}
		m := max(b.L1Min, 0)
		if i == L1L2Ratio {
			m += max(b.L2Min, 0)
		}
		m = min(m, maxBps)
		th.Warn, th.Critical = m, m/2
	}
	return out
}

// next is the status of an indicator with value x, limits l, that was prev.
func next(prev Status, x int64, l *Threshold, s *spec) Status {
	warn, crit, h := l.Warn, l.Critical, l.Hysteresis
	warnOn, critOn := true, true
	if s.absolute && x < 0 {
		x = -x
	}
	if s.lowerIsWorse {
		// Work as if higher were worse: negate the value and the thresholds.
		warnOn, critOn = warn > 0, crit > 0
		x, warn, crit = -x, -warn, -crit
	}
	raw := Normal
	switch {
	case critOn && x > crit:
		raw = Critical
	case warnOn && x > warn:
		raw = Warning
	}
	if raw >= prev {
		return raw
	}
	// De-escalate one level at a time while the value is past that level's threshold by
	// the hysteresis.
	st := prev
	for st > raw {
		thr, on := warn, warnOn
		if st == Critical {
			thr, on = crit, critOn
		}
		if on && x > thr-h {
			break
		}
		st--
	}
	return st
}

// Crossing is an indicator's status change in one evaluation.
type Crossing struct {
	Indicator Indicator
	From, To  Status
	Value     int64
	// Threshold is the threshold crossed: that of To going up, that of From going down (the
	// value is then past it by the hysteresis).
	Threshold  int64
	Hysteresis int64
}

// Up says whether the crossing is an escalation.
func (c *Crossing) Up() bool { return c.To > c.From }

// Crossing returns indicator i's crossing in r, if its status changed.
func (r *Report) Crossing(i Indicator) (Crossing, bool) {
	if r.Crossed&(1<<i) == 0 {
		return Crossing{}, false
	}
	c := Crossing{Indicator: i, From: r.Previous[i], To: r.Status[i], Value: r.Values.V[i], Hysteresis: r.Limits[i].Hysteresis}
	lvl := c.To
	if !c.Up() {
		lvl = c.From
	}
	c.Threshold = r.Limits[i].Warn
	if lvl == Critical {
		c.Threshold = r.Limits[i].Critical
	}
	return c, true
}
