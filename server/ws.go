package server

import (
	"fmt"
	"maps"

	"github.com/valyala/fasthttp"

	"paimon/auth"
)

// Pusher serves WebSocket clients: the push hub.
type Pusher interface {
	// Serve upgrades the request for the client who (anonymous when not authenticated);
	// errors come before the upgrade, with nothing written.
	Serve(ctx *fasthttp.RequestCtx, who auth.Principal) error
}

// serveWS upgrades GET /v1/ws. A token in the Authorization header authenticates the
// connection as an auth frame would; browsers, which cannot set it, send an auth frame.
func (s *Server) serveWS(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if s.cfg.Push == nil {
		return fmt.Errorf("%w: push is disabled on this node ([push] enabled = false)", errNotFound)
	}
	if rc.who.Cluster {
		return fmt.Errorf("%w: cluster credentials do not open WebSocket connections", errForbidden)
	}
	who := rc.who
	who.Via = ""
	return s.cfg.Push.Serve(ctx, who)
}

// ChannelAccess is the access each WebSocket channel needs, for the push hub: "account:"
// stands for every account:{address} channel.
func ChannelAccess() map[string]auth.Access { return maps.Clone(channels) }
