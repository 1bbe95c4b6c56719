package push

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/readmodel"
)

// TestSubscribeReceiveUnsubscribe: a client subscribed to every kind of channel receives each
// change as an event frame whose data is the resource as its GET renders it, in seq order per
// channel; after unsubscribing it receives nothing more.
func TestSubscribeReceiveUnsubscribe(t *testing.T) {
	e := newEnv(t, testConfig())
	c := e.dial(nil)
	if f := c.auth(viewerToken); f.Type != "authenticated" || f.Role != "viewer" {
		t.Fatalf("auth: %+v", f)
	}
	acct := "account:" + strings.ToUpper(walletAddr.Hex()[:2]) + strings.ToUpper(walletAddr.Hex()[2:])
	sub := c.subscribe(nil, "fund:overview", "fund:nav", "transactions", acct)
	wantCh := []string{"fund:overview", "fund:nav", "transactions", "account:" + strings.ToLower(walletAddr.Hex())}
	if fmt.Sprint(sub.Channels) != fmt.Sprint(wantCh) || sub.Seq == nil || *sub.Seq != e.hub.Index() {
		t.Fatalf("subscribed %+v, want channels %v at seq %d", sub, wantCh, e.hub.Index())
	}

	i1 := e.apply(e.mintTo(walletAddr))   // ledger entry, account, overview
	i2 := e.apply(e.navUpdate(1.02e18))   // ledger entry, NAV point, overview
	i3 := e.apply(e.mints(3), e.mints(2)) // two commands in one batch: 5 ledger entries, overview

	got := c.events(3 + 3 + 6)
	last := map[string]uint64{}
	count := map[string]int{}
	for _, f := range got {
		if f.Type != "event" || f.Seq == nil {
			t.Fatalf("frame %+v", f)
		}
		if *f.Seq < last[f.Channel] {
			t.Fatalf("%s: seq %d after %d", f.Channel, *f.Seq, last[f.Channel])
		}
		last[f.Channel] = *f.Seq
		count[f.Channel]++
	}
	want := map[string]int{"fund:overview": 3, "fund:nav": 1, "transactions": 7, wantCh[3]: 1}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Fatalf("messages per channel %v, want %v", count, want)
	}
	if last["fund:overview"] != i3 || last["fund:nav"] != i2 || last[wantCh[3]] != i1 || last["transactions"] != i3 {
		t.Fatalf("last seqs %v, batches at %d %d %d", last, i1, i2, i3)
	}
	// Data is the resource as the GET renders it.
	for _, f := range got {
		var wantBody []byte
		var err error
		switch f.Channel {
		case "fund:overview":
			if *f.Seq == i3 {
				wantBody, err = readmodel.ReadView(e.st, readmodel.ViewOverview)
			}
		case wantCh[3]:
			wantBody, err = readmodel.Account(e.st, walletAddr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if wantBody != nil && !bytes.Equal(f.Data, wantBody) {
			t.Fatalf("%s data\n%s\nwant\n%s", f.Channel, f.Data, wantBody)
		}
	}

	c.send(map[string]any{"op": "unsubscribe", "channels": []string{"transactions", "fund:overview", "fund:nav", wantCh[3]}})
	if f := c.expect("unsubscribed"); len(f.Channels) != 4 {
		t.Fatalf("unsubscribed %+v", f)
	}
	e.waitPublished(e.apply(e.mintTo(walletAddr)))
	c.quiet()
	if s := e.hub.Stats(); s.Subscribers != 0 {
		t.Fatalf("%d subscriptions left", s.Subscribers)
	}
}

// TestResumeWithSince: a client that reconnects with since = the last seq it saw receives
// exactly what it missed, then live messages, the same sequence as a client that never left.
func TestResumeWithSince(t *testing.T) {
	e := newEnv(t, testConfig())
	steady := e.dial(nil)
	steady.subscribe(nil, "fund:overview", "fund:nav")
	c := e.dial(nil)
	c.subscribe(nil, "fund:overview", "fund:nav")

	e.apply(e.navUpdate(1.01e18))
	e.apply(e.navUpdate(1.02e18), e.mints(2))
	first := c.events(2 + 2)
	lastSeen := *first[len(first)-1].Seq
	_ = c.ws.Close()

	e.apply(e.navUpdate(1.03e18))
	e.apply(e.mints(1))
	e.apply(e.navUpdate(1.04e18), e.navUpdate(1.05e18))

	r := e.dial(nil)
	r.subscribe(u64(lastSeen), "fund:overview", "fund:nav")
	e.apply(e.navUpdate(1.06e18)) // live after the replay
	resumed := r.events(2 + 1 + 3 + 2)

	all := steady.events(4 + 2 + 1 + 3 + 2)
	var want []string
	for _, f := range all[4:] {
		want = append(want, fmt.Sprintf("%s@%d %s", f.Channel, *f.Seq, f.Data))
	}
	var gotS []string
	for _, f := range resumed {
		if f.Type != "event" {
			t.Fatalf("resumed frame %+v", f)
		}
		gotS = append(gotS, fmt.Sprintf("%s@%d %s", f.Channel, *f.Seq, f.Data))
	}
	// Per channel the two sequences are equal (across channels, replay groups by channel).
	for _, ch := range []string{"fund:overview", "fund:nav"} {
		if a, b := filter(gotS, ch), filter(want, ch); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("%s resumed:\n%s\nsteady:\n%s", ch, strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
	}
	r.quiet()
	steady.quiet()
}

func filter(s []string, prefix string) []string {
	var out []string
	for _, x := range s {
		if strings.HasPrefix(x, prefix+"@") {
			out = append(out, x)
		}
	}
	return out
}

// TestSinceTooOldResets: a since the window no longer reaches gets a reset for that channel
// (then live messages); a since within it does not.
func TestSinceTooOldResets(t *testing.T) {
	cfg := testConfig()
	cfg.WindowMessages = 3
	e := newEnv(t, cfg)
	start := e.hub.Index()
	for i := range 5 {
		e.apply(e.navUpdate(int64(1e18 + i)))
	}
	e.waitPublished(e.index)
	c := e.dial(nil)
	c.subscribe(u64(start), "fund:nav", "fund:overview")
	seen := map[string]string{}
	for _, f := range c.events(2) {
		seen[f.Channel] = f.Type
		if f.Type == "reset" && (f.Seq == nil || *f.Seq != e.index) {
			t.Fatalf("reset %+v, want seq %d", f, e.index)
		}
	}
	if seen["fund:nav"] != "reset" || seen["fund:overview"] != "reset" {
		t.Fatalf("frames %v, want a reset per channel", seen)
	}
	e.apply(e.navUpdate(2e18))
	if f := c.events(2); f[0].Type != "event" || f[1].Type != "event" {
		t.Fatalf("after reset: %+v", f)
	}

	// Within the window: the last 3 NAV points.
	d := e.dial(nil)
	d.subscribe(u64(e.index-3), "fund:nav")
	for i, f := range d.events(3) {
		if f.Type != "event" || *f.Seq != e.index-2+uint64(i) {
			t.Fatalf("replay %d: %+v", i, f)
		}
	}
	d.quiet()

	// A since ahead of the node (a client coming from a node further along) waits for it.
	a := e.dial(nil)
	a.subscribe(u64(e.index+1), "fund:nav")
	e.apply(e.navUpdate(3e18)) // at e.index+1: already seen
	e.apply(e.navUpdate(4e18))
	if f := a.expect("event"); *f.Seq != e.index {
		t.Fatalf("ahead: got seq %d, want %d", *f.Seq, e.index)
	}
}

// TestAuthorization: channels that need a role or a session are refused with an error frame
// and the connection stays usable.
func TestAuthorization(t *testing.T) {
	e := newEnv(t, testConfig())
	c := e.dial(nil)
	own := "account:" + strings.ToLower(walletAddr.Hex())
	other := "account:0x00000000000000000000000000000000000000aa"
	for _, ch := range []string{"redemptions", "transactions", own} {
		c.send(map[string]any{"op": "subscribe", "channels": []string{"prices", ch}})
		if f := c.expect("error"); f.Code != codeAuthRequired {
			t.Fatalf("%s anonymous: %+v", ch, f)
		}
	}
	c.quiet()
	if f := c.auth("nope"); f.Type != "error" || f.Code != codeAuthInvalid {
		t.Fatalf("bad token: %+v", f)
	}
	if f := c.auth(walletToken); f.Type != "authenticated" || f.Address != strings.ToLower(walletAddr.Hex()) {
		t.Fatalf("session: %+v", f)
	}
	c.subscribe(nil, own, "prices")
	for _, ch := range []string{other, "transactions"} {
		c.send(map[string]any{"op": "subscribe", "channels": []string{ch}})
		if f := c.expect("error"); f.Code != codeForbidden {
			t.Fatalf("%s as a session: %+v", ch, f)
		}
	}
	e.apply(e.mintTo(walletAddr))
	if f := c.expect("event"); f.Channel != own {
		t.Fatalf("got %+v", f)
	}
	// A viewer reads every account; a token in the upgrade request works as an auth frame.
	v := e.dial(http.Header{"Authorization": {"Bearer " + viewerToken}})
	v.subscribe(nil, other, "transactions", "redemptions")
	// Re-authenticating as an identity that may read less drops what it may not read.
	v.auth(walletToken)
	if f := v.expect("error"); f.Code != codeForbidden || !strings.Contains(f.Message, "transactions") {
		t.Fatalf("re-auth: %+v", f)
	}
	v.quiet()
}

// TestBadFrames: malformed, oversized, binary and unknown frames get error frames and the
// connection stays usable; a frame past the hard limit closes it with 1009.
func TestBadFrames(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrameBytes = 256
	e := newEnv(t, cfg)
	c := e.dial(nil)
	cases := []struct{ frame, code string }{
		{`{"op":`, codeBadFrame},
		{`[]`, codeBadFrame},
		{`{"op":"subscribe"}`, codeValidation},
		{`{"op":"subscribe","channels":["nope"]}`, codeValidation},
		{`{"op":"subscribe","channels":["account:0x12"]}`, codeValidation},
		{`{"op":"subscribe","channels":["prices"],"since":-1}`, codeBadFrame},
		{`{"op":"subscribe","channels":["prices"],"extra":1}`, codeBadFrame},
		{`{"op":"dance"}`, codeUnknownOp},
		{`{"op":"ping"} {"op":"ping"}`, codeBadFrame},
		{`{"op":"auth","token":""}`, codeValidation},
		{`{"op":"subscribe","channels":["prices"]}` + strings.Repeat(" ", 300), codeTooLarge},
	}
	for _, tc := range cases {
		c.sendRaw(tc.frame)
		if f := c.expect("error"); f.Code != tc.code {
			t.Fatalf("%.60s: code %s (%s), want %s", tc.frame, f.Code, f.Message, tc.code)
		}
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"op":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if f := c.expect("error"); f.Code != codeBadFrame {
		t.Fatalf("binary: %+v", f)
	}
	c.quiet()
	c.subscribe(nil, "prices")

	// The node closes at the frame header, so the client's write may end in a reset.
	go func() { _ = c.ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 2<<20)) }()
	for {
		_, err := c.tryRead(5 * time.Second)
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) && !strings.Contains(err.Error(), "reset by peer") {
			t.Fatalf("after a huge frame: %v, want close 1009", err)
		}
		break
	}
	e.waitConns(0)
}

