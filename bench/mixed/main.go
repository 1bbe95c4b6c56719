// Command mixed measures the node's latency under a constant rate of mixed requests: the
// dashboards' and wallets' reads and a small share of writes, sent open-loop (request i at
// start + i/rate, whether or not the earlier ones were answered), with each request's latency
// measured from its scheduled time.
//
// From the repository root:
//
//	go run ./bench/mixed [-rate 2000] [-duration 30s] [-warmup 5s] [-mix K=W,...] [-json FILE]
//
// It builds the node, starts it on free loopback ports with a temporary data folder (embedded
// defaults: the node writes and accepts a local admin token), loads a generated data set
// (fundtest.Generate) through POST /v1/admin/logs as bench/httpbench does, then runs the
// timeline and prints per request kind and overall the count, errors, achieved rate, latency
// P50/P90/P99/P99.9/max from the schedule and P99 from the send, how late the generator sent,
// and a verdict against DESIGN.md's "P99 < 5 ms at 2,000 req/s under mixed load". See
// bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

type options struct {
	repo         string
	rate         int
	duration     time.Duration
	warmup       time.Duration
	mix          []mixEntry
	mixText      string
	workers      int
	timeout      time.Duration
	progress     time.Duration
	seed         uint64
	spec         fundtest.Spec
	maxBody      int
	jsonPath     string
	keep         bool
	nodeLogLevel string
}

func parseFlags(args []string) (*options, error) {
	o := &options{spec: fundtest.DefaultSpec()}
	fs := flag.NewFlagSet("mixed", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.IntVar(&o.rate, "rate", 2000, "requests per second, on a fixed timeline")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured time")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured time at the same rate before it (0: none)")
	fs.StringVar(&o.mixText, "mix", defaultMix, "request kinds and their relative weights: "+kindKeys())
	fs.IntVar(&o.workers, "workers", 250, "concurrent senders, each with at most one request (and one connection) in flight; with the run's own calls under the node's http.max_conns_per_ip (256)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Second, "a request not answered within this counts as a transport error")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "print progress this often (0: never)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the request order, holders and assets drawn (the data set has its own, -data-seed)")
	fs.Int64Var(&o.spec.Seed, "data-seed", o.spec.Seed, "data set seed")
	fs.IntVar(&o.spec.Holders, "holders", o.spec.Holders, "data set: holders (one deposit each)")
	fs.IntVar(&o.spec.NavHours, "nav-hours", o.spec.NavHours, "data set: hourly NAV points (8760 = a year)")
	fs.IntVar(&o.spec.Redemptions, "redemptions", o.spec.Redemptions, "data set: redemption requests")
	fs.IntVar(&o.maxBody, "max-body", 1<<20, "largest POST /v1/admin/logs body in bytes while loading (the node's http.max_body_bytes)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (node binary, data, node log)")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the node's -log-level")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.mix, err = parseMix(o.mixText); err != nil {
		return nil, fmt.Errorf("-mix: %w", err)
	}
	switch {
	case o.rate < 1 || o.rate > 1_000_000:
		return nil, errors.New("-rate must be between 1 and 1,000,000")
	case o.duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case o.workers < 1:
		return nil, errors.New("-workers must be ≥ 1")
	case o.timeout <= 0:
		return nil, errors.New("-timeout must be positive")
	case o.spec.Holders < 1 || o.spec.NavHours < 1 || o.spec.Redemptions < 0:
		return nil, errors.New("-holders and -nav-hours must be ≥ 1, -redemptions ≥ 0")
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "mixed", Pkg: "./bench/mixed", Parse: parseFlags, Run: bench,
		Interrupted: func(*options) string { return "stopped the node" },
	}.Main(os.Args[1:]))
}

