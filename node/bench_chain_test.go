package node

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

var (
	chainDuration = flag.Duration("node.chain", 30*time.Second, "how long BenchmarkConfirmedBlockToWebSocket mines blocks")
	chainPoll     = flag.Duration("node.poll", 50*time.Millisecond, "[ingest] poll_interval of BenchmarkConfirmedBlockToWebSocket (0: the node's default)")
	chainClients  = flag.Int("node.clients", 4, "WebSocket clients subscribed to transactions in BenchmarkConfirmedBlockToWebSocket")
	chainRate     = flag.Float64("node.rate", 500, "events per one-second block in BenchmarkConfirmedBlockToWebSocket")
)

// chainClient is a WebSocket client subscribed to transactions that notes, per block, how many
// ledger entries (event frames) it received and when it received the last one.
type chainClient struct {
	ws   *websocket.Conn
	mu   sync.Mutex
	recv map[uint64]*blockRecv
	// other counts frames that are neither subscribed nor an event on transactions (a reset,
	// a removed, an error): none is expected.
	other []string
	err   error
	subd  chan struct{}
}

type blockRecv struct {
	events int
	last   time.Time
}

func dialChainClient(b *testing.B, httpAddr string) *chainClient {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+httpAddr+"/v1/ws", nil)
	if err != nil {
		b.Fatalf("dial %s: %v", httpAddr, err)
	}
	b.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteJSON(map[string]any{"op": "auth", "token": viewerToken}); err != nil {
		b.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"op": "subscribe", "channels": []string{"transactions"}}); err != nil {
		b.Fatal(err)
	}
	c := &chainClient{ws: ws, recv: map[uint64]*blockRecv{}, subd: make(chan struct{})}
	go c.read()
	select {
	case <-c.subd:
	case <-time.After(10 * time.Second):
		b.Fatalf("not subscribed to transactions after 10s (%v)", c.snapshotErr())
	}
	return c
}

