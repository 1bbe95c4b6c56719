package server

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/internal/testutil"
	"paimon/raftstore"
)

// TestForwardRetries: a forward is sent again to the next leader only when the request
// certainly did not reach the log: nothing listens at the leader's address, or the member
// refused it as not proposed (hdrRefused). A connection that breaks after the request went out
// is an unknown outcome: answered NO_LEADER, never sent again. Any other answer is relayed.
func TestForwardRetries(t *testing.T) {
	n := newTestNode(t)
	serve := func(h fasthttp.RequestHandler) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &fasthttp.Server{Handler: h}
		go srv.Serve(ln)
		t.Cleanup(func() { _ = srv.Shutdown() })
		return ln.Addr().String()
	}
	refusing := serve(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set(hdrRefused, "not-proposed")
		ctx.SetStatusCode(503)
		ctx.SetBodyString(`{"error":{"code":"NO_LEADER","message":"retry"}}`)
	})
	answering := serve(func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(503)
		ctx.SetBodyString(`{"error":{"code":"NO_LEADER","message":"retry"}}`)
	})
	// Reads the request, then closes the connection without an answer, as a leader that died
	// after proposing it would.
	hanging, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hanging.Close()
	go func() {
		for {
			c, err := hanging.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()
	tests := []struct {
		name      string
		addr      string
		retry     bool
		unknown   bool // errOutcomeUnknown
		relayed   int  // status relayed to the client, when no error
		noLeadErr bool
	}{
		{"nothing listens", testutil.FreeAddr(t), true, false, 0, true},
		{"refused as not proposed", refusing, true, false, 0, true},
		{"connection broken after sending", hanging.Addr().String(), false, true, 0, true},
		{"any other answer", answering, false, false, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/v1/admin/logs")
			ctx.Request.SetBodyString(`{"logs":[]}`)
			retry, err := n.srv.forwardTo(&ctx, &reqCtx{}, "node9", tt.addr, time.Now().Add(2*time.Second))
			if retry != tt.retry {
				t.Fatalf("retry = %v (%v), want %v", retry, err, tt.retry)
			}
			if got := errors.Is(err, raftstore.ErrNoLeader); got != tt.noLeadErr {
				t.Fatalf("error %v: NO_LEADER %v, want %v", err, got, tt.noLeadErr)
			}
			if got := errors.Is(err, errOutcomeUnknown); got != tt.unknown {
				t.Fatalf("error %v: outcome unknown %v, want %v", err, got, tt.unknown)
			}
			if err != nil && refused(err) == tt.unknown {
				t.Fatalf("error %v: refused %v", err, refused(err))
			}
			if tt.relayed != 0 && ctx.Response.StatusCode() != tt.relayed {
				t.Fatalf("relayed %d, want %d", ctx.Response.StatusCode(), tt.relayed)
			}
		})
	}
}
