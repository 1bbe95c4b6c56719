package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWalkthroughSampleLogs(t *testing.T) {
	n := newTestNode(t)
	before := n.mustGet("/v1/fund/overview", "")
	if before["holderCount"] != 0.0 || before["nav"] != "1" {
		t.Fatalf("fresh overview: %v", before)
	}
	r := n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	if r.status != 200 {
		t.Fatalf("post logs: %d %s", r.status, r.body)
	}
	res := r.json(t)
	if res["accepted"] != 33.0 || res["skipped"] != 0.0 || len(res["results"].([]any)) != 33 {
		t.Fatalf("post logs result: %v", res)
	}
	idx, _ := strconv.ParseUint(r.header.Get("X-Paimon-Index"), 10, 64)
	if idx == 0 || uint64(res["index"].(float64)) != idx {
		t.Fatalf("index header %q, body %v", r.header.Get("X-Paimon-Index"), res["index"])
	}

	ov := n.mustGet("/v1/fund/overview", "")
	for path, want := range map[string]any{
		"nav": "1.0052", "sharePrice": "1005200000000000000", "holderCount": 3.0,
		"totalAssets": "154948472000000000000000", "tiers.L1.targetRatio": 2000.0, "fees.management": "9590000000000000000",
	} {
		if got := field(ov, path); got != want {
			t.Errorf("overview %s = %v, want %v", path, got, want)
		}
	}
	nav := n.mustGet("/v1/fund/nav/history", "")
	if field(nav, "interval") != "1d" || len(nav["items"].([]any)) != 6 || field(nav, "items.5.nav") != "1.0052" {
		t.Errorf("nav history: %v", nav)
	}
	raw := n.mustGet("/v1/fund/nav/history?interval=raw&limit=2", "")
	if len(raw["items"].([]any)) != 2 {
		t.Errorf("raw nav history with limit 2: %v", raw)
	}
	red := n.mustGet("/v1/redemptions/1", viewerToken)
	if red["status"] != "SETTLED" || field(red, "timeline.0.status") != "PENDING_APPROVAL" || field(red, "timeline.2.status") != "SETTLED" {
		t.Errorf("redemption 1: %v", red)
	}
	owner := red["owner"].(string)
	acct := n.mustGet("/v1/accounts/"+owner, viewerToken)
	if acct["shares"] != "40000000000000000000000" || acct["redeemed"] != "20041938000000000000000" {
		t.Errorf("account %s: %v", owner, acct)
	}
	// The same account by its upper-case spelling is the same resource.
	if up := n.mustGet("/v1/accounts/0x"+strings.ToUpper(owner[2:]), viewerToken); up["shares"] != acct["shares"] {
		t.Errorf("upper-case address read %v", up)
	}
	txs := n.mustGet("/v1/accounts/"+owner+"/transactions?limit=3", viewerToken)
	if len(txs["items"].([]any)) != 3 || txs["nextCursor"] == nil {
		t.Errorf("account transactions page: %v", txs)
	}
	ledger := n.mustGet("/v1/transactions?event=RedemptionSettled", viewerToken)
	if len(ledger["items"].([]any)) != 1 {
		t.Errorf("ledger filtered by event: %v", ledger)
	}
	audit := n.mustGet("/v1/audit", viewerToken)
	if field(audit, "items.0.actor") != "ops" || field(audit, "items.0.role") != "operator" {
		t.Errorf("audit: %v", audit)
	}

	// Posting the same logs again changes nothing but the audit log.
	again := n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json")).json(t)
	if again["accepted"] != 0.0 || again["duplicates"] != 33.0 {
		t.Fatalf("second post: %v", again)
	}
	if ov2 := n.mustGet("/v1/fund/overview", ""); ov2["totalAssets"] != ov["totalAssets"] || ov2["holderCount"] != ov["holderCount"] {
		t.Fatalf("duplicates changed the overview: %v", ov2)
	}
}

