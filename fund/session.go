package fund

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/kv"
)

// Wallet sessions and roles are replicated state like the fund's, so that every node accepts a
// session the moment it exists and refuses it the moment it is revoked, and a role granted
// through one node holds on all. The signature of a login is checked by the node that receives
// it, before it proposes the login; the state machine checks what must be decided in log order:
// that the nonce exists, belongs to the address, is unexpired and is used once.

// Session commands (see codec.go for the list).
const (
	CmdNonce  byte = 6  // a login nonce issued
	CmdLogin  byte = 7  // a wallet login: consumes its nonce, opens a session
	CmdTouch  byte = 8  // extends sessions in use
	CmdLogout byte = 9  // revokes a session
	CmdRole   byte = 10 // grants, changes or removes a wallet's role
)

// Limits of the session commands.
const (
	// MaxNonceTTL bounds how far ahead a nonce may expire.
	MaxNonceTTL = 15 * 60 * 1e9
	// MaxSessionTTL bounds how far ahead a session may expire.
	MaxSessionTTL = 24 * 3600 * 1e9
	// MaxTouches bounds the sessions one CmdTouch extends.
	MaxTouches = 1000
	// pruneLimit bounds the expired nonces or sessions one command deletes.
	pruneLimit = 256
)

// NonceLen is the length of a nonce: its expiry (unix ns, big-endian) and 16 random bytes, so
// that nonces sort by expiry.
const NonceLen = 24

// Nonce is a login nonce.
type Nonce [NonceLen]byte

// Expires is the nonce's expiry, unix ns.
func (n *Nonce) Expires() int64 { return int64(binary.BigEndian.Uint64(n[:8])) }

// Session is an open wallet session.
type Session struct {
	Address common.Address
	Created int64 // unix ns
	Expires int64 // unix ns
}

// SessionChange is a session a batch opened or extended (Session set) or closed (nil).
type SessionChange struct {
	TokenHash [32]byte
	Session   *Session
}

// RoleChange is a wallet role a batch set ("" when removed).
type RoleChange struct {
	Address common.Address
	Role    string
}

// NonceCommand records an issued nonce for address.
type NonceCommand struct {
	Time    int64
	Address common.Address
	Nonce   Nonce
}

// LoginCommand opens a session for a signed-in wallet. TokenHash is the SHA-256 of the token
// the node gave the client (the token itself is never replicated). Actor says who signed in
// (for the audit entry: name, role, IP, user agent).
type LoginCommand struct {
	Time      int64
	Actor     Actor
	Address   common.Address
	Nonce     Nonce
	TokenHash [32]byte
	Expires   int64
}

// Touch extends one session.
type Touch struct {
	TokenHash [32]byte
	Expires   int64
}

// TouchCommand extends sessions in use; a session that expired or was closed meanwhile stays
// closed.
type TouchCommand struct {
	Time    int64
	Touches []Touch
}

// LogoutCommand closes a session.
type LogoutCommand struct {
	Time      int64
	Actor     Actor
	TokenHash [32]byte
}

// RoleCommand sets a wallet's role: viewer, operator, approver, admin, or "" to remove it.
type RoleCommand struct {
	Time    int64
	Actor   Actor
	Address common.Address
	Role    string
}

// SessionResult is the result of CmdLogin, CmdTouch and CmdLogout: the sessions changed.
type SessionResult struct {
	Changed int
}

// RoleResult is the result of CmdRole: the role before.
type RoleResult struct {
	Before string
}

// EncodeNonce encodes c as a CmdNonce command.
func EncodeNonce(c *NonceCommand) []byte {
	b := []byte{CmdNonce, codecVersion}
	b = binary.AppendVarint(b, c.Time)
	b = append(b, c.Address[:]...)
	return append(b, c.Nonce[:]...)
}

