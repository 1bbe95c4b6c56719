package server

import (
	"fmt"

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
	id, authed := identityOf(rc.who), rc.who.role != roleNone
	return s.cfg.Push.Serve(ctx, id, authed)
}

// PushIdentity resolves the token of a WebSocket auth frame: the push hub's authenticator.
func (s *Server) PushIdentity(token string) (push.Identity, error) {
	if len(token) == 0 || len(token) > 512 {
		return push.Identity{}, errAuthInvalid
	}
	p, ok := s.tokens[sha256Token([]byte(token))]
	if !ok {
		return push.Identity{}, errAuthInvalid
	}
	return identityOf(p), nil
}

func identityOf(p principal) push.Identity {
	if p.role == roleNone {
		return push.Identity{}
	}
	return push.Identity{Name: p.name, Role: p.role.String(), Viewer: p.role >= roleViewer}
}
