package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
	"paimon/kv"
	"paimon/readmodel"
)

// tokens the test authenticator knows.
const (
	viewerToken  = "viewer-token"
	walletToken  = "wallet-token" // a session of walletAddr
	revokedToken = "revoked"
)

var walletAddr = fundtest.Addr("wallet")

type testAuth struct{}

func (testAuth) AuthenticateToken(_ context.Context, tok, _ string) (auth.Principal, error) {
	switch tok {
	case viewerToken:
		return auth.Principal{Name: "dash", Role: auth.RoleViewer}, nil
	case walletToken:
		return auth.Principal{Session: true, Wallet: walletAddr}, nil
	}
	return auth.Principal{}, errors.New("unknown or expired token")
}

func (testAuth) Recheck([32]byte) (auth.Principal, error) {
	return auth.Principal{}, errors.New("no credential is rechecked in these tests")
}

// testChannels are API.md's channels (the node takes them from the server's route table,
// server.Channels).
var testChannels = []Channel{
	{Name: "fund:overview", Access: auth.Public, View: readmodel.ViewOverview},
	{Name: "fund:nav", Access: auth.Public, Record: readmodel.RecordNav},
	{Name: "prices", Access: auth.Public, Record: readmodel.RecordPrice},
	{Name: "redemptions", Access: auth.Viewer, Record: readmodel.RecordRedemption},
	{Name: "transactions", Access: auth.Viewer, Record: readmodel.RecordLedger, Pending: true},
	{Name: "account:", Access: auth.OwnerOrViewer, Record: readmodel.RecordAccount, Pending: true},
}

// env is a hub fed by a real state machine over an in-memory store, served by a real fasthttp
// server on 127.0.0.1.
type env struct {
	t     *testing.T
	hub   *Hub
	m     *fund.Machine
	st    *kv.Mem
	index uint64
	url   string
	seq   int // mint sequence
	mu    sync.Mutex
}

func testConfig() Config {
	c := DefaultConfig()
	c.WriteTimeout = 2 * time.Second
	c.Linger = 50 * time.Millisecond
	return c
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvB(t, t, cfg)
}

// newEnvB is newEnv for a benchmark (tb) whose env helpers report through t.
func newEnvB(tb testing.TB, t *testing.T, cfg Config) *env {
	tb.Helper()
	h, err := New(cfg, testAuth{}, testChannels, testutil.Logger(tb, "push", slog.LevelWarn), nil)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{t: t, hub: h, st: kv.NewMem()}
	info := fund.Info{FundID: "ppf", Name: "Paimon Prime Fund", Symbol: "PPF", ChainID: 56, Outbox: true}
	e.m = fund.NewMachine(info, readmodel.NewViews(info), h)
	h.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var who auth.Principal
		if a := string(ctx.Request.Header.Peek("Authorization")); a != "" {
			var err error
			if who, err = (testAuth{}).AuthenticateToken(context.Background(), strings.TrimPrefix(a, "Bearer "), ""); err != nil {
				ctx.Error("bad token", 401)
				return
			}
		}
		if err := h.Serve(ctx, who); err != nil {
			status := 400
			switch {
			case errors.Is(err, ErrTooManyConns), errors.Is(err, ErrClosed):
				status = 503
			case errors.Is(err, ErrTooManyConnsFromIP):
				status = 429
			case errors.Is(err, ErrOriginNotAllowed):
				status = 403
			}
			ctx.Error(err.Error(), status)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	e.url = "ws://" + ln.Addr().String() + "/v1/ws"
	tb.Cleanup(func() {
		_ = h.Close()
		_ = srv.Shutdown()
	})
	// The first batch starts the hub's windows (as a node's first applied batch does).
	e.apply(e.mints(1))
	return e
}

// mints returns a CmdLogs command minting to n fresh holders.
func (e *env) mints(n int) []byte {
	evs := make([]chainlog.Event, 0, n)
	for range n {
		e.seq++
		evs = append(evs, e.event(fundtest.MintLog(fundtest.Addr(fmt.Sprint("holder", e.seq%7)), e.seq, int64(e.seq))))
	}
	return fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: evs})
}

