package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/valyala/fasthttp"

	"paimon/fund"
	"paimon/kv"
)

// Wallet login (API.md, Sessions). A client asks for a nonce for its address, signs the
// returned message with personal_sign (EIP-191), and trades address, nonce and signature for a
// session token. The node that serves the login (the leader: the nonce and the session are
// replicated commands) checks the signature before it proposes anything; the state machine
// decides, in log order, that the nonce was issued for that address, is unexpired and is used
// once. The token is random, handed to the client only, and stored as its SHA-256, so neither
// the log, the replicas nor PostgreSQL can give a usable token away.
//
// A session is extended when used, at coarse granularity: once auth.session_extend_after of its
// lifetime has passed, the node that sees it in use queues one CmdTouch for it (batched with
// the other sessions in use, forwarded to the leader by followers), never a write per request.

// sessionPrefix starts every session token; static API tokens start with "pmn_".
const sessionPrefix = "pms_"

// Wallet is a bootstrap role for a wallet address (config [[auth.wallets]]).
type Wallet struct {
	Address [20]byte
	Role    string
}

// errSessionInvalid: a session token that is unknown, expired or revoked.
var errSessionInvalid = fmt.Errorf("%w: unknown, expired or revoked session; log in again", errAuthInvalid)

// readReplica opens a read view of the local replica for the session cache.
func (s *Server) readReplica() (kv.Reader, func(), error) {
	v, err := s.store.Read()
	if err != nil {
		return nil, nil, err
	}
	return v, func() { v.Close() }, nil
}

// sessionPrincipal resolves a session token into *p (zero on entry); use says the session is
// being used (a request, an auth frame), which extends it when due; now is the request's time.
func (s *Server) sessionPrincipal(tok []byte, use bool, now int64, p *principal) error {
	e, ok := s.sessions.cachedToken(tok)
	if !ok {
		key := sha256Token(tok)
		if err := s.sessionByHash(key, use, now, p); err != nil {
			return err
		}
		s.sessions.learn(tok, key)
		return nil
	}
	r := role(e.role.Load())
	if len(s.wallets) > 0 {
		r = max(r, s.wallets[e.addr])
	}
	return s.checkSession(&e.hash, &e.addr, e.expires.Load(), r, use, now, p)
}

// sessionByHash resolves a session by its token's hash into *p, reading the replica on a miss.
func (s *Server) sessionByHash(key [32]byte, use bool, now int64, p *principal) error {
	sess, ok, err := s.sessions.session(&key, s.readReplica)
	if err != nil {
		return err
	}
	if !ok {
		return errSessionInvalid
	}
	r, err := s.walletRole((*[20]byte)(&sess.Address))
	if err != nil {
		return err
	}
	return s.checkSession(&key, (*[20]byte)(&sess.Address), sess.Expires, r, use, now, p)
}

// checkSession refuses an expired session, queues the extension of one in use when due, and
// fills *p (r is the effective role).
func (s *Server) checkSession(key *[32]byte, addr *[20]byte, expires int64, r role, use bool, now int64, p *principal) error {
	if expires <= now {
		return errSessionInvalid
	}
	if use && time.Duration(expires-now) < s.cfg.SessionTTL-s.cfg.SessionExtendAfter {
		s.touches.add(key, now, now+int64(s.cfg.SessionTTL))
	}
	p.role, p.key, p.session, p.wallet, p.expires = r, *key, true, *addr, expires
	return nil
}

// walletRole is a wallet's effective role: the higher of its bootstrap role (config) and the
// role granted through the API (replicated).
func (s *Server) walletRole(a *[20]byte) (role, error) {
	r, err := s.sessions.role(a, s.readReplica)
	if err != nil {
		return roleNone, err
	}
	return max(r, s.wallets[*a]), nil
}

