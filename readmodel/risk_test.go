package readmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"paimon/chainlog"
	"paimon/fund"
)

type riskItem struct {
	ID          string          `json:"id"`
	Time        string          `json:"time"`
	Source      string          `json:"source"`
	Severity    string          `json:"severity"`
	Type        string          `json:"type"`
	Message     string          `json:"message"`
	Details     json.RawMessage `json:"details"`
	Resolved    bool            `json:"resolved"`
	ResolvedBy  *string         `json:"resolvedBy"`
	ResolvedAt  *string         `json:"resolvedAt"`
	Note        *string         `json:"note"`
	Index       *uint64         `json:"index"`
	BlockNumber uint64          `json:"blockNumber"`
}

type riskPage struct {
	Items      []riskItem `json:"items"`
	NextCursor string     `json:"nextCursor"`
}

func (e *env) riskEvents(query string) riskPage {
	e.t.Helper()
	vals := map[string]string{}
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	get := func(n string) (string, bool) { v, ok := vals[n]; return v, ok }
	f, err := ParseRiskEventFilter(get)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	p, err := ParsePage(get)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	body, err := RiskEvents(e.st, f, p)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	var out riskPage
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("%s: %v", body, err)
	}
	return out
}

// TestRiskEvents lists CHAIN, SYSTEM and resolved events newest first, filtered and paged.
func TestRiskEvents(t *testing.T) {
	e := newEnv(t)
	e.apply(fund.EncodeLogs(&fund.LogsCommand{Version: 1, Time: testNow * 1e9, Events: []chainlog.Event{ // a v0.1.0 record
		mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10))}}))
	e.logs(mk("CriticalLiquidityAlert", 12, 1, testNow+10, 400, 500, e18(1)), mk("EmergencyModeChanged", 13, 0, testNow+20, true))
	sys := e.apply(fund.EncodeRiskEvent(&fund.RiskEventCommand{Time: (testNow + 30) * 1e9, Type: fund.RiskPGSyncLag, Severity: fund.SeverityWarning,
		Message: "lag", Details: []byte(`{"lagSeconds":90}`)})).(*fund.RiskEventResult)
	all := e.riskEvents("")
	if len(all.Items) != 4 || all.NextCursor != "" {
		t.Fatalf("all: %+v", all)
	}
	order := []string{all.Items[0].Type, all.Items[1].Type, all.Items[2].Type, all.Items[3].Type}
	mustEqual(t, "order", strings.Join(order, " "), "PG_SYNC_LAG EmergencyModeChanged CriticalLiquidityAlert LowLiquidityAlert")
	s, c, v1 := all.Items[0], all.Items[1], all.Items[3]
	if s.ID != sys.ID || s.Source != "SYSTEM" || s.Severity != "WARNING" || s.Index == nil || *s.Index != 3 || string(s.Details) != `{"lagSeconds":90}` ||
		s.Time != "2025-01-06T21:47:10Z" || s.Resolved || s.ResolvedBy != nil || s.ResolvedAt != nil || s.BlockNumber != 13 {
		t.Errorf("system event: %+v", s)
	}
	if c.Source != "CHAIN" || c.Severity != "CRITICAL" || c.Index != nil || c.Message != "emergency mode enabled" || c.Time != "2025-01-06T21:47:00Z" {
		t.Errorf("chain event: %+v", c)
	}
	// A v0.1.0 record reads with the message and details of its ledger entry.
	if v1.Severity != "WARNING" || !strings.Contains(v1.Message, "below the threshold of 1000 bps") || !strings.Contains(string(v1.Details), `"currentRatio":"900"`) {
		t.Errorf("v0.1.0 event: %+v", v1)
	}
	res := e.apply(fund.EncodeRiskResolve(&fund.RiskResolveCommand{Time: (testNow + 40) * 1e9, Actor: fund.Actor{Name: "ops"}, ID: c.ID, Note: "drill"}))
	if _, ok := res.(*fund.RiskResolveResult); !ok {
		t.Fatalf("resolve: %v", res)
	}
	for q, want := range map[string]string{
		"severity=critical":                "EmergencyModeChanged CriticalLiquidityAlert",
		"severity=WARNING&source=system":   "PG_SYNC_LAG",
		"source=CHAIN&resolved=false":      "CriticalLiquidityAlert LowLiquidityAlert",
		"resolved=true":                    "EmergencyModeChanged",
		"source=RULE":                      "",
		"severity=CRITICAL&resolved=false": "CriticalLiquidityAlert",
	} {
		var got []string
		for _, it := range e.riskEvents(q).Items {
			got = append(got, it.Type)
		}
		mustEqual(t, q, strings.Join(got, " "), want)
	}
	r := e.riskEvents("resolved=true").Items[0]
	if r.ResolvedBy == nil || *r.ResolvedBy != "ops" || r.ResolvedAt == nil || *r.ResolvedAt != "2025-01-06T21:47:20Z" || r.Note == nil || *r.Note != "drill" {
		t.Errorf("resolved: %+v", r)
	}
	// Pages of one item follow each other across both key shapes.
	var paged []string
	cursor := ""
	for i := 0; i < 10; i++ {
		q := "limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := e.riskEvents(q)
		for _, it := range p.Items {
			paged = append(paged, it.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	var ids []string
	for _, it := range all.Items {
		ids = append(ids, it.ID)
	}
	mustEqual(t, "pages", strings.Join(paged, " "), strings.Join(ids, " "))
	// By id, as push and the resolve answer render it.
	body, err := RiskEventByID(e.st, s.ID)
	if err != nil || !strings.Contains(string(body), `"id":"`+s.ID+`"`) {
		t.Fatalf("by id: %s %v", body, err)
	}
	if _, err := RiskEventByID(e.st, "1-i1-9"); err != fund.ErrNotFound {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestRiskEventFilterRefuses(t *testing.T) {
	for q, param := range map[string]string{"severity": "LOW", "source": "USER", "resolved": "yes"} {
		_, err := ParseRiskEventFilter(func(n string) (string, bool) {
			if n == q {
				return param, true
			}
			return "", false
		})
		if !isValidation(err) || !strings.Contains(err.Error(), q) {
			t.Errorf("%s=%s: %v", q, param, err)
		}
	}
	e := newEnv(t)
	if _, err := RiskEvents(e.st, RiskEventFilter{}, Page{Limit: 10, Cursor: make([]byte, 12)}); !isValidation(err) {
		t.Errorf("cursor of the wrong length: %v", err)
	}
}
