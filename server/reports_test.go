package server

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"paimon/fund/fundtest"
)

// TestReports: GET /v1/reports/{kind} after the walkthrough's logs in every format, the
// refusals of a bad kind, date, format or parameter, and the cache of a closed period.
func TestReports(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))

	rep := n.mustGet("/v1/reports/daily?date=2025-01-06", viewerToken)
	if field(rep, "period.kind") != "daily" || field(rep, "period.from") != "2025-01-06" || field(rep, "period.to") != "2025-01-06" {
		t.Fatalf("period: %v", rep["period"])
	}
	if field(rep, "flows.deposits") == "0" || field(rep, "closing.totalAssets") == nil || field(rep, "opening.totalAssets") != "0" {
		t.Errorf("the walkthrough's day: %v", rep)
	}
	if w := n.mustGet("/v1/reports/weekly?date=2025-01-08&format=json", viewerToken); field(w, "period.from") != "2025-01-06" ||
		field(w, "period.to") != "2025-01-12" || field(w, "flows.deposits") == "0" {
		t.Errorf("the week: %v", w["period"])
	}

	r := n.get("/v1/reports/monthly?date=2025-01-20&format=csv", viewerToken)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!bytes.HasPrefix(r.body, []byte("period.kind,period.from,period.to,opening.sharePrice")) ||
		!strings.Contains(r.header.Get("Content-Disposition"), "paimon-monthly-2025-01-01.csv") {
		t.Errorf("csv: %d %v %.200s", r.status, r.header, r.body)
	}
	r = n.get("/v1/reports/daily?date=2025-01-06&format=pdf", viewerToken)
	if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(r.body, []byte("%PDF-")) ||
		!bytes.Contains(r.body, []byte("daily report 2025-01-06")) {
		t.Errorf("pdf: %d %v %.100q", r.status, r.header, r.body)
	}

	for _, path := range []string{
		"/v1/reports/yearly?date=2025-01-06", "/v1/reports/daily", "/v1/reports/daily?date=2025-02-30",
		"/v1/reports/daily?date=2025-01-06&format=xls", "/v1/reports/daily?date=2025-01-06&limit=3",
	} {
		if r := n.get(path, viewerToken); r.status != 400 || r.errorCode() != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := n.get("/v1/reports/daily?date=2025-01-06", ""); r.status != 401 {
		t.Errorf("without a token: %d", r.status)
	}

	// A closed period (the fund has applied an event after it) is cached; the current one is not.
	for i, want := range []string{"", "hit"} {
		if r := n.get("/v1/reports/daily?date=2025-01-05", viewerToken); r.status != 200 || r.header.Get("X-Paimon-Report-Cache") != want {
			t.Errorf("closed day, request %d: %d cache %q", i, r.status, r.header.Get("X-Paimon-Report-Cache"))
		}
	}
	// The current period is computed once per change of what it reads: a second request is
	// answered from the read cache, a price write (the closing books) computes it again.
	builds := n.srv.reports.Builds()
	for i, want := range []string{"", "hit"} {
		if r := n.get("/v1/reports/monthly?date=2025-01-06", viewerToken); r.status != 200 || r.header.Get("X-Paimon-Report-Cache") != want {
			t.Errorf("current month, request %d: %d cache %q", i, r.status, r.header.Get("X-Paimon-Report-Cache"))
		}
	}
	if got := n.srv.reports.Builds() - builds; got != 1 {
		t.Errorf("two requests of the current month computed it %d times, want 1", got)
	}
	if r := n.do("POST", "/v1/admin/prices", operatorToken, []byte(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1010000000000000000","time":"2025-01-06T12:00:00Z"}]}`)); r.status != 200 {
		t.Fatalf("price write: %d %s", r.status, r.body)
	}
	if r := n.get("/v1/reports/monthly?date=2025-01-06", viewerToken); r.status != 200 || r.header.Get("X-Paimon-Report-Cache") != "" {
		t.Errorf("current month after a price write: %d cache %q", r.status, r.header.Get("X-Paimon-Report-Cache"))
	}
	if got := n.srv.reports.Builds() - builds; got != 2 {
		t.Errorf("after a price write the current month was computed %d times in all, want 2", got)
	}
}

// TestAssetFilters: GET /v1/fund/assets?tier=&active= keeps the view's items that match; a bad
// filter is refused.
func TestAssetFilters(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	all := n.mustGet("/v1/fund/assets", "")["items"].([]any)
	if len(all) < 2 {
		t.Fatalf("the walkthrough has %d assets", len(all))
	}
	total := 0
	for _, tier := range []string{"L1", "L2", "l3"} {
		items := n.mustGet("/v1/fund/assets?tier="+tier, "")["items"].([]any)
		for _, it := range items {
			if it.(map[string]any)["tier"] != strings.ToUpper(tier) {
				t.Errorf("tier=%s: %v", tier, it)
			}
		}
		total += len(items)
	}
	active := n.mustGet("/v1/fund/assets?active=true", "")["items"].([]any)
	inactive := n.mustGet("/v1/fund/assets?active=false&tier=L1", "")["items"].([]any)
	if total != len(all) || len(active) == 0 || len(active) > len(all) {
		t.Errorf("%d assets, %d by tier, %d active, %d inactive in L1", len(all), total, len(active), len(inactive))
	}
	for _, it := range active {
		if it.(map[string]any)["active"] != true {
			t.Errorf("active=true: %v", it)
		}
	}
	for _, q := range []string{"tier=L4", "active=yes", "tier="} {
		if r := n.get("/v1/fund/assets?"+q, ""); r.status != 400 || r.errorCode() != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

// TestFeesCache: GET /v1/fund/fees stays cached across a price write (the fees do not depend on
// prices) and changes with a fee event.
func TestFeesCache(t *testing.T) {
	n := newTestNode(t)
	before := n.mustGet("/v1/fund/fees", viewerToken)
	hits := n.cache.Stats().Hits
	n.mustGet("/v1/fund/fees", viewerToken)
	if n.cache.Stats().Hits <= hits {
		t.Fatalf("a second read of the fees was not a cache hit")
	}
	if r := n.do("POST", "/v1/admin/prices", operatorToken, []byte(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1010000000000000000","time":"2025-01-06T12:00:00Z"}]}`)); r.status != 200 {
		t.Fatalf("price write: %d %s", r.status, r.body)
	}
	hits = n.cache.Stats().Hits
	n.mustGet("/v1/fund/fees", viewerToken)
	if n.cache.Stats().Hits <= hits {
		t.Errorf("a price write invalidated the fees")
	}

	ev, err := fundtest.NewEvent("RedemptionFeeAdded", 7)
	if err != nil {
		t.Fatal(err)
	}
	ev.BlockNumber, ev.TxHash, ev.BlockHash, ev.BlockTime = 10, common.Hash{1}, common.Hash{2}, 1_736_200_000
	raw, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.do("POST", "/v1/admin/logs", operatorToken, []byte(logsBody(t, raw))); r.status != 200 {
		t.Fatalf("fee event: %d %s", r.status, r.body)
	}
	after := n.mustGet("/v1/fund/fees", viewerToken)
	if field(before, "accumulated.redemption") != "0" || field(after, "accumulated.redemption") != "7" ||
		field(after, "withdrawable.redemption") != "7" {
		t.Errorf("fees before %v, after a fee event of 7 %v", before, after)
	}
}

// TestAssetAllocations: each active asset's allocation is its value's share of its tier's value
// (GET /v1/fund/tiers, cash in L1) in bps, truncated; an inactive asset's is null; a filter
// keeps the shares of the whole tier; a deposit (cash only) moves the L1 assets' shares.
func TestAssetAllocations(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	check := func() map[string]any {
		t.Helper()
		tierValue := map[string]*big.Int{}
		for _, it := range n.mustGet("/v1/fund/tiers", "")["items"].([]any) {
			tierValue[field(it, "tier").(string)], _ = new(big.Int).SetString(field(it, "value").(string), 10)
		}
		byToken := map[string]any{}
		counted := map[string]int{}
		for _, it := range n.mustGet("/v1/fund/assets", "")["items"].([]any) {
			a := it.(map[string]any)
			byToken[a["token"].(string)] = a["allocation"]
			tv := tierValue[a["tier"].(string)]
			if a["active"] != true || tv.Sign() <= 0 {
				if a["allocation"] != nil {
					t.Errorf("asset %v: allocation %v, want null", a["token"], a["allocation"])
				}
				continue
			}
			v, _ := new(big.Int).SetString(a["value"].(string), 10)
			want := new(big.Int).Quo(new(big.Int).Mul(v, big.NewInt(10_000)), tv)
			if a["allocation"] != float64(want.Int64()) {
				t.Errorf("asset %v in %v: allocation %v, want %v × 10000 / %v = %v", a["token"], a["tier"], a["allocation"], v, tv, want)
			}
			counted[a["tier"].(string)]++
		}
		if counted["L1"] == 0 || counted["L2"] == 0 {
			t.Fatalf("the walkthrough has active assets in %v", counted)
		}
		for _, tier := range []string{"L1", "L2", "L3"} {
			for _, it := range n.mustGet("/v1/fund/assets?tier="+tier, "")["items"].([]any) {
				if a := it.(map[string]any); a["allocation"] != byToken[a["token"].(string)] {
					t.Errorf("tier=%s: %v has allocation %v, unfiltered %v", tier, a["token"], a["allocation"], byToken[a["token"].(string)])
				}
			}
		}
		return byToken
	}
	before := check()
	owner := fundtest.Addr("allocation-owner")
	ev, err := fundtest.NewEvent("Deposit", owner, owner, fundtest.E18(1_000_000), fundtest.E18(1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	ev.BlockNumber, ev.BlockTime = 50_000_000, 1_736_300_000
	ev.TxHash, ev.BlockHash = common.BigToHash(big.NewInt(77)), common.BigToHash(big.NewInt(50_000_000))
	raw, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.do("POST", "/v1/admin/logs", operatorToken, fundtest.Body(raw)); r.status != 200 || r.json(t)["accepted"] != 1.0 {
		t.Fatalf("deposit: %d %s", r.status, r.body)
	}
	after := check()
	moved := false
	for _, it := range n.mustGet("/v1/fund/assets?tier=L1&active=true", "")["items"].([]any) {
		tok := it.(map[string]any)["token"].(string)
		moved = moved || after[tok] != before[tok]
	}
	if !moved {
		t.Errorf("a deposit left the L1 allocations at %v", after)
	}
}
