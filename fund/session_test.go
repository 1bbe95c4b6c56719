package fund

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"paimon/chainlog"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// testNonce is a nonce expiring at exp (unix ns) with random part r.
func testNonce(exp int64, r byte) Nonce {
	var n Nonce
	binary.BigEndian.PutUint64(n[:8], uint64(exp))
	n[8] = r
	return n
}

const sec = int64(1e9)

// sessionEnv is a machine with the outbox on and a clock in unix ns.
type sessionEnv struct {
	*env
	now int64
}

func newSessionEnv(t *testing.T) *sessionEnv {
	return &sessionEnv{env: newOutboxEnv(t), now: testNow * sec}
}

func (e *sessionEnv) nonce(a common.Address, ttl int64, r byte) (Nonce, any) {
	n := testNonce(e.now+ttl, r)
	return n, e.apply(EncodeNonce(&NonceCommand{Time: e.now, Address: a, Nonce: n}))
}

func (e *sessionEnv) login(a common.Address, n Nonce, h byte, ttl int64) any {
	return e.apply(EncodeLogin(&LoginCommand{Time: e.now, Actor: Actor{Name: "wallet:" + chainlog.HexAddress(a), IP: "10.0.0.9", UserAgent: "test"},
		Address: a, Nonce: n, TokenHash: [32]byte{h}, Expires: e.now + ttl}))
}

func code(res any) string {
	ve, ok := res.(*ValidationError)
	if !ok {
		return ""
	}
	if ve.Code == "" {
		return "VALIDATION_ERROR"
	}
	return ve.Code
}

// TestLoginUsesTheNonceOnce: a nonce opens one session for its own address while it is
// unexpired; a replay, another address, an expired nonce or an unknown one is AUTH_INVALID and
// changes nothing.
func TestLoginUsesTheNonceOnce(t *testing.T) {
	e := newSessionEnv(t)
	alice, bob := addr(1), addr(2)
	n, res := e.nonce(alice, 300*sec, 1)
	if _, ok := res.(*SessionResult); !ok {
		t.Fatalf("nonce: %+v", res)
	}
	if got := code(e.login(bob, n, 1, 1800*sec)); got != CodeAuthInvalid {
		t.Fatalf("another address: %q", got)
	}
	if res := e.login(alice, n, 1, 1800*sec); code(res) != "" {
		t.Fatalf("login: %+v", res)
	}
	s, ok, err := ReadSession(e.st, [32]byte{1})
	if err != nil || !ok || s.Address != alice || s.Expires != e.now+1800*sec || s.Created != e.now {
		t.Fatalf("session %+v %v %v", s, ok, err)
	}
	ch := e.lastChanges()
	if len(ch.Sessions) != 1 || ch.Sessions[0].Session == nil || ch.Sessions[0].Session.Address != alice {
		t.Fatalf("changes %+v", ch.Sessions)
	}
	for _, r := range ch.Records {
		if r.Key[0] == pSession || r.Key[0] == pNonce {
			t.Fatalf("session state %x in the outbox: sessions are not synced", r.Key)
		}
	}
	before := e.dump()
	if got := code(e.login(alice, n, 2, 1800*sec)); got != CodeAuthInvalid {
		t.Fatalf("replayed nonce: %q", got)
	}
	if got := code(e.login(alice, testNonce(e.now+300*sec, 9), 3, 1800*sec)); got != CodeAuthInvalid {
		t.Fatalf("unknown nonce: %q", got)
	}
	if e.dump() != before {
		t.Fatal("a refused login changed the state")
	}
	n2, _ := e.nonce(alice, 60*sec, 2)
	before = e.dump()
	e.now += 61 * sec
	if got := code(e.login(alice, n2, 4, 1800*sec)); got != CodeAuthInvalid {
		t.Fatalf("expired nonce: %q", got)
	}
	if e.dump() != before {
		t.Fatal("a refused login changed the state")
	}
	// Out-of-range lifetimes.
	if _, res := e.nonce(alice, 16*60*sec, 3); code(res) != "VALIDATION_ERROR" {
		t.Fatalf("nonce too long: %+v", res)
	}
	n3, _ := e.nonce(alice, 60*sec, 4)
	if got := code(e.login(alice, n3, 5, 25*3600*sec)); got != "VALIDATION_ERROR" {
		t.Fatalf("session too long: %q", got)
	}
	// The login is audited.
	var a struct{ Items []map[string]any }
	body, err := Audit(e.st, AuditFilter{}, Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &a); err != nil || len(a.Items) != 1 || a.Items[0]["action"] != "auth.login" || a.Items[0]["ip"] != "10.0.0.9" {
		t.Fatalf("audit %s", body)
	}
}

