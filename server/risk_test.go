package server

import (
	"strings"
	"testing"
)

// TestRiskStatus: after the walkthrough's logs, GET /v1/risk/status shows the evaluation of
// every indicator, each indicator past a threshold has its RULE event among the risk events, and
// /metrics carries the risk gauges.
func TestRiskStatus(t *testing.T) {
	n := newTestNode(t)
	before := n.mustGet("/v1/risk/status", "")
	if before["level"] != "NORMAL" || before["updatedAt"] != nil || len(before["indicators"].([]any)) != 9 {
		t.Fatalf("before any write: %v", before)
	}
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	st := n.mustGet("/v1/risk/status", "")
	if st["updatedAt"] == nil || st["level"] == "NORMAL" {
		t.Fatalf("after the walkthrough: %v", st)
	}
	crossed := map[string]bool{}
	for _, it := range st["indicators"].([]any) {
		m := it.(map[string]any)
		if m["status"] != "NORMAL" {
			crossed[m["name"].(string)] = true
		}
	}
	events := n.mustGet("/v1/risk/events?source=RULE", viewerToken)["items"].([]any)
	if len(events) == 0 {
		t.Fatal("no RULE risk event")
	}
	raised := map[string]bool{}
	for _, e := range events {
		raised[e.(map[string]any)["type"].(string)] = true
	}
	for name := range crossed {
		if !raised[name] {
			t.Errorf("%s is past a threshold and no RULE event says so: %v", name, events)
		}
	}
	r := n.get("/metrics", "")
	for _, name := range []string{"paimon_risk_level ", "paimon_risk_score ", "paimon_l1_ratio ", "paimon_nav_drift_bps "} {
		if !strings.Contains(string(r.body), "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(string(r.body), "\npaimon_risk_level 0\n") {
		t.Errorf("paimon_risk_level 0 with the status at %v", st["level"])
	}
}
