package server

import (
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
)

// rateLimit spends one token of the request's budget in auth, or refuses it with an
// *auth.RateLimitError. /healthz, /readyz and /metrics are never limited, nor are requests a
// member forwarded (it limited the client already) or a member's own calls. The login budget
// is per client IP; the others per credential, else per client IP. It does not allocate for a
// known client.
func (s *Server) rateLimit(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	rt := &routes[rc.route]
	if rt.unlimited || rc.who.Via != "" {
		return nil
	}
	b := auth.BudgetWrites
	switch {
	case rt.login:
		b = auth.BudgetLogin
	case rt.method == "GET":
		b = auth.BudgetReads
	}
	if !s.auth.Limited(b) {
		return nil
	}
	var key [32]byte
	if rc.who.Key != ([32]byte{}) && !rt.login {
		key = rc.who.Key
	} else {
		auth.IPKey(&key, ctx.RemoteIP())
	}
	return s.auth.Allow(b, &key, time.Unix(0, s.requestTime(ctx)))
}
