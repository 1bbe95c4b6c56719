package server

import (
	"fmt"
	"math"

	"github.com/VictoriaMetrics/metrics"

	"paimon/fund"
	"paimon/risk"
)

// riskMetrics are the gauges of the risk indicators' stored evaluation (risk/DESIGN.md
// "Metrics"), set from this node's replica at each scrape of /metrics.
type riskMetrics struct {
	level, score, l1Ratio, navDrift *metrics.Gauge
	value, status                   [risk.NumIndicators]*metrics.Gauge
}

func newRiskMetrics(set *metrics.Set) *riskMetrics {
	m := &riskMetrics{
		level:    set.GetOrCreateGauge("paimon_risk_level", nil),
		score:    set.GetOrCreateGauge("paimon_risk_score", nil),
		l1Ratio:  set.GetOrCreateGauge("paimon_l1_ratio", nil),
		navDrift: set.GetOrCreateGauge("paimon_nav_drift_bps", nil),
	}
	for i := range risk.NumIndicators {
		m.value[i] = set.GetOrCreateGauge(fmt.Sprintf(`paimon_risk_indicator_value{indicator=%q}`, i.Name()), nil)
		m.status[i] = set.GetOrCreateGauge(fmt.Sprintf(`paimon_risk_indicator_status{indicator=%q}`, i.Name()), nil)
	}
	return m
}

// update sets the gauges from the stored evaluation: level 0-3 (NORMAL … CRITICAL), score
// 0-100, l1 ratio as a fraction (0-1), drift in bps, each indicator's value in its unit and its
// status 0-2; a value the indicator does not have is NaN.
func (m *riskMetrics) update(store Store) error {
	v, err := store.Read()
	if err != nil {
		return err
	}
	s, err := fund.ReadRiskStatus(v)
	v.Close()
	if err != nil {
		return err
	}
	m.level.Set(float64(s.Level))
	m.score.Set(float64(s.Score))
	for i := range risk.NumIndicators {
		x := math.NaN()
		if s.Values.Has(i) {
			x = float64(s.Values.V[i])
		}
		m.value[i].Set(x)
		m.status[i].Set(float64(s.Status[i]))
	}
	m.l1Ratio.Set(m.value[risk.L1Ratio].Get() / 10000)
	m.navDrift.Set(m.value[risk.NavDriftBps].Get())
	return nil
}
