package node

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fasthttp/websocket"
)

// TestSessionAcrossTheCluster: a wallet signs a login with a real key through one node, its
// session works on the others at once, is extended through a follower (which forwards the
// touch to the leader), and once it logs out through a third node the token is refused on
// every node.
func TestSessionAcrossTheCluster(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := newCluster(t, 3)
	for i := range c.opts {
		c.opts[i].Now = now
	}
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	f1 := c.follower()
	f2 := 3 - l - f1

	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	c.writeLog(l, transferLog(t, crypto.PubkeyToAddress(key.PublicKey), 1, 5))

	// Nonce and login through a follower (both forwarded to the leader).
	r := c.do(f1, "POST", "/v1/auth/nonce", "", []byte(`{"address":"`+addr+`"}`))
	if r.status != 200 {
		t.Fatalf("nonce: %d %s", r.status, r.body)
	}
	nm := r.json(t)
	sig, err := crypto.Sign(accounts.TextHash([]byte(nm["message"].(string))), key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nm["nonce"].(string), "signature": "0x" + hex.EncodeToString(sig)})
	r = c.do(f1, "POST", "/v1/auth/login", "", body)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	token := r.json(t)["token"].(string)
	loginIndex := r.json(t)["index"].(float64)

	// Every node accepts the session as soon as it has applied the login: the account's own
	// data, and nothing more.
	for i := range 3 {
		checkFor(t, 5*time.Second, func() error {
			r := c.do(i, "GET", "/v1/accounts/"+addr, token, nil)
			if r.status != 200 || r.json(t)["shares"] != "5" {
				return fmt.Errorf("node%d: own account: %d %s", i+1, r.status, r.body)
			}
			return nil
		})
		if r := c.do(i, "GET", "/v1/redemptions", token, nil); r.status != 403 {
			t.Fatalf("node%d: redemptions without a role: %d %s", i+1, r.status, r.body)
		}
	}

	// Used on a follower after six minutes, the session is extended through the leader.
	offset.Add(int64(6 * time.Minute))
	first := c.do(f2, "GET", "/v1/auth/me", token, nil).json(t)["expiresAt"]
	checkFor(t, 5*time.Second, func() error {
		for i := range 3 {
			if got := c.do(i, "GET", "/v1/auth/me", token, nil).json(t)["expiresAt"]; got == first {
				return fmt.Errorf("node%d: the session still expires at %v", i+1, got)
			}
		}
		return nil
	})
	// 31 minutes after the login it is still valid everywhere.
	offset.Add(int64(25 * time.Minute))
	for i := range 3 {
		if r := c.do(i, "GET", "/v1/auth/me", token, nil); r.status != 200 {
			t.Fatalf("node%d: extended session: %d %s", i+1, r.status, r.body)
		}
	}

	// A WebSocket authenticated with the session on every node: a role granted and taken away
	// shows in its subscriptions, and the logout ends it.
	if r := c.do(l, "POST", "/v1/admin/roles", adminToken, []byte(`{"address":"`+addr+`","role":"viewer"}`)); r.status != 200 {
		t.Fatalf("grant viewer: %d %s", r.status, r.body)
	}
	sockets := make([]*websocket.Conn, 3)
	for i := range 3 {
		checkFor(t, 5*time.Second, func() error {
			if role := c.do(i, "GET", "/v1/auth/me", token, nil).json(t)["role"]; role != "viewer" {
				return fmt.Errorf("node%d: role %v", i+1, role)
			}
			return nil
		})
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.cfgs[i].HTTP.Addr+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		sockets[i] = ws
		if f := wsNext(t, ws, map[string]any{"op": "auth", "token": token}); f["type"] != "authenticated" || f["role"] != "viewer" {
			t.Fatalf("node%d: auth frame: %v", i+1, f)
		}
		if f := wsNext(t, ws, map[string]any{"op": "subscribe", "channels": []string{"account:" + addr, "redemptions"}}); f["type"] != "subscribed" {
			t.Fatalf("node%d: subscribe: %v", i+1, f)
		}
	}
	if r := c.do(f1, "POST", "/v1/admin/roles", adminToken, []byte(`{"address":"`+addr+`","role":"none"}`)); r.status != 200 {
		t.Fatalf("remove role: %d %s", r.status, r.body)
	}
	for i, ws := range sockets {
		if f := wsNext(t, ws, nil); f["type"] != "error" || f["code"] != "FORBIDDEN" || !strings.Contains(f["message"].(string), "redemptions") {
			t.Fatalf("node%d: after the role was removed: %v", i+1, f)
		}
	}

	// Logout through the other follower: refused on every node from then on, without waiting.
	r = c.do(f2, "POST", "/v1/auth/logout", token, nil)
	if r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	logoutIndex := r.json(t)["index"].(float64)
	if logoutIndex <= loginIndex {
		t.Fatalf("logout index %v <= login index %v", logoutIndex, loginIndex)
	}
	for i := range 3 {
		// A linearizable read has seen the logout on any node; local reads follow within
		// the replication delay, and never accept the token again.
		r := c.do(i, "GET", "/v1/accounts/"+addr+"?consistency=linearizable", token, nil)
		if r.status != 401 || r.code() != "AUTH_INVALID" {
			t.Fatalf("node%d: token after logout (linearizable): %d %s", i+1, r.status, r.body)
		}
		checkFor(t, 5*time.Second, func() error {
			if r := c.do(i, "GET", "/v1/auth/me", token, nil); r.status != 401 || r.code() != "AUTH_INVALID" {
				return fmt.Errorf("node%d: token after logout: %d %s", i+1, r.status, r.body)
			}
			return nil
		})
		for k := 0; k < 5; k++ {
			if r := c.do(i, "GET", "/v1/accounts/"+addr, token, nil); r.status != 401 {
				t.Fatalf("node%d: revoked token accepted again: %d %s", i+1, r.status, r.body)
			}
		}
		// The WebSocket learns it at once and loses the account channel.
		ws := sockets[i]
		if f := wsNext(t, ws, nil); f["type"] != "error" || f["code"] != "AUTH_INVALID" || !strings.Contains(f["message"].(string), "account:"+addr) {
			t.Fatalf("node%d: WebSocket after logout: %v", i+1, f)
		}
		if f := wsNext(t, ws, map[string]any{"op": "subscribe", "channels": []string{"account:" + addr}}); f["type"] != "error" || f["code"] != "AUTH_REQUIRED" {
			t.Fatalf("node%d: subscribe after logout: %v", i+1, f)
		}
	}
}