func TestPricesWriteThroughCache(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	assets := n.mustGet("/v1/fund/assets", "")
	tok := field(assets, "items.0.token").(string)
	old := n.mustGet("/v1/prices/"+tok, "")
	// Read twice so the price and the overview are cached, then change the price: the next
	// read on this node must show it (apply invalidates the cache before the index is public).
	n.mustGet("/v1/prices/"+tok, "")
	ov := n.mustGet("/v1/fund/overview", "")
	body := fmt.Sprintf(`{"prices":[{"asset":%q,"price":"2000000000000000000","time":"2026-01-01T00:00:00Z"}]}`, tok)
	r := n.do("POST", "/v1/admin/prices", operatorToken, []byte(body))
	if r.status != 200 || r.json(t)["count"] != 1.0 {
		t.Fatalf("post prices: %d %s", r.status, r.body)
	}
	p := n.mustGet("/v1/prices/"+tok, "")
	if p["price"] != "2000000000000000000" || p["source"] != "api" || p["price"] == old["price"] {
		t.Fatalf("price after write: %v (before %v)", p, old)
	}
	if ov2 := n.mustGet("/v1/fund/overview", ""); fmt.Sprint(ov2["tiers"]) == fmt.Sprint(ov["tiers"]) {
		t.Fatalf("overview tiers did not change with the price")
	}
	hist := n.mustGet("/v1/prices/"+tok+"?history=1", "")
	if len(hist["items"].([]any)) < 2 {
		t.Fatalf("price history: %v", hist)
	}
}

func TestHeadersAndConsistency(t *testing.T) {
	n := newTestNode(t)
	for _, path := range []string{"/v1/fund/overview", "/v1/fund/overview?consistency=local", "/v1/fund/overview?consistency=leader",
		"/v1/fund/overview?consistency=linearizable", "/v1/fund/tiers?consistency=linearizable&max_staleness=1s"} {
		r := n.get(path, "")
		if r.status != 200 || r.header.Get("X-Paimon-Node") != "node1" || r.header.Get("X-Paimon-Index") == "" {
			t.Fatalf("GET %s: %d %v %s", path, r.status, r.header, r.body)
		}
	}
	// A linearizable read after a write sees it.
	w := n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json")).json(t)
	r := n.get("/v1/fund/overview?consistency=linearizable", "")
	got, _ := strconv.ParseFloat(r.header.Get("X-Paimon-Index"), 64)
	if got < w["index"].(float64) || r.json(t)["holderCount"] != 3.0 {
		t.Fatalf("linearizable read at %v after write at %v: %s", got, w["index"], r.body)
	}
}

