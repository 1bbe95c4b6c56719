package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/fund"
)

// Wallet login (API.md, Sessions). A client asks for a nonce for its address, signs the
// returned message with personal_sign (EIP-191), and trades address, nonce and signature for a
// session token. The node that serves the login (the leader: the nonce and the session are
// replicated commands) checks the signature before it proposes anything; the state machine
// decides, in log order, that the nonce was issued for that address, is unexpired and is used
// once. The token is random, handed to the client only, and stored as its SHA-256, so neither
// the log, the replicas nor PostgreSQL can give a usable token away.
//
// A session is extended when used, at coarse granularity: once SessionExtendAfter of its
// lifetime has passed, the node that sees it in use queues one extension (TouchQueue), never a
// write per request.

// ErrSessionUnknown: a session token this node has not applied (yet). It is ErrSessionInvalid
// unless CheckUnknownSession finds it after catching up with the leader.
var ErrSessionUnknown = fmt.Errorf("%w (not known on this node)", ErrSessionInvalid)

// sessionPrincipal resolves a session token into *p; use says the session is being used (a
// request, an auth frame), which extends it when due; now is the request's time.
func (a *Auth) sessionPrincipal(tok []byte, use bool, now int64, p *Principal) error {
	e, ok := a.sessions.cachedToken(tok)
	if !ok {
		key := sha256.Sum256(tok)
		if err := a.sessionByHash(key, use, now, p); err != nil {
			return err
		}
		a.sessions.learn(tok, key)
		return nil
	}
	r := Role(e.role.Load())
	if len(a.wallets) > 0 {
		r = Higher(r, a.wallets[e.addr])
	}
	return a.checkSession(&e.hash, &e.addr, e.expires.Load(), r, use, now, p)
}

// sessionByHash resolves a session by its token's hash into *p, reading the replica on a miss.
func (a *Auth) sessionByHash(key [32]byte, use bool, now int64, p *Principal) error {
	sess, ok, err := a.sessions.session(&key, a.readState)
	if err != nil {
		return err
	}
	if !ok {
		return ErrSessionUnknown
	}
	r, err := a.WalletRole((*[20]byte)(&sess.Address))
	if err != nil {
		return err
	}
	return a.checkSession(&key, (*[20]byte)(&sess.Address), sess.Expires, r, use, now, p)
}

// checkSession refuses an expired session, queues the extension of one in use when due, and
// fills *p (r is the effective role).
func (a *Auth) checkSession(key *[32]byte, addr *[20]byte, expires int64, r Role, use bool, now int64, p *Principal) error {
	if expires <= now {
		return ErrSessionInvalid
	}
	if use && time.Duration(expires-now) < a.cfg.SessionTTL-a.cfg.SessionExtendAfter {
		a.touches.add(key, now, now+int64(a.cfg.SessionTTL))
	}
	p.Role, p.Key, p.Session, p.Wallet, p.Expires = r, *key, true, *addr, expires
	return nil
}

// CheckUnknownSession looks for a session token this node did not know once more, after
// catching up with the leader's commit: a session opened through another node a moment ago
// may not be applied here yet. Each check spends the client's unknown-session budget (key:
// IPKey of its address), so random tokens cannot make a node call the leader at will; a
// refused check is ErrSessionInvalid, as before the check. When the leader cannot be asked,
// it returns the replica's CatchUp error (the token is neither known nor refused). now is the
// request's time.
func (a *Auth) CheckUnknownSession(ctx context.Context, tok []byte, client *[32]byte, now int64, p *Principal) error {
	b := a.replica.Load()
	if b == nil {
		return ErrSessionInvalid
	}
	if err := a.limits.Load().unknownSessions.allow(client, a.now()); err != nil {
		return ErrSessionInvalid
	}
	a.metrics.catchUps.Inc()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.CatchUpTimeout)
	defer cancel()
	if err := b.r.CatchUp(ctx); err != nil {
		// Not a refusal: the session may well exist (there is no leader to ask right now, say).
		// The replica's error says what happened; the caller answers it (the server: 503).
		a.metrics.catchUpFailures.Inc()
		a.logger.Debug("could not catch up with the leader for an unknown session", "error", err)
		return err
	}
	via := p.Via
	*p = Principal{Via: via}
	err := a.sessionPrincipal(tok, true, now, p)
	if errors.Is(err, ErrSessionUnknown) {
		return ErrSessionInvalid
	}
	if err == nil {
		a.metrics.caughtUp.Inc()
	}
	return err
}