// bench runs the whole benchmark. The node is stopped and the temporary folder removed on
// return, whatever the outcome.
func bench(ctx context.Context, o *options, command string) (err error) {
	repo, err := benchkit.FindRepo(o.repo)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "paimon-mixed-")
	if err != nil {
		return err
	}
	defer benchkit.RemoveTemp(tmp, o.keep, &err)

	tl := benchkit.Timeline{Rate: o.rate, Warmup: o.warmup, Duration: o.duration}
	rep := &report{Time: time.Now().UTC(), Command: command, Machine: machineInfo(repo), Mix: formatMix(o.mix), Settings: map[string]any{
		"rate": o.rate, "duration": o.duration.String(), "warmup": o.warmup.String(), "mix": o.mixText, "workers": o.workers,
		"timeout": o.timeout.String(), "seed": o.seed, "dataSeed": o.spec.Seed, "holders": o.spec.Holders, "navHours": o.spec.NavHours,
		"redemptions": o.spec.Redemptions, "client": "fasthttp.HostClient, keep-alive, MaxConns = workers",
	}}
	fmt.Printf("command: %s\n", command)
	rep.printMachine()

	// 1. Build and start the node: embedded defaults, one node that bootstraps itself.
	t0 := time.Now()
	nodeBin := filepath.Join(tmp, "paimon")
	if err := benchkit.GoBuild(ctx, repo, nodeBin, "./cmd/paimon"); err != nil {
		return err
	}
	fmt.Printf("built the node in %s\n", time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	nodeProc, n, err := benchkit.StartNode(ctx, benchkit.NodeSpec{Bin: nodeBin, Dir: tmp, LogLevel: o.nodeLogLevel})
	defer benchkit.StopProc(nodeProc, &err)
	if err != nil {
		return err
	}
	fmt.Printf("node ready at %s (raft %s) in %s\n", n.HTTPAddr, n.RaftAddr, time.Since(t0).Round(10*time.Millisecond))

	// 2. Load the data set and check that the node holds it.
	data, ls, err := benchkit.LoadData(ctx, n, o.spec, o.maxBody)
	if err != nil {
		return fmt.Errorf("%w\nnode log:\n%s", err, nodeProc.LogTail(20))
	}
	rep.Load = map[string]any{"logs": ls.Logs, "bodies": ls.Bodies, "accepted": ls.Accepted, "postSeconds": ls.Post.Seconds()}
	if err := benchkit.CheckLoaded(ctx, n, data); err != nil {
		return err
	}
	tgt, err := newTarget(ctx, n, data.Holders)
	if err != nil {
		return err
	}

	// 3. The timeline: warm-up and measured window back to back at the same rate.
	g := newGenerator(tl, deck(o.mix, o.seed), tgt, n.HTTPAddr, o.workers, o.timeout, o.seed)
	fmt.Printf("\nmix: %s\n", rep.Mix)
	fmt.Printf("open loop: %s req/s for %s (after a %s warm-up), %d workers, timeout %s: %s requests\n",
		benchkit.Thousands(o.rate), o.duration, o.warmup, o.workers, o.timeout, benchkit.Thousands(int(tl.Total())))
	start := time.Now().Add(100 * time.Millisecond) // every worker waits for its first request
	var before, after sample
	sampled := make(chan struct{})
	stopSide := make(chan struct{})
	go func() {
		defer close(sampled)
		if !sleepUntil(stopSide, g.windowStartAt(start)) {
			return
		}
		before = takeSample(ctx, n, nodeProc)
		printProgress(stopSide, g, o.progress)
	}()
	g.run(ctx, start)
	close(stopSide)
	<-sampled
	after = takeSample(ctx, n, nodeProc)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if nodeProc.Exited() {
		return fmt.Errorf("the node exited during the benchmark: %v\n%s", nodeProc.Err(), nodeProc.LogTail(20))
	}

	// 4. Report.
	rep.Machine.LoadAfter = benchkit.LoadAvg()
	rep.results(g, o.mix)
	rep.Node = nodeResult{CPUSeconds: after.nodeCPU - before.nodeCPU, RunnerCPUSeconds: after.selfCPU - before.selfCPU, Cache: map[string]float64{}}
	for k, v := range after.cache {
		rep.Node.Cache[k] = v - before.cache[k]
	}
	rep.printTable()
	if o.jsonPath != "" {
		if err := benchkit.WriteJSON(o.jsonPath, rep); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", o.jsonPath)
	}
	return nil
}

// newTarget collects what the requests draw from: the data set's holders and the assets the
// node has prices for.
func newTarget(ctx context.Context, n *benchkit.Node, holders []common.Address) (*target, error) {
	b, err := n.Get(ctx, "/v1/prices", false)
	if err != nil {
		return nil, err
	}
	var prices struct {
		Items []struct {
			Asset string `json:"asset"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &prices); err != nil {
		return nil, fmt.Errorf("GET /v1/prices: %w", err)
	}
	t := &target{base: n.Base, token: n.Token, holders: holders}
	for _, p := range prices.Items {
		t.assets = append(t.assets, p.Asset)
	}
	if len(t.assets) == 0 || len(holders) == 0 {
		return nil, fmt.Errorf("the data set has %d holders and the node %d priced assets; need both", len(holders), len(t.assets))
	}
	for _, h := range holders {
		t.hexes = append(t.hexes, strings.ToLower(h.Hex()))
	}
	return t, nil
}

// sample is what is read from the node at the start and end of the measured window.
type sample struct {
	nodeCPU, selfCPU float64
	cache            map[string]float64 // paimon_cache_requests_total by result
}

func takeSample(ctx context.Context, n *benchkit.Node, p *benchkit.Proc) sample {
	s := sample{nodeCPU: p.CPUSeconds(), selfCPU: benchkit.SelfCPUSeconds(), cache: map[string]float64{}}
	if b, err := n.Get(ctx, "/metrics", false); err == nil {
		s.cache = cacheCounters(b)
	}
	return s
}

// cacheCounters reads paimon_cache_requests_total{result="..."} from a /metrics text.
func cacheCounters(metrics []byte) map[string]float64 {
	const prefix = `paimon_cache_requests_total{result="`
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		result, value, ok := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); ok && err == nil {
			out[result] = v
		}
	}
	return out
}

// sleepUntil waits until t; false when stop closes first.
func sleepUntil(stop <-chan struct{}, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-stop:
		return false
	case <-timer.C:
		return true
	}
}

// printProgress prints the measured requests sent and failed, and the requests in flight, every
// d until stop closes.
func printProgress(stop <-chan struct{}, g *generator, d time.Duration) {
	if d <= 0 {
		return
	}
	t0 := time.Now()
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			var failed int64
			for i := range g.stats {
				failed += g.stats[i].non2xx.Load() + g.stats[i].transport.Load() + g.stats[i].other.Load()
			}
			fmt.Printf("  %s: %s measured requests answered, %d failed, %d in flight\n", time.Since(t0).Round(time.Second),
				benchkit.Thousands(int(g.sent.Load())), failed, g.inFlight.Load())
		}
	}
}