// loginMessage is the text a wallet signs: the service, the address, the chain, the nonce and
// its expiry. The node rebuilds it from the login request, so it is never stored.
func (s *Server) loginMessage(addr common.Address, n *fund.Nonce) string {
	var b strings.Builder
	b.WriteString(s.cfg.Service)
	b.WriteString(" wants you to sign in with your wallet:\n")
	b.WriteString(strings.ToLower(addr.Hex()))
	b.WriteString("\n\nSigning in sends no transaction and costs no gas.\n\nChain ID: ")
	fmt.Fprintf(&b, "%d\nNonce: 0x%x\nExpires At: %s", s.cfg.ChainID, n[:], time.Unix(0, n.Expires()).UTC().Format(time.RFC3339))
	return b.String()
}

type nonceRequest struct {
	Address string `json:"address"`
}

type nonceResponse struct {
	Nonce     string `json:"nonce"`
	Message   string `json:"message"`
	ExpiresAt string `json:"expiresAt"`
	Index     uint64 `json:"index"`
}

// parseWallet parses a wallet address of a request body; the zero address is refused.
func parseWallet(s string) (common.Address, error) {
	addr, err := fund.ParseAddress(s)
	if err != nil {
		return addr, err
	}
	if addr == (common.Address{}) {
		return addr, validation("address must not be the zero address", nil)
	}
	return addr, nil
}

// authNonce issues a single-use login nonce for an address.
func (s *Server) authNonce(ctx *fasthttp.RequestCtx) error {
	var req nonceRequest
	if err := decodeStrict(ctx.PostBody(), &req); err != nil {
		return err
	}
	addr, err := parseWallet(req.Address)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var n fund.Nonce
	binary.BigEndian.PutUint64(n[:8], uint64(now.Add(s.cfg.NonceTTL).UnixNano()))
	if _, err := rand.Read(n[8:]); err != nil {
		return err
	}
	res, err := s.propose(fund.EncodeNonce(&fund.NonceCommand{Time: now.UnixNano(), Address: addr, Nonce: n}))
	if err != nil {
		return err
	}
	if _, ok := res.Value.(*fund.SessionResult); !ok {
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, nonceResponse{
		Nonce: "0x" + hex.EncodeToString(n[:]), Message: s.loginMessage(addr, &n),
		ExpiresAt: time.Unix(0, n.Expires()).UTC().Format(time.RFC3339), Index: res.Index,
	}, res.Index)
}

type loginRequest struct {
	Address   string `json:"address"`
	Signature string `json:"signature"`
	Nonce     string `json:"nonce"`
}

type loginResponse struct {
	Token     string `json:"token"`
	Address   string `json:"address"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expiresAt"`
	Index     uint64 `json:"index"`
}

// parseLogin validates a login body: the address, the nonce (0x + 48 hex digits) and the
// signature (0x + 130 hex digits: r, s and v, v being 0, 1, 27 or 28).
func parseLogin(body []byte) (addr common.Address, n fund.Nonce, sig []byte, err error) {
	var req loginRequest
	if err = decodeStrict(body, &req); err != nil {
		return
	}
	if addr, err = fund.ParseAddress(req.Address); err != nil {
		return
	}
	nb, ok := hex0x(req.Nonce, fund.NonceLen)
	if !ok {
		err = validation("nonce must be 0x followed by 48 hex digits, as POST /v1/auth/nonce returned it", nil)
		return
	}
	n = fund.Nonce(nb)
	if sig, ok = hex0x(req.Signature, 65); !ok {
		err = validation("signature must be 0x followed by 130 hex digits (65 bytes: r, s, v)", nil)
		return
	}
	switch sig[64] {
	case 0, 1:
	case 27, 28:
		sig[64] -= 27
	default:
		err = validation("signature recovery id v must be 0, 1, 27 or 28", nil)
	}
	return
}

// hex0x decodes "0x" followed by exactly 2n hex digits.
func hex0x(s string, n int) ([]byte, bool) {
	if len(s) != 2+2*n || (s[:2] != "0x" && s[:2] != "0X") {
		return nil, false
	}
	b, err := hex.DecodeString(s[2:])
	return b, err == nil
}

