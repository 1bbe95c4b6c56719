package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/websocket"

	"paimon/auth"
	"paimon/push"
)

// who is an identity of the authorization table test.
type who int

const (
	nobody who = iota
	asViewer
	asOperator
	asAdmin
	asOwner // a wallet session (no role) of the account the route or channel is about
	asOther // a wallet session (no role) of another account
	numWho
)

var whoNames = [numWho]string{"nobody", "viewer", "operator", "admin", "owner", "other"}

// allowed lists who may use a route or channel; the rest are refused with AUTH_REQUIRED
// (nobody) or FORBIDDEN.
func allowed(ws ...who) (a [numWho]bool) {
	for _, w := range ws {
		a[w] = true
	}
	return a
}

var (
	everyone      = allowed(nobody, asViewer, asOperator, asAdmin, asOwner, asOther)
	identified    = allowed(asViewer, asOperator, asAdmin, asOwner, asOther)
	viewers       = allowed(asViewer, asOperator, asAdmin)
	ownerOrViewer = allowed(asViewer, asOperator, asAdmin, asOwner)
	operators     = allowed(asOperator, asAdmin)
	admins        = allowed(asAdmin)
	members       = allowed() // cluster members only: every user identity is refused
)

// TestAuthorizationTable walks every route and every WebSocket channel with no token, a
// viewer, an operator, an admin, the account's owner and another account's session, and
// checks each is allowed or refused as API.md says. A route added without a row here fails.
func TestAuthorizationTable(t *testing.T) {
	n := newTestNode(t, func(su *setup) {
		su.push = func(a *auth.Auth) Pusher {
			hub, err := push.New(push.DefaultConfig(), a, Channels(), nil, metrics.NewSet())
			if err != nil {
				t.Fatal(err)
			}
			hub.Start()
			t.Cleanup(func() { _ = hub.Close() })
			return hub
		}
	})
	owner, other := newWallet(t), newWallet(t)
	n.mint(owner, 1)
	n.mint(other, 2)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	tokens := [numWho]string{"", viewerToken, operatorToken, adminToken, n.login(owner), n.login(other)}
	acct := "/v1/accounts/" + owner.addr
	stranger := newWallet(t).addr

	type row struct {
		route        string // the route's name
		method, path string
		body         string
		who          [numWho]bool
	}
	rows := []row{
		{"healthz", "GET", "/healthz", "", everyone},
		{"readyz", "GET", "/readyz", "", everyone},
		{"metrics", "GET", "/metrics", "", everyone},
		{"fund_overview", "GET", "/v1/fund/overview", "", everyone},
		{"fund_nav_history", "GET", "/v1/fund/nav/history", "", everyone},
		{"fund_tiers", "GET", "/v1/fund/tiers", "", everyone},
		{"fund_assets", "GET", "/v1/fund/assets", "", everyone},
		{"fund_flows", "GET", "/v1/fund/flows", "", everyone},
		{"prices", "GET", "/v1/prices", "", everyone},
		{"price", "GET", "/v1/prices/0x0000000000000000000000000000000000000a02", "", everyone},
		{"risk_status", "GET", "/v1/risk/status", "", everyone},
		{"account", "GET", acct, "", ownerOrViewer},
		{"account_transactions", "GET", acct + "/transactions", "", ownerOrViewer},
		{"redemptions", "GET", "/v1/redemptions", "", viewers},
		{"redemption", "GET", "/v1/redemptions/1", "", viewers},
		{"transactions", "GET", "/v1/transactions", "", viewers},
		{"audit", "GET", "/v1/audit", "", viewers},
		{"alerts", "GET", "/v1/alerts", "", viewers},
		{"executor_transactions", "GET", "/v1/executor/transactions", "", operators},
		{"risk_events", "GET", "/v1/risk/events", "", viewers},
		{"risk_liquidity_forecast", "GET", "/v1/risk/liquidity-forecast?horizon=30d", "", viewers},
		{"reports", "GET", "/v1/reports/daily?date=2025-01-06", "", viewers},
		{"fund_fees", "GET", "/v1/fund/fees", "", viewers},
		{"risk_event_resolve", "POST", "/v1/risk/events/1-i1-0/resolve", `{"note":"x"}`, operators},
		{"redemption_settle", "POST", "/v1/redemptions/1/settle", "", operators},
		{"redemptions_pending_approvals", "GET", "/v1/redemptions/pending-approvals", "", admins}, // approvers and above
		{"approvals", "GET", "/v1/approvals", "", admins},
		{"approvals_sla_report", "GET", "/v1/approvals/sla-report", "", admins},
		{"approval", "GET", "/v1/approvals/redemption-999999", "", admins},
		{"approval_approve", "POST", "/v1/approvals/redemption-999999/approve", "", admins},
		{"approval_reject", "POST", "/v1/approvals/redemption-999999/reject", `{"reason":"x"}`, admins},
		// Anyone may ask; the state machine lets only the requester or an admin cancel (an
		// unknown ticket is 404 to all).
		{"approval_cancel", "POST", "/v1/approvals/redemption-999999/cancel", "", identified},
		{"approval_retry", "POST", "/v1/approvals/redemption-999999/retry", "", operators},
		{"rebalance_status", "GET", "/v1/rebalance/status", "", viewers},
		{"rebalance_history", "GET", "/v1/rebalance/history", "", viewers},
		{"rebalance_preview", "POST", "/v1/rebalance/preview", `{}`, operators},
		{"rebalance_execute", "POST", "/v1/rebalance/execute", `{"planId":"1"}`, operators},
		{"rebalance_cancel", "POST", "/v1/rebalance/999999/cancel", `{"reason":"x"}`, operators},
		{"ingest_status", "GET", "/v1/ingest/status", "", viewers},
		{"cluster_status", "GET", "/v1/cluster/status", "", viewers},
		{"system_config", "GET", "/v1/system/config", "", viewers},
		{"system_health", "GET", "/v1/system/health", "", everyone},
		{"openapi", "GET", "/v1/openapi.json", "", everyone},
		{"admin_logs", "POST", "/v1/admin/logs", `{"logs":[]}`, operators},
		{"admin_prices", "POST", "/v1/admin/prices", `{"prices":[]}`, operators},
		{"admin_price_delete", "DELETE", "/v1/admin/prices/0x0000000000000000000000000000000000000a02?time=1", "", operators},
		{"cluster_join", "POST", "/v1/cluster/join", `{}`, admins},
		{"cluster_remove", "POST", "/v1/cluster/remove", `{}`, admins},
		{"cluster_notify", "POST", "/v1/cluster/notify", `{}`, members},
		{"cluster_touch", "POST", "/v1/cluster/touch", `x`, members},
		{"cluster_readindex", "GET", "/v1/cluster/readindex", "", members},
		{"pg_verify", "GET", "/v1/admin/pg/verify", "", admins},
		{"state_digest", "GET", "/v1/admin/state/digest", "", admins},
		{"console_redirect", "GET", "/console", "", everyone},
		{"console", "GET", "/console/", "", everyone},
		{"console_asset", "GET", "/console/assets/app.0000000000.js", "", everyone},
		{"ws", "GET", "/v1/ws", "", everyone},
		{"auth_nonce", "POST", "/v1/auth/nonce", `{"address":"` + stranger + `"}`, everyone},
		{"auth_login", "POST", "/v1/auth/login", `{}`, everyone},
		{"auth_me", "GET", "/v1/auth/me", "", identified},
		{"admin_roles_set", "POST", "/v1/admin/roles", `{"address":"` + stranger + `","role":"viewer"}`, admins},
		{"admin_roles", "GET", "/v1/admin/roles", "", admins},
		// Last: it ends the sessions that use it.
		{"auth_logout", "POST", "/v1/auth/logout", "", identified},
	}
	covered := map[string]bool{"not_found": true}
	for _, r := range rows {
		covered[r.route] = true
		for w := range numWho {
			var body []byte
			if r.body != "" {
				body = []byte(r.body)
			}
			resp := n.do(r.method, r.path, tokens[w], body)
			refused := resp.status == 401 || resp.status == 403
			switch {
			case r.who[w] && refused:
				t.Errorf("%s %s as %s: refused %d %s", r.method, r.path, whoNames[w], resp.status, resp.body)
			case !r.who[w] && w == nobody && (resp.status != 401 || resp.errorCode() != "AUTH_REQUIRED"):
				t.Errorf("%s %s as nobody: %d %s, want 401 AUTH_REQUIRED", r.method, r.path, resp.status, resp.body)
			case !r.who[w] && w != nobody && (resp.status != 403 || resp.errorCode() != "FORBIDDEN"):
				t.Errorf("%s %s as %s: %d %s, want 403 FORBIDDEN", r.method, r.path, whoNames[w], resp.status, resp.body)
			}
		}
	}
	for _, rt := range routes {
		if !covered[rt.name] {
			t.Errorf("route %s has no row in the authorization table test", rt.name)
		}
	}

	// Channels, over real WebSocket connections, with fresh sessions (the rows above logged
	// the others out).
	tokens[asOwner], tokens[asOther] = n.login(owner), n.login(other)
	chans := []struct {
		name string
		who  [numWho]bool
	}{
		{"fund:overview", everyone},
		{"fund:nav", everyone},
		{"prices", everyone},
		{"redemptions", viewers},
		{"transactions", viewers},
		{"risk", viewers},
		{"approvals", admins},
		{"rebalance", viewers},
		{"account:" + owner.addr, ownerOrViewer},
	}
	if len(chans) != len(channels) {
		t.Fatalf("%d channels tested, %d in the table", len(chans), len(channels))
	}
	for w := range numWho {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+n.srv.Addr()+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if w != nobody {
			if f := wsCall(t, ws, map[string]any{"op": "auth", "token": tokens[w]}); f["type"] != "authenticated" {
				t.Fatalf("auth as %s: %v", whoNames[w], f)
			}
		}
		for _, ch := range chans {
			f := wsCall(t, ws, map[string]any{"op": "subscribe", "channels": []string{ch.name}})
			switch {
			case ch.who[w] && f["type"] != "subscribed":
				t.Errorf("subscribe %s as %s: %v", ch.name, whoNames[w], f)
			case !ch.who[w] && w == nobody && (f["type"] != "error" || f["code"] != "AUTH_REQUIRED"):
				t.Errorf("subscribe %s as nobody: %v, want AUTH_REQUIRED", ch.name, f)
			case !ch.who[w] && w != nobody && (f["type"] != "error" || f["code"] != "FORBIDDEN"):
				t.Errorf("subscribe %s as %s: %v, want FORBIDDEN", ch.name, whoNames[w], f)
			}
		}
		// The connection stays usable after refusals.
		if f := wsCall(t, ws, map[string]any{"op": "ping"}); f["type"] != "pong" {
			t.Errorf("ping as %s after the subscriptions: %v", whoNames[w], f)
		}
		_ = ws.Close()
	}
}

// wsCall sends a frame and returns the next frame that is not an event.
func wsCall(t *testing.T, ws *websocket.Conn, v any) map[string]any {
	t.Helper()
	if err := ws.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read after %v: %v", v, err)
		}
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		if f["type"] == "event" || f["type"] == "reset" {
			continue
		}
		return f
	}
}