// wsNext sends v (unless nil) and returns the next frame that is not an event or a reset.
func wsNext(t *testing.T, ws *websocket.Conn, v any) map[string]any {
	t.Helper()
	if v != nil {
		if err := ws.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		if f["type"] != "event" && f["type"] != "reset" {
			return f
		}
	}
}

// TestFailedLoginsBudgetedClusterWide: bad signatures from one client spread over the three
// nodes spend one budget, the leader's (logins are served by the leader, which counts them by
// the client's IP the forwarding member reports, and by that IP with the wallet): the sixth is
// refused with 429 on any node. The budget is never the wallet's alone (issue 18 #6): the same
// wallet from another client address still logs in.
func TestFailedLoginsBudgetedClusterWide(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)
	key, _ := crypto.GenerateKey()
	mallory, _ := crypto.GenerateKey()
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	attempt := func(i int) response {
		r := c.do(i, "POST", "/v1/auth/nonce", "", []byte(`{"address":"`+addr+`"}`))
		if r.status != 200 {
			t.Fatalf("node%d: nonce: %d %s", i+1, r.status, r.body)
		}
		nm := r.json(t)
		sig, _ := crypto.Sign(accounts.TextHash([]byte(nm["message"].(string))), mallory)
		body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nm["nonce"].(string), "signature": "0x" + hex.EncodeToString(sig)})
		return c.do(i, "POST", "/v1/auth/login", "", body)
	}
	for k := range 5 { // the default budget: 5 failures per (client IP, wallet) per 15 minutes
		if r := attempt(k % 3); r.status != 401 || r.code() != "AUTH_INVALID" {
			t.Fatalf("bad login %d on node%d: %d %s", k+1, k%3+1, r.status, r.body)
		}
	}
	for i := range 3 {
		r := attempt(i)
		if r.status != 429 || r.code() != "RATE_LIMITED" || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "failed_logins") {
			t.Fatalf("node%d: a sixth bad login: %d %s", i+1, r.status, r.body)
		}
	}
	// The wallet's owner, from another address, is not locked out: through every node.
	owner := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	for i := range 3 {
		r, err := doWith(owner, "POST", c.url(i)+"/v1/auth/nonce", "", []byte(`{"address":"`+addr+`"}`))
		if err != nil || r.status != 200 {
			t.Fatalf("node%d: the owner's nonce: %v %d %s", i+1, err, r.status, r.body)
		}
		nm := r.json(t)
		sig, _ := crypto.Sign(accounts.TextHash([]byte(nm["message"].(string))), key)
		body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nm["nonce"].(string), "signature": "0x" + hex.EncodeToString(sig)})
		if r, err := doWith(owner, "POST", c.url(i)+"/v1/auth/login", "", body); err != nil || r.status != 200 {
			t.Fatalf("node%d: the owner's login from another address: %v %d %s", i+1, err, r.status, r.body)
		}
	}
}

