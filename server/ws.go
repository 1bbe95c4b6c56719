package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"paimon/push"
)

// Pusher serves WebSocket clients: the push hub.
type Pusher interface {
	// Serve upgrades the request; errors come before the upgrade, with nothing written.
	Serve(ctx *fasthttp.RequestCtx, id push.Identity, authed bool) error
}

// serveWS upgrades GET /v1/ws. A token in the Authorization header authenticates the
// connection as an auth frame would; browsers, which cannot set it, send an auth frame.
func (s *Server) serveWS(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if s.cfg.Push == nil {
		return fmt.Errorf("%w: push is disabled on this node ([push] enabled = false)", errNotFound)
	}
	if rc.who.cluster {
		return fmt.Errorf("%w: cluster credentials do not open WebSocket connections", errForbidden)
	}
	id, authed := identityOf(rc.who), rc.who.authenticated()
	return s.cfg.Push.Serve(ctx, id, authed)
}

// PushIdentity resolves the token of a WebSocket auth frame (a static token or a wallet
// session): the push hub's authenticator.
func (s *Server) PushIdentity(token string) (push.Identity, error) {
	if len(token) == 0 || len(token) > 512 {
		return push.Identity{}, errAuthInvalid
	}
	key := sha256Token([]byte(token))
	if strings.HasPrefix(token, sessionPrefix) {
		var p principal
		if err := s.sessionPrincipal([]byte(token), true, s.cfg.Now().UnixNano(), &p); err != nil {
			return push.Identity{}, err
		}
		return identityOf(p), nil
	}
	p, ok := s.tokens[key]
	if !ok {
		return push.Identity{}, errAuthInvalid
	}
	p.key = key
	return identityOf(p), nil
}

// Recheck re-resolves a WebSocket connection's credential by its hash (push.Rechecker): a
// static token stands; a session must still be open and unexpired, with its current role.
// It does not extend the session: only requests and auth frames do.
func (s *Server) Recheck(key [32]byte) (push.Identity, error) {
	if p, ok := s.tokens[key]; ok {
		p.key = key
		return identityOf(p), nil
	}
	var p principal
	if err := s.sessionByHash(key, false, s.cfg.Now().UnixNano(), &p); err != nil {
		return push.Identity{}, err
	}
	return identityOf(p), nil
}

func identityOf(p principal) push.Identity {
	if !p.authenticated() {
		return push.Identity{}
	}
	return push.Identity{
		Name: p.label(), Role: p.role.String(), Viewer: p.role >= roleViewer, Account: p.wallet, HasAccount: p.session,
		Key: p.key, Expires: p.expires,
	}
}

// AuthorizeChannel decides a subscription by the channels table, with the same check as the
// routes (push.Policy). kind is a channel name, or "account:" for account:{address}.
func (s *Server) AuthorizeChannel(id push.Identity, authed bool, kind string, account [20]byte) error {
	a, ok := channels[kind]
	if !ok {
		return fmt.Errorf("%w: no access rule for channel %s", push.ErrChannelForbidden, kind)
	}
	r, _ := parseRole(id.Role)
	who := principal{role: r, session: id.HasAccount, wallet: id.Account}
	if authed {
		who.name = id.Name + " " // authenticated even if nameless
	}
	var acct *[20]byte
	if a.owner {
		acct = &account
	}
	err := a.check(&who, r, acct)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errAuthRequired):
		return push.ErrChannelAuthRequired
	}
	return fmt.Errorf("%w: %s", push.ErrChannelForbidden, strings.TrimPrefix(err.Error(), errForbidden.Error()+": "))
}
