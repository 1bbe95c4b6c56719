package server

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/auth"
	"paimon/fund/fundtest"
)

// wallet is a test wallet: a real secp256k1 key.
type wallet struct {
	key  *ecdsa.PrivateKey
	addr string // lower-case hex
}

func newWallet(t testing.TB) wallet {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wallet{key: k, addr: strings.ToLower(crypto.PubkeyToAddress(k.PublicKey).Hex())}
}

// sign is personal_sign (EIP-191) as wallets do it: v is 27 or 28.
func (w wallet) sign(t testing.TB, msg string) string {
	t.Helper()
	sig, err := crypto.Sign(accounts.TextHash([]byte(msg)), w.key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return "0x" + hex.EncodeToString(sig)
}

// withClock runs the server on clock (testClock: ratelimit_test.go).
func withClock(c *testClock) func(*setup) { return func(su *setup) { su.clock = c.now } }

// nonce asks for a login nonce.
func (n *testNode) nonce(addr string) (nonce, message string) {
	n.t.Helper()
	r := n.do("POST", "/v1/auth/nonce", "", []byte(`{"address":"`+addr+`"}`))
	if r.status != 200 {
		n.t.Fatalf("nonce: %d %s", r.status, r.body)
	}
	m := r.json(n.t)
	return m["nonce"].(string), m["message"].(string)
}

func loginBody(addr, sig, nonce string) []byte {
	b, _ := json.Marshal(map[string]string{"address": addr, "signature": sig, "nonce": nonce})
	return b
}

// mint gives w shares (a vault Transfer from the zero address), so its account exists.
func (n *testNode) mint(w wallet, seq int) {
	n.t.Helper()
	if r := n.do("POST", "/v1/admin/logs", operatorToken, fundtest.Body(fundtest.MintLog(common.HexToAddress(w.addr), seq, 1))); r.status != 200 {
		n.t.Fatalf("mint: %d %s", r.status, r.body)
	}
}

// login signs in w and returns the session token.
func (n *testNode) login(w wallet) string {
	n.t.Helper()
	nonce, msg := n.nonce(w.addr)
	r := n.do("POST", "/v1/auth/login", "", loginBody(w.addr, w.sign(n.t, msg), nonce))
	if r.status != 200 {
		n.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return r.json(n.t)["token"].(string)
}

func expectError(t testing.TB, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.errorCode() != code {
		t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

// TestWalletLogin: nonce, personal_sign with a real key, login, the session used, its own
// account readable and nobody else's, the nonce refused a second time, logout revoking it.
func TestWalletLogin(t *testing.T) {
	n := newTestNode(t)
	w, other := newWallet(t), newWallet(t)
	n.mint(w, 1)
	n.mint(other, 2)
	nonce, msg := n.nonce(w.addr)
	for _, want := range []string{"Paimon Edge wants you to sign in with your wallet:\n" + w.addr, "Chain ID: 56", "Nonce: " + nonce, "Expires At: "} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message %q lacks %q", msg, want)
		}
	}
	sig := w.sign(t, msg)
	r := n.do("POST", "/v1/auth/login", "", loginBody(w.addr, sig, nonce))
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	lr := r.json(t)
	token := lr["token"].(string)
	if !strings.HasPrefix(token, "pms_") || len(token) != 4+64 || lr["role"] != "none" || lr["address"] != w.addr {
		t.Fatalf("login answer: %s", r.body)
	}
	exp, err := time.Parse(time.RFC3339, lr["expiresAt"].(string))
	if err != nil || exp.Before(time.Now().Add(29*time.Minute)) || exp.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("expiresAt %v (%v): want in 30 minutes", lr["expiresAt"], err)
	}
	me := n.mustGet("/v1/auth/me", token)
	if me["address"] != w.addr || me["role"] != "none" || me["expiresAt"] == nil {
		t.Fatalf("me: %v", me)
	}
	if r := n.get("/v1/accounts/"+strings.ToUpper(w.addr[2:3])+w.addr[3:], token); r.status == 200 {
		t.Fatalf("a malformed address is not the owner's: %d", r.status)
	}
	if r := n.get("/v1/accounts/"+w.addr, token); r.status != 200 {
		t.Fatalf("own account: %d %s", r.status, r.body)
	}
	if r := n.get("/v1/accounts/0x"+strings.ToUpper(w.addr[2:])+"/transactions", token); r.status != 200 {
		t.Fatalf("own transactions, upper case: %d %s", r.status, r.body)
	}
	expectError(t, "another account", n.get("/v1/accounts/"+other.addr, token), 403, "FORBIDDEN")
	expectError(t, "redemptions without a role", n.get("/v1/redemptions", token), 403, "FORBIDDEN")
	expectError(t, "a write without a role", n.do("POST", "/v1/admin/prices", token, []byte(`{"prices":[]}`)), 403, "FORBIDDEN")

	// The nonce is single use, even with a valid signature.
	expectError(t, "replayed nonce", n.do("POST", "/v1/auth/login", "", loginBody(w.addr, sig, nonce)), 401, "AUTH_INVALID")

	// The login and the logout are audited with the wallet, its IP and user agent.
	if r := n.do("POST", "/v1/auth/logout", token, nil); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	expectError(t, "me after logout", n.get("/v1/auth/me", token), 401, "AUTH_INVALID")
	expectError(t, "account after logout", n.get("/v1/accounts/"+w.addr, token), 401, "AUTH_INVALID")
	expectError(t, "logout twice", n.do("POST", "/v1/auth/logout", token, nil), 401, "AUTH_INVALID")
	audit := n.mustGet("/v1/audit?actor=wallet:"+w.addr, adminToken)
	var actions []string
	for _, it := range audit["items"].([]any) {
		e := it.(map[string]any)
		actions = append(actions, e["action"].(string))
		if e["ip"] != "127.0.0.1" || e["resource"] != "wallet:"+w.addr {
			t.Fatalf("audit entry %v", e)
		}
	}
	if strings.Join(actions, ",") != "auth.logout,auth.login" {
		t.Fatalf("audit actions %v", actions)
	}
	// Static tokens cannot log out; /me describes them.
	expectError(t, "static token logout", n.do("POST", "/v1/auth/logout", viewerToken, nil), 400, "VALIDATION_ERROR")
	if me := n.mustGet("/v1/auth/me", operatorToken); me["name"] != "ops" || me["role"] != "operator" {
		t.Fatalf("me of a token: %v", me)
	}
	expectError(t, "me anonymous", n.get("/v1/auth/me", ""), 401, "AUTH_REQUIRED")
}

// TestLoginRefusals: every way a login can be wrong is refused with its documented error and
// opens no session.
func TestLoginRefusals(t *testing.T) {
	clock := &testClock{}
	n := newTestNode(t, withClock(clock))
	w, mallory := newWallet(t), newWallet(t)
	login := func(body []byte) response { return n.do("POST", "/v1/auth/login", "", body) }

	nonce, msg := n.nonce(w.addr)
	good := w.sign(t, msg)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"signed by another key", loginBody(w.addr, mallory.sign(t, msg), nonce), 401, "AUTH_INVALID"},
		{"another message", loginBody(w.addr, w.sign(t, msg+" "), nonce), 401, "AUTH_INVALID"},
		{"signature too short", loginBody(w.addr, good[:len(good)-2], nonce), 400, "VALIDATION_ERROR"},
		{"signature not hex", loginBody(w.addr, "0x"+strings.Repeat("zz", 65), nonce), 400, "VALIDATION_ERROR"},
		{"recovery id 5", loginBody(w.addr, good[:len(good)-2]+"05", nonce), 400, "VALIDATION_ERROR"},
		{"r and s zero", loginBody(w.addr, "0x"+strings.Repeat("00", 64)+"1b", nonce), 401, "AUTH_INVALID"},
		{"nonce malformed", loginBody(w.addr, good, nonce[:20]), 400, "VALIDATION_ERROR"},
		{"nonce never issued", loginBody(w.addr, good, nonce[:len(nonce)-4]+"0000"), 401, "AUTH_INVALID"},
		{"address malformed", loginBody("0x1234", good, nonce), 400, "VALIDATION_ERROR"},
		{"unknown field", []byte(`{"address":"` + w.addr + `","signature":"` + good + `","nonce":"` + nonce + `","role":"admin"}`), 400, "VALIDATION_ERROR"},
		{"not JSON", []byte(`address=` + w.addr), 400, "VALIDATION_ERROR"},
		{"empty", nil, 400, "VALIDATION_ERROR"},
	} {
		expectError(t, tc.name, login(tc.body), tc.status, tc.code)
	}
	// An oversized body is refused from its Content-Length, before it is read (a raw request:
	// an HTTP client would still be writing the body when the node answers and closes).
	for _, path := range []string{"/v1/auth/login", "/v1/auth/nonce"} {
		if got := rawRequest(t, n, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n{"); !strings.HasPrefix(got, "HTTP/1.1 413") || !strings.Contains(got, "PAYLOAD_TOO_LARGE") {
			t.Fatalf("oversized %s: %q", path, got)
		}
	}

	// The nonce survived the refusals: the right signature still works, once.
	r := login(loginBody(w.addr, good, nonce))
	if r.status != 200 {
		t.Fatalf("good login after refusals: %d %s", r.status, r.body)
	}
	expectError(t, "replayed", login(loginBody(w.addr, good, nonce)), 401, "AUTH_INVALID")

	// A nonce issued to one wallet cannot sign in another, even with that one's signature.
	nonce2, msg2 := n.nonce(w.addr)
	msgForMallory := strings.Replace(msg2, w.addr, mallory.addr, 1)
	expectError(t, "nonce of another address", login(loginBody(mallory.addr, mallory.sign(t, msgForMallory), nonce2)), 401, "AUTH_INVALID")

	// An expired nonce.
	nonce3, msg3 := n.nonce(w.addr)
	clock.advance(5*time.Minute + time.Second)
	expectError(t, "expired nonce", login(loginBody(w.addr, w.sign(t, msg3), nonce3)), 401, "AUTH_INVALID")

	// Failed logins are counted by reason: three bad signatures (another key, another
	// message, r and s zero) and "nonce never issued" (its message is not the one signed), an
	// expired nonce, and the refusals of the state machine (replayed, another address's).
	metrics := string(n.get("/metrics", "").body)
	for _, want := range []string{
		`paimon_auth_login_failures_total{reason="bad_signature"} 4`,
		`paimon_auth_login_failures_total{reason="expired_nonce"} 1`,
		`paimon_auth_login_failures_total{reason="refused"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Failed logins are audited.
	audit := n.mustGet("/v1/audit?action=auth.login_failed", adminToken)
	if items := audit["items"].([]any); len(items) < 2 || field(items[0], "after.reason") != "bad_signature" {
		t.Fatalf("failed logins audited: %s", mustJSON(audit))
	}

	// Malformed session tokens.
	for _, tok := range []string{"pms_", "pms_" + strings.Repeat("0", 64), "pms_zz", "pms_" + strings.Repeat("a", 600)} {
		if r := n.get("/v1/fund/overview", tok); r.status != 401 || r.errorCode() != "AUTH_INVALID" {
			t.Fatalf("token %.20q: %d %s", tok, r.status, r.body)
		}
	}
}

// rawRequest writes req on a new connection and returns what the node answers.
func rawRequest(t testing.TB, n *testNode, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestSessionExtendedOnUse: a session in use is extended once auth.session_extend_after has
// passed, by one replicated touch, and outlives its first expiry; unused, it expires.
func TestSessionExtendedOnUse(t *testing.T) {
	clock := &testClock{}
	n := newTestNode(t, withClock(clock))
	w := newWallet(t)
	n.mint(w, 1)
	token := n.login(w)
	first := n.mustGet("/v1/auth/me", token)["expiresAt"].(string)
	// Used within the first five minutes: no extension.
	clock.advance(time.Minute)
	before := n.store.AppliedIndex()
	n.mustGet("/v1/auth/me", token)
	time.Sleep(3 * touchDelay)
	if got := n.store.AppliedIndex(); got != before {
		t.Fatalf("a fresh session was extended: applied %d → %d", before, got)
	}
	// Used after six: extended to 30 minutes from then, in one write however many requests.
	clock.advance(5 * time.Minute)
	for range 20 {
		n.mustGet("/v1/auth/me", token)
	}
	checkFor(t, 5*time.Second, func() error {
		if got := n.mustGet("/v1/auth/me", token)["expiresAt"].(string); got == first {
			return fmt.Errorf("still expires at %s", got)
		}
		return nil
	})
	if got := n.store.AppliedIndex(); got != before+1 {
		t.Fatalf("%d writes to extend one session, want 1", got-before)
	}
	if m := string(n.get("/metrics", "").body); !strings.Contains(m, "paimon_auth_session_extensions_total 1\n") || !strings.Contains(m, "paimon_auth_sessions_known 1\n") {
		t.Fatalf("metrics: %s", grepLines(m, "paimon_auth_"))
	}
	// 31 minutes after login the session lives on; 31 minutes after its extension it is gone.
	clock.advance(25 * time.Minute)
	n.mustGet("/v1/accounts/"+w.addr, token)
	clock.advance(31 * time.Minute)
	expectError(t, "expired session", n.get("/v1/auth/me", token), 401, "AUTH_INVALID")
}

// TestWalletRoles: an admin grants, changes and removes a wallet's role (audited); the open
// session follows at once; bootstrap roles from config hold regardless.
func TestWalletRoles(t *testing.T) {
	boss, w := newWallet(t), newWallet(t)
	n := newTestNode(t, func(su *setup) {
		su.auth.Wallets = []auth.Wallet{{Address: common.HexToAddress(boss.addr), Role: "admin"}}
	})
	bt := n.login(boss)
	if me := n.mustGet("/v1/auth/me", bt); me["role"] != "admin" {
		t.Fatalf("bootstrap admin: %v", me)
	}
	wt := n.login(w)
	expectError(t, "no role yet", n.get("/v1/redemptions", wt), 403, "FORBIDDEN")
	expectError(t, "a viewer cannot grant", n.do("POST", "/v1/admin/roles", viewerToken, []byte(`{"address":"`+w.addr+`","role":"admin"}`)), 403, "FORBIDDEN")
	expectError(t, "a session without a role cannot grant", n.do("POST", "/v1/admin/roles", wt, []byte(`{"address":"`+w.addr+`","role":"admin"}`)), 403, "FORBIDDEN")
	expectError(t, "unknown role", n.do("POST", "/v1/admin/roles", bt, []byte(`{"address":"`+w.addr+`","role":"root"}`)), 400, "VALIDATION_ERROR")

	set := func(role string) map[string]any {
		t.Helper()
		r := n.do("POST", "/v1/admin/roles", bt, []byte(`{"address":"`+w.addr+`","role":"`+role+`"}`))
		if r.status != 200 {
			t.Fatalf("set %s: %d %s", role, r.status, r.body)
		}
		return r.json(t)
	}
	if r := set("viewer"); r["before"] != "none" || r["effective"] != "viewer" {
		t.Fatalf("grant: %v", r)
	}
	if r := n.get("/v1/redemptions", wt); r.status != 200 {
		t.Fatalf("viewer session reads redemptions: %d %s", r.status, r.body)
	}
	expectError(t, "viewer writes", n.do("POST", "/v1/admin/prices", wt, []byte(`{"prices":[]}`)), 403, "FORBIDDEN")
	set("operator")
	if r := n.do("POST", "/v1/admin/prices", wt, []byte(`{"prices":[]}`)); r.status == 403 || r.status == 401 {
		t.Fatalf("operator session writes: %d %s", r.status, r.body)
	}
	// An approver does what an operator does, and no more than that of an admin's.
	if r := set("approver"); r["before"] != "operator" || r["effective"] != "approver" {
		t.Fatalf("approver: %v", r)
	}
	if me := n.mustGet("/v1/auth/me", wt); me["role"] != "approver" {
		t.Fatalf("approver session: %v", me)
	}
	if r := n.do("POST", "/v1/admin/prices", wt, []byte(`{"prices":[]}`)); r.status == 403 || r.status == 401 {
		t.Fatalf("approver session writes: %d %s", r.status, r.body)
	}
	expectError(t, "an approver grants roles", n.do("POST", "/v1/admin/roles", wt, []byte(`{"address":"`+w.addr+`","role":"admin"}`)), 403, "FORBIDDEN")
	if r := set("none"); r["before"] != "approver" || r["effective"] != "none" {
		t.Fatalf("remove: %v", r)
	}
	expectError(t, "role removed", n.get("/v1/redemptions", wt), 403, "FORBIDDEN")
	// The bootstrap admin's config role cannot be taken away through the API.
	r := n.do("POST", "/v1/admin/roles", bt, []byte(`{"address":"`+boss.addr+`","role":"none"}`))
	if r.status != 200 || r.json(t)["effective"] != "admin" {
		t.Fatalf("removing a bootstrap role: %d %s", r.status, r.body)
	}

	roles := n.mustGet("/v1/admin/roles", adminToken)
	if field(roles, "bootstrap.0.address") != boss.addr || field(roles, "bootstrap.0.role") != "admin" {
		t.Fatalf("roles: %s", mustJSON(roles))
	}
	audit := n.mustGet("/v1/audit?action=role.set", adminToken)
	items := audit["items"].([]any)
	if len(items) != 5 || field(items[1], "before.role") != "approver" || field(items[1], "after.role") != nil ||
		field(items[1], "actor") != "wallet:"+boss.addr || field(items[1], "role") != "admin" {
		t.Fatalf("role audit: %s", mustJSON(audit))
	}
}

// versionedStore is the test store reporting a cluster version, as a store of a mixed-version
// cluster does.
type versionedStore struct {
	Store
	version string
}

func (v versionedStore) ClusterVersion() string { return v.version }

// TestApproverNeedsClusterVersion: the approver role is granted only once every member applies
// it (cluster version 0.2); other roles always.
func TestApproverNeedsClusterVersion(t *testing.T) {
	for _, tc := range []struct {
		version, role string
		ok            bool
	}{
		{"0.1", "approver", false}, {"", "approver", false}, {"0.2", "approver", true}, {"1.0", "approver", true},
		{"0.1", "operator", true}, {"0.1", "", true},
	} {
		s := &Server{store: versionedStore{version: tc.version}}
		err := s.roleAllowed(tc.role)
		if (err == nil) != tc.ok {
			t.Errorf("cluster %q, role %q: %v", tc.version, tc.role, err)
		}
		if err != nil {
			if ae, _ := apiErrorOf(err); ae.Status != 503 || ae.Code != "UNAVAILABLE" || !strings.Contains(ae.Message, "the cluster is mid-upgrade") {
				t.Errorf("cluster %q: %d %s %q, want 503 UNAVAILABLE, mid-upgrade", tc.version, ae.Status, ae.Code, ae.Message)
			}
		}
	}
	if err := (&Server{store: versionedStore{}.Store}).roleAllowed("approver"); err != nil {
		t.Errorf("a store without cluster versions: %v", err)
	}
}