// TestNewSessionAcceptedAtOnceEverywhere: a session opened through one node is accepted by the
// two others at once, even before they have applied the login (issue 10: a token unknown here
// is looked for again once this node has applied the leader's read index). 50 logins, each
// used on the other two nodes at the same moment it is returned (every fifth also in WebSocket
// auth frames there).
func TestNewSessionAcceptedAtOnceEverywhere(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.cfgs[i].RateLimit.LoginBurst = 1000 // 100 nonces and logins from one client in a few seconds
	}
	for i := range 3 {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)
	key, _ := crypto.GenerateKey()
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	// A client retries 503 (API.md): the cluster may hold an election meanwhile (two loaded
	// cores). A 401 is what this test is about: it is never retried.
	call := func(i int, method, path, token string, body []byte) (response, error) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := do(method, c.url(i)+path, token, body)
			if err != nil || r.status != 503 || time.Now().After(deadline) {
				return r, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for k := range 50 {
		at := k % 3
		// Every fifth login is also used in a WebSocket auth frame on the two other nodes,
		// connected before the login.
		var sockets []*websocket.Conn
		if k%5 == 0 {
			for i := range 3 {
				if i != at {
					ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.cfgs[i].HTTP.Addr+"/v1/ws", nil)
					if err != nil {
						t.Fatal(err)
					}
					sockets = append(sockets, ws)
				}
			}
		}
		r, err := call(at, "POST", "/v1/auth/nonce", "", []byte(`{"address":"`+addr+`"}`))
		if err != nil || r.status != 200 {
			t.Fatalf("login %d: nonce on node%d: %v %d %s", k, at+1, err, r.status, r.body)
		}
		nm := r.json(t)
		sig, _ := crypto.Sign(accounts.TextHash([]byte(nm["message"].(string))), key)
		body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nm["nonce"].(string), "signature": "0x" + hex.EncodeToString(sig)})
		if r, err = call(at, "POST", "/v1/auth/login", "", body); err != nil || r.status != 200 {
			t.Fatalf("login %d on node%d: %v %d %s", k, at+1, err, r.status, r.body)
		}
		token := r.json(t)["token"].(string)
		for _, ws := range sockets {
			if err := ws.WriteJSON(map[string]any{"op": "auth", "token": token}); err != nil {
				t.Fatal(err)
			}
		}
		for _, ws := range sockets {
			f := wsNext(t, ws, nil)
			for try := 0; f["type"] == "error" && strings.Contains(fmt.Sprint(f["message"]), "leader") && try < 20; try++ {
				f = wsNext(t, ws, map[string]any{"op": "auth", "token": token}) // an election: retry
			}
			if f["type"] != "authenticated" || f["address"] != addr {
				t.Fatalf("login %d through node%d, WebSocket auth frame on %s: %v", k, at+1, ws.RemoteAddr(), f)
			}
			_ = ws.Close()
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range 3 {
			if i == at {
				continue
			}
			wg.Go(func() {
				r, err := call(i, "GET", "/v1/auth/me", token, nil)
				var me struct{ Address string }
				if err == nil && (r.status != 200 || json.Unmarshal(r.body, &me) != nil || me.Address != addr) {
					err = fmt.Errorf("%d %s", r.status, r.body)
				}
				if err != nil {
					errs[i] = fmt.Errorf("login %d through node%d, used on node%d: %w", k, at+1, i+1, err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var checks, found float64
	for i := range 3 {
		m := string(c.do(i, "GET", "/metrics", "", nil).body)
		checks += metricValue(m, "paimon_auth_unknown_session_checks_total")
		found += metricValue(m, "paimon_auth_unknown_session_found_total")
	}
	t.Logf("tokens unknown on arrival, checked against the leader: %v, found then: %v", checks, found)
}

// metricValue is the value of an unlabelled metric in a Prometheus exposition, 0 if absent.
func metricValue(exposition, name string) float64 {
	for _, l := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