func (c *chainClient) read() {
	var f struct {
		Type    string          `json:"type"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	var entry struct {
		BlockNumber *uint64 `json:"blockNumber"`
	}
	subscribed := false
	for {
		_, p, err := c.ws.ReadMessage()
		now := time.Now()
		if err == nil {
			f.Type, f.Channel, f.Data = "", "", nil
			err = json.Unmarshal(p, &f)
		}
		if err == nil && f.Type == "event" && f.Channel == "transactions" {
			entry.BlockNumber = nil
			if err = json.Unmarshal(f.Data, &entry); err == nil && entry.BlockNumber == nil {
				err = fmt.Errorf("a ledger entry without blockNumber: %s", p)
			}
		}
		c.mu.Lock()
		switch {
		case err != nil:
			c.err = err
		case f.Type == "event" && f.Channel == "transactions":
			r := c.recv[*entry.BlockNumber]
			if r == nil {
				r = &blockRecv{}
				c.recv[*entry.BlockNumber] = r
			}
			r.events++
			r.last = now
		case f.Type == "subscribed" || f.Type == "authenticated":
		default:
			c.other = append(c.other, string(p))
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
		if f.Type == "subscribed" && !subscribed {
			subscribed = true
			close(c.subd)
		}
	}
}

func (c *chainClient) snapshotErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// missing compares what the client received with the chain's events per block up to block
// last: the events it lacks, and any block where it got more than the chain has.
func (c *chainClient) missing(want map[uint64]int, last uint64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lack := 0
	for n, w := range want {
		if n > last {
			continue
		}
		got := 0
		if r := c.recv[n]; r != nil {
			got = r.events
		}
		if got > w {
			return 0, fmt.Errorf("block %d: %d event frames, the chain has %d logs", n, got, w)
		}
		lack += w - got
	}
	for n, r := range c.recv {
		if _, ok := want[n]; !ok && r.events > 0 {
			return 0, fmt.Errorf("block %d: %d event frames, the chain has no logs there", n, r.events)
		}
	}
	return lack, nil
}

// BenchmarkConfirmedBlockToWebSocket measures DESIGN's "confirmed block → WebSocket client":
// the chain simulator, over HTTP JSON-RPC on 127.0.0.1, mines one block a second carrying
// -node.rate of the fund's events; one node (Raft over TCP, Pebble, push on its defaults)
// ingests it with 3 confirmations and -node.poll as its poll interval; -node.clients WebSocket
// clients are subscribed to transactions. Block N is confirmed when block N+3 is mined (the
// moment Mine returns); its latency, per client, runs from then until the client has read the
// last event frame of block N's ledger entries. Every event of every confirmed block must reach
// every client, or the run fails. The split: confirmed → the node's ingest checkpoint covers the
// block (Ingester.Status, polled every 5 ms), and from that to the client.
//
//	go test ./node -run XXX -bench ConfirmedBlockToWebSocket -benchtime 1x -node.chain 60s
//	go test ./node -run XXX -bench ConfirmedBlockToWebSocket -benchtime 1x -node.chain 60s -node.poll 0
func BenchmarkConfirmedBlockToWebSocket(b *testing.B) {
	const confirmations = 3
	for range b.N {
		ctx := context.Background()
		scfg := chainsim.DefaultConfig()
		scfg.Addr, scfg.BlockInterval, scfg.Rate, scfg.Seed = "127.0.0.1:0", 0, *chainRate, 42
		scfg.Logger = testutil.Logger(b, "chainsim", slog.LevelWarn)
		sim, err := chainsim.New(scfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := sim.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sim.Close() })

		cfg := newConfig(b, 0, []string{freeAddr(b)}, 1)
		cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
		cfg.Ingest.ChainID = chainsim.ChainID
		cfg.Ingest.RPCURLs = []string{sim.URL()}
		cfg.Ingest.Confirmations = confirmations
		if *chainPoll > 0 {
			cfg.Ingest.PollInterval = time.Duration(*chainPoll)
		}
		n, err := New(cfg, testutil.Logger(b, cfg.Node.ID, slog.LevelWarn), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.Close(ctx)
		})
		testutil.CheckFor(b, 15*time.Second, func() error {
			if !n.Store().IsLeader() {
				return errors.New("not leading yet")
			}
			if st := n.Ingester().Status(); !st.Running {
				return fmt.Errorf("ingest not running yet (%s)", st.LastError)
			}
			return nil
		})
		clients := make([]*chainClient, *chainClients)
		for i := range clients {
			clients[i] = dialChainClient(b, n.HTTPAddr())
		}
		b.Logf("poll_interval %s, confirmations %d, %d clients, %.0f events per block", cfg.Ingest.PollInterval, confirmations, len(clients), *chainRate)

		mined := map[uint64]time.Time{} // block → when Mine returned with it
		start0, _ := sim.Head()
		// A watcher notes when the node's ingest checkpoint first covers each block.
		var amu sync.Mutex
		applied := map[uint64]time.Time{}
		seen := max(start0, n.Ingester().Status().LastApplied)
		watch := func() {
			a := n.Ingester().Status().LastApplied
			now := time.Now()
			amu.Lock()
			defer amu.Unlock()
			for ; seen < a; seen++ {
				applied[seen+1] = now
			}
		}
		stopWatch, watchDone := make(chan struct{}), make(chan struct{})
		var stopOnce sync.Once
		endWatch := func() { stopOnce.Do(func() { close(stopWatch); <-watchDone }) }
		b.Cleanup(endWatch)
		go func() {
			defer close(watchDone)
			for {
				select {
				case <-stopWatch:
					return
				case <-time.After(5 * time.Millisecond):
				}
				watch()
			}
		}()
		b.ResetTimer()
		start := time.Now()
		end := start.Add(*chainDuration)
		next := start
		for time.Now().Before(end) {
			next = next.Add(time.Second)
			if err := sim.Mine(ctx, 1); err != nil {
				b.Fatal(err)
			}
			head, _ := sim.Head()
			mined[head] = time.Now()
			time.Sleep(time.Until(next))
		}
		took := time.Since(start)
		head, _ := sim.Head()
		last := head - confirmations // the last confirmed block

		// Every event of every confirmed block must reach every client.
		logs, err := sim.Canonical(ctx)
		if err != nil {
			b.Fatal(err)
		}
		want := map[uint64]int{}
		emitted, events := 0, 0 // the logs the run mined; those of its confirmed blocks
		for i := range logs {
			bn := logs[i].BlockNumber
			if bn > start0 {
				emitted++
			}
			if bn <= last {
				want[bn]++
				if bn > start0 {
					events++
				}
			}
		}
		testutil.CheckFor(b, 30*time.Second, func() error {
			for i, c := range clients {
				if err := c.snapshotErr(); err != nil {
					return fmt.Errorf("client %d: connection ended: %v", i, err)
				}
				lack, err := c.missing(want, last)
				if err != nil {
					b.Fatalf("client %d: %v", i, err)
				}
				if lack > 0 {
					st := n.Ingester().Status()
					return fmt.Errorf("client %d lacks %d events of blocks ≤ %d (applied %d, skipped %v, error %q)", i, lack, last, st.LastApplied, st.Skipped, st.LastError)
				}
			}
			return nil
		})
		b.StopTimer()
		endWatch()
		for i, c := range clients {
			c.mu.Lock()
			if len(c.other) > 0 {
				b.Errorf("client %d: %d unexpected frames, first %s", i, len(c.other), c.other[0])
			}
			c.mu.Unlock()
		}

		// Latencies of the blocks confirmed during the run (block N+3 mined by the loop).
		var lat, toApplied, toClient []time.Duration
		blocks := 0
		for bn, w := range want {
			conf, ok := mined[bn+confirmations]
			if !ok || w == 0 {
				continue
			}
			blocks++
			ap, hasAp := applied[bn]
			if hasAp {
				toApplied = append(toApplied, ap.Sub(conf))
			}
			for _, c := range clients {
				c.mu.Lock()
				got := c.recv[bn].last
				c.mu.Unlock()
				lat = append(lat, got.Sub(conf))
				if hasAp {
					toClient = append(toClient, got.Sub(ap))
				}
			}
		}
		if len(lat) == 0 {
			b.Fatal("no block was confirmed during the run")
		}
		pct := func(d []time.Duration, p int) float64 {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000
		}
		b.ReportMetric(float64(emitted)/took.Seconds(), "events/s")
		b.ReportMetric(float64(events), "events")
		b.ReportMetric(float64(blocks), "blocks")
		b.ReportMetric(pct(lat, 50), "p50-ms")
		b.ReportMetric(pct(lat, 99), "p99-ms")
		b.ReportMetric(pct(lat, 100), "max-ms")
		if len(toApplied) > 0 {
			b.ReportMetric(pct(toApplied, 50), "applied-p50-ms")
			b.ReportMetric(pct(toApplied, 99), "applied-p99-ms")
			b.ReportMetric(pct(toClient, 50), "push-p50-ms")
			b.ReportMetric(pct(toClient, 99), "push-p99-ms")
		}
		b.Logf("%d events in %d confirmed blocks over %s, all received by each of %d clients; confirmed → client P50 %.1f ms, P99 %.1f ms, max %.1f ms",
			events, blocks, took.Round(time.Millisecond), len(clients), pct(lat, 50), pct(lat, 99), pct(lat, 100))
	}
}
