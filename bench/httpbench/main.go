// Command httpbench measures the node's HTTP read path against a bare fasthttp handler on the
// same machine in the same run.
//
// From the repository root:
//
//	go run ./bench/httpbench [-duration 10s] [-threads 2] [-connections 64] [-json FILE]
//
// It builds the node and bench/bare, starts the node on free loopback ports with a temporary
// data folder (embedded defaults, so the node writes and accepts a local admin token), loads a
// generated data set (fundtest.Generate: 5,000 holders, a year of hourly NAV points, 500
// redemptions by default) through POST /v1/admin/logs, starts bench/bare serving the exact
// bytes of the node's overview, then runs wrk against each target in turn and prints a table
// of req/s, P50, P99 and the ratio to the bare handler. Ctrl-C stops everything and removes
// the temporary folder. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

// The targets, in the order they run.
const (
	targetBare     = "bare fasthttp (same bytes)"
	targetOverview = "GET /v1/fund/overview"
	targetNav      = "GET /v1/fund/nav/history"
	targetAccount  = "GET /v1/accounts/{address}"
	// The overview again with credentials: what authentication costs on a cached read.
	targetOverviewToken   = "GET /v1/fund/overview (token)"
	targetOverviewSession = "GET /v1/fund/overview (session)"
	// The risk status: a public materialized view served from the cache like the overview.
	targetRisk = "GET /v1/risk/status"
	// The NAV history with an Accept-Encoding: its compressed representation from the cache.
	targetNavGzip = "GET /v1/fund/nav/history (gzip)"
	targetNavBr   = "GET /v1/fund/nav/history (br)"
	targetNavZstd = "GET /v1/fund/nav/history (zstd)"
)

var targetKeys = map[string]string{
	"bare": targetBare, "overview": targetOverview, "nav": targetNav, "account": targetAccount,
	"overview_token": targetOverviewToken, "overview_session": targetOverviewSession, "risk": targetRisk,
	"nav_gzip": targetNavGzip, "nav_br": targetNavBr, "nav_zstd": targetNavZstd,
}

// targetEncoding is the Accept-Encoding a target sends (none: wrk sends no such header).
var targetEncoding = map[string]string{targetNavGzip: "gzip", targetNavBr: "br", targetNavZstd: "zstd"}

// sizedReads are the cached reads whose bytes per response the run prints in every coding
// (path, whether it needs the token).
var sizedReads = []struct {
	path string
	auth bool
}{
	{"/v1/fund/overview", false}, {"/v1/fund/nav/history", false}, {"/v1/fund/nav/history?interval=1h&limit=1000", false},
	{"/v1/fund/tiers", false}, {"/v1/fund/flows", false}, {"/v1/fund/assets", false}, {"/v1/prices", false},
	{"/v1/risk/status", false}, {"/v1/fund/fees", true}, {"/v1/transactions", true}, {"/v1/redemptions", true},
	{"/v1/audit", true},
}

type options struct {
	repo         string
	wrk          wrkParams
	warmup       time.Duration
	rounds       int
	spec         fundtest.Spec
	maxBody      int
	targets      []string
	jsonPath     string
	keep         bool
	nodeLogLevel string
}

func parseFlags(args []string) (*options, error) {
	o := &options{spec: fundtest.DefaultSpec()}
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&o.wrk.bin, "wrk", "wrk", "wrk binary")
	fs.IntVar(&o.wrk.threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.wrk.connections, "connections", 64, "wrk connections (-c)")
	fs.DurationVar(&o.wrk.duration, "duration", 10*time.Second, "measured wrk run per target (-d)")
	fs.DurationVar(&o.wrk.timeout, "timeout", 2*time.Second, "wrk request timeout (--timeout)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each target (0: none)")
	fs.IntVar(&o.rounds, "rounds", 1, "run the targets this many times in turn and report each target's median run")
	fs.Int64Var(&o.spec.Seed, "seed", o.spec.Seed, "data set seed")
	fs.IntVar(&o.spec.Holders, "holders", o.spec.Holders, "data set: holders (one deposit each)")
	fs.IntVar(&o.spec.NavHours, "nav-hours", o.spec.NavHours, "data set: hourly NAV points (8760 = a year)")
	fs.IntVar(&o.spec.Redemptions, "redemptions", o.spec.Redemptions, "data set: redemption requests")
	fs.IntVar(&o.maxBody, "max-body", 1<<20, "largest POST /v1/admin/logs body in bytes (the node's http.max_body_bytes)")
	targets := fs.String("targets", "bare,overview,nav,account", "comma-separated targets: bare, overview, nav, account, overview_token, overview_session, risk, nav_gzip, nav_br, nav_zstd")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binaries, data, node log)")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the node's -log-level")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, t := range strings.Split(*targets, ",") {
		name, ok := targetKeys[strings.TrimSpace(t)]
		if !ok {
			return nil, fmt.Errorf("-targets: unknown target %q (want bare, overview, nav, account, overview_token, overview_session, risk, nav_gzip, nav_br, nav_zstd)", t)
		}
		o.targets = append(o.targets, name)
	}
	switch {
	case o.wrk.threads < 1 || o.wrk.connections < o.wrk.threads:
		return nil, errors.New("-threads must be ≥ 1 and -connections ≥ -threads")
	case o.rounds < 1:
		return nil, errors.New("-rounds must be ≥ 1")
	case o.wrk.duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.spec.Holders < 1 || o.spec.NavHours < 1 || o.spec.Redemptions < 0:
		return nil, errors.New("-holders and -nav-hours must be ≥ 1, -redemptions ≥ 0")
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "httpbench", Pkg: "./bench/httpbench", Parse: parseFlags, Run: bench,
		Interrupted: func(*options) string { return "stopped the node and the bare server" },
	}.Main(os.Args[1:]))
}

