package push

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/internal/testutil"
)

// TestTLSWebSocket: behind fasthttp's TLS listener the hijacked connection unwraps to the
// *tls.Conn (never the TCP connection under it, which would bypass TLS), so the writer takes
// its fallback: the frames of a batch joined into one TLS write rather than a writev. A wss://
// client receives a batch of several frames, a replay and control frames intact.
func TestTLSWebSocket(t *testing.T) {
	e := newEnv(t, testConfig())
	ca := testutil.NewTestCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		TLSConfig: ca.ServerConfig(t, "push"),
		Handler: func(ctx *fasthttp.RequestCtx) {
			if err := e.hub.Serve(ctx, auth.Principal{Name: "dash", Role: auth.RoleViewer}); err != nil {
				ctx.Error(err.Error(), 400)
			}
		},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	// Plain ws:// to the TLS port is refused.
	if ws, _, err := (&websocket.Dialer{HandshakeTimeout: 2 * time.Second}).Dial("ws://"+ln.Addr().String()+"/v1/ws", nil); err == nil {
		ws.Close()
		t.Fatal("plain WebSocket accepted by the TLS listener")
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: ca.ClientConfig()}
	ws, _, err := d.Dial("wss://"+ln.Addr().String()+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{t: t, ws: ws}
	c.subscribe(nil, "transactions")

	// The connection's writer sees TLS, not TCP.
	e.hub.mu.Lock()
	var kinds []string
	for hc := range e.hub.conns {
		switch hc.nc.(type) {
		case *tls.Conn:
			kinds = append(kinds, "tls")
		case *net.TCPConn:
			kinds = append(kinds, "tcp")
		default:
			kinds = append(kinds, "other")
		}
	}
	e.hub.mu.Unlock()
	if len(kinds) != 1 || kinds[0] != "tls" {
		t.Fatalf("hub connections write through %v, want one tls", kinds)
	}

	// One batch of five mints: five frames queued at once, written joined.
	last := e.apply(e.mints(5))
	var seqs []uint64
	for _, f := range c.events(5) {
		if f.Type != "event" || f.Channel != "transactions" || f.Seq == nil {
			t.Fatalf("frame %+v (data %s), want a transactions event", f, f.Data)
		}
		seqs = append(seqs, *f.Seq)
	}
	if seqs[4] != last {
		t.Fatalf("seqs %v, want the last at %d", seqs, last)
	}
	c.quiet()

	// A second client resumes from before the batch: the replay comes through TLS too.
	ws2, _, err := d.Dial("wss://"+ln.Addr().String()+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	t.Cleanup(func() { _ = ws2.Close() })
	c2 := &client{t: t, ws: ws2}
	c2.subscribe(u64(last-1), "transactions")
	if got := c2.events(5); len(got) != 5 || got[4].Seq == nil || *got[4].Seq != last {
		t.Fatalf("replay %+v", got)
	}
}