// TestBadInput checks that every kind of bad request gets the documented error and changes
// nothing: the applied index does not move.
func TestBadInput(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	sample := readFile(t, "../examples/sample-logs.json")
	firstLog := func(mut func(string) string) []byte {
		s := string(sample)
		start := strings.Index(s, "{\n      \"address\"")
		end := strings.Index(s[start:], "\n    }") + start + len("\n    }")
		return []byte(`{"logs":[` + mut(s[start:end]) + `]}`)
	}
	big := []byte(`{"logs":[` + strings.Repeat(`{"address":"0x0000000000000000000000000000000000000a02"},`, 2000) + `{}]}`)
	cases := []struct {
		name, method, path, token string
		body                      []byte
		status                    int
		code                      string
	}{
		{"unknown route", "GET", "/v1/nope", "", nil, 404, "NOT_FOUND"},
		{"wrong method", "DELETE", "/v1/fund/overview", "", nil, 405, "METHOD_NOT_ALLOWED"},
		{"auth required", "GET", "/v1/redemptions", "", nil, 401, "AUTH_REQUIRED"},
		{"bad token", "GET", "/v1/fund/overview", "nope-nope-nope", nil, 401, "AUTH_INVALID"},
		{"viewer cannot write", "POST", "/v1/admin/prices", viewerToken, []byte(`{"prices":[]}`), 403, "FORBIDDEN"},
		{"unknown param", "GET", "/v1/fund/overview?foo=1", "", nil, 400, "VALIDATION_ERROR"},
		{"bad consistency", "GET", "/v1/fund/overview?consistency=strong", "", nil, 400, "VALIDATION_ERROR"},
		{"bad staleness", "GET", "/v1/fund/overview?max_staleness=soon", "", nil, 400, "VALIDATION_ERROR"},
		{"limit too big", "GET", "/v1/transactions?limit=5000", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"limit not a number", "GET", "/v1/redemptions?limit=ten", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"bad cursor", "GET", "/v1/transactions?cursor=%%%", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"bad interval", "GET", "/v1/fund/nav/history?interval=5m", "", nil, 400, "VALIDATION_ERROR"},
		{"bad from", "GET", "/v1/fund/nav/history?from=yesterday", "", nil, 400, "VALIDATION_ERROR"},
		{"bad status", "GET", "/v1/redemptions?status=DONE", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"bad address", "GET", "/v1/accounts/0x1234", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"bad address chars", "GET", "/v1/accounts/0xzz00000000000000000000000000000000000000", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"unknown account", "GET", "/v1/accounts/0x00000000000000000000000000000000000000ff", viewerToken, nil, 404, "NOT_FOUND"},
		{"unknown redemption", "GET", "/v1/redemptions/999", viewerToken, nil, 404, "NOT_FOUND"},
		{"bad redemption id", "GET", "/v1/redemptions/abc", viewerToken, nil, 400, "VALIDATION_ERROR"},
		{"unknown asset", "GET", "/v1/prices/0x00000000000000000000000000000000000000ff", "", nil, 404, "NOT_FOUND"},
		{"malformed JSON", "POST", "/v1/admin/logs", operatorToken, []byte(`{"logs": [`), 400, "VALIDATION_ERROR"},
		{"wrong types", "POST", "/v1/admin/logs", operatorToken, []byte(`{"logs": {"a": 1}}`), 400, "VALIDATION_ERROR"},
		{"unknown field", "POST", "/v1/admin/logs", operatorToken, []byte(`{"logs": [], "extra": 1}`), 400, "VALIDATION_ERROR"},
		{"empty body", "POST", "/v1/admin/prices", operatorToken, nil, 400, "VALIDATION_ERROR"},
		{"negative price", "POST", "/v1/admin/prices", operatorToken, []byte(`{"prices":[{"asset":"0x0000000000000000000000000000000000000a02","price":"-1","time":"2026-01-01T00:00:00Z"}]}`), 400, "VALIDATION_ERROR"},
		{"price bad asset", "POST", "/v1/admin/prices", operatorToken, []byte(`{"prices":[{"asset":"0x12","price":"1","time":"2026-01-01T00:00:00Z"}]}`), 400, "VALIDATION_ERROR"},
		{"oversized body", "POST", "/v1/admin/logs", operatorToken, big, 413, "PAYLOAD_TOO_LARGE"},
	}
	// A log whose fields are not even well-formed (bad hex) makes the whole request invalid.
	badHex := firstLog(func(s string) string { return strings.Replace(s, `"blockNumber": "0x`, `"blockNumber": "0xzz`, 1) })
	cases = append(cases, struct {
		name, method, path, token string
		body                      []byte
		status                    int
		code                      string
	}{"log with bad hex", "POST", "/v1/admin/logs", operatorToken, badHex, 400, "VALIDATION_ERROR"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := n.store.AppliedIndex()
			r := n.do(tc.method, tc.path, tc.token, tc.body)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.code)
			}
			if after := n.store.AppliedIndex(); after != before {
				t.Fatalf("a refused request moved the applied index from %d to %d", before, after)
			}
		})
	}

	// Logs that cannot be decoded are reported per log, with a reason, and change nothing.
	logCases := []struct {
		name   string
		mut    func(string) string
		reason string
	}{
		{"unknown contract", func(s string) string {
			return strings.Replace(s, "0x0000000000000000000000000000000000000a02", "0x00000000000000000000000000000000000000ee", 1)
		}, "unknown_contract"},
		{"wrong topic count", func(s string) string {
			return strings.Replace(s, `"topics": [`, `"topics": ["0x0000000000000000000000000000000000000000000000000000000000000001",`, 1)
		}, "unknown_topic"},
		{"missing topic", func(s string) string {
			i := strings.Index(s, `"topics": [`) + len(`"topics": [`)
			j := strings.Index(s[i:], ",") + i + 1
			k := strings.Index(s[j:], "]") + j
			return s[:j-1] + s[k:]
		}, "bad_topic_count"},
		{"short data", func(s string) string {
			i := strings.Index(s, `"data": "0x`) + len(`"data": "0x`)
			return s[:i] + s[i+64:]
		}, "short_data"},
	}
	for _, tc := range logCases {
		t.Run("log "+tc.name, func(t *testing.T) {
			before := n.store.AppliedIndex()
			r := n.do("POST", "/v1/admin/logs", operatorToken, firstLog(tc.mut))
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			res := r.json(t)
			if res["skipped"] != 1.0 || res["accepted"] != 0.0 || field(res, "results.0.status") != "skipped" || field(res, "results.0.reason") != tc.reason {
				t.Fatalf("result %s, want skipped with %s", r.body, tc.reason)
			}
			if after := n.store.AppliedIndex(); after != before {
				t.Fatalf("a skipped log moved the applied index from %d to %d", before, after)
			}
		})
	}
}

