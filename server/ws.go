package server

import (
	"fmt"
	"slices"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/push"
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
	if s.deps.Push == nil {
		return fmt.Errorf("%w: push is disabled on this node ([push] enabled = false)", errNotFound)
	}
	if rc.who.Cluster {
		return fmt.Errorf("%w: cluster credentials do not open WebSocket connections", errForbidden)
	}
	who := rc.who
	who.Via = ""
	return s.deps.Push.Serve(ctx, who)
}

// Channels are the WebSocket channels the push hub serves, from the route table: each with the
// access of the route that reads the same resource and what feeds it.
func Channels() []push.Channel { return slices.Clone(channels) }