// DecodeNonce decodes a CmdNonce command strictly; errors wrap ErrBadCommand.
func DecodeNonce(cmd []byte) (*NonceCommand, error) {
	d, err := newDec(cmd, CmdNonce)
	if err != nil {
		return nil, err
	}
	c := &NonceCommand{Time: d.varint()}
	copy(c.Address[:], d.fixed(20))
	copy(c.Nonce[:], d.fixed(NonceLen))
	return c, d.finish()
}

// EncodeLogin encodes c as a CmdLogin command.
func EncodeLogin(c *LoginCommand) []byte {
	b := []byte{CmdLogin, codecVersion}
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = append(b, c.Address[:]...)
	b = append(b, c.Nonce[:]...)
	b = append(b, c.TokenHash[:]...)
	return binary.AppendVarint(b, c.Expires)
}

// DecodeLogin decodes a CmdLogin command strictly; errors wrap ErrBadCommand.
func DecodeLogin(cmd []byte) (*LoginCommand, error) {
	d, err := newDec(cmd, CmdLogin)
	if err != nil {
		return nil, err
	}
	c := &LoginCommand{Time: d.varint()}
	d.actor(&c.Actor)
	copy(c.Address[:], d.fixed(20))
	copy(c.Nonce[:], d.fixed(NonceLen))
	copy(c.TokenHash[:], d.fixed(32))
	c.Expires = d.varint()
	return c, d.finish()
}

