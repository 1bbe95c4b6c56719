package readmodel

import (
	"testing"

	"paimon/fund"
)

// GET /v1/alerts: newest first, recorded outcomes then PENDING for each configured webhook the
// alert is for, filters, pages.
func TestAlertsList(t *testing.T) {
	e := newEnv(t)
	e.logs(mk("LowLiquidityAlert", 19, 0, testNow, 900, 1000, e18(1), e18(10)))
	e.logs(mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1)))
	as, err := fund.ReadAlerts(e.st, 0, 0)
	if err != nil || len(as) != 2 {
		t.Fatalf("alerts %v, %v", as, err)
	}
	e.apply(fund.EncodeAlertOutcome(&fund.AlertOutcomeCommand{Time: testNow * 1e9, Outcomes: []fund.AlertOutcome{{Seq: as[1].Seq, AlertID: as[1].ID, Webhook: "slack", State: fund.AlertFailed, Status: 400, Reason: "HTTP 400", Attempts: 1, Time: testNow * 1e9}}}))
	hooks := []AlertWebhook{{Name: "slack"}, {Name: "pager", MinSeverity: "critical"}}
	list := func(q map[string]string, p Page) map[string]any {
		t.Helper()
		f, err := ParseAlertFilter(func(n string) (string, bool) { v, ok := q[n]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		return e.json(Alerts(e.st, f, hooks, p))
	}
	all := list(nil, Page{})["items"].([]any)
	if len(all) != 2 {
		t.Fatalf("items %v", all)
	}
	crit, low := all[0].(map[string]any), all[1].(map[string]any)
	mustEqual(t, "newest first", crit["id"], as[1].ID)
	mustEqual(t, "critical deliveries", crit["deliveries"],
		[]any{map[string]any{"webhook": "slack", "state": "FAILED", "status": 400.0, "reason": "HTTP 400", "attempts": 1.0, "time": "2025-01-06T21:46:40Z"},
			map[string]any{"webhook": "pager", "state": "PENDING", "status": 0.0, "reason": "", "attempts": 0.0, "time": nil}})
	mustEqual(t, "warning deliveries (not for pager)", low["deliveries"],
		[]any{map[string]any{"webhook": "slack", "state": "PENDING", "status": 0.0, "reason": "", "attempts": 0.0, "time": nil}})
	mustEqual(t, "time and fields", []any{low["time"], low["severity"], low["source"], low["type"]}, []any{"2025-01-06T21:46:40Z", "WARNING", "CHAIN", "LowLiquidityAlert"})
	if n := len(list(map[string]string{"state": "failed"}, Page{})["items"].([]any)); n != 1 {
		t.Errorf("state=failed: %d items", n)
	}
	if n := len(list(map[string]string{"severity": "WARNING", "source": "chain"}, Page{})["items"].([]any)); n != 1 {
		t.Errorf("severity=WARNING: %d items", n)
	}
	first := list(nil, Page{Limit: 1})
	cur, _ := first["nextCursor"].(string)
	if cur == "" {
		t.Fatalf("no cursor: %v", first)
	}
	c, _ := ParsePage(func(n string) (string, bool) { return cur, n == "cursor" })
	second := list(nil, Page{Limit: 1, Cursor: c.Cursor})["items"].([]any)
	if len(second) != 1 || second[0].(map[string]any)["id"] != as[0].ID {
		t.Fatalf("second page %v", second)
	}
	if _, err := ParseAlertFilter(func(n string) (string, bool) { return "LOUD", n == "severity" }); err == nil {
		t.Error("severity LOUD accepted")
	}
}
