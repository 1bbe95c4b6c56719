package node

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// riskWarn returns the warn threshold of indicator name in node i's GET /v1/risk/status.
func (c *testCluster) riskWarn(i int, name string) (float64, error) {
	r := c.do(i, "GET", "/v1/risk/status", "", nil)
	if r.status != 200 {
		return 0, fmt.Errorf("node %d: %d %s", i, r.status, r.body)
	}
	for _, it := range r.json(c.t)["indicators"].([]any) {
		if m := it.(map[string]any); m["name"] == name {
			return m["warn"].(float64), nil
		}
	}
	return 0, fmt.Errorf("node %d: no %s in %s", i, name, r.body)
}

// TestRiskThresholdsFollowTheLeader: nodes configured with different [risk] thresholds all
// evaluate with the leader's (replicated by CmdRiskThresholds), and a new leader replicates its
// own. The metrics name the risk gauges.
func TestRiskThresholdsFollowTheLeader(t *testing.T) {
	c := newCluster(t, 3)
	for i := range c.cfgs {
		c.cfgs[i].Risk.NavDriftBpsWarn = int64(60 + i) // node i: 60 + i
	}
	for i := range c.cfgs {
		c.start(i)
	}
	lead := c.waitLeader(20 * time.Second)
	same := func(want float64) func() error {
		return func() error {
			for i, n := range c.nodes {
				if n == nil {
					continue
				}
				got, err := c.riskWarn(i, "navDriftBps")
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("node %d applies navDriftBps warn %v, want the leader's %v", i, got, want)
				}
			}
			return nil
		}
	}
	checkFor(t, 40*time.Second, same(float64(60+lead)))

	r := c.do(lead, "GET", "/metrics", "", nil)
	for _, name := range []string{"paimon_risk_level ", "paimon_risk_score ", "paimon_l1_ratio ", "paimon_nav_drift_bps ",
		`paimon_risk_indicator_status{indicator="overdueRedemptions"} `} {
		if !strings.Contains(string(r.body), "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	c.stop(lead)
	next := c.waitLeader(20 * time.Second)
	checkFor(t, 40*time.Second, same(float64(60+next)))
}
