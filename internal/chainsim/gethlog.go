package chainsim

import (
	"context"
	"fmt"
	"log/slog"
)

// httpStartedMsg is the message go-ethereum's node logs, with an "endpoint" attribute, once its
// HTTP JSON-RPC server listens. It is the only place the node reports the port it bound when
// asked for port 0, and the simulated backend does not expose the node itself.
const httpStartedMsg = "HTTP server started"

// gethHandler is the slog handler of the simulated node's logger. It learns the HTTP endpoint
// from httpStartedMsg and passes warnings and errors on to the simulator's logger (go-ethereum
// logs every block at info level, which would drown a simulator's output).
type gethHandler struct {
	next     slog.Handler
	endpoint chan string // buffered (1): the first endpoint logged
}

func newGethHandler(next slog.Handler) *gethHandler {
	return &gethHandler{next: next, endpoint: make(chan string, 1)}
}

func (h *gethHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *gethHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == httpStartedMsg {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "endpoint" {
				return true
			}
			select {
			case h.endpoint <- fmt.Sprint(a.Value.Any()):
			default:
			}
			return false
		})
	}
	if r.Level >= slog.LevelWarn && h.next.Enabled(ctx, r.Level) {
		r.AddAttrs(slog.String("component", "geth"))
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *gethHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &gethHandler{next: h.next.WithAttrs(as), endpoint: h.endpoint}
}

func (h *gethHandler) WithGroup(name string) slog.Handler {
	return &gethHandler{next: h.next.WithGroup(name), endpoint: h.endpoint}
}
