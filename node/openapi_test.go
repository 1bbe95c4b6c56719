package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"paimon/api"
	"paimon/config"
	"paimon/console"
	"paimon/fund/fundtest"
	"paimon/version"
)

var openAPIDump = flag.String("openapi.dump", "", "write every response of TestOpenAPIResponses to this folder (one file per case)")

const (
	operatorToken = "operator-token-for-openapi-tests"
	approverToken = "approver-token-for-openapi-tests"
)

// contractCheck sends requests to a node and validates each request (when the node accepts
// it) and each response against the OpenAPI document, operation by operation.
type contractCheck struct {
	t   *testing.T
	c   *testCluster
	doc *openapi3.T
	ops map[string]opRef // by operationId
	// seen counts the validated responses of each operation, by status.
	seen map[string]map[int]int
	n    int
}

type opRef struct {
	path, method string
	item         *openapi3.PathItem
	op           *openapi3.Operation
}

func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load api/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("api/openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func newContractCheck(t *testing.T, c *testCluster) *contractCheck {
	cc := &contractCheck{t: t, c: c, ops: map[string]opRef{}, seen: map[string]map[int]int{}}
	if *openAPIDump != "" && len(api.OpenAPI) < 10 {
		return cc // bootstrapping the document: dump only
	}
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("api/openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	cc.doc = doc
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			cc.ops[op.OperationID] = opRef{path: path, method: method, item: item, op: op}
		}
	}
	return cc
}

// pathParams matches a concrete path to an operation's template.
func pathParams(template, path string) (map[string]string, bool) {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") {
			params[ts[i][1:len(ts[i])-1]] = ps[i]
		} else if ts[i] != ps[i] {
			return nil, false
		}
	}
	return params, true
}

