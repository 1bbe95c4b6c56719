// Command seedplan runs the performance report's load plan in one go: a three-node cluster of
// real paimon processes with PostgreSQL sync and the chain simulator, and the report's four
// tests at once, at its rates and durations: open-loop API reads at 2,000/s for 10 minutes
// over every public and authenticated read, 1,000 price writes/s for 5 minutes, 500 chain
// events/s for 5 minutes through ingest, and 5,000 WebSocket clients held the whole run. It
// prints one table of the report's targets against what was measured, with the margin, and
// the resources used; it exits 1 when an acknowledged write is missing from a node or from
// PostgreSQL, or when a target is missed.
//
//	go run ./bench/seedplan                 full length (about 12 minutes)
//	go run ./bench/seedplan -scale 0.05     every duration × 0.05 (about a minute)
//
// See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/bench/internal/benchkit"
	"paimon/internal/chainsim"
	"paimon/internal/pgtest"
)

type options struct {
	scale                           float64
	out                             string
	keep                            bool
	pgDSN                           string
	readRate, writeRate             int
	eventRate                       float64
	wsConns                         int
	readDur, writeDur, eventDur     time.Duration
	readWorkers, writeWorkers       int
	priceClients, eventClients      int
	perIP                           int
	confirmations                   int
	blockInterval                   time.Duration
	timeout                         time.Duration
	startTimeout, drain, warmupWait time.Duration
	nodeLogLevel                    string
	seed                            int64
	repo                            string
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("seedplan", flag.ContinueOnError)
	fs.Float64Var(&o.scale, "scale", 1, "multiply every test's duration (1: the report's 10 and 5 minutes)")
	fs.StringVar(&o.out, "out", "", "write the results as JSON to FILE")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (configs, the nodes' data and logs, PostgreSQL's)")
	fs.StringVar(&o.pgDSN, "pg-dsn", "", "use this PostgreSQL database (empty: start a throwaway server with initdb/pg_ctl)")
	fs.IntVar(&o.readRate, "read-rate", 2000, "API reads per second (open loop, over the three nodes)")
	fs.IntVar(&o.writeRate, "write-rate", 1000, "price writes per second (open loop, over the three nodes)")
	fs.Float64Var(&o.eventRate, "event-rate", 500, "chain events per second")
	fs.IntVar(&o.wsConns, "ws-conns", 5000, "WebSocket clients, held the whole run")
	fs.DurationVar(&o.readDur, "read-duration", 10*time.Minute, "length of the read test at -scale 1")
	fs.DurationVar(&o.writeDur, "write-duration", 5*time.Minute, "length of the write test at -scale 1")
	fs.DurationVar(&o.eventDur, "event-duration", 5*time.Minute, "length of the chain event test at -scale 1")
	fs.IntVar(&o.readWorkers, "read-workers", 150, "concurrent readers (each one request at a time)")
	fs.IntVar(&o.writeWorkers, "write-workers", 100, "concurrent writers, each with an asset of its own")
	fs.IntVar(&o.priceClients, "ws-price-clients", 24, "WebSocket clients that also subscribe to prices (the WebSocket latency probes)")
	fs.IntVar(&o.eventClients, "ws-event-clients", 3, "WebSocket clients that also subscribe to transactions (the event processing probes)")
	fs.IntVar(&o.perIP, "per-ip", 250, "WebSocket connections per loopback source address (under max_conns_per_ip, 256)")
	fs.IntVar(&o.confirmations, "confirmations", 15, "ingest.confirmations (BSC: 15)")
	fs.DurationVar(&o.blockInterval, "block-interval", time.Second, "time between the chain's blocks")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "per request; an unanswered request is an error")
	fs.DurationVar(&o.startTimeout, "start-timeout", 2*time.Minute, "longest wait for the cluster to form")
	fs.DurationVar(&o.warmupWait, "warmup", 3*time.Minute, "longest wait for the chain's first redemption to reach the nodes before the tests")
	fs.DurationVar(&o.drain, "drain", 2*time.Minute, "longest wait for deliveries after the writes and events end")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the nodes' log level")
	fs.Int64Var(&o.seed, "seed", 1, "chain simulator and request mix seed")
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.scale <= 0:
		return nil, errors.New("-scale must be positive")
	case o.readRate < 1 || o.writeRate < 1 || o.eventRate <= 0 || o.wsConns < 3:
		return nil, errors.New("-read-rate, -write-rate, -event-rate must be positive and -ws-conns at least 3")
	case o.priceClients+o.eventClients > o.wsConns || o.priceClients < 0 || o.eventClients < 0:
		return nil, errors.New("-ws-price-clients + -ws-event-clients must be within -ws-conns")
	case o.readWorkers < 1 || o.writeWorkers < 1 || o.readWorkers > 250 || o.writeWorkers > 250:
		// Each kind has a loopback address of its own, and any worker may be on any node at
		// once: at most 250 connections per address and node, under max_conns_per_ip (256).
		return nil, errors.New("-read-workers and -write-workers must be 1 to 250 (one address each, under max_conns_per_ip)")
	case o.perIP < 1 || o.perIP > 250:
		return nil, errors.New("-per-ip must be 1 to 250")
	case o.confirmations < 0 || o.blockInterval < 10*time.Millisecond:
		return nil, errors.New("-confirmations must be ≥ 0 and -block-interval ≥ 10ms")
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "seedplan", Pkg: "./bench/seedplan", Parse: parseFlags, Run: run,
		Interrupted: func(*options) string { return "the nodes, PostgreSQL and the chain were stopped" },
	}.Main(os.Args[1:]))
}

