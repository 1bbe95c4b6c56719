package server

import (
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"paimon/fund"
)

// stateMetrics are the gauges read from the replicated state: the redemptions owed and
// requested, the risk events by source and severity and those not resolved, the rebalancing
// plans' executions and deviations (rebalance_metrics.go). They are computed
// when /metrics is scraped, at most once per applied index (one scan of the redemptions'
// status index, keys only, one of the risk events and one of the plans), so that apply pays
// nothing for them.
type stateMetrics struct {
	store Store

	mu    sync.Mutex
	index uint64
	valid bool
	last  stateFigures
}

// stateFigures are the figures of one applied index.
type stateFigures struct {
	open, total int
	risk        [4][5]int // by source, severity
	unresolved  [5]int    // by severity
	plans       planFigures
}

var (
	riskSources    = []fund.RiskSource{fund.SourceChain, fund.SourceRule, fund.SourceSystem}
	riskSeverities = []fund.RiskSeverity{fund.SeverityInfo, fund.SeverityWarning, fund.SeverityHigh, fund.SeverityCritical}
)

func registerStateMetrics(set *metrics.Set, store Store) {
	m := &stateMetrics{store: store}
	set.GetOrCreateGauge("paimon_pending_redemptions", func() float64 { return float64(m.get().open) })
	set.GetOrCreateGauge("paimon_redemption_requests_total", func() float64 { return float64(m.get().total) })
	for _, src := range riskSources {
		for _, sev := range riskSeverities {
			src, sev := src, sev
			set.GetOrCreateGauge(`paimon_risk_events_total{source="`+src.String()+`",severity="`+sev.String()+`"}`,
				func() float64 { return float64(m.get().risk[src][sev]) })
		}
	}
	for _, sev := range riskSeverities {
		sev := sev
		set.GetOrCreateGauge(`paimon_risk_events_unresolved{severity="`+sev.String()+`"}`,
			func() float64 { return float64(m.get().unresolved[sev]) })
	}
	registerPlanMetrics(set, m)
}

// get returns the figures as of the applied index, computing them if it moved. On a read
// error the last figures stay.
func (m *stateMetrics) get() stateFigures {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.valid && m.store.AppliedIndex() == m.index {
		return m.last
	}
	v, err := m.store.Read()
	if err != nil {
		return m.last
	}
	defer v.Close()
	var f stateFigures
	if f.open, f.total, err = fund.RedemptionCounts(v); err != nil {
		return m.last
	}
	var rerr error
	err = v.Scan([]byte{fund.PrefixRisk}, []byte{fund.PrefixRisk + 1}, false, func(k, val []byte) bool {
		rec, ok, err := fund.DecodeRecord(k, val)
		r, isRisk := rec.(*fund.RiskEventRecord)
		if err != nil || !ok || !isRisk {
			rerr = err
			return false
		}
		src, _ := fund.ParseRiskSource(r.Source)
		sev, _ := fund.ParseRiskSeverity(r.Severity)
		f.risk[src][sev]++
		if !r.Resolved {
			f.unresolved[sev]++
		}
		return true
	})
	if err != nil || rerr != nil {
		return m.last
	}
	if f.plans, err = readPlanFigures(v); err != nil {
		return m.last
	}
	m.index, m.valid, m.last = v.Index, true, f
	return f
}