// recoverSigner returns the address whose key signed msg with personal_sign.
func recoverSigner(msg string, sig []byte) (common.Address, bool) {
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(sig[64], r, sv, true) {
		return common.Address{}, false
	}
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), sig)
	if err != nil {
		return common.Address{}, false
	}
	return crypto.PubkeyToAddress(*pub), true
}

// authLogin opens a session for a wallet that signed the message of a nonce issued to it.
func (s *Server) authLogin(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	addr, n, sig, err := parseLogin(ctx.PostBody())
	if err != nil {
		return err
	}
	ip := clientIP(ctx, rc)
	if ok, wait := s.failedLoginAllowed(ip, addr); !ok {
		return &rateLimitError{budget: "failed_logins", retryAfter: wait}
	}
	now := s.cfg.Now()
	if n.Expires() <= now.UnixNano() {
		s.authm.expiredNonce.Inc()
		return fmt.Errorf("%w: the nonce expired at %s; ask POST /v1/auth/nonce for a new one", errAuthInvalid, time.Unix(0, n.Expires()).UTC().Format(time.RFC3339))
	}
	if signer, ok := recoverSigner(s.loginMessage(addr, &n), sig); !ok || signer != addr {
		s.recordFailedLogin(ip, addr)
		s.authm.badSignature.Inc()
		s.auditFailedLogin(ctx, rc, addr, "bad_signature")
		return fmt.Errorf("%w: the signature is not %s's signature of the nonce's message", errAuthInvalid, strings.ToLower(addr.Hex()))
	}
	r, err := s.walletRole((*[20]byte)(&addr))
	if err != nil {
		return err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	token := sessionPrefix + hex.EncodeToString(raw[:])
	exp := now.Add(s.cfg.SessionTTL).UnixNano()
	actor := actorOf(ctx, rc)
	actor.Name, actor.Role = walletName(addr), r.String()
	res, err := s.propose(fund.EncodeLogin(&fund.LoginCommand{
		Time: now.UnixNano(), Actor: actor, Address: addr, Nonce: n, TokenHash: sha256Token([]byte(token)), Expires: exp,
	}))
	if err != nil {
		return err
	}
	if _, ok := res.Value.(*fund.SessionResult); !ok {
		s.authm.refused.Inc() // the nonce was used, expired or issued to another address
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, loginResponse{
		Token: token, Address: strings.ToLower(addr.Hex()), Role: r.String(),
		ExpiresAt: time.Unix(0, exp).UTC().Format(time.RFC3339), Index: res.Index,
	}, res.Index)
}

// auditFailedLogin records a refused login (best effort: the refusal stands either way). The
// failed-login budget bounds how many such entries one client can cause.
func (s *Server) auditFailedLogin(ctx *fasthttp.RequestCtx, rc *reqCtx, addr common.Address, reason string) {
	actor := actorOf(ctx, rc)
	actor.Name, actor.Role = walletName(addr), roleNone.String()
	cmd := fund.EncodeAudit(&fund.AuditCommand{
		Time: s.cfg.Now().UnixNano(), Actor: actor, Action: "auth.login_failed",
		Resource: walletName(addr), After: []byte(`{"reason":"` + reason + `"}`),
	})
	if _, err := s.propose(cmd); err != nil {
		s.logger.Warn("could not audit a failed login", "address", strings.ToLower(addr.Hex()), "error", err)
	}
}

func walletName(a common.Address) string { return "wallet:" + strings.ToLower(a.Hex()) }

// authLogout revokes the session of the request everywhere.
func (s *Server) authLogout(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if !rc.who.session {
		return validation("only a wallet session can log out; static API tokens are revoked by removing them from the configuration", nil)
	}
	res, err := s.propose(fund.EncodeLogout(&fund.LogoutCommand{Time: s.cfg.Now().UnixNano(), Actor: actorOf(ctx, rc), TokenHash: rc.who.key}))
	if err != nil {
		return err
	}
	if _, ok := res.Value.(*fund.SessionResult); !ok {
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, struct {
		Index uint64 `json:"index"`
	}{res.Index}, res.Index)
}

type meResponse struct {
	Address   string `json:"address,omitempty"`
	Name      string `json:"name,omitempty"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// authMe describes the request's identity: a session's wallet, role and expiry, or a static
// token's name and role.
func (s *Server) authMe(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	p := &rc.who
	me := meResponse{Role: p.role.String()}
	if p.session {
		me.Address = strings.ToLower(common.Address(p.wallet).Hex())
		me.ExpiresAt = time.Unix(0, p.expires).UTC().Format(time.RFC3339)
	} else {
		me.Name = p.name
	}
	return s.writeJSON(ctx, me, s.store.AppliedIndex())
}

type roleRequest struct {
	Address string `json:"address"`
	Role    string `json:"role"`
}

// postRole grants, changes or (role "none") removes a wallet's role, audited in the same entry.
func (s *Server) postRole(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	var req roleRequest
	if err := decodeStrict(ctx.PostBody(), &req); err != nil {
		return err
	}
	addr, err := parseWallet(req.Address)
	if err != nil {
		return err
	}
	r := req.Role
	switch r {
	case "viewer", "operator", "admin":
	case "none":
		r = ""
	default:
		return validation(fmt.Sprintf("role %.40q: want viewer, operator, admin or none (removes the role)", req.Role), nil)
	}
	res, err := s.propose(fund.EncodeRole(&fund.RoleCommand{Time: s.cfg.Now().UnixNano(), Actor: actorOf(ctx, rc), Address: addr, Role: r}))
	if err != nil {
		return err
	}
	rr, ok := res.Value.(*fund.RoleResult)
	if !ok {
		return resultError(res.Value)
	}
	before := rr.Before
	if before == "" {
		before = "none"
	}
	eff, err := s.walletRole((*[20]byte)(&addr))
	if err != nil {
		return err
	}
	return s.writeJSON(ctx, struct {
		Index     uint64 `json:"index"`
		Address   string `json:"address"`
		Role      string `json:"role"`
		Before    string `json:"before"`
		Effective string `json:"effective"`
	}{res.Index, strings.ToLower(addr.Hex()), req.Role, before, eff.String()}, res.Index)
}

// getRoles lists the roles granted through the API and the bootstrap roles of the config.
func (s *Server) getRoles(ctx *fasthttp.RequestCtx) error {
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	granted, err := fund.Roles(v)
	if err != nil {
		return err
	}
	type boot struct {
		Address string `json:"address"`
		Role    string `json:"role"`
	}
	bootstrap := make([]boot, 0, len(s.wallets))
	for a, r := range s.wallets {
		bootstrap = append(bootstrap, boot{strings.ToLower(common.Address(a).Hex()), r.String()})
	}
	slices.SortFunc(bootstrap, func(a, b boot) int { return strings.Compare(a.Address, b.Address) })
	return s.writeJSON(ctx, struct {
		Items     []fund.RoleInfo `json:"items"`
		Bootstrap []boot          `json:"bootstrap"`
	}{granted, bootstrap}, v.Index)
}

// touchQueue batches session extensions.
type touchQueue struct {
	mu      sync.Mutex
	pending map[[32]byte]int64
	// recent holds when each session was last queued, so that the requests between its
	// flush and the extension's apply do not queue it again.
	recent map[[32]byte]int64
	wake   chan struct{}
}

// touchQuiet is how long a queued session is not queued again.
const touchQuiet = int64(time.Minute)

func newTouchQueue() *touchQueue {
	return &touchQueue{pending: map[[32]byte]int64{}, recent: map[[32]byte]int64{}, wake: make(chan struct{}, 1)}
}

// add queues an extension of the session under h to exp, once per touchQuiet.
func (q *touchQueue) add(h *[32]byte, now, exp int64) {
	q.mu.Lock()
	_, dup := q.pending[*h]
	if last, ok := q.recent[*h]; ok && now-last < touchQuiet && now >= last {
		dup = true
	}
	if !dup && len(q.pending) < 100_000 {
		q.pending[*h] = exp
		q.recent[*h] = now
	}
	q.mu.Unlock()
	if !dup {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take removes up to fund.MaxTouches queued extensions (and forgets sessions queued long ago).
func (q *touchQueue) take(now int64) []fund.Touch {
	q.mu.Lock()
	defer q.mu.Unlock()
	for h, t := range q.recent {
		if now-t >= touchQuiet || now < t {
			delete(q.recent, h)
		}
	}
	out := make([]fund.Touch, 0, min(len(q.pending), fund.MaxTouches))
	for h, exp := range q.pending {
		if len(out) == fund.MaxTouches {
			break
		}
		out = append(out, fund.Touch{TokenHash: h, Expires: exp})
		delete(q.pending, h)
	}
	return out
}

// touchDelay gathers the extensions of one interval into one command.
const touchDelay = 200 * time.Millisecond

// runTouches proposes queued session extensions until stop is closed: on the leader directly,
// on a follower through the leader's POST /v1/cluster/touch. A batch that fails is dropped:
// its sessions are queued again on their next use.
func (s *Server) runTouches(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-s.touches.wake:
		}
		select {
		case <-stop:
			return
		case <-time.After(touchDelay):
		}
		for {
			batch := s.touches.take(s.cfg.Now().UnixNano())
			if len(batch) == 0 {
				break
			}
			if err := s.flushTouches(batch); err != nil {
				s.authm.extendFailed.Add(len(batch))
				s.logger.Warn("session extension failed; retried on next use", "sessions", len(batch), "error", err)
				break
			}
		}
	}
}

func (s *Server) flushTouches(batch []fund.Touch) error {
	cmd := fund.EncodeTouch(&fund.TouchCommand{Time: s.cfg.Now().UnixNano(), Touches: batch})
	if s.store.IsLeader() {
		res, err := s.propose(cmd)
		if err != nil {
			return err
		}
		if _, ok := res.Value.(*fund.SessionResult); !ok {
			return resultError(res.Value)
		}
		s.authm.extended.Add(len(batch))
		return nil
	}
	_, addr := s.store.LeaderHTTPAddr()
	if addr == "" {
		return errors.New("no leader")
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI(s.peerURL(addr, "/v1/cluster/touch"))
	req.Header.SetContentType("application/octet-stream")
	req.SetBody(cmd)
	s.signCluster(req)
	if err := s.peers.DoTimeout(req, resp, s.cfg.ApplyTimeout+2*time.Second); err != nil {
		return fmt.Errorf("touch through the leader at %s: %w", addr, err)
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("touch through the leader at %s: %d %s", addr, resp.StatusCode(), resp.Body())
	}
	s.authm.extended.Add(len(batch))
	return nil
}

// clusterTouch proposes the session extensions a follower sends (a CmdTouch encoding; the
// leader stamps it with its own clock).
func (s *Server) clusterTouch(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if !rc.who.cluster || rc.who.via == "" {
		return fmt.Errorf("%w: %s is for cluster members", errForbidden, ctx.Path())
	}
	c, err := fund.DecodeTouch(ctx.PostBody())
	if err != nil {
		return validation("malformed touch command: "+err.Error(), nil)
	}
	c.Time = s.cfg.Now().UnixNano()
	res, err := s.propose(fund.EncodeTouch(c))
	if err != nil {
		return err
	}
	sr, ok := res.Value.(*fund.SessionResult)
	if !ok {
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, struct {
		Changed int    `json:"changed"`
		Index   uint64 `json:"index"`
	}{sr.Changed, res.Index}, res.Index)
}