// EncodeTouch encodes c as a CmdTouch command.
func EncodeTouch(c *TouchCommand) []byte {
	b := make([]byte, 0, 16+len(c.Touches)*42)
	b = append(b, CmdTouch, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = binary.AppendUvarint(b, uint64(len(c.Touches)))
	for _, t := range c.Touches {
		b = append(b, t.TokenHash[:]...)
		b = binary.AppendVarint(b, t.Expires)
	}
	return b
}

// DecodeTouch decodes a CmdTouch command strictly; errors wrap ErrBadCommand.
func DecodeTouch(cmd []byte) (*TouchCommand, error) {
	d, err := newDec(cmd, CmdTouch)
	if err != nil {
		return nil, err
	}
	c := &TouchCommand{Time: d.varint()}
	n := d.count(33)
	c.Touches = make([]Touch, n)
	for i := range c.Touches {
		copy(c.Touches[i].TokenHash[:], d.fixed(32))
		c.Touches[i].Expires = d.varint()
	}
	return c, d.finish()
}

// EncodeLogout encodes c as a CmdLogout command.
func EncodeLogout(c *LogoutCommand) []byte {
	b := []byte{CmdLogout, codecVersion}
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	return append(b, c.TokenHash[:]...)
}

// DecodeLogout decodes a CmdLogout command strictly; errors wrap ErrBadCommand.
func DecodeLogout(cmd []byte) (*LogoutCommand, error) {
	d, err := newDec(cmd, CmdLogout)
	if err != nil {
		return nil, err
	}
	c := &LogoutCommand{Time: d.varint()}
	d.actor(&c.Actor)
	copy(c.TokenHash[:], d.fixed(32))
	return c, d.finish()
}

// EncodeRole encodes c as a CmdRole command.
func EncodeRole(c *RoleCommand) []byte {
	b := []byte{CmdRole, codecVersion}
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = append(b, c.Address[:]...)
	return appendString(b, c.Role)
}

// DecodeRole decodes a CmdRole command strictly; errors wrap ErrBadCommand.
func DecodeRole(cmd []byte) (*RoleCommand, error) {
	d, err := newDec(cmd, CmdRole)
	if err != nil {
		return nil, err
	}
	c := &RoleCommand{Time: d.varint()}
	d.actor(&c.Actor)
	copy(c.Address[:], d.fixed(20))
	c.Role = d.str()
	return c, d.finish()
}

// Keys: a nonce n nonce24 → address20; a session Z hash32 → session; its expiry z exp8 hash32
// → ∅; a role Y addr20 → role record.
func nonceKey(n *Nonce) []byte        { return key(pNonce, n[:]) }
func sessionKey(h *[32]byte) []byte   { return key(pSession, h[:]) }
func roleKey(a common.Address) []byte { return key(pRole, a[:]) }
func sessionExpKey(exp int64, h *[32]byte) []byte {
	return key(pSessionExp, be64(uint64(exp)), h[:])
}

func (s *Session) encode() []byte {
	b := []byte{recVersion}
	b = append(b, s.Address[:]...)
	b = binary.AppendVarint(b, s.Created)
	return binary.AppendVarint(b, s.Expires)
}

func decodeSession(v []byte) (Session, error) {
	d := &dec{b: v}
	d.recordVersion()
	var s Session
	copy(s.Address[:], d.fixed(20))
	s.Created = d.varint()
	s.Expires = d.varint()
	return s, d.finish()
}

// roleRec is a wallet's role and when it was set.
type roleRec struct {
	role    string
	updated int64 // unix ns
	index   uint64
}

func (r *roleRec) encode() []byte {
	b := []byte{recVersion}
	b = appendString(b, r.role)
	b = binary.AppendVarint(b, r.updated)
	return binary.AppendUvarint(b, r.index)
}

func decodeRole(v []byte) (roleRec, error) {
	d := &dec{b: v}
	d.recordVersion()
	r := roleRec{role: d.str(), updated: d.varint(), index: d.uvarint()}
	if err := d.finish(); err != nil {
		return r, err
	}
	if !validRole(r.role) || r.role == "" {
		return r, fmt.Errorf("unknown role %q", r.role)
	}
	return r, nil
}

func validRole(r string) bool {
	switch r {
	case "", "viewer", "operator", "approver", "admin":
		return true
	}
	return false
}

func refusedAuth(format string, args ...any) *ValidationError {
	return &ValidationError{Code: CodeAuthInvalid, Message: fmt.Sprintf(format, args...)}
}

// applyNonce stores a nonce until it expires (or is used).
func (ac *applyContext) applyNonce(c *NonceCommand) (any, error) {
	exp := c.Nonce.Expires()
	if ve := checkCommandTime(c.Time); ve != nil {
		return ve, nil
	}
	if exp <= c.Time || exp-c.Time > MaxNonceTTL {
		return invalidf("nonce expiry must be within %s of the command", "15m"), nil
	}
	if c.Address == (common.Address{}) {
		return invalidf("nonce for the zero address"), nil
	}
	if _, ok, err := ac.get(nonceKey(&c.Nonce)); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return &ValidationError{Code: CodeConflict, Message: "nonce already issued"}, nil
	}
	if err := ac.pruneExpired(pNonce, c.Time); err != nil {
		return nil, err
	}
	return &SessionResult{}, ac.set(nonceKey(&c.Nonce), bytes.Clone(c.Address[:]))
}

// applyLogin consumes the nonce and opens the session.
func (ac *applyContext) applyLogin(c *LoginCommand) (any, error) {
	if ve := checkCommandTime(c.Time); ve != nil {
		return ve, nil
	}
	if c.Expires <= c.Time || c.Expires-c.Time > MaxSessionTTL {
		return invalidf("session expiry must be within 24h of the command"), nil
	}
	v, ok, err := ac.get(nonceKey(&c.Nonce))
	if err != nil {
		return nil, err
	}
	if !ok || c.Nonce.Expires() < c.Time {
		return refusedAuth("unknown, used or expired nonce: ask POST /v1/auth/nonce for a new one"), nil
	}
	if !bytes.Equal(v, c.Address[:]) {
		return refusedAuth("the nonce was issued for another address"), nil
	}
	sk := sessionKey(&c.TokenHash)
	if _, ok, err := ac.get(sk); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return &ValidationError{Code: CodeConflict, Message: "session token already in use"}, nil
	}
	if err := ac.del(nonceKey(&c.Nonce)); err != nil {
		return nil, err
	}
	s := Session{Address: c.Address, Created: c.Time, Expires: c.Expires}
	if err := ac.putSession(&c.TokenHash, &s, 0); err != nil {
		return nil, err
	}
	if err := ac.pruneExpired(pSessionExp, c.Time); err != nil {
		return nil, err
	}
	if err := ac.pruneExpired(pNonce, c.Time); err != nil {
		return nil, err
	}
	addr := chainlog.HexAddress(c.Address)
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "auth.login", "wallet:"+addr, nil, nil); err != nil {
		return nil, err
	}
	return &SessionResult{Changed: 1}, nil
}

