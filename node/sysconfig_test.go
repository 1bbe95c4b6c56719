package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSystemConfig: GET /v1/system/config shows a viewer the node's effective configuration
// (its [rebalance] and [approvals] among them) and no secret of it.
func TestSystemConfig(t *testing.T) {
	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.cfgs[0].Postgres.DSN = "postgres://paimon:pg-pa55word@127.0.0.1:1/paimon"
	rb := &c.cfgs[0].Rebalance
	rb.ApprovalAmount, rb.SlippageBps, rb.LiquidityHorizon = "123000000000000000000", 40, 72*time.Hour
	rb.AssetSlippageBps = map[string]int{"0x00000000000000000000000000000000000000AB": 75}
	c.start(0)
	c.waitLeader(15 * time.Second)
	if r := c.do(0, "GET", "/v1/system/config", "", nil); r.status != 401 {
		t.Fatalf("anonymous: %d %s", r.status, r.body)
	}
	r := c.do(0, "GET", "/v1/system/config", viewerToken, nil)
	if r.status != 200 {
		t.Fatalf("viewer: %d %s", r.status, r.body)
	}
	body := string(r.body)
	for _, secret := range []string{testSecret, "pg-pa55word", tokenSum(adminToken)} {
		if strings.Contains(body, secret) {
			t.Errorf("shows %q: %s", secret, body)
		}
	}
	if got := r.json(t)["node"].(map[string]any)["id"]; got != "node1" {
		t.Errorf("node id %v: %s", got, body)
	}
	want := `{"approvalAmount":"123000000000000000000","assetSlippageBps":{"0x00000000000000000000000000000000000000ab":75},"liquidityHorizon":"72h0m0s","slippageBps":40}`
	if got, _ := json.Marshal(r.json(t)["rebalance"]); string(got) != want {
		t.Errorf("rebalance %s, want %s", got, want)
	}
	if got := fmt.Sprint(r.json(t)["approvals"].(map[string]any)["sla"].(map[string]any)["EMERGENCY"]); got != "map[deadline:4h0m0s escalate:3h0m0s warn:2h0m0s]" {
		t.Errorf("approvals' EMERGENCY SLA %s", got)
	}
}