func (e *env) mintTo(to common.Address) []byte {
	e.seq++
	ev := e.event(fundtest.MintLog(to, e.seq, 1))
	return fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: []chainlog.Event{ev}})
}

func (e *env) event(raw chainlog.RawLog) chainlog.Event {
	evs, err := fundtest.Decode(fundtest.Registry(), []chainlog.RawLog{raw})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs[0]
}

func (e *env) navUpdate(nav int64) []byte {
	ev, err := fundtest.NewEvent("NavUpdated", big.NewInt(1e18), big.NewInt(nav), uint64(1_750_000_000+e.seq+1))
	if err != nil {
		e.t.Fatal(err)
	}
	e.seq++
	ev.TxHash = common.BigToHash(big.NewInt(int64(1e9 + e.seq)))
	ev.BlockNumber = fundtest.NextBlock()
	ev.BlockTime = 1_750_000_000 + int64(e.seq)
	return fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: []chainlog.Event{ev}})
}

// apply applies the commands as one batch and returns the batch's last index.
func (e *env) apply(cmds ...[]byte) uint64 {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cmds {
		e.index++
		if _, err := e.m.Apply(e.st, e.index, c); err != nil {
			e.t.Fatalf("apply: %v", err)
		}
	}
	if err := e.m.EndBatch(e.st, e.index); err != nil {
		e.t.Fatal(err)
	}
	e.m.Committed()
	return e.index
}

// waitPublished waits until the hub published index.
func (e *env) waitPublished(index uint64) {
	e.t.Helper()
	testutil.CheckFor(e.t, 10*time.Second, func() error {
		if got := e.hub.Index(); got < index {
			return fmt.Errorf("hub at %d, want %d", got, index)
		}
		return nil
	})
}

// client is a real WebSocket client.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

// serverFrame is any server frame.
type serverFrame struct {
	Type     string          `json:"type"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	Seq      *uint64         `json:"seq"`
	Data     json.RawMessage `json:"data"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Role     string          `json:"role"`
	Address  string          `json:"address"`
}

func (e *env) dial(hdr http.Header) *client {
	e.t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(e.url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &client{t: e.t, ws: ws}
	e.t.Cleanup(func() { _ = ws.Close() })
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) read() serverFrame {
	c.t.Helper()
	f, err := c.tryRead(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) tryRead(d time.Duration) (serverFrame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		return serverFrame{}, err
	}
	var f serverFrame
	if err := json.Unmarshal(p, &f); err != nil {
		return serverFrame{}, fmt.Errorf("frame %s: %w", p, err)
	}
	return f, nil
}

// expect reads the next frame and checks its type.
func (c *client) expect(typ string) serverFrame {
	c.t.Helper()
	f := c.read()
	if f.Type != typ {
		c.t.Fatalf("got %+v (data %s), want a %s frame", f, f.Data, typ)
	}
	return f
}

func (c *client) subscribe(since *uint64, channels ...string) serverFrame {
	c.t.Helper()
	m := map[string]any{"op": "subscribe", "channels": channels}
	if since != nil {
		m["since"] = *since
	}
	c.send(m)
	return c.expect("subscribed")
}

func (c *client) auth(tok string) serverFrame {
	c.t.Helper()
	c.send(map[string]any{"op": "auth", "token": tok})
	return c.read()
}

// until reads frames until the event frames (of any type but pong) number n.
func (c *client) events(n int) []serverFrame {
	c.t.Helper()
	out := make([]serverFrame, 0, n)
	for len(out) < n {
		f := c.read()
		if f.Type == "pong" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// quiet pings and expects the pong as the next frame: nothing else was queued before it.
func (c *client) quiet() {
	c.t.Helper()
	c.send(map[string]string{"op": "ping"})
	f := c.read()
	if f.Type != "pong" {
		c.t.Fatalf("got %+v (data %s), want only a pong", f, f.Data)
	}
}

func u64(v uint64) *uint64 { return &v }

// waitConns waits until the hub has n connections.
func (e *env) waitConns(n int) {
	e.t.Helper()
	testutil.CheckFor(e.t, 10*time.Second, func() error {
		if got := e.hub.Stats().Conns; got != n {
			return fmt.Errorf("%d connections, want %d", got, n)
		}
		return nil
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
