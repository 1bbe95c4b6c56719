package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// TestRiskEventsOnANode: a CHAIN risk event posted to a node is listed by GET /v1/risk/events,
// pushed on the WebSocket channel risk, counted on /metrics, resolved once (audited; a second
// resolve is 409 CONFLICT) and pushed again resolved; the liquidity forecast answers and
// refuses a bad horizon.
func TestRiskEventsOnANode(t *testing.T) {
	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.start(0)
	c.waitLeader(10 * time.Second)
	c.waitClusterVersion(0)
	ws := dialWS(t, c.cfgs[0].HTTP.Addr, nil, "risk")

	ev := riskEvent(t, 1, time.Now())
	raw, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	c.writeLog(0, fundtest.Body(raw))

	var list struct {
		Items []struct {
			ID, Source, Severity, Type, Message string
			Resolved                            bool
			ResolvedBy                          *string
			Note                                *string
		}
	}
	r := c.do(0, "GET", "/v1/risk/events?source=CHAIN&resolved=false", viewerToken, nil)
	if r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list.Items) != 1 {
		t.Fatalf("GET /v1/risk/events: %d %s", r.status, r.body)
	}
	e := list.Items[0]
	if e.Severity != "CRITICAL" || e.Type != "CriticalLiquidityAlert" || !strings.Contains(e.Message, "critical threshold of 1000 bps") ||
		e.ID != fmt.Sprintf("%d-%d-%s", ev.BlockNumber, ev.LogIndex, chainlog.HexHash(ev.TxHash)) {
		t.Fatalf("event %+v", e)
	}
	checkFor(t, 10*time.Second, func() error {
		if got := ws.events("risk"); len(got) != 1 || !strings.Contains(got[0], `"resolved":false`) {
			return fmt.Errorf("risk channel: %v", got)
		}
		return nil
	})
	metric := func(name string) string {
		for _, line := range strings.Split(string(c.do(0, "GET", "/metrics", "", nil).body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return v
			}
		}
		return "absent"
	}
	if m := metric(`paimon_risk_events_unresolved{severity="CRITICAL"}`); m != "1" {
		t.Fatalf("unresolved CRITICAL on /metrics: %s", m)
	}

	path := "/v1/risk/events/" + e.ID + "/resolve"
	r = c.do(0, "POST", path, viewerToken, []byte(`{"note":"x"}`))
	if r.status != 403 {
		t.Fatalf("a viewer resolves: %d %s", r.status, r.body)
	}
	r = c.do(0, "POST", path, adminToken, []byte(`{"note":"topped up L1"}`))
	var resolved struct {
		ID         string
		Resolved   bool
		ResolvedBy *string
		ResolvedAt *string
		Note       *string
	}
	if r.status != 200 || json.Unmarshal(r.body, &resolved) != nil || !resolved.Resolved || resolved.ID != e.ID ||
		resolved.ResolvedBy == nil || *resolved.ResolvedBy != "root" || resolved.ResolvedAt == nil || resolved.Note == nil || *resolved.Note != "topped up L1" {
		t.Fatalf("resolve: %d %s", r.status, r.body)
	}
	if r = c.do(0, "POST", path, adminToken, nil); r.status != 409 || r.code() != "CONFLICT" || !strings.Contains(string(r.body), `"resolvedBy":"root"`) {
		t.Fatalf("resolve twice: %d %s", r.status, r.body)
	}
	if r = c.do(0, "POST", "/v1/risk/events/nope/resolve", adminToken, nil); r.status != 404 || r.code() != "NOT_FOUND" {
		t.Fatalf("resolve a bad id: %d %s", r.status, r.body)
	}
	if r = c.do(0, "POST", "/v1/risk/events/1-i999999-0/resolve", adminToken, nil); r.status != 404 || r.code() != "NOT_FOUND" {
		t.Fatalf("resolve an unknown id: %d %s", r.status, r.body)
	}
	if r = c.do(0, "POST", path, adminToken, []byte(`{"note":1}`)); r.status != 400 || r.code() != "VALIDATION_ERROR" {
		t.Fatalf("resolve with a bad body: %d %s", r.status, r.body)
	}
	r = c.do(0, "GET", "/v1/audit?action=risk.resolve", viewerToken, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"resource":"risk/events/`+e.ID+`"`) || strings.Count(string(r.body), `"action":"risk.resolve"`) != 1 {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	checkFor(t, 10*time.Second, func() error {
		if got := ws.events("risk"); len(got) != 2 || !strings.Contains(got[1], `"resolved":true`) {
			return fmt.Errorf("risk channel: %v", got)
		}
		return nil
	})
	r = c.do(0, "GET", "/v1/risk/events?resolved=true", viewerToken, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"note":"topped up L1"`) {
		t.Fatalf("resolved list: %d %s", r.status, r.body)
	}
	if m := metric(`paimon_risk_events_unresolved{severity="CRITICAL"}`); m != "0" {
		t.Fatalf("unresolved CRITICAL on /metrics after the resolve: %s", m)
	}
	if m := metric(`paimon_risk_events_total{source="CHAIN",severity="CRITICAL"}`); m != "1" {
		t.Fatalf("CHAIN CRITICAL events on /metrics: %s", m)
	}

	r = c.do(0, "GET", "/v1/risk/liquidity-forecast?horizon=30d", viewerToken, nil)
	var f struct {
		Horizon string
		ByDay   []json.RawMessage
	}
	if r.status != 200 || json.Unmarshal(r.body, &f) != nil || f.Horizon != "30d" || len(f.ByDay) != 30 {
		t.Fatalf("forecast: %d %s", r.status, r.body)
	}
	if r = c.do(0, "GET", "/v1/risk/liquidity-forecast?horizon=2w", viewerToken, nil); r.status != 400 || r.code() != "VALIDATION_ERROR" || !strings.Contains(string(r.body), "horizon") {
		t.Fatalf("forecast with a bad horizon: %d %s", r.status, r.body)
	}
	if r = c.do(0, "GET", "/v1/risk/events?severity=LOUD", viewerToken, nil); r.status != 400 || r.code() != "VALIDATION_ERROR" {
		t.Fatalf("events with a bad severity: %d %s", r.status, r.body)
	}
}
