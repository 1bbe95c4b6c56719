package node

import (
	"strings"
	"testing"
	"time"
)

// TestSystemConfig: GET /v1/system/config shows a viewer the node's effective configuration
// and no secret of it.
func TestSystemConfig(t *testing.T) {
	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.cfgs[0].Postgres.DSN = "postgres://paimon:pg-pa55word@127.0.0.1:1/paimon"
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
}
