package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/kv"
)

// principal is who a request comes from (package auth).
type principal = auth.Principal

var bearer = []byte("Bearer ")

// authenticate resolves the Authorization header through auth: the thin fasthttp adapter of
// package auth. No header is anonymous; a header that is not a known token is AUTH_INVALID,
// even on a public route, so a client learns at once that its token is wrong. A session token
// this node has not applied yet is looked for again after catching up with the leader's
// commit (auth.CheckUnknownSession, budgeted per client IP). It does not allocate for a known
// token.
//
// A request signed by a member (cluster.go) is either forwarded on behalf of a client, whose
// own token is then checked as usual, or the member's own call to a cluster endpoint.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	p := &rc.who
	var via string
	if len(ctx.Request.Header.Peek(hdrCluster)) > 0 {
		if via = s.clusterPeer(ctx); via == "" {
			return fmt.Errorf("%w: bad or expired cluster signature", errAuthInvalid)
		}
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) == 0 {
		if via != "" {
			*p = principal{Name: "node:" + via, Role: auth.RoleAdmin, Cluster: true, Via: via}
		}
		return nil
	}
	if len(h) <= len(bearer) || !bytes.EqualFold(h[:len(bearer)], bearer) {
		return errAuthInvalid
	}
	tok := bytes.TrimSpace(h[len(bearer):])
	p.Via = via
	now := s.requestTime(ctx)
	err := s.auth.Authenticate(tok, true, now, p)
	if errors.Is(err, auth.ErrSessionUnknown) {
		var key [32]byte
		if via != "" {
			auth.IPStringKey(&key, clientIP(ctx, rc))
		} else {
			auth.IPKey(&key, ctx.RemoteIP())
		}
		err = s.auth.CheckUnknownSession(context.Background(), tok, &key, now, p)
	}
	return err
}

// requestTime is the time of the request: fasthttp's, read once per request, unless a test
// clock is configured.
func (s *Server) requestTime(ctx *fasthttp.RequestCtx) int64 {
	if s.auth.RealClock() {
		if t := ctx.Time(); !t.IsZero() {
			return t.UnixNano()
		}
	}
	return s.now().UnixNano()
}

// replica is what auth reads of this node: its replica, and the leader's commit to catch up
// with (auth.Replica).
type replica struct{ s *Server }

func (r replica) ReadState() (kv.Reader, func(), error) {
	v, err := r.s.store.Read()
	if err != nil {
		return nil, nil, err
	}
	return v, func() { v.Close() }, nil
}

func (r replica) CatchUp(ctx context.Context) error { return r.s.catchUp(ctx) }
