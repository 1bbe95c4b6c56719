package node

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
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
	writeOK(t, c.do(l, "POST", "/v1/admin/logs", adminToken, transferLog(t, crypto.PubkeyToAddress(key.PublicKey), 1, 5)))

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

// TestFailedLoginsBudgetedClusterWide: bad signatures spread over the three nodes spend one
// budget, the leader's (logins are served by the leader, which counts them by wallet and by
// the client's IP the forwarding member reports): the sixth is refused with 429 on any node.
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
	for k := range 5 { // the default budget: 5 failures per wallet per 15 minutes
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
}
