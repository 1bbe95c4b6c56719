package server

import (
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/config"
)

// RateLimitOf maps the [ratelimit] section to auth's budgets; enabled = false is the zero
// RateLimit. failed_login_per_address is the budget per (client IP, wallet): a wallet alone
// has none, so nobody can lock another person's wallet.
func RateLimitOf(c config.RateLimit) auth.RateLimit {
	if !c.Enabled {
		return auth.RateLimit{}
	}
	return auth.RateLimit{
		Login:                   auth.Budget{Rate: c.LoginRate, Burst: c.LoginBurst},
		Read:                    auth.Budget{Rate: c.ReadRate, Burst: c.ReadBurst},
		Write:                   auth.Budget{Rate: c.WriteRate, Burst: c.WriteBurst},
		FailedLoginsPerIPWallet: c.FailedLoginPerAddress,
		FailedLoginsPerIP:       c.FailedLoginPerIP,
		FailedLoginWindow:       c.FailedLoginWindow.D(),
		MaxClients:              c.MaxClients,
		IdleEvict:               c.IdleEvict.D(),
	}
}

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