// putSession writes s under h, moving its expiry index from oldExp (0: none).
func (ac *applyContext) putSession(h *[32]byte, s *Session, oldExp int64) error {
	if oldExp != 0 {
		if err := ac.del(sessionExpKey(oldExp, h)); err != nil {
			return err
		}
	}
	if err := ac.set(sessionKey(h), s.encode()); err != nil {
		return err
	}
	if err := ac.set(sessionExpKey(s.Expires, h), []byte{}); err != nil {
		return err
	}
	cp := *s
	ac.changes.Sessions = append(ac.changes.Sessions, SessionChange{TokenHash: *h, Session: &cp})
	return nil
}

func (ac *applyContext) deleteSession(h *[32]byte, exp int64) error {
	if err := ac.del(sessionKey(h)); err != nil {
		return err
	}
	if err := ac.del(sessionExpKey(exp, h)); err != nil {
		return err
	}
	ac.changes.Sessions = append(ac.changes.Sessions, SessionChange{TokenHash: *h})
	return nil
}

// session reads the session under h.
func (ac *applyContext) session(h *[32]byte) (Session, bool, error) {
	v, ok, err := ac.get(sessionKey(h))
	if err != nil || !ok {
		return Session{}, false, err
	}
	s, err := decodeSession(v)
	if err != nil {
		return Session{}, false, corrupt("session", err)
	}
	return s, true, nil
}

// applyTouch extends open sessions; it never reopens one.
func (ac *applyContext) applyTouch(c *TouchCommand) (any, error) {
	if ve := checkCommandTime(c.Time); ve != nil {
		return ve, nil
	}
	if len(c.Touches) > MaxTouches {
		return invalidf("at most %d sessions per touch", MaxTouches), nil
	}
	n := 0
	for i := range c.Touches {
		t := &c.Touches[i]
		if t.Expires-c.Time > MaxSessionTTL {
			return invalidf("session expiry must be within 24h of the command"), nil
		}
		s, ok, err := ac.session(&t.TokenHash)
		if err != nil {
			return nil, err
		}
		if !ok || s.Expires < c.Time || t.Expires <= s.Expires {
			continue
		}
		old := s.Expires
		s.Expires = t.Expires
		if err := ac.putSession(&t.TokenHash, &s, old); err != nil {
			return nil, err
		}
		n++
	}
	return &SessionResult{Changed: n}, ac.pruneExpired(pSessionExp, c.Time)
}

// applyLogout closes a session.
func (ac *applyContext) applyLogout(c *LogoutCommand) (any, error) {
	if ve := checkCommandTime(c.Time); ve != nil {
		return ve, nil
	}
	s, ok, err := ac.session(&c.TokenHash)
	if err != nil {
		return nil, err
	}
	if !ok || s.Expires < c.Time {
		return refusedAuth("no such session: it expired or was closed"), nil
	}
	if err := ac.deleteSession(&c.TokenHash, s.Expires); err != nil {
		return nil, err
	}
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "auth.logout", "wallet:"+chainlog.HexAddress(s.Address), nil, nil); err != nil {
		return nil, err
	}
	return &SessionResult{Changed: 1}, nil
}