// TestSubscriptionLimit: past max_subscriptions a subscribe is refused as a whole.
func TestSubscriptionLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSubscriptions = 3
	e := newEnv(t, cfg)
	c := e.dial(nil)
	c.auth(viewerToken)
	c.subscribe(nil, "prices", "fund:nav")
	c.subscribe(nil, "prices", "fund:overview") // prices again is not a new subscription
	c.send(map[string]any{"op": "subscribe", "channels": []string{"fund:nav", "account:0x00000000000000000000000000000000000000aa"}})
	if f := c.expect("error"); f.Code != codeLimitExceeded {
		t.Fatalf("%+v", f)
	}
	c.quiet()
}

// TestConnectionLimits: connections per address and origins.
func TestConnectionLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	cfg.AllowedOrigins = []string{"https://app.paimon.example"}
	e := newEnv(t, cfg)
	a, b := e.dial(nil), e.dial(nil)
	// A client's handshake completes before the hub registers the connection: wait for both,
	// or closing a could leave b unregistered and its slot still held by a.
	e.waitConns(2)
	_, resp, err := websocket.DefaultDialer.Dial(e.url, nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("third connection from one address: %v %v", err, resp)
	}
	_ = a.ws.Close()
	e.waitConns(1)
	e.dial(http.Header{"Origin": {"https://app.paimon.example"}})
	e.waitConns(2)
	_ = b.ws.Close()
	e.waitConns(1)
	_, resp, err = websocket.DefaultDialer.Dial(e.url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
}
