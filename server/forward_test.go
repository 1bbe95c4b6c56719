package server

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/internal/testutil"
	"paimon/raftstore"
)

// TestForwardRetries: a forward is sent again to the next leader only when the request
// certainly did not reach the log: nothing listens at the leader's address, or the member
// refused it as not proposed (hdrRefused). A connection that breaks after the request went out
// is an unknown outcome (answered UNAVAILABLE, outcome unknown), never sent again, unless the
// route is idempotent (resend), which is sent again then; so is a plain NO_LEADER answer (a
// v0.1.0 leader's, which does not say the write was not proposed). Any other answer is relayed.
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
	unavailable := serve(func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(503)
		ctx.SetBodyString(`{"error":{"code":"UNAVAILABLE","message":"the cluster is mid-upgrade"}}`)
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
		resend    bool // the route is idempotent
		addr      string
		retry     bool
		unknown   bool // errOutcomeUnknown
		relayed   int  // status relayed to the client, when no error
		noLeadErr bool
	}{
		{"nothing listens", false, testutil.FreeAddr(t), true, false, 0, true},
		{"refused as not proposed", false, refusing, true, false, 0, true},
		{"connection broken after sending", false, hanging.Addr().String(), false, true, 0, true},
		{"NO_LEADER answer", false, answering, false, true, 0, true},
		{"any other answer", false, unavailable, false, false, 503, false},
		{"idempotent: nothing listens", true, testutil.FreeAddr(t), true, false, 0, true},
		{"idempotent: refused as not proposed", true, refusing, true, false, 0, true},
		{"idempotent: connection broken after sending", true, hanging.Addr().String(), true, true, 0, true},
		{"idempotent: NO_LEADER answer", true, answering, true, true, 0, true},
		{"idempotent: any other answer", true, unavailable, false, false, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/v1/admin/logs")
			ctx.Request.SetBodyString(`{"logs":[]}`)
			retry, err := n.srv.forwardTo(&ctx, &reqCtx{}, "node9", tt.addr, time.Now().Add(2*time.Second), tt.resend)
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

// TestResendRoutes: only the idempotent writes are sent again after an unknown outcome. A
// chain log is identified by (transactionHash, logIndex): delivered twice it is a duplicate
// and the second answer says so. Not the others: an operator price is a new history point
// each time (keyed by the Raft index), a price delete or a role set sent again could undo a
// later write, a join or remove could undo a later membership change, a nonce or a session is
// single-use; leader reads are GETs, which the peers' client resends itself on a broken
// idle connection.
func TestResendRoutes(t *testing.T) {
	var got []string
	for _, rt := range routes {
		if rt.resend {
			if !rt.leader || rt.method != "POST" {
				t.Errorf("%s is marked resend but is not a forwarded write", rt.name)
			}
			got = append(got, rt.name)
		}
	}
	if want := []string{"admin_logs"}; !slices.Equal(got, want) {
		t.Fatalf("routes marked resend %v, want %v", got, want)
	}
}
