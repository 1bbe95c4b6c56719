package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/raftstore"
)

// followerStore is a follower whose leader's API listens at leaderAddr.
type followerStore struct {
	Store
	leaderAddr string
	waited     uint64
}

func (f *followerStore) IsLeader() bool                                { return false }
func (f *followerStore) LeaderHTTPAddr() (id, addr string)             { return "node9", f.leaderAddr }
func (f *followerStore) WaitApplied(_ context.Context, i uint64) error { f.waited = i; return nil }

// TestCatchUpThroughTheLeader: a follower asks the leader's read index and waits for it; a
// leader that cannot be reached is NO_LEADER (the client retries), one that does not serve the
// endpoint (an older release) refuses the token, as before the check.
func TestCatchUpThroughTheLeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	status := 200
	leader := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/v1/cluster/readindex" || len(ctx.Request.Header.Peek(hdrCluster)) == 0 {
			ctx.SetStatusCode(400)
			return
		}
		ctx.SetStatusCode(status)
		ctx.SetBodyString(`{"index":42}`)
	}}
	go func() { _ = leader.Serve(ln) }()
	t.Cleanup(func() { _ = leader.Shutdown() })

	a, err := auth.New(auth.DefaultConfig(), auth.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{SizeBytes: 1 << 20, TTLs: CacheTTLs{Default: time.Minute}.Classes(), DefaultTTL: time.Minute}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := chainlog.NewRegistry(nil)
	fs := &followerStore{leaderAddr: ln.Addr().String()}
	cfg := DefaultConfig()
	cfg.NodeID, cfg.Addr, cfg.ClusterSecret = "node1", "127.0.0.1:0", []byte("secret-0123456789")
	s, err := New(cfg, Deps{Store: fs, Cache: c, Registry: reg, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.catchUp(ctx); err != nil || fs.waited != 42 {
		t.Fatalf("catch up: %v, waited for %d, want 42", err, fs.waited)
	}
	status = 404
	if err := s.catchUp(ctx); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("a leader without the endpoint: %v, want an invalid session", err)
	}
	fs.leaderAddr = "127.0.0.1:1"
	err = s.catchUp(ctx)
	if ae, _ := apiErrorOf(err); !errors.Is(err, raftstore.ErrNoLeader) || ae.Status != 503 || ae.Code != "NO_LEADER" {
		t.Fatalf("an unreachable leader: %v, want 503 NO_LEADER", err)
	}
}
