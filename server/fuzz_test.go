package server

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"paimon/auth"
)

// FuzzHandler sends arbitrary requests through the whole handler of a real node: it must never
// panic, must answer with a known status and, for anything but 200, a JSON error body with a
// code; and a request that is refused must not move the applied index.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, uri, token, body string }{
		{"GET", "/v1/fund/overview", "", ""},
		{"GET", "/v1/fund/nav/history?interval=1h&from=2025-01-01T00:00:00Z&limit=5", "", ""},
		{"GET", "/v1/fund/nav/history?interval=raw&to=1700000000", "", ""},
		{"GET", "/v1/accounts/0xcfc0ca73000476dd76da083d72819dd5ad5ef252/transactions?limit=2&cursor=AAAA", viewerToken, ""},
		{"GET", "/v1/redemptions?status=SETTLED&channel=STANDARD&requiresApproval=true", viewerToken, ""},
		{"GET", "/v1/transactions?event=Transfer&fromBlock=1&toBlock=99999999", viewerToken, ""},
		{"GET", "/v1/audit?actor=ops&action=prices.set", viewerToken, ""},
		{"GET", "/v1/prices/0x55d398326f99059ff775485246999027b3197955?history=1", "", ""},
		{"GET", "/v1/fund/overview?consistency=linearizable&max_staleness=1s", "", ""},
		{"POST", "/v1/admin/prices", operatorToken, `{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1","time":"2026-01-01T00:00:00Z"}]}`},
		{"POST", "/v1/admin/logs", operatorToken, `{"logs":[{"address":"0x8505c32631034a7ce8800239c08547e0434edad9","topics":[],"data":"0x","blockNumber":"0x1","blockHash":"0x00","transactionHash":"0x00","logIndex":"0x0"}]}`},
		{"POST", "/v1/cluster/join", adminToken, `{"id":"n2","raftAddr":"127.0.0.1:1","httpAddr":"127.0.0.1:2"}`},
		{"POST", "/v1/cluster/remove", adminToken, `{"id":"n2"}`},
		{"POST", "/v1/cluster/notify", adminToken, `{}`},
		{"PUT", "/v1/admin/logs", operatorToken, "x"},
		{"GET", "/v1/accounts/%zz", viewerToken, ""},
		{"GET", "/v1/../v1/fund/overview", "", ""},
		{"POST", "/v1/auth/nonce", "", `{"address":"0xcfc0ca73000476dd76da083d72819dd5ad5ef252"}`},
		{"POST", "/v1/auth/nonce", "", `{"address":"0x0000000000000000000000000000000000000000"}`},
		{"POST", "/v1/auth/login", "", `{"address":"0xcfc0ca73000476dd76da083d72819dd5ad5ef252","nonce":"0x` + strings.Repeat("00", 24) + `","signature":"0x` + strings.Repeat("11", 64) + `1b"}`},
		{"POST", "/v1/auth/login", "", `{"address":"0xcfc0ca73000476dd76da083d72819dd5ad5ef252","nonce":"0x12","signature":"0x"}`},
		{"POST", "/v1/auth/logout", "pms_" + strings.Repeat("ab", 32), ""},
		{"GET", "/v1/auth/me", "pms_", ""},
		{"GET", "/v1/auth/me", viewerToken, ""},
		{"POST", "/v1/admin/roles", adminToken, `{"address":"0xcfc0ca73000476dd76da083d72819dd5ad5ef252","role":"none"}`},
		{"POST", "/v1/admin/roles", adminToken, `{"address":"0xcfc0ca73000476dd76da083d72819dd5ad5ef252","role":"superuser"}`},
		{"GET", "/v1/admin/roles", adminToken, ""},
		{"POST", "/v1/cluster/touch", adminToken, "\x08\x01"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.uri, s.token, s.body)
	}
	n := newTestNode(f)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(f, "../examples/sample-logs.json"))
	f.Fuzz(func(t *testing.T, method, uri, token, body string) {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(uri)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.SetBodyString(body)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		before := n.store.AppliedIndex()
		n.srv.Handler(&ctx)
		status := ctx.Response.StatusCode()
		known := false
		for _, c := range statusCodes {
			known = known || c == status
		}
		if !known {
			t.Fatalf("%s %s: status %d", method, uri, status)
		}
		if status == 200 {
			return
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(ctx.Response.Body(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %s: %d with body %q", method, uri, status, ctx.Response.Body())
		}
		if e.Error.Code == "INTERNAL" {
			t.Fatalf("%s %s: internal error %q", method, uri, e.Error.Message)
		}
		// Refused logins with a bad signature are audited (a write, by design), and the cluster
		// endpoints may be answered after a membership change.
		if after := n.store.AppliedIndex(); after != before && !strings.HasPrefix(uri, "/v1/cluster/") && string(ctx.Path()) != "/v1/auth/login" {
			t.Fatalf("%s %s: refused with %d but the applied index moved from %d to %d", method, uri, status, before, after)
		}
	})
}

// FuzzParseMember checks the join/notify body decoder: an accepted body always yields a member
// the cluster can use.
func FuzzParseMember(f *testing.F) {
	for _, s := range []string{
		`{"id":"node2","raftAddr":"10.0.0.2:7000","httpAddr":"10.0.0.2:8080","voter":true}`,
		`{"id":"node2","raftAddr":"10.0.0.2:7000","httpAddr":"10.0.0.2:8080"}`,
		`{"id":"","raftAddr":"x","httpAddr":"y"}`,
		`{"id":"n","raftAddr":"0.0.0.0:1","httpAddr":"[::1]:2","voter":false}`,
		`{"id":"n","raftAddr":"a:1","httpAddr":"b:2"} {}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseMember(body)
		if err != nil {
			if _, ok := err.(*apiError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !nodeIDRe.MatchString(m.ID) || m.RaftAddr == "" || m.HTTPAddr == "" {
			t.Fatalf("accepted %q as %+v", body, m)
		}
		for _, a := range []string{m.RaftAddr, m.HTTPAddr} {
			host, port, err := net.SplitHostPort(a)
			if err != nil || host == "" || port == "" {
				t.Fatalf("accepted address %q in %q", a, body)
			}
		}
	})
}

// FuzzMatchRoute checks that routing never panics and that a matched parameter never contains
// a slash.
func FuzzMatchRoute(f *testing.F) {
	for _, s := range []string{"/v1/accounts/0xabc/transactions", "/v1/prices/", "/v1/redemptions/1/2", "/healthz", "/v1/accounts//transactions", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id, param := matchRoute([]byte(path))
		if int(id) >= len(routes) {
			t.Fatalf("route %d", id)
		}
		if strings.Contains(string(param), "/") {
			t.Fatalf("%q: parameter %q", path, param)
		}
	})
}

// FuzzParseLogin checks the login body decoder: it never panics, and a body it accepts yields
// a 65-byte signature with a recovery id of 0 or 1 that recovers without panicking.
func FuzzParseLogin(f *testing.F) {
	w := newWallet(f)
	f.Add(`{"address":"` + w.addr + `","nonce":"0x` + strings.Repeat("ab", 24) + `","signature":"` + w.sign(f, "hello") + `"}`)
	f.Add(`{"address":"` + w.addr + `","nonce":"0x` + strings.Repeat("ab", 24) + `","signature":"0x` + strings.Repeat("00", 64) + `00"}`)
	f.Add(`{"address":"` + w.addr + `","nonce":"0X` + strings.Repeat("AB", 24) + `","signature":"0X` + strings.Repeat("ff", 64) + `1c"}`)
	f.Add(`{"address":"0x12","nonce":"","signature":""}`)
	f.Add(`{"address":"` + w.addr + `","nonce":"0x` + strings.Repeat("ab", 24) + `","signature":"0x` + strings.Repeat("11", 64) + `05"}`)
	f.Add(`{"address":"` + w.addr + `"} {}`)
	f.Add(`{"address":"` + w.addr + `","extra":1}`)
	f.Add(`[]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		addr, n, sig, err := parseLogin([]byte(body))
		if err != nil {
			if ae, _ := apiErrorOf(err); ae.Code != "VALIDATION_ERROR" {
				t.Fatalf("refusal %v is not a VALIDATION_ERROR", err)
			}
			return
		}
		if len(sig) != 65 || sig[64] > 1 {
			t.Fatalf("accepted signature %x", sig)
		}
		signer, ok := auth.RecoverSigner("message", sig)
		if ok && signer == addr && n.Expires() == 0 {
			t.Logf("recovered %s", signer.Hex())
		}
	})
}