// call sends one request of operation opID (uri: the path and query) and checks its status
// and that the request and the response are what the document says.
func (cc *contractCheck) call(opID, method, uri, token string, body []byte, want int) response {
	t := cc.t
	t.Helper()
	ref, ok := cc.ops[opID]
	if cc.doc == nil {
		path, _, _ := strings.Cut(uri, "?")
		ref, ok = opRef{method: method, path: path}, true
	}
	if !ok {
		t.Fatalf("operation %s is not in api/openapi.json", opID)
	}
	if ref.method != method {
		t.Fatalf("%s is %s in the document, the test sends %s", opID, ref.method, method)
	}
	path, _, _ := strings.Cut(uri, "?")
	params, ok := pathParams(ref.path, path)
	if !ok {
		t.Fatalf("%s: %s does not match %s", opID, path, ref.path)
	}
	req, err := http.NewRequest(method, cc.c.url(0)+uri, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
	cc.n++
	if *openAPIDump != "" {
		name := fmt.Sprintf("%03d-%s-%d.json", cc.n, opID, r.status)
		meta, _ := json.Marshal(map[string]any{"op": opID, "method": method, "uri": uri, "status": r.status, "contentType": resp.Header.Get("Content-Type")})
		_ = os.WriteFile(filepath.Join(*openAPIDump, name), append(append(meta, '\n'), r.body...), 0o644)
	}
	if r.status != want {
		t.Errorf("%s %s: status %d, want %d: %.300s", method, uri, r.status, want, r.body)
	}
	if cc.doc == nil {
		return r
	}
	route := &routers.Route{Spec: cc.doc, Path: ref.path, PathItem: ref.item, Method: method, Operation: ref.op}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if want < 400 {
		// The node accepted it: the document must accept it too.
		if body != nil {
			req.Body = http.NoBody
			req.GetBody = nil
			req.Body = readCloser{bytes.NewReader(body)}
		}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the document refuses a request the node accepts: %v", method, uri, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.status, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d: the response does not match the document: %v\nbody: %.500s", method, uri, r.status, err, r.body)
	}
	if cc.seen[opID] == nil {
		cc.seen[opID] = map[int]int{}
	}
	cc.seen[opID][r.status]++
	return r
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestOpenAPIResponses: a node with a year of generated data (hourly NAV points, 300 holders,
// 80 redemptions with their approval tickets, prices) answers at least one request of every
// operation of api/openapi.json, and every request the node accepts and every answer, the
// errors (400, 401, 403, 404, 405-free: only documented methods, 409, 413, 503) included,
// validate against the document. An operation without a request here fails the test, so a
// new route needs both its document entry and a case here.
func TestOpenAPIResponses(t *testing.T) {
	if *openAPIDump != "" {
		if err := os.MkdirAll(*openAPIDump, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The console's page and assets are text the validator takes as it takes text/plain.
	for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.RegisteredBodyDecoder("text/plain"))
	}
	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	cfg.Postgres.DSN = ""
	cfg.HTTP.MaxBodyBytes = 2 << 20
	cfg.Auth.Tokens = append(cfg.Auth.Tokens,
		config.Token{Name: "ops", Role: "operator", SHA256: tokenSum(operatorToken)},
		config.Token{Name: "approver", Role: "approver", SHA256: tokenSum(approverToken)})
	// A year of the fund, on a node whose clock runs from the year's last block, so that the
	// latest approval tickets are still open.
	data := fundtest.Generate(fundtest.Spec{Seed: 15, Holders: 300, NavHours: 8760, Redemptions: 80})
	end := time.Unix(data.Stats.End, 0).UTC()
	started := time.Now()
	c.opts[0].Now = func() time.Time { return end.Add(time.Since(started)) }
	c.start(0)
	c.waitLeader(15 * time.Second)
	// Tickets, CHAIN risk events and alerts are recorded from cluster version 0.2, which the
	// leader proposes once it leads.
	checkFor(t, 10*time.Second, func() error {
		if v := c.do(0, "GET", "/v1/cluster/status", viewerToken, nil).json(t)["clusterVersion"]; v != version.Cluster {
			return fmt.Errorf("cluster version %v", v)
		}
		return nil
	})
	cc := newContractCheck(t, c)

	bodies, err := fundtest.RequestBodies(data.Logs(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		want := 200
		r := cc.call("admin_logs", "POST", "/v1/admin/logs", operatorToken, b, want)
		if r.status != 200 {
			t.Fatalf("logs body %d: %d %s", i, r.status, r.body)
		}
	}
	// Two fresh requests that need approval, after the year: their tickets are open.
	last := data.Events[len(data.Events)-1]
	fresh := fundtest.NewChain(fundtest.ChainConfig{Seed: 1515, Start: data.Stats.End + 60, FirstBlock: last.BlockNumber + 100})
	for i := range 2 {
		who := data.Holders[i+1]
		shares := fundtest.E18(10)
		fresh.Emit("RedemptionRequested", uint64(100_001+i), who, who, shares, shares, fundtest.E18(0), fundtest.ChannelStandard, true, uint64(data.Stats.End+8*86400), uint64(0))
		fresh.NextBlock()
	}
	cc.call("admin_logs", "POST", "/v1/admin/logs", operatorToken, fundtest.Body(fresh.Logs()...), 200)
	t.Logf("posted %d events in %d bodies (%d redemptions, %d NAV points)", len(data.Events), len(bodies), data.Stats.Redemptions, data.Stats.NavPoints)
	var prices strings.Builder
	prices.WriteString(`{"prices":[`)
	for i, a := range data.Assets {
		if i > 0 {
			prices.WriteString(",")
		}
		fmt.Fprintf(&prices, `{"asset":"%s","price":"%d000000000000000","time":"%s"},`, strings.ToLower(a.Hex()), 1000+i, end.Add(-time.Hour).Format(time.RFC3339))
		fmt.Fprintf(&prices, `{"asset":"%s","price":"%d000000000000000","time":"%s"}`, strings.ToLower(a.Hex()), 1001+i, end.Format(time.RFC3339))
	}
	prices.WriteString(`]}`)
	cc.call("admin_prices", "POST", "/v1/admin/prices", operatorToken, []byte(prices.String()), 200)
	asset := strings.ToLower(data.Assets[0].Hex())
	holder := strings.ToLower(data.Holders[0].Hex())
	day := end.Format("2006-01-02")

	V, A, O, P := viewerToken, adminToken, operatorToken, approverToken
	get := func(op, uri, token string, want int) response {
		t.Helper()
		return cc.call(op, "GET", uri, token, nil, want)
	}
	post := func(op, uri, token, body string, want int) response {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return cc.call(op, "POST", uri, token, b, want)
	}

	// Health, metrics, the document itself.
	get("healthz", "/healthz", "", 200)
	get("readyz", "/readyz", "", 200)
	get("metrics", "/metrics", "", 200)
	get("openapi", "/v1/openapi.json", "", 200)
	get("system_health", "/v1/system/health", "", 200)
	get("system_config", "/v1/system/config", V, 200)
	get("system_config", "/v1/system/config", "", 401)
	get("system_config", "/v1/system/config", "not-a-token", 401)

	// Public reads.
	get("fund_overview", "/v1/fund/overview", "", 200)
	get("fund_overview", "/v1/fund/overview?consistency=linearizable", "", 200)
	get("fund_overview", "/v1/fund/overview?consistency=sometimes", "", 400)
	get("fund_overview", "/v1/fund/overview?colour=blue", "", 400)
	get("fund_nav_history", "/v1/fund/nav/history", "", 200)
	get("fund_nav_history", "/v1/fund/nav/history?interval=1w&from=2020-01-01T00:00:00Z&limit=100", "", 200)
	get("fund_nav_history", "/v1/fund/nav/history?interval=raw&limit=50", "", 200)
	get("fund_nav_history", "/v1/fund/nav/history?interval=5m", "", 400)
	get("fund_tiers", "/v1/fund/tiers", "", 200)
	get("fund_assets", "/v1/fund/assets", "", 200)
	get("fund_assets", "/v1/fund/assets?tier=l3&active=true", "", 200)
	get("fund_assets", "/v1/fund/assets?tier=L4", "", 400)
	get("fund_flows", "/v1/fund/flows", "", 200)
	get("prices", "/v1/prices", "", 200)
	get("price", "/v1/prices/"+asset, "", 200)
	get("price", "/v1/prices/"+asset+"?history=1&limit=10", "", 200)
	get("price", "/v1/prices/0x0000000000000000000000000000000000000001", "", 404)
	get("price", "/v1/prices/nope", "", 400)
	get("risk_status", "/v1/risk/status", "", 200)

	// Authenticated reads.
	get("account", "/v1/accounts/"+holder, V, 200)
	get("account", "/v1/accounts/"+holder, "", 401)
	get("account", "/v1/accounts/0x0000000000000000000000000000000000000001", V, 404)
	get("account", "/v1/accounts/xyz", V, 400)
	get("account_transactions", "/v1/accounts/"+holder+"/transactions?limit=5", V, 200)
	get("account_transactions", "/v1/accounts/"+holder+"/transactions?limit=0", V, 400)
	r := get("redemptions", "/v1/redemptions?limit=3", V, 200)
	if next, _ := r.json(t)["nextCursor"].(string); next != "" {
		get("redemptions", "/v1/redemptions?limit=3&cursor="+next, V, 200)
	}
	get("redemptions", "/v1/redemptions?status=SETTLED&channel=STANDARD&requiresApproval=true", V, 200)
	get("redemptions", "/v1/redemptions?status=LOST", V, 400)
	get("redemptions", "/v1/redemptions", "", 401)
	get("redemption", "/v1/redemptions/1", V, 200)
	get("redemption", "/v1/redemptions/100000", V, 404)
	get("redemption", "/v1/redemptions/x", V, 400)
	get("transactions", "/v1/transactions?limit=20", V, 200)
	get("transactions", "/v1/transactions?event=Deposit&limit=2", V, 200)
	get("transactions", "/v1/transactions?fromBlock=x", V, 400)
	get("audit", "/v1/audit", V, 200)
	get("alerts", "/v1/alerts", V, 200)
	get("alerts", "/v1/alerts?state=LOST", V, 400)
	get("executor_transactions", "/v1/executor/transactions", O, 200)
	get("executor_transactions", "/v1/executor/transactions", V, 403)
	r = get("risk_events", "/v1/risk/events?limit=5", V, 200)
	get("risk_events", "/v1/risk/events?resolved=maybe", V, 400)
	get("fund_fees", "/v1/fund/fees", V, 200)
	get("reports", "/v1/reports/monthly?date="+day, V, 200)
	get("reports", "/v1/reports/daily?date="+day+"&format=csv", V, 200)
	get("reports", "/v1/reports/weekly?date="+day+"&format=pdf", V, 200)
	get("reports", "/v1/reports/yearly?date="+day, V, 400)
	get("reports", "/v1/reports/daily", V, 400)
	get("risk_liquidity_forecast", "/v1/risk/liquidity-forecast", V, 200)
	get("risk_liquidity_forecast", "/v1/risk/liquidity-forecast?horizon=30d", V, 200)
	get("risk_liquidity_forecast", "/v1/risk/liquidity-forecast?horizon=2d", V, 400)
	get("redemptions_pending_approvals", "/v1/redemptions/pending-approvals", P, 200)
	get("redemptions_pending_approvals", "/v1/redemptions/pending-approvals", V, 403)
	tickets := get("approvals", "/v1/approvals?limit=100", P, 200)
	get("approvals", "/v1/approvals?status=PENDING", P, 200)
	get("approvals_sla_report", "/v1/approvals/sla-report", A, 200)
	get("approvals_sla_report", "/v1/approvals/sla-report?from=yesterday", A, 400)
	get("approvals_sla_report", "/v1/approvals/sla-report", P, 403)
	get("approval", "/v1/approvals/redemption-100000", P, 404)
	get("ingest_status", "/v1/ingest/status", V, 200)
	get("cluster_status", "/v1/cluster/status", V, 200)

	// Approval tickets: decide what is open, refuse what is closed.
	var open []string
	var closed string
	for _, it := range tickets.json(t)["items"].([]any) {
		tk := it.(map[string]any)
		switch tk["status"] {
		case "PENDING", "PARTIALLY_APPROVED":
			open = append(open, tk["id"].(string))
		default:
			if closed == "" {
				closed = tk["id"].(string)
			}
		}
	}
	if closed != "" {
		get("approval", "/v1/approvals/"+closed, P, 200)
		post("approval_approve", "/v1/approvals/"+closed+"/approve", P, "", 409)
	}
	if len(open) == 2 {
		get("approval", "/v1/approvals/"+open[0], P, 200)
		post("approval_reject", "/v1/approvals/"+open[0]+"/reject", P, `{}`, 400)
		post("approval_approve", "/v1/approvals/"+open[0]+"/approve", V, "", 403)
		post("approval_approve", "/v1/approvals/"+open[0]+"/approve", P, `{"reason":"checked the wire"}`, 200)
		get("approval", "/v1/approvals/"+open[0], P, 200)
		post("approval_cancel", "/v1/approvals/"+open[0]+"/cancel", A, "", 409)
		post("approval_retry", "/v1/approvals/"+open[0]+"/retry", V, "", 403)
		post("approval_retry", "/v1/approvals/"+open[0]+"/retry", O, `{"reason":"again"}`, 409) // no transaction to retry
		post("approval_reject", "/v1/approvals/"+open[1]+"/reject", A, `{"reason":"too large"}`, 200)
		get("redemptions_pending_approvals", "/v1/redemptions/pending-approvals", P, 200)
	} else {
		t.Errorf("open approval tickets %v, want the two posted after the year", open)
	}
	post("approval_cancel", "/v1/approvals/redemption-100000/cancel", A, "", 404)
	post("approval_retry", "/v1/approvals/redemption-100000/retry", A, "", 404)
	post("approval_reject", "/v1/approvals/redemption-100000/reject", P, `{"reason":"x"}`, 404)

	// Rebalancing: the year's books against their bands, a plan, its execution.
	get("rebalance_status", "/v1/rebalance/status", V, 200)
	// The generated year pays out more than its ingested deposits (negative cash): a large
	// deposit makes it a fund to rebalance.
	whale := fundtest.Addr("openapi-whale")
	cc.call("admin_logs", "POST", "/v1/admin/logs", O, eventsBody(t, "openapi-whale", mustEvent(t, "Deposit", whale, whale, fundtest.E18(50_000_000), fundtest.E18(50_000_000))), 200)
	post("rebalance_preview", "/v1/rebalance/preview", V, "", 403)
	post("rebalance_preview", "/v1/rebalance/preview", O, `{"targetRatios":{"L1":10000}}`, 400)
	post("rebalance_preview", "/v1/rebalance/preview", O, `{"targetRatios":{"L1":0,"L2":0,"L3":10000}}`, 422)
	plan := post("rebalance_preview", "/v1/rebalance/preview", O, "", 200).json(t)
	post("rebalance_execute", "/v1/rebalance/execute", O, `{"planId":"999999"}`, 404)
	dropped := post("rebalance_preview", "/v1/rebalance/preview", O, "", 200).json(t)["planId"]
	post("rebalance_cancel", "/v1/rebalance/"+fmt.Sprint(dropped)+"/cancel", V, "", 403)
	post("rebalance_cancel", "/v1/rebalance/"+fmt.Sprint(dropped)+"/cancel", O, `{"reason":1}`, 400)
	post("rebalance_cancel", "/v1/rebalance/"+fmt.Sprint(dropped)+"/cancel", O, `{"reason":"previewed twice"}`, 200)
	post("rebalance_cancel", "/v1/rebalance/"+fmt.Sprint(dropped)+"/cancel", O, "", 409)
	post("rebalance_cancel", "/v1/rebalance/999999/cancel", O, "", 404)
	post("rebalance_cancel", "/v1/rebalance/x1/cancel", O, "", 404)
	post("rebalance_execute", "/v1/rebalance/execute", O, `{"planId":"`+fmt.Sprint(plan["planId"])+`"}`, 200)
	post("rebalance_execute", "/v1/rebalance/execute", O, `{"planId":"`+fmt.Sprint(plan["planId"])+`"}`, 409)
	get("rebalance_history", "/v1/rebalance/history?limit=5", V, 200)
	get("rebalance_history", "/v1/rebalance/history?status=LOST", V, 400)
	get("rebalance_status", "/v1/rebalance/status", V, 200)

	// Risk events: resolve one, twice.
	var eventID string
	for _, it := range r.json(t)["items"].([]any) {
		if ev := it.(map[string]any); ev["resolved"] == false {
			eventID = fmt.Sprint(ev["id"])
			break
		}
	}
	if eventID != "" {
		post("risk_event_resolve", "/v1/risk/events/"+eventID+"/resolve", O, `{"note":"topped up L1"}`, 200)
		post("risk_event_resolve", "/v1/risk/events/"+eventID+"/resolve", O, "", 409)
	}
	post("risk_event_resolve", "/v1/risk/events/999999/resolve", O, "", 404)

	// Other writes.
	post("admin_logs", "/v1/admin/logs", O, `{"logs":[{"address":"x"}]}`, 400)
	post("admin_logs", "/v1/admin/logs", V, `{"logs":[]}`, 403)
	post("admin_logs", "/v1/admin/logs", O, `{"logs":[`+strings.Repeat(`"x",`, 1<<19)+`"x"]}`, 413)
	post("admin_prices", "/v1/admin/prices", O, `{"prices":[{"asset":"0x1","price":"1","time":"now"}]}`, 400)
	cc.call("admin_price_delete", "DELETE", "/v1/admin/prices/"+asset+"?time="+end.Format(time.RFC3339), O, nil, 200)
	cc.call("admin_price_delete", "DELETE", "/v1/admin/prices/"+asset+"?time="+end.Format(time.RFC3339), O, nil, 404)
	post("redemption_settle", "/v1/redemptions/1/settle", O, "", 503) // no executor key on this node
	post("admin_roles_set", "/v1/admin/roles", A, `{"address":"`+holder+`","role":"viewer"}`, 200)
	post("admin_roles_set", "/v1/admin/roles", A, `{"address":"`+holder+`","role":"king"}`, 400)
	get("admin_roles", "/v1/admin/roles", A, 200)
	get("pg_verify", "/v1/admin/pg/verify", A, 503) // no PostgreSQL on this node
	get("state_digest", "/v1/admin/state/digest", A, 200)
	get("state_digest", "/v1/admin/state/digest", V, 403)
	get("audit", "/v1/audit?actor=root", V, 200)

	// The cluster.
	post("cluster_join", "/v1/cluster/join", A, `{"id":""}`, 400)
	post("cluster_remove", "/v1/cluster/remove", A, `{"id":"node9"}`, 404)
	post("cluster_remove", "/v1/cluster/remove", V, `{"id":"node9"}`, 403)
	post("cluster_notify", "/v1/cluster/notify", A, `{}`, 403)
	post("cluster_touch", "/v1/cluster/touch", A, `{}`, 403)
	get("cluster_readindex", "/v1/cluster/readindex", A, 403)

	// The console.
	get("console_redirect", "/console", "", 301)
	get("console", "/console/", "", 200)
	con, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	get("console_asset", con.Assets()["app.js"], "", 200)
	get("console_asset", con.Assets()["app.css"], "", 200)
	get("console_asset", "/console/assets/app.0000000000.js", "", 404)

	// Sessions: a wallet signs in, sees itself, logs out.
	get("ws", "/v1/ws", "", 400) // not an upgrade
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	nm := post("auth_nonce", "/v1/auth/nonce", "", `{"address":"`+addr+`"}`, 200).json(t)
	post("auth_nonce", "/v1/auth/nonce", "", `{"address":"me"}`, 400)
	sig, err := crypto.Sign(accounts.TextHash([]byte(nm["message"].(string))), key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	login, _ := json.Marshal(map[string]string{"address": addr, "nonce": nm["nonce"].(string), "signature": "0x" + hex.EncodeToString(sig)})
	session := post("auth_login", "/v1/auth/login", "", string(login), 200).json(t)["token"].(string)
	post("auth_login", "/v1/auth/login", "", string(login), 401) // the nonce is spent
	get("auth_me", "/v1/auth/me", session, 200)
	get("auth_me", "/v1/auth/me", V, 200)
	get("auth_me", "/v1/auth/me", "", 401)
	post("auth_logout", "/v1/auth/logout", session, "", 200)
	get("auth_me", "/v1/auth/me", session, 401)

	// Every operation was exercised.
	var missing []string
	for id := range cc.ops {
		if len(cc.seen[id]) == 0 {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations of api/openapi.json without a request in this test: %v", missing)
	}
	t.Logf("%d requests validated over %d operations", cc.n, len(cc.ops))
}
