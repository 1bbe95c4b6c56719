package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"
)

// role is an authorization level; higher includes lower.
type role uint8

const (
	roleNone role = iota
	roleViewer
	roleOperator
	roleAdmin
)

func (r role) String() string {
	switch r {
	case roleViewer:
		return "viewer"
	case roleOperator:
		return "operator"
	case roleAdmin:
		return "admin"
	}
	return "none"
}

func parseRole(s string) (role, bool) {
	switch s {
	case "viewer":
		return roleViewer, true
	case "operator":
		return roleOperator, true
	case "admin":
		return roleAdmin, true
	}
	return roleNone, false
}

// principal is who a request comes from. The zero principal is anonymous.
type principal struct {
	name string
	role role
	// cluster marks a member node (a signed request without a user token) or an operator
	// presenting the cluster secret: such a principal may use the cluster endpoints only.
	cluster bool
	// via is the member that forwarded the request, when one did.
	via string
	// key identifies the credential for rate limits: the SHA-256 of the token (static or
	// session); zero for anonymous requests and member calls, which are limited by IP.
	key [32]byte
	// session marks a wallet session: wallet is its address, expires its expiry (unix ns).
	session bool
	wallet  [20]byte
	expires int64
}

// authenticated says whether the request presented a valid credential of any kind.
func (p *principal) authenticated() bool { return p.name != "" || p.session }

// label names the principal in the audit log and in logs.
func (p *principal) label() string {
	if p.session {
		return walletName(common.Address(p.wallet))
	}
	return p.name
}

var bearer = []byte("Bearer ")

// authenticate resolves the Authorization header. No header is anonymous; a header that is
// not a known token is AUTH_INVALID, even on a public route, so a client learns at once that
// its token is wrong. It does not allocate.
//
// A request signed by a member (cluster.go) is either forwarded on behalf of a client, whose
// own token is then checked as usual, or the member's own call to a cluster endpoint.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (principal, error) {
	var via string
	if len(ctx.Request.Header.Peek(hdrCluster)) > 0 {
		if via = s.clusterPeer(ctx); via == "" {
			return principal{}, fmt.Errorf("%w: bad or expired cluster signature", errAuthInvalid)
		}
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) == 0 {
		if via != "" {
			return principal{name: "node:" + via, role: roleAdmin, cluster: true, via: via}, nil
		}
		return principal{}, nil
	}
	if len(h) <= len(bearer) || !bytes.EqualFold(h[:len(bearer)], bearer) {
		return principal{}, errAuthInvalid
	}
	tok := bytes.TrimSpace(h[len(bearer):])
	if len(tok) == 0 || len(tok) > 512 {
		return principal{}, errAuthInvalid
	}
	key := sha256Token(tok)
	if bytes.HasPrefix(tok, []byte(sessionPrefix)) {
		p, err := s.sessionPrincipal(key, true)
		p.via = via
		return p, err
	}
	p, ok := s.tokens[key]
	if !ok {
		if s.isClusterSecret(tok) {
			return principal{name: "cluster-secret", role: roleAdmin, cluster: true}, nil
		}
		return principal{}, errAuthInvalid
	}
	p.via, p.key = via, key
	return p, nil
}

// TokenHash returns the hex SHA-256 of a token, the form [[auth.tokens]] sha256 takes.
func TokenHash(tok string) string {
	sum := sha256Token([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a random API token and its hex SHA-256, for `paimon token`.
func NewToken() (token, sha256Hex string) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	token = "pmn_" + hex.EncodeToString(b[:])
	return token, TokenHash(token)
}