// TestTouchAndLogout: a touch extends an open session and never reopens a closed or expired
// one; logout closes it (audited) and a second logout is AUTH_INVALID.
func TestTouchAndLogout(t *testing.T) {
	e := newSessionEnv(t)
	alice := addr(1)
	n, _ := e.nonce(alice, 300*sec, 1)
	e.login(alice, n, 1, 1800*sec)
	e.now += 600 * sec
	res := e.apply(EncodeTouch(&TouchCommand{Time: e.now, Touches: []Touch{{[32]byte{1}, e.now + 1800*sec}, {[32]byte{7}, e.now + 1800*sec}}}))
	if r, ok := res.(*SessionResult); !ok || r.Changed != 1 {
		t.Fatalf("touch: %+v", res)
	}
	s, _, _ := ReadSession(e.st, [32]byte{1})
	if s.Expires != e.now+1800*sec {
		t.Fatalf("expires %d", s.Expires)
	}
	if res := e.apply(EncodeLogout(&LogoutCommand{Time: e.now, Actor: Actor{Name: "wallet"}, TokenHash: [32]byte{1}})); code(res) != "" {
		t.Fatalf("logout: %+v", res)
	}
	if _, ok, _ := ReadSession(e.st, [32]byte{1}); ok {
		t.Fatal("session still there after logout")
	}
	if ch := e.lastChanges(); len(ch.Sessions) != 1 || ch.Sessions[0].Session != nil {
		t.Fatalf("logout changes %+v", ch.Sessions)
	}
	if got := code(e.apply(EncodeLogout(&LogoutCommand{Time: e.now, Actor: Actor{Name: "wallet"}, TokenHash: [32]byte{1}}))); got != CodeAuthInvalid {
		t.Fatalf("second logout: %q", got)
	}
	res = e.apply(EncodeTouch(&TouchCommand{Time: e.now, Touches: []Touch{{[32]byte{1}, e.now + 1800*sec}}}))
	if r, ok := res.(*SessionResult); !ok || r.Changed != 0 {
		t.Fatalf("touch after logout: %+v", res)
	}
	if _, ok, _ := ReadSession(e.st, [32]byte{1}); ok {
		t.Fatal("a touch reopened a closed session")
	}
}

// TestExpiredSessionsAndNoncesArePruned: later commands delete what expired, and the changes
// say so.
func TestExpiredSessionsAndNoncesArePruned(t *testing.T) {
	e := newSessionEnv(t)
	alice := addr(1)
	n, _ := e.nonce(alice, 300*sec, 1)
	e.login(alice, n, 1, 60*sec)
	e.nonce(alice, 30*sec, 2) // never used
	e.now += 120 * sec
	n3, _ := e.nonce(alice, 300*sec, 3)
	e.login(alice, n3, 3, 1800*sec)
	if _, ok, _ := ReadSession(e.st, [32]byte{1}); ok {
		t.Fatal("expired session not pruned")
	}
	var closed bool
	for _, c := range e.lastChanges().Sessions {
		closed = closed || (c.TokenHash == [32]byte{1} && c.Session == nil)
	}
	if !closed {
		t.Fatalf("changes %+v", e.lastChanges().Sessions)
	}
	nonces := 0
	_ = e.st.Scan([]byte{pNonce}, []byte{pNonce + 1}, false, func(k, v []byte) bool { nonces++; return true })
	if nonces != 0 {
		t.Fatalf("%d nonces left", nonces)
	}
	var all []Session
	var serr error
	_ = e.st.Scan([]byte{pSession}, []byte{pSession + 1}, false, func(k, v []byte) bool {
		s, err := decodeSession(v)
		serr = errors.Join(serr, err)
		all = append(all, s)
		return true
	})
	if serr != nil || len(all) != 1 {
		t.Fatalf("sessions %+v %v", all, serr)
	}
}

