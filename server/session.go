package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/version"
)

// The wallet login endpoints (API.md, Sessions): the HTTP side of package auth, which checks
// signatures and holds the sessions. The leader serves them: the nonce and the session are
// replicated commands.

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
	addr, err := readmodel.ParseAddress(s)
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
	now := s.now()
	n, err := s.auth.NewNonce(now)
	if err != nil {
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
		Nonce: "0x" + hex.EncodeToString(n[:]), Message: s.auth.LoginMessage(addr, &n),
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
	if addr, err = readmodel.ParseAddress(req.Address); err != nil {
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

// authLogin opens a session for a wallet that signed the message of a nonce issued to it.
func (s *Server) authLogin(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	addr, n, sig, err := parseLogin(ctx.PostBody())
	if err != nil {
		return err
	}
	ip := clientIP(ctx, rc)
	if err := s.auth.FailedLoginAllowed(ip, addr); err != nil {
		return err
	}
	now := s.now()
	if n.Expires() <= now.UnixNano() {
		s.auth.LoginFailed("expired_nonce")
		return fmt.Errorf("%w: the nonce expired at %s; ask POST /v1/auth/nonce for a new one", errAuthInvalid, time.Unix(0, n.Expires()).UTC().Format(time.RFC3339))
	}
	if !s.auth.VerifyLogin(addr, &n, sig) {
		s.auth.RecordFailedLogin(ip, addr)
		s.auth.LoginFailed("bad_signature")
		s.auditFailedLogin(ctx, rc, addr, "bad_signature")
		return fmt.Errorf("%w: the signature is not %s's signature of the nonce's message", errAuthInvalid, strings.ToLower(addr.Hex()))
	}
	r, err := s.auth.WalletRole((*[20]byte)(&addr))
	if err != nil {
		return err
	}
	token, hash, exp, err := s.auth.NewSession(now)
	if err != nil {
		return err
	}
	actor := actorOf(ctx, rc)
	actor.Name, actor.Role = auth.WalletName(addr), r.String()
	res, err := s.propose(fund.EncodeLogin(&fund.LoginCommand{
		Time: now.UnixNano(), Actor: actor, Address: addr, Nonce: n, TokenHash: hash, Expires: exp,
	}))
	if err != nil {
		return err
	}
	if _, ok := res.Value.(*fund.SessionResult); !ok {
		s.auth.LoginFailed("refused") // the nonce was used, expired or issued to another address
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
	actor.Name, actor.Role = auth.WalletName(addr), auth.RoleNone.String()
	cmd := fund.EncodeAudit(&fund.AuditCommand{
		Time: s.now().UnixNano(), Actor: actor, Action: "auth.login_failed",
		Resource: auth.WalletName(addr), After: []byte(`{"reason":"` + reason + `"}`),
	})
	if _, err := s.propose(cmd); err != nil {
		s.logger.Warn("could not audit a failed login", "address", strings.ToLower(addr.Hex()), "error", err)
	}
}

// authLogout revokes the session of the request everywhere.
func (s *Server) authLogout(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if !rc.who.Session {
		return validation("only a wallet session can log out; static API tokens are revoked by removing them from the configuration", nil)
	}
	res, err := s.propose(fund.EncodeLogout(&fund.LogoutCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), TokenHash: rc.who.Key}))
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
	me := meResponse{Role: p.Role.String()}
	if p.Session {
		me.Address = strings.ToLower(common.Address(p.Wallet).Hex())
		me.ExpiresAt = time.Unix(0, p.Expires).UTC().Format(time.RFC3339)
	} else {
		me.Name = p.Name
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
	if r == "none" {
		r = ""
	} else if _, ok := auth.ParseRole(r); !ok {
		return validation(fmt.Sprintf("role %.40q: want %s, or none (removes the role)", req.Role, auth.RoleNames), nil)
	}
	if err := s.roleAllowed(r); err != nil {
		return err
	}
	res, err := s.propose(fund.EncodeRole(&fund.RoleCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Address: addr, Role: r}))
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
	eff, err := s.auth.WalletRole((*[20]byte)(&addr))
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

// approverSince is the cluster version from which every member applies a CmdRole that grants
// approver (v0.1.0 refuses it: granted earlier, the members' states would differ). The store
// refuses such a command too (fund.CommandVersion); this check answers before anything is
// proposed, with the same mid-upgrade error.
const approverSince = "0.2"

// roleAllowed refuses to grant approver while the replicated cluster version is below
// approverSince, when the store reports one (a store that does not predates mixed versions).
func (s *Server) roleAllowed(role string) error {
	if role != "approver" {
		return nil
	}
	cv, ok := s.store.(interface{ ClusterVersion() string })
	if !ok {
		return nil
	}
	if v := cv.ClusterVersion(); version.Compare(v, approverSince) < 0 {
		return fmt.Errorf("%w: the approver role needs cluster version %s (every member on v0.2.0 or later); this cluster is at %s",
			raftstore.ErrMidUpgrade, approverSince, v)
	}
	return nil
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
	wallets := s.auth.BootstrapWallets()
	bootstrap := make([]boot, 0, len(wallets))
	for _, w := range wallets {
		bootstrap = append(bootstrap, boot{strings.ToLower(common.Address(w.Address).Hex()), w.Role})
	}
	return s.writeJSON(ctx, struct {
		Items     []fund.RoleInfo `json:"items"`
		Bootstrap []boot          `json:"bootstrap"`
	}{granted, bootstrap}, v.Index)
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
		case <-s.auth.Touches().Wake():
		}
		select {
		case <-stop:
			return
		case <-time.After(touchDelay):
		}
		for {
			batch := s.auth.Touches().Take(s.now().UnixNano())
			if len(batch) == 0 {
				break
			}
			if err := s.flushTouches(batch); err != nil {
				s.auth.Extended(len(batch), false)
				s.logger.Warn("session extension failed; retried on next use", "sessions", len(batch), "error", err)
				break
			}
		}
	}
}

func (s *Server) flushTouches(batch []fund.Touch) error {
	cmd := fund.EncodeTouch(&fund.TouchCommand{Time: s.now().UnixNano(), Touches: batch})
	if s.store.IsLeader() {
		res, err := s.propose(cmd)
		if err != nil {
			return err
		}
		if _, ok := res.Value.(*fund.SessionResult); !ok {
			return resultError(res.Value)
		}
		s.auth.Extended(len(batch), true)
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
	s.auth.Extended(len(batch), true)
	return nil
}

// clusterTouch proposes the session extensions a follower sends (a CmdTouch encoding; the
// leader stamps it with its own clock).
func (s *Server) clusterTouch(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if !rc.who.Cluster || rc.who.Via == "" {
		return fmt.Errorf("%w: %s is for cluster members", errForbidden, ctx.Path())
	}
	c, err := fund.DecodeTouch(ctx.PostBody())
	if err != nil {
		return validation("malformed touch command: "+err.Error(), nil)
	}
	c.Time = s.now().UnixNano()
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
