package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"

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
}

var bearer = []byte("Bearer ")

// authenticate resolves the Authorization header. No header is anonymous; a header that is
// not a known token is AUTH_INVALID, even on a public route, so a client learns at once that
// its token is wrong. It does not allocate.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (principal, error) {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) == 0 {
		return principal{}, nil
	}
	if len(h) <= len(bearer) || !bytes.EqualFold(h[:len(bearer)], bearer) {
		return principal{}, errAuthInvalid
	}
	tok := bytes.TrimSpace(h[len(bearer):])
	if len(tok) == 0 || len(tok) > 512 {
		return principal{}, errAuthInvalid
	}
	p, ok := s.tokens[sha256Token(tok)]
	if !ok {
		return principal{}, errAuthInvalid
	}
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
