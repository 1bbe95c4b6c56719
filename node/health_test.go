package node

import (
	"fmt"
	"testing"
	"time"
)

// TestSystemHealth: GET /v1/system/health answers anyone with every component, each with a
// status and a version; a component that is not configured (the executor without a key file,
// alerts without webhooks, PostgreSQL without a DSN) is disabled, and the overall status follows
// the enabled ones.
func TestSystemHealth(t *testing.T) {
	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.cfgs[0].Executor.KeyFile = ""
	c.cfgs[0].Alerts.Webhooks = nil
	c.cfgs[0].Postgres.DSN = ""
	c.start(0)
	c.waitLeader(15 * time.Second)
	var body map[string]any
	checkFor(t, 10*time.Second, func() error {
		r := c.do(0, "GET", "/v1/system/health", "", nil)
		if r.status != 200 {
			t.Fatalf("anonymous: %d %s", r.status, r.body)
		}
		body = r.json(t)
		if body["components"].(map[string]any)["raft"].(map[string]any)["status"] != "ok" {
			return fmt.Errorf("raft not ok yet: %s", r.body)
		}
		return nil
	})
	if body["nodeId"] != "node1" || body["release"] == "" || body["version"] == "" {
		t.Errorf("node fields: %v", body)
	}
	if up, ok := body["uptimeSeconds"].(float64); !ok || up <= 0 {
		t.Errorf("uptimeSeconds %v", body["uptimeSeconds"])
	}
	comps := body["components"].(map[string]any)
	want := map[string]string{"raft": "ok", "pebble": "ok", "cache": "ok", "ingest": "", "pgsync": "disabled",
		"push": "", "executor": "disabled", "alerts": "disabled"}
	if len(comps) != len(want) {
		t.Errorf("components %v, want exactly %d", comps, len(want))
	}
	overall := "ok"
	for name, status := range want {
		comp, ok := comps[name].(map[string]any)
		if !ok {
			t.Errorf("component %s missing: %v", name, comps)
			continue
		}
		got, _ := comp["status"].(string)
		switch {
		case status != "" && got != status:
			t.Errorf("%s: status %q, want %q (%v)", name, got, status, comp)
		case got != "ok" && got != "degraded" && got != "down" && got != "disabled":
			t.Errorf("%s: status %q", name, got)
		}
		if got != "ok" && got != "disabled" {
			overall = "degraded"
		}
		if v, _ := comp["version"].(string); v == "" {
			t.Errorf("%s: no version (%v)", name, comp)
		}
	}
	if body["status"] != overall {
		t.Errorf("status %v, want %s from the components %v", body["status"], overall, comps)
	}
}
