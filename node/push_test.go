package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/fasthttp/websocket"

	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
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
		// A write that reached the leader after a later block's is applied at its place, and
		// the ledger entries after it are applied again: those whose record changed are
		// pushed again (issue 18). Every write is there, once or more.
		distinct := map[string]bool{}
		for _, ev := range cl.events("transactions") {
			distinct[ledgerID(t, ev)] = true
		}
		if n := len(distinct); n != 3*perWriter {
			t.Fatalf("node%d client: %d distinct transactions, want %d", i+1, n, 3*perWriter)
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

// TestPushPendingThenConfirmed: with [ingest] pending, a client sees a chain event first as
// "pending" (on transactions and on its account's channel) as soon as its block is mined, then
// as an event with its seq once the block is confirmations deep, with the same data; one a
// shallow reorg drops is "removed" before it is ever confirmed.
func TestPushPendingThenConfirmed(t *testing.T) {
	ctx := context.Background()
	scfg := chainsim.DefaultConfig()
	scfg.Addr, scfg.BlockInterval, scfg.Rate, scfg.Seed = "127.0.0.1:0", 0, 0, 11
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	cfg.Ingest.ChainID = chainsim.ChainID
	cfg.Ingest.RPCURLs = []string{sim.URL()}
	cfg.Ingest.Confirmations = 3
	cfg.Ingest.PollInterval = time.Duration(20 * time.Millisecond)
	cfg.Ingest.Pending = true
	c.start(0)
	c.waitLeader(10 * time.Second)

	holder := fundtest.Addr("pending-ws")
	acct := "account:" + strings.ToLower(holder.Hex())
	cl := dialWS(t, cfg.HTTP.Addr, nil, "transactions", acct)

	emit := func(value int64) common.Hash {
		ev, err := fundtest.NewEvent("Transfer", common.Address{}, holder, big.NewInt(value))
		if err != nil {
			t.Fatal(err)
		}
		l, err := chainsim.LogOf(ev)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := sim.EmitTx(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	framesOf := func(tx common.Hash) []wsFrame {
		var out []wsFrame
		for _, f := range cl.snapshot() {
			if strings.Contains(string(f.Data), strings.ToLower(tx.Hex())) {
				out = append(out, f)
			}
		}
		return out
	}
	waitFrames := func(tx common.Hash, want ...string) []wsFrame {
		t.Helper()
		var fs []wsFrame
		checkFor(t, 15*time.Second, func() error {
			fs = framesOf(tx)
			var got []string
			for _, f := range fs {
				got = append(got, f.Type+" "+f.Channel)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("frames of %s: %v, want %v", tx.Hex(), got, want)
			}
			return nil
		})
		return fs
	}

	tx := emit(5)
	if err := sim.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pend := waitFrames(tx, "pending transactions", "pending "+acct)
	if pend[0].Seq != nil {
		t.Fatalf("a pending frame carries a seq: %s", pend[0])
	}
	if err := sim.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	fs := waitFrames(tx, "pending transactions", "pending "+acct, "event transactions")
	if string(fs[2].Data) != string(pend[0].Data) || fs[2].Seq == nil {
		t.Fatalf("confirmed %s\npending   %s", fs[2], pend[0])
	}

	// Dropped by a shallow reorg before its confirmation.
	gone := emit(6)
	if err := sim.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFrames(gone, "pending transactions", "pending "+acct)
	if _, err := sim.Reorg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFrames(gone, "pending transactions", "pending "+acct, "removed transactions", "removed "+acct)
	if err := sim.Mine(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// It never arrives confirmed: the frames stay the same once its depth is passed.
	checkFor(t, 10*time.Second, func() error {
		if n := applied(c, 0); n < sim.Stats().Head-3 {
			return fmt.Errorf("ingest at %d", n)
		}
		return nil
	})
	waitFrames(gone, "pending transactions", "pending "+acct, "removed transactions", "removed "+acct)
}

// applied is the last block node i applied from the chain.
func applied(c *testCluster, i int) uint64 {
	v, err := c.nodes[i].Store().Read()
	if err != nil {
		return 0
	}
	defer v.Close()
	cp, _, _ := fund.ReadIngestCheckpoint(v)
	return cp.Block.Number
}

// ledgerID is the identity (txHash/logIndex) of a transactions event as wsClient.events
// renders it ("event transactions@seq {data}").
func ledgerID(t *testing.T, ev string) string {
	t.Helper()
	var d struct {
		TxHash   string `json:"txHash"`
		LogIndex uint64 `json:"logIndex"`
	}
	i := strings.IndexByte(ev, '{')
	if i < 0 || json.Unmarshal([]byte(ev[i:]), &d) != nil || d.TxHash == "" {
		t.Fatalf("transactions event %s", ev)
	}
	return fmt.Sprintf("%s/%d", d.TxHash, d.LogIndex)
}
