package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/fund/fundtest"
)

// wsFrame is a server frame as a test client keeps it.
type wsFrame struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel"`
	Seq     *uint64         `json:"seq"`
	Data    json.RawMessage `json:"data"`
	Code    string          `json:"code"`
}

func (f wsFrame) String() string {
	seq := "-"
	if f.Seq != nil {
		seq = fmt.Sprint(*f.Seq)
	}
	return fmt.Sprintf("%s %s@%s %s", f.Type, f.Channel, seq, f.Data)
}

// wsClient reads every frame of a connection in the background.
type wsClient struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	frames []wsFrame
	err    error
	done   chan struct{}
}

func dialWS(t *testing.T, httpAddr string, since *uint64, channels ...string) *wsClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+httpAddr+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", httpAddr, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteJSON(map[string]any{"op": "auth", "token": viewerToken}); err != nil {
		t.Fatal(err)
	}
	sub := map[string]any{"op": "subscribe", "channels": channels}
	if since != nil {
		sub["since"] = *since
	}
	if err := ws.WriteJSON(sub); err != nil {
		t.Fatal(err)
	}
	c := &wsClient{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			var f wsFrame
			_, p, err := ws.ReadMessage()
			if err == nil {
				err = json.Unmarshal(p, &f)
			}
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
	}()
	checkFor(t, 10*time.Second, func() error {
		for _, f := range c.snapshot() {
			if f.Type == "subscribed" {
				return nil
			}
			if f.Type == "error" {
				t.Fatalf("subscribe on %s: %s", httpAddr, f)
			}
		}
		return fmt.Errorf("not subscribed yet")
	})
	return c
}

func (c *wsClient) snapshot() []wsFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wsFrame(nil), c.frames...)
}

// events are the client's event frames of channel.
func (c *wsClient) events(channel string) []string {
	var out []string
	for _, f := range c.snapshot() {
		if f.Type != "subscribed" && f.Channel == channel {
			out = append(out, f.String())
		}
	}
	return out
}

// waitSeq waits until the client has an event of channel at seq.
func (c *wsClient) waitSeq(t *testing.T, channel string, seq uint64) {
	t.Helper()
	checkFor(t, 20*time.Second, func() error {
		for _, f := range c.snapshot() {
			if f.Channel == channel && f.Seq != nil && *f.Seq >= seq {
				return nil
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err != nil {
			return fmt.Errorf("connection ended: %v", c.err)
		}
		return fmt.Errorf("no %s event at %d yet", channel, seq)
	})
}

// TestPushSameSequenceOnEveryNode: clients on the leader and on both followers, subscribed to
// the same channels while writes arrive through every node, receive the same messages with the
// same seqs (each node pushes from its own apply); a client that leaves a follower resumes on
// the leader with since and gets exactly the rest.
func TestPushSameSequenceOnEveryNode(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	owner := fundtest.Addr("push-owner")
	acct := "account:" + strings.ToLower(owner.Hex())
	channels := []string{"transactions", "fund:nav", acct, "fund:overview"}
	clients := make([]*wsClient, 3)
	for i := range 3 {
		clients[i] = dialWS(t, c.cfgs[i].HTTP.Addr, nil, channels...)
	}
	leaver := dialWS(t, c.cfgs[(l+1)%3].HTTP.Addr, nil, channels...)

	// Writers on every node at once, so the nodes batch differently.
	const perWriter = 40
	var wg sync.WaitGroup
	var maxIndex uint64
	var mu sync.Mutex
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perWriter {
				to := owner
				if k%2 == 1 {
					to = fundtest.Addr(fmt.Sprint("push-holder", w))
				}
				r, err := do("POST", c.url(w)+"/v1/admin/logs", adminToken, transferLog(t, to, w*1000+k, 1))
				if err != nil || r.status != 200 {
					t.Errorf("write on node%d: %v %d %s", w+1, err, r.status, r.body)
					return
				}
				var res struct{ Index uint64 }
				_ = json.Unmarshal(r.body, &res)
				mu.Lock()
				maxIndex = max(maxIndex, res.Index)
				mu.Unlock()
				if w == 0 && k == perWriter/2 {
					_ = leaver.ws.Close() // mid-stream
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, cl := range clients {
		cl.waitSeq(t, "transactions", maxIndex)
		if n := len(cl.events("transactions")); n != 3*perWriter {
			t.Fatalf("node%d client: %d transactions, want %d", i+1, n, 3*perWriter)
		}
	}
	for _, ch := range []string{"transactions", acct} {
		want := clients[l].events(ch)
		for i, cl := range clients {
			if got := cl.events(ch); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%s on node%d differs from the leader's:\n%s\nleader:\n%s", ch, i+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	// The overview is conflated per batch, which differs between nodes; its last message is the
	// same state everywhere.
	lastOverview := func(cl *wsClient) string {
		ev := cl.events("fund:overview")
		return ev[len(ev)-1]
	}
	for i, cl := range clients {
		checkFor(t, 10*time.Second, func() error {
			if a, b := lastOverview(cl), lastOverview(clients[l]); a != b {
				return fmt.Errorf("node%d last overview %s, leader %s", i+1, a, b)
			}
			return nil
		})
	}

	// The leaver resumes on the leader after the last transactions seq it saw.
	<-leaver.done
	seen := leaver.events("transactions")
	if len(seen) == 0 || len(seen) == 3*perWriter {
		t.Fatalf("leaver saw %d transactions before leaving; the test wants it mid-stream", len(seen))
	}
	var lastSeq uint64
	for _, f := range leaver.snapshot() {
		if f.Channel == "transactions" && f.Seq != nil {
			lastSeq = *f.Seq
		}
	}
	back := dialWS(t, c.cfgs[l].HTTP.Addr, &lastSeq, "transactions")
	back.waitSeq(t, "transactions", maxIndex)
	got := append(seen, back.events("transactions")...)
	if want := clients[l].events("transactions"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("resumed stream (%d before leaving, %d after) differs from the leader's (%d)", len(seen), len(got)-len(seen), len(want))
	}
}