// errFailed is the run's verdict when a write was lost or a target missed: the table says which.
var errFailed = errors.New("a target was missed or an acknowledged write was lost (see the table)")

func run(ctx context.Context, o *options, command string) error {
	rep, err := runPlan(ctx, o, command)
	if err != nil {
		return err
	}
	if !rep.OK {
		return errFailed
	}
	return nil
}

// runPlan starts everything, runs the four tests, verifies, prints the table and returns it.
func runPlan(ctx context.Context, o *options, command string) (rep *report, err error) {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) * o.scale) }
	readDur, writeDur, eventDur := scaled(o.readDur), scaled(o.writeDur), scaled(o.eventDur)
	if err := raiseNoFile(o.wsConns + 2000); err != nil {
		return nil, err
	}
	repo, err := benchkit.FindRepo(o.repo)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paimon-seedplan-")
	if err != nil {
		return nil, err
	}
	defer benchkit.RemoveTemp(dir, o.keep, &err)
	before := benchkit.ReadMachine(repo)
	fmt.Printf("seedplan: reads %s/s for %s, writes %s/s for %s, chain events %.0f/s for %s, %s WebSocket clients (scale %g)\n",
		benchkit.Thousands(o.readRate), readDur, benchkit.Thousands(o.writeRate), writeDur, o.eventRate, eventDur, benchkit.Thousands(o.wsConns), o.scale)

	bin := filepath.Join(dir, "paimon")
	fmt.Println("building the node …")
	if err := benchkit.GoBuild(ctx, repo, bin, "./cmd/paimon"); err != nil {
		return nil, err
	}

	// PostgreSQL.
	dsn, pgDir := o.pgDSN, ""
	if dsn == "" {
		pg, err := pgtest.New()
		if err != nil {
			return nil, err
		}
		defer pg.Close()
		dsn, pgDir = pg.DSN(), pg.DataDir()
		fmt.Printf("PostgreSQL: a throwaway server, %s\n", dsn)
	}

	// The chain: empty blocks until the cluster is up, then events at the rate.
	simCfg := chainsim.DefaultConfig()
	simCfg.BlockInterval, simCfg.Rate, simCfg.Seed, simCfg.Holders = o.blockInterval, 0, o.seed, max(o.wsConns, 500)
	sim, err := chainsim.New(simCfg)
	if err != nil {
		return nil, err
	}
	if err := sim.Start(); err != nil {
		return nil, err
	}
	defer sim.Close()
	ch := newChain(sim)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go ch.watch(watchCtx)
	fmt.Printf("chain: %s, a block every %s, %d confirmations\n", sim.URL(), o.blockInterval, o.confirmations)

	// The cluster.
	c, err := startCluster(clusterSpec{dir: dir, bin: bin, logLevel: o.nodeLogLevel, dsn: dsn, ingest: sim.ConfigSnippet(o.confirmations),
		readConns: o.readWorkers, writeConns: o.writeWorkers, timeout: o.timeout})
	defer func() {
		if c == nil {
			return
		}
		if stopErr := c.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err != nil {
		return nil, err
	}
	leader, err := c.waitFormed(ctx, o.startTimeout)
	if err != nil {
		return nil, err
	}
	fmt.Printf("cluster: %s (leader), %s, %s\n", leader.id, c.members[1].httpAddr, c.members[2].httpAddr)

	// The chain's events start; the WebSocket clients connect meanwhile.
	if err := sim.SetRate(o.eventRate); err != nil {
		return nil, err
	}
	sessionTok, err := login(ctx, leader)
	if err != nil {
		return nil, err
	}
	pool := &wsPool{ch: ch}
	t0 := time.Now()
	pool.openAll(ctx, c.members, wsSpec{conns: o.wsConns, priceClients: o.priceClients, eventClients: o.eventClients, perIP: o.perIP,
		holders: simCfg.Holders, seed: o.seed, token: c.viewer, timeout: 30 * time.Second}, func(n int) string {
		return strings.ToLower(chainsim.HolderAddr(o.seed, n).Hex())
	})
	fmt.Printf("WebSocket: %s of %s connections subscribed in %s (%d failed%s)\n", benchkit.Thousands(int(pool.opened.Load())),
		benchkit.Thousands(o.wsConns), time.Since(t0).Round(100*time.Millisecond), pool.failed.Load(), firstOf(pool.firstErr))
	params, err := waitForData(ctx, c, o, sessionTok)
	if err != nil {
		return nil, err
	}
	eps := endpoints
	if params.ticket == "" {
		eps = without(eps, "approval")
		fmt.Println("reads: no approval ticket on the chain yet: GET /v1/approvals/{id} is left out")
	}

	// The four tests, at once.
	fmt.Printf("\nthe tests start: %s\n", time.Now().UTC().Format(time.RFC3339))
	meter := startMeter(ctx, c, pgDir)
	msgs0 := pool.messages()
	start := time.Now().Add(200 * time.Millisecond)
	rd := newReader(benchkit.Timeline{Rate: o.readRate, Duration: readDur}, eps, c.members, params, o.readWorkers, o.timeout, uint64(o.seed))
	wr := newWriter(benchkit.Timeline{Rate: o.writeRate, Duration: writeDur}, c.members, c.admin, o.writeWorkers, o.timeout)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); rd.run(ctx, start) }()
	go func() { defer wg.Done(); wr.run(ctx, start) }()
	var evErr error
	var eventsEnd time.Time
	go func() {
		defer wg.Done()
		_ = sleep(ctx, time.Until(start))
		ch.startWindow()
		if sleep(ctx, eventDur) != nil {
			return
		}
		_, evErr = ch.endWindow()
		eventsEnd = time.Now()
	}()
	vis := &visibility{}
	visCtx, stopVis := context.WithCancel(ctx)
	defer stopVis()
	visDone := make(chan struct{})
	go func() { defer close(visDone); ch.pollVisible(visCtx, c.members, vis) }()
	stopProgress := progress(ctx, start, rd, wr, ch, pool)
	wg.Wait()
	stopProgress()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if evErr != nil {
		return nil, evErr
	}
	eventSecs := eventsEnd.Sub(start).Seconds()

	// Deliveries still on their way: every acknowledged write to each price client, every
	// measured event to each event client.
	expected, err := ch.expectedEvents(ctx)
	if err != nil {
		return nil, err
	}
	drained := drain(ctx, pool, int64(wr.ok.Load()), int64(expected), func() bool { return vis.missing(ch) == 0 }, o.drain)
	stopVis()
	<-visDone
	usage := meter.stop()
	wsOpen := pool.openNow()
	wsMsgs := pool.messages() - msgs0

	fmt.Println("verifying: every acknowledged write on every node and in PostgreSQL …")
	ver := verify(ctx, c, wr)
	after := benchkit.LoadAvg()
	pool.closeAll()

	rep = buildReport(o, command, before, after, rd, wr, ch, pool, vis, expected, eventSecs, drained, usage, ver, wsOpen, wsMsgs,
		readDur, writeDur)
	rep.print(os.Stdout)
	if o.out != "" {
		if err := benchkit.WriteJSON(o.out, rep); err != nil {
			return rep, err
		}
		fmt.Printf("results written to %s\n", o.out)
	}
	return rep, nil
}

