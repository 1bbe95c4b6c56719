package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"

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
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, p *principal) error {
	var via string
	if len(ctx.Request.Header.Peek(hdrCluster)) > 0 {
		if via = s.clusterPeer(ctx); via == "" {
			return fmt.Errorf("%w: bad or expired cluster signature", errAuthInvalid)
		}
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) == 0 {
		if via != "" {
			*p = principal{name: "node:" + via, role: roleAdmin, cluster: true, via: via}
		}
		return nil
	}
	if len(h) <= len(bearer) || !bytes.EqualFold(h[:len(bearer)], bearer) {
		return errAuthInvalid
	}
	tok := bytes.TrimSpace(h[len(bearer):])
	if len(tok) == 0 || len(tok) > 512 {
		return errAuthInvalid
	}
	p.via = via
	if bytes.HasPrefix(tok, []byte(sessionPrefix)) {
		return s.sessionPrincipal(tok, true, s.requestTime(ctx), p)
	}
	if m := s.knownTokens.Load(); m != nil {
		if k, ok := (*m)[string(tok)]; ok {
			*p = k
			p.via = via
			return nil
		}
	}
	key := sha256Token(tok)
	k, ok := s.tokens[key]
	if !ok {
		if s.isClusterSecret(tok) {
			*p = principal{name: "cluster-secret", role: roleAdmin, cluster: true}
			return nil
		}
		return errAuthInvalid
	}
	k.key = key
	s.learnToken(tok, k)
	*p = k
	p.via = via
	return nil
}

// maxKnownTokens bounds the static tokens remembered raw: only configured tokens are, so a
// handful in practice.
const maxKnownTokens = 1024

// learnToken remembers a verified static token by its raw bytes, so that its next requests
// skip the SHA-256 (copy on write: readers never lock).
func (s *Server) learnToken(tok []byte, p principal) {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	old := s.knownTokens.Load()
	if old != nil {
		if _, ok := (*old)[string(tok)]; ok || len(*old) >= maxKnownTokens {
			return
		}
	}
	m := make(map[string]principal, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[string(tok)] = p
	s.knownTokens.Store(&m)
}

// requestTime is the time of the request: fasthttp's, read once per request, unless a test
// clock is configured.
func (s *Server) requestTime(ctx *fasthttp.RequestCtx) int64 {
	if s.realClock {
		if t := ctx.Time(); !t.IsZero() {
			return t.UnixNano()
		}
	}
	return s.cfg.Now().UnixNano()
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
