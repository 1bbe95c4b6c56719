package server

import (
	"math"

	"github.com/VictoriaMetrics/metrics"

	"paimon/fund"
	"paimon/kv"
	"paimon/rebalance"
)

// The rebalancing metrics, from the replicated plans (identical on every node), computed with
// the other state figures (statemetrics.go) when /metrics is scraped:
//
//   - paimon_rebalance_executions_total{status}: plans executed (POST /v1/rebalance/execute
//     applied) that ended COMPLETED, FAILED or CANCELLED (their ticket rejected, expired or
//     cancelled);
//   - paimon_rebalance_deviation_bps{stage}: the largest |tier ratio − the plan's target| of the
//     last plan that ended with a realised state (COMPLETED, or FAILED after a trade), at stage
//     pre (the books the plan was computed from), estimated (the planner's post-state) and
//     realised (the books when it ended); NaN before the first such plan.

// endedPlanStatuses are the statuses an execution ends in, the label values of
// paimon_rebalance_executions_total.
var endedPlanStatuses = []fund.PlanStatus{fund.PlanCompleted, fund.PlanFailed, fund.PlanCancelled}

// planFigures are the rebalancing figures of one applied index.
type planFigures struct {
	ended [fund.PlanCancelled + 1]int // by PlanStatus
	// deviation of the last plan with a realised state: pre, estimated, realised (NaN: none).
	deviation [3]float64
}

var deviationStages = []string{"pre", "estimated", "realised"}

func registerPlanMetrics(set *metrics.Set, m *stateMetrics) {
	for _, s := range endedPlanStatuses {
		s := s
		set.GetOrCreateGauge(`paimon_rebalance_executions_total{status="`+s.String()+`"}`,
			func() float64 { return float64(m.get().plans.ended[s]) })
	}
	for i, stage := range deviationStages {
		i := i
		set.GetOrCreateGauge(`paimon_rebalance_deviation_bps{stage="`+stage+`"}`,
			func() float64 { return m.get().plans.deviation[i] })
	}
}

// readPlanFigures scans every plan once (plans are few: one per preview).
func readPlanFigures(r kv.Reader) (planFigures, error) {
	f := planFigures{deviation: [3]float64{math.NaN(), math.NaN(), math.NaN()}}
	var last fund.PlanRecord
	var derr error
	err := r.Scan([]byte{fund.PrefixPlan}, []byte{fund.PrefixPlan + 1}, false, func(k, v []byte) bool {
		p, err := fund.DecodePlan(k, v)
		if err != nil {
			derr = err
			return false
		}
		if p.ExecutedAt != 0 && int(p.Status) < len(f.ended) {
			f.ended[p.Status]++
		}
		if p.HasRealised { // ascending ids; plans execute in id order (an older one is superseded)
			last = p
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return f, err
	}
	if last.ID != 0 {
		for i, s := range []*rebalance.State{&last.Pre, &last.Post, &last.Realised} {
			f.deviation[i] = float64(rebalance.MaxDeviation(s, last.Targets))
		}
	}
	return f, nil
}