// TestRoles: roles are set, changed and removed, audited with before and after, synced (the
// outbox has them) and listed; a bad role or a change without an actor is refused.
func TestRoles(t *testing.T) {
	e := newSessionEnv(t)
	root := Actor{Name: "root", Role: "admin", IP: "10.0.0.1"}
	set := func(role string) any {
		return e.apply(EncodeRole(&RoleCommand{Time: e.now, Actor: root, Address: addr(3), Role: role}))
	}
	if r, ok := set("viewer").(*RoleResult); !ok || r.Before != "" {
		t.Fatalf("grant: %+v", r)
	}
	if r, ok := set("admin").(*RoleResult); !ok || r.Before != "viewer" {
		t.Fatalf("change: %+v", r)
	}
	if got := e.lastChanges().Roles; !reflect.DeepEqual(got, []RoleChange{{Address: addr(3), Role: "admin"}}) {
		t.Fatalf("changes %+v", got)
	}
	var recs int
	for _, r := range e.lastChanges().Records {
		if r.Key[0] == pRole {
			recs++
		}
	}
	if recs != 1 {
		t.Fatalf("%d role records in the outbox", recs)
	}
	if roles, err := Roles(e.st); err != nil || len(roles) != 1 || roles[0].Address != chainlog.HexAddress(addr(3)) || roles[0].Role != "admin" {
		t.Fatalf("roles %+v %v", roles, err)
	}
	if r, ok := set("").(*RoleResult); !ok || r.Before != "admin" {
		t.Fatalf("remove: %+v", r)
	}
	if items, err := Roles(e.st); err != nil || len(items) != 0 {
		t.Fatalf("roles after removal %+v %v", items, err)
	}
	before := e.dump()
	if got := code(set("god")); got != "VALIDATION_ERROR" {
		t.Fatalf("bad role: %q", got)
	}
	if got := code(e.apply(EncodeRole(&RoleCommand{Time: e.now, Address: addr(3), Role: "viewer"}))); got != "VALIDATION_ERROR" {
		t.Fatalf("no actor: %q", got)
	}
	if e.dump() != before {
		t.Fatal("a refused role change changed the state")
	}
	a, _ := Audit(e.st, AuditFilter{}, Page{Limit: 10})
	var au struct{ Items []map[string]any }
	_ = json.Unmarshal(a, &au)
	if len(au.Items) != 3 || au.Items[0]["action"] != "role.set" {
		t.Fatalf("audit %s", a)
	}
	b, _ := json.Marshal(au.Items[1]["after"])
	if string(b) != `{"role":"admin"}` {
		t.Fatalf("audit after %s", b)
	}
}

// TestSessionCodecs: every session command survives a round trip and a truncation is refused.
func TestSessionCodecs(t *testing.T) {
	n := testNonce(5, 6)
	cmds := []struct {
		enc    []byte
		decode func([]byte) (any, error)
	}{
		{EncodeNonce(&NonceCommand{Time: 1, Address: addr(1), Nonce: n}), func(b []byte) (any, error) { return DecodeNonce(b) }},
		{EncodeLogin(&LoginCommand{Time: 1, Actor: Actor{Name: "a"}, Address: addr(1), Nonce: n, TokenHash: [32]byte{3}, Expires: 9}), func(b []byte) (any, error) { return DecodeLogin(b) }},
		{EncodeTouch(&TouchCommand{Time: 1, Touches: []Touch{{[32]byte{3}, 9}, {[32]byte{4}, 10}}}), func(b []byte) (any, error) { return DecodeTouch(b) }},
		{EncodeLogout(&LogoutCommand{Time: 1, Actor: Actor{Name: "a"}, TokenHash: [32]byte{3}}), func(b []byte) (any, error) { return DecodeLogout(b) }},
		{EncodeRole(&RoleCommand{Time: 1, Actor: Actor{Name: "a"}, Address: addr(1), Role: "viewer"}), func(b []byte) (any, error) { return DecodeRole(b) }},
	}
	for _, c := range cmds {
		if _, err := c.decode(c.enc); err != nil {
			t.Fatalf("%d: %v", c.enc[0], err)
		}
		if _, err := c.decode(c.enc[:len(c.enc)-1]); err == nil {
			t.Fatalf("%d: truncated command accepted", c.enc[0])
		}
		if _, err := c.decode(append(c.enc, 0)); err == nil {
			t.Fatalf("%d: trailing byte accepted", c.enc[0])
		}
	}
}
