package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/push"
)

// pusherFunc is a Pusher made of a function.
type pusherFunc func(ctx *fasthttp.RequestCtx, who auth.Principal) error

func (f pusherFunc) Serve(ctx *fasthttp.RequestCtx, who auth.Principal) error {
	return f(ctx, who)
}

// TestWSRoute: /v1/ws hands the request and who it authenticated as to the pusher, maps its
// refusals to the API's errors, and is NOT_FOUND with push disabled.
func TestWSRoute(t *testing.T) {
	off := newTestNode(t)
	if r := off.get("/v1/ws", ""); r.status != 404 || r.errorCode() != "NOT_FOUND" {
		t.Fatalf("push disabled: %d %s", r.status, r.body)
	}

	var got auth.Principal
	var refuse error
	n := newTestNode(t, func(su *setup) {
		su.pusher = pusherFunc(func(ctx *fasthttp.RequestCtx, who auth.Principal) error {
			got = who
			if refuse != nil {
				return refuse
			}
			ctx.SetStatusCode(299)
			return nil
		})
	})
	if r := n.get("/v1/ws", viewerToken); r.status != 299 || !got.Authenticated() || got.Role != auth.RoleViewer || got.Session {
		t.Fatalf("viewer upgrade: %d, identity %+v", r.status, got)
	}
	if r := n.get("/v1/ws", ""); r.status != 299 || got.Authenticated() {
		t.Fatalf("anonymous upgrade: %d, identity %+v", r.status, got)
	}
	if r := n.get("/v1/ws", "wrong"); r.status != 401 || r.errorCode() != "AUTH_INVALID" {
		t.Fatalf("bad token: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w (limit 2)", push.ErrTooManyConnsFromIP), 429, "RATE_LIMITED"},
		{push.ErrTooManyConns, 503, "UNAVAILABLE"},
		{push.ErrClosed, 503, "UNAVAILABLE"},
		{push.ErrOriginNotAllowed, 403, "FORBIDDEN"},
		{fmt.Errorf("%w: missing key", push.ErrBadHandshake), 400, "VALIDATION_ERROR"},
	} {
		refuse = tc.err
		r := n.get("/v1/ws", "")
		if r.status != tc.status || r.errorCode() != tc.code {
			t.Fatalf("%v: %d %s, want %d %s", tc.err, r.status, r.body, tc.status, tc.code)
		}
		if tc.status == 429 && r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}

	// Auth frames resolve through the same tokens.
	if who, err := n.srv.auth.AuthenticateToken(context.Background(), operatorToken, "127.0.0.1"); err != nil || who.Role != auth.RoleOperator {
		t.Fatalf("operator: %+v %v", who, err)
	}
	if _, err := n.srv.auth.AuthenticateToken(context.Background(), "nope", "127.0.0.1"); !errors.Is(err, errAuthInvalid) {
		t.Fatalf("unknown token: %v", err)
	}
}