func firstOf(s string) string {
	if s == "" {
		return ""
	}
	return "; first: " + s
}

func without(eps []endpoint, name string) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if e.Name != name {
			out = append(out, e)
		}
	}
	return out
}

// raiseNoFile raises the open-file soft limit to at least n (up to the hard limit); the
// nodes, started after, inherit it. The Go runtime raises it to the hard limit by itself;
// this says so when even the hard limit is too low.
func raiseNoFile(n int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Max < uint64(n) {
		return fmt.Errorf("the open-file limit (RLIMIT_NOFILE) is %d here; %d WebSocket clients need about %d", rl.Max, n-2000, n)
	}
	if rl.Cur < uint64(n) {
		rl.Cur = rl.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return nil
}

// login signs a fresh wallet in after granting it the viewer role (POST /v1/admin/roles), so
// that its session reads what the viewer token reads.
func login(ctx context.Context, m *member) (string, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return "", err
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	code, b, err := m.api.Do(ctx, "POST", "/v1/admin/roles", []byte(`{"address":"`+addr+`","role":"viewer"}`), true)
	if err != nil || code != 200 {
		return "", fmt.Errorf("POST /v1/admin/roles: %d %s %v", code, benchkit.Snippet(b), err)
	}
	return benchkit.WalletLogin(ctx, m.api, key)
}

// progress prints a line every 10 s (every second below a minute of reads).
func progress(ctx context.Context, start time.Time, rd *reader, wr *writer, ch *chain, pool *wsPool) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := 10 * time.Second
		if rd.tl.Duration < time.Minute {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var reads, rfail int64
			for i := range rd.stats {
				reads += rd.stats[i].sent.Load()
				rfail += rd.stats[i].failed.Load()
			}
			head, _ := ch.sim.Head()
			st := ch.sim.Stats()
			fmt.Printf("%6s  reads %s (%d failed)  writes %s (%d failed)  chain head %d, %s events  ws open %s, probes min %d, events min %d\n",
				time.Since(start).Round(time.Second), benchkit.Thousands(int(reads)), rfail, benchkit.Thousands(int(wr.ok.Load())), wr.failed.Load(),
				head, benchkit.Thousands(st.Events), benchkit.Thousands(pool.openNow()), first(pool.fewest(true)), first(pool.fewest(false)))
		}
	}()
	return func() { cancel(); <-done }
}

func first(a int64, _ int) int64 { return a }

// drain waits until each price client has every acknowledged write, each event client every
// measured event and every node shows the last measured block in its API, or nothing arrived
// for 10 s, or timeout passed; it says which.
func drain(ctx context.Context, pool *wsPool, writes, events int64, visible func() bool, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	last, lastChange := int64(-1), time.Now()
	for {
		p, pc := pool.fewest(true)
		e, ec := pool.fewest(false)
		if (pc == 0 || p >= writes) && (ec == 0 || e >= events) && visible() {
			return "complete"
		}
		if n := pool.messages(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 10*time.Second {
			return "quiet"
		}
		if time.Now().After(deadline) || sleep(ctx, 200*time.Millisecond) != nil {
			return "timeout"
		}
	}
}