func TestHealthReadyMetricsStatus(t *testing.T) {
	n := newTestNode(t)
	if r := n.get("/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := n.get("/readyz", ""); r.status != 200 || r.json(t)["status"] != "ready" {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	n.mustGet("/v1/fund/overview", "")
	n.mustGet("/v1/fund/overview", "")
	m := string(n.get("/metrics", "").body)
	for _, want := range []string{
		`paimon_http_requests_total{route="fund_overview",code="200"} 2`,
		`paimon_cache_requests_total{result="hit"}`,
		`paimon_fsm_apply_seconds_bucket`,
		`paimon_raft_leader 1`,
		`paimon_http_request_seconds_bucket{route="fund_overview"`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	st := n.mustGet("/v1/cluster/status", viewerToken)
	if st["nodeId"] != "node1" || st["leader"] != "node1" || field(st, "nodes.0.suffrage") != "voter" || field(st, "pgsync.enabled") != false {
		t.Fatalf("cluster status: %v", st)
	}
	if r := n.get("/v1/cluster/status", ""); r.status != 401 {
		t.Fatalf("cluster status without token: %d", r.status)
	}
}

// TestPricesFromTheFutureAndDelete: a price more than 5 minutes ahead is 400 and stores
// nothing; DELETE /v1/admin/prices/{asset}?time= removes a point that had become "latest"
// (audited), after which the previous point is current again; a point that does not exist is
// 404; bad parameters are 400.
func TestPricesFromTheFutureAndDelete(t *testing.T) {
	n := newTestNode(t)
	waitOrdered(t, n)
	asset := "0x0000000000000000000000000000000000000a02"
	now := time.Now().Unix()
	post := func(price string, at int64) response {
		return n.do("POST", "/v1/admin/prices", operatorToken, []byte(fmt.Sprintf(`{"prices":[{"asset":%q,"price":%q,"time":"%d"}]}`, asset, price, at)))
	}
	if r := post("100", now-60); r.status != 200 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	expectError(t, "ten years ahead", post("999", now+10*365*86400), 400, "VALIDATION_ERROR")
	expectError(t, "six minutes ahead", post("999", now+360), 400, "VALIDATION_ERROR")
	if p := n.mustGet("/v1/prices/"+asset+"?history=1", ""); p["price"] != "100" || len(p["items"].([]any)) != 1 {
		t.Fatalf("a refused price was stored: %v", p)
	}
	if r := post("200", now+120); r.status != 200 { // ahead, within the skew
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	if p := n.mustGet("/v1/prices/"+asset, ""); p["price"] != "200" {
		t.Fatalf("latest: %v", p)
	}

	r := n.do("DELETE", fmt.Sprintf("/v1/admin/prices/%s?time=%d", asset, now+120), operatorToken, nil)
	if r.status != 200 || r.json(t)["deleted"] != 1.0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if p := n.mustGet("/v1/prices/"+asset, ""); p["price"] != "100" {
		t.Fatalf("latest after the delete: %v", p)
	}
	audit := n.mustGet("/v1/audit?action=prices.delete", adminToken)
	if items := audit["items"].([]any); len(items) != 1 || field(audit, "items.0.actor") == nil {
		t.Fatalf("audit: %v", audit)
	}
	expectError(t, "delete again", n.do("DELETE", fmt.Sprintf("/v1/admin/prices/%s?time=%d", asset, now+120), operatorToken, nil), 404, "NOT_FOUND")
	expectError(t, "no time", n.do("DELETE", "/v1/admin/prices/"+asset, operatorToken, nil), 400, "VALIDATION_ERROR")
	expectError(t, "bad time", n.do("DELETE", "/v1/admin/prices/"+asset+"?time=soon", operatorToken, nil), 400, "VALIDATION_ERROR")
	expectError(t, "bad asset", n.do("DELETE", "/v1/admin/prices/0x12?time=1", operatorToken, nil), 400, "VALIDATION_ERROR")
	expectError(t, "viewer", n.do("DELETE", fmt.Sprintf("/v1/admin/prices/%s?time=%d", asset, now-60), viewerToken, nil), 403, "FORBIDDEN")
}