// applyRole sets or removes a wallet's role, audited with the role before and after.
func (ac *applyContext) applyRole(c *RoleCommand) (any, error) {
	if ve := checkCommandTime(c.Time); ve != nil {
		return ve, nil
	}
	if !validRole(c.Role) {
		return invalidf("role %q: want viewer, operator, approver, admin, or empty to remove", c.Role), nil
	}
	if c.Address == (common.Address{}) {
		return invalidf("role for the zero address"), nil
	}
	if c.Actor.IsZero() {
		return invalidf("a role change needs an actor"), nil
	}
	k := roleKey(c.Address)
	var before string
	if v, ok, err := ac.get(k); err != nil {
		return nil, err
	} else if ok {
		r, err := decodeRole(v)
		if err != nil {
			return nil, corrupt("role", err)
		}
		before = r.role
	}
	if c.Role == "" {
		if before != "" {
			if err := ac.del(k); err != nil {
				return nil, err
			}
		}
	} else if err := ac.set(k, (&roleRec{role: c.Role, updated: c.Time, index: ac.index}).encode()); err != nil {
		return nil, err
	}
	ac.changes.Roles = append(ac.changes.Roles, RoleChange{Address: c.Address, Role: c.Role})
	js := func(r string) []byte {
		if r == "" {
			return []byte(`{"role":null}`)
		}
		return []byte(`{"role":"` + r + `"}`)
	}
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "role.set", "wallet:"+chainlog.HexAddress(c.Address), js(before), js(c.Role)); err != nil {
		return nil, err
	}
	return &RoleResult{Before: before}, nil
}

// pruneExpired deletes up to pruneLimit nonces (prefix pNonce) or sessions (pSessionExp) that
// expired before t. Both kinds of key start with the expiry.
func (ac *applyContext) pruneExpired(prefix byte, t int64) error {
	keys, err := ac.scanKeys([]byte{prefix}, key(prefix, be64(uint64(t))))
	if err != nil {
		return err
	}
	for i, k := range keys {
		if i == pruneLimit {
			break
		}
		if prefix == pNonce {
			if err := ac.del(k); err != nil {
				return err
			}
			continue
		}
		h := [32]byte(k[9:41])
		if err := ac.deleteSession(&h, int64(be64get(k[1:9]))); err != nil {
			return err
		}
	}
	return nil
}

// ReadSession returns the session under the token hash h, if any (expired or not).
func ReadSession(r kv.Reader, h [32]byte) (Session, bool, error) {
	v, err := r.Get(sessionKey(&h))
	if err != nil {
		if err == kv.ErrNotFound {
			return Session{}, false, nil
		}
		return Session{}, false, err
	}
	s, err := decodeSession(v)
	if err != nil {
		return Session{}, false, corrupt("session", err)
	}
	return s, true, nil
}

// RoleInfo is a wallet role granted through the API, as GET /v1/admin/roles lists it.
type RoleInfo struct {
	Address   string `json:"address"`
	Role      string `json:"role"`
	UpdatedAt string `json:"updatedAt"`
	Index     uint64 `json:"index"`
}

// Roles lists the wallet roles granted through the API, by address.
func Roles(r kv.Reader) ([]RoleInfo, error) {
	items := []RoleInfo{}
	var ferr error
	err := r.Scan([]byte{pRole}, []byte{pRole + 1}, false, func(k, v []byte) bool {
		rr, err := decodeRole(v)
		if err != nil || len(k) != 21 {
			ferr = corrupt("role", fmt.Errorf("%x: %v", k, err))
			return false
		}
		items = append(items, RoleInfo{Address: chainlog.HexAddress(common.Address(k[1:])), Role: rr.role, UpdatedAt: fmtUnixNano(rr.updated), Index: rr.index})
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	return items, nil
}

// ReadRole returns the role granted to a through the API ("" when none).
func ReadRole(r kv.Reader, a common.Address) (string, error) {
	v, err := r.Get(roleKey(a))
	if err != nil {
		if err == kv.ErrNotFound {
			return "", nil
		}
		return "", err
	}
	rr, err := decodeRole(v)
	if err != nil {
		return "", corrupt("role", err)
	}
	return rr.role, nil
}