// bench runs the whole benchmark. Every process it starts is stopped and the temporary folder
// removed on return, whatever the outcome.
func bench(ctx context.Context, o *options, command string) (err error) {
	repo, err := benchkit.FindRepo(o.repo)
	if err != nil {
		return err
	}
	if o.wrk.bin, err = exec.LookPath(o.wrk.bin); err != nil {
		return fmt.Errorf("wrk not found (on Debian: apt-get install -y wrk): %w", err)
	}
	tmp, err := os.MkdirTemp("", "paimon-httpbench-")
	if err != nil {
		return err
	}
	defer benchkit.RemoveTemp(tmp, o.keep, &err)

	rep := &report{Time: time.Now().UTC(), Command: command, Machine: machineInfo(repo, o.wrk.bin), Settings: map[string]any{
		"threads": o.wrk.threads, "connections": o.wrk.connections, "duration": o.wrk.duration.String(),
		"warmup": o.warmup.String(), "rounds": o.rounds, "timeout": o.wrk.timeout.String(), "maxBody": o.maxBody,
		"seed": o.spec.Seed, "holders": o.spec.Holders, "navHours": o.spec.NavHours, "redemptions": o.spec.Redemptions,
	}}
	fmt.Printf("command: %s\n", command)
	rep.printMachine()

	// 1. Build the node and the bare server.
	t0 := time.Now()
	nodeBin, bareBin := filepath.Join(tmp, "paimon"), filepath.Join(tmp, "bare")
	if err := benchkit.GoBuild(ctx, repo, nodeBin, "./cmd/paimon"); err != nil {
		return err
	}
	if err := benchkit.GoBuild(ctx, repo, bareBin, "./bench/bare"); err != nil {
		return err
	}
	fmt.Printf("built the node and bench/bare in %s\n", time.Since(t0).Round(100*time.Millisecond))

	// 2. Start the node: embedded defaults, one node that bootstraps itself.
	t0 = time.Now()
	nodeProc, n, err := benchkit.StartNode(ctx, benchkit.NodeSpec{Bin: nodeBin, Dir: tmp, LogLevel: o.nodeLogLevel})
	defer benchkit.StopProc(nodeProc, &err)
	if err != nil {
		return err
	}
	fmt.Printf("node ready at %s (raft %s) in %s\n", n.HTTPAddr, n.RaftAddr, time.Since(t0).Round(10*time.Millisecond))

	// 3. Load the data set and check that the node holds it.
	data, ls, err := benchkit.LoadData(ctx, n, o.spec, o.maxBody)
	if err != nil {
		return fmt.Errorf("%w\nnode log:\n%s", err, nodeProc.LogTail(20))
	}
	rep.Load = map[string]any{
		"logs": ls.Logs, "bodies": ls.Bodies, "accepted": ls.Accepted, "generateSeconds": ls.Generate.Seconds(),
		"postSeconds": ls.Post.Seconds(), "logsPerSec": float64(ls.Logs) / ls.Post.Seconds(),
	}
	if err := benchkit.CheckLoaded(ctx, n, data); err != nil {
		return err
	}

	// 4. The bare handler serves the overview's exact bytes from its own process.
	overview, err := n.Get(ctx, "/v1/fund/overview", false)
	if err != nil {
		return err
	}
	bodyFile := filepath.Join(tmp, "overview.json")
	if err := os.WriteFile(bodyFile, overview, 0o600); err != nil {
		return err
	}
	bareProc, err := benchkit.StartProc(benchkit.ProcSpec{Name: "bare", Bin: bareBin, LogPath: filepath.Join(tmp, "bare.log"),
		Args: []string{"-addr", "127.0.0.1:0", "-body", bodyFile}})
	if err != nil {
		return err
	}
	defer benchkit.StopProc(bareProc, &err)
	bareAddr, err := readFirstLogLine(ctx, bareProc, "listening ", 10*time.Second)
	if err != nil {
		return err
	}
	if err := benchkit.WaitHTTP(ctx, bareProc, "http://"+bareAddr+"/v1/fund/overview", 10*time.Second); err != nil {
		return err
	}
	fmt.Printf("bare handler at %s serving the %s overview\n", bareAddr, benchkit.ByteSize(len(overview)))

	// 5. wrk against each target in turn. The account read needs a token: a Lua script adds the
	// header (the admin token is at least viewer).
	script := filepath.Join(tmp, "auth.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", n.Token)), 0o600); err != nil {
		return err
	}
	account := "/v1/accounts/" + strings.ToLower(data.Holders[len(data.Holders)/2].Hex())
	urls := map[string]string{
		targetBare: "http://" + bareAddr + "/v1/fund/overview", targetOverview: n.Base + "/v1/fund/overview",
		targetNav: n.Base + "/v1/fund/nav/history", targetAccount: n.Base + account,
		targetOverviewToken: n.Base + "/v1/fund/overview", targetOverviewSession: n.Base + "/v1/fund/overview",
		targetRisk:    n.Base + "/v1/risk/status",
		targetNavGzip: n.Base + "/v1/fund/nav/history", targetNavBr: n.Base + "/v1/fund/nav/history", targetNavZstd: n.Base + "/v1/fund/nav/history",
	}
	scripts := map[string]string{targetAccount: script, targetOverviewToken: script}
	for t, enc := range targetEncoding {
		s := filepath.Join(tmp, "accept-"+enc+".lua")
		if err := os.WriteFile(s, []byte(fmt.Sprintf("wrk.headers[\"Accept-Encoding\"] = %q\n", enc)), 0o600); err != nil {
			return err
		}
		scripts[t] = s
	}
	if slices.Contains(o.targets, targetOverviewSession) {
		// A wallet session: a fresh key signs the login message (EIP-191), as a user would.
		tok, err := walletLogin(ctx, n)
		if err != nil {
			return err
		}
		sessionScript := filepath.Join(tmp, "session.lua")
		if err := os.WriteFile(sessionScript, []byte(fmt.Sprintf("wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", tok)), 0o600); err != nil {
			return err
		}
		scripts[targetOverviewSession] = sessionScript
		fmt.Println("signed in a wallet for the session target")
	}
	size := map[string]int{targetBare: len(overview), targetOverviewToken: len(overview), targetOverviewSession: len(overview)}
	for _, t := range o.targets {
		if _, known := size[t]; !known {
			b, _, err := getEncoded(ctx, n, strings.TrimPrefix(urls[t], n.Base), t == targetAccount, targetEncoding[t])
			if err != nil {
				return err
			}
			size[t] = len(b)
		}
	}
	if rep.Sizes, err = responseSizes(ctx, n); err != nil {
		return err
	}
	printSizes(rep.Sizes)
	warm := "no warm-up"
	if o.warmup > 0 {
		warm = "after a " + o.warmup.String() + " warm-up"
	}
	fmt.Printf("\nwrk: %d threads, %d connections, %s per target (%s), %d round(s)\n", o.wrk.threads, o.wrk.connections, o.wrk.duration, warm, o.rounds)
	runs := map[string][]wrkResult{}
	lines := map[string]string{}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range o.targets {
			s := scripts[t]
			if o.warmup > 0 && round == 1 {
				if _, _, err := runWrk(ctx, o.wrk, o.warmup, urls[t], s); err != nil {
					return err
				}
			}
			res, line, err := runWrk(ctx, o.wrk, o.wrk.duration, urls[t], s)
			if err != nil {
				return err
			}
			fmt.Printf("  %-34s %10s req/s  p50 %-8s p99 %-8s errors %d\n    %s\n", t, benchkit.Thousands(int(res.RequestsPerSec+0.5)),
				benchkit.FormatMs(res.LatencyMs["p50"]), benchkit.FormatMs(res.LatencyMs["p99"]), res.errors(), line)
			runs[t] = append(runs[t], *res)
			lines[t] = line
		}
	}
	for _, t := range o.targets {
		rep.Results = append(rep.Results, summarize(t, urls[t], lines[t], size[t], runs[t]))
	}
	rep.Machine.LoadAfter = benchkit.LoadAvg()
	rep.setRatios()
	rep.printTable()
	if nodeProc.Exited() {
		return fmt.Errorf("the node exited during the benchmark: %v\n%s", nodeProc.Err(), nodeProc.LogTail(20))
	}
	if o.jsonPath != "" {
		if err := benchkit.WriteJSON(o.jsonPath, rep); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", o.jsonPath)
	}
	return nil
}