// WalletRole is a wallet's effective role: the higher of its bootstrap role (config) and the
// role granted through the API (replicated).
func (a *Auth) WalletRole(w *[20]byte) (Role, error) {
	r, err := a.sessions.role(w, a.readState)
	if err != nil {
		return RoleNone, err
	}
	return Higher(r, a.wallets[*w]), nil
}

// BootstrapWallets returns the bootstrap wallet roles, sorted by address.
func (a *Auth) BootstrapWallets() []Wallet {
	out := make([]Wallet, 0, len(a.wallets))
	for w, r := range a.wallets {
		out = append(out, Wallet{Address: w, Role: r.String()})
	}
	slices.SortFunc(out, func(x, y Wallet) int { return strings.Compare(string(x.Address[:]), string(y.Address[:])) })
	return out
}

// NewNonce returns a fresh login nonce issued at now: its expiry, then random bytes.
func (a *Auth) NewNonce(now time.Time) (fund.Nonce, error) {
	var n fund.Nonce
	binary.BigEndian.PutUint64(n[:8], uint64(now.Add(a.cfg.NonceTTL).UnixNano()))
	_, err := rand.Read(n[8:])
	return n, err
}

// LoginMessage is the text a wallet signs: the service, the address, the chain, the nonce and
// its expiry. The node rebuilds it from the login request, so it is never stored.
func (a *Auth) LoginMessage(addr common.Address, n *fund.Nonce) string {
	var b strings.Builder
	b.WriteString(a.cfg.Service)
	b.WriteString(" wants you to sign in with your wallet:\n")
	b.WriteString(strings.ToLower(addr.Hex()))
	b.WriteString("\n\nSigning in sends no transaction and costs no gas.\n\nChain ID: ")
	fmt.Fprintf(&b, "%d\nNonce: 0x%x\nExpires At: %s", a.cfg.ChainID, n[:], time.Unix(0, n.Expires()).UTC().Format(time.RFC3339))
	return b.String()
}

// VerifyLogin reports whether sig (r, s, v with v 0 or 1) is addr's personal_sign of the
// login message of nonce n.
func (a *Auth) VerifyLogin(addr common.Address, n *fund.Nonce, sig []byte) bool {
	signer, ok := RecoverSigner(a.LoginMessage(addr, n), sig)
	return ok && signer == addr
}

// RecoverSigner returns the address whose key signed msg with personal_sign (EIP-191).
func RecoverSigner(msg string, sig []byte) (common.Address, bool) {
	if len(sig) != 65 {
		return common.Address{}, false
	}
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

// NewSession returns a new session token, its SHA-256 (what the log keeps) and its expiry
// for a login at now.
func (a *Auth) NewSession(now time.Time) (token string, hash [32]byte, expires int64, err error) {
	var raw [32]byte
	if _, err = rand.Read(raw[:]); err != nil {
		return
	}
	token = SessionPrefix + hex.EncodeToString(raw[:])
	return token, sha256.Sum256([]byte(token)), now.Add(a.cfg.SessionTTL).UnixNano(), nil
}

// Applied keeps the session cache in step with a committed batch (fund.Observer): logouts,
// extensions and role changes hold on this node from the index that made them.
func (a *Auth) Applied(ch *fund.Changes) { a.sessions.applied(ch) }

// Restored forgets every cached session and role: a snapshot replaced the state.
func (a *Auth) Restored() { a.sessions.reset() }

// Touches is the queue of session extensions due, which the server proposes in batches.
func (a *Auth) Touches() *TouchQueue { return a.touches }

// LoginFailed counts a refused login by reason: "bad_signature", "expired_nonce" or "refused".
func (a *Auth) LoginFailed(reason string) {
	switch reason {
	case "bad_signature":
		a.metrics.badSignature.Inc()
	case "expired_nonce":
		a.metrics.expiredNonce.Inc()
	default:
		a.metrics.refused.Inc()
	}
}

// Extended counts sessions extended (ok) or whose extension failed.
func (a *Auth) Extended(n int, ok bool) {
	if ok {
		a.metrics.extended.Add(n)
	} else {
		a.metrics.extendFailed.Add(n)
	}
}
