// Command ws measures the node's WebSocket push: connections a node holds, memory per idle
// connection, and how fast an update reaches every subscribed client.
//
// From the repository root:
//
//	go run ./bench/ws [-conns 20000] [-rate 100] [-duration 60s] [-json FILE]
//
// It builds the node and starts it on its embedded defaults (a temporary data folder, free
// loopback ports, the admin token it writes), or uses a running one (-node URL -token T). It
// opens -conns WebSocket connections to /v1/ws from worker processes (this program again,
// with -worker: the open-file limit is per process), spread over source addresses 127.0.0.1,
// 127.0.0.2, ... so that none exceeds push.max_conns_per_ip, and subscribes each to
// "transactions". With the connections idle it reads the node's memory per connection; then
// it posts one mint a write at -rate writes a second for -duration, open-loop, each minting the
// write's send time in microseconds, and every client computes receive time − that value for
// each event it receives. It reports connections opened and dropped, messages expected and
// received, latency percentiles, the node's push metrics and the CPU of node and clients.
// Ctrl-C stops the workers and the node and removes the temporary folder. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// fdReserve is how many descriptors the node keeps for itself (Pebble, the Raft log, its
// listeners, HTTP clients) when the connection count is capped to its open-file limit.
const fdReserve = 200

type options struct {
	repo            string
	conns           int
	rate            int
	duration        time.Duration
	workers         int
	perIP           int
	dialConcurrency int
	readBuffer      int
	pollInterval    time.Duration
	settle          time.Duration
	gcWait          time.Duration
	drain           time.Duration
	node            string
	token           string
	allowRefused    bool
	keep            bool
	jsonPath        string
	nodeLogLevel    string
	server          string // node, bare or both
	rounds          int
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ws", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.IntVar(&o.conns, "conns", 20000, "WebSocket connections (capped to the node's open-file limit − 200)")
	fs.IntVar(&o.rate, "rate", 100, "updates (one mint each) per second during the load")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of the load")
	fs.IntVar(&o.workers, "workers", 0, fmt.Sprintf("worker processes holding the connections (default: enough for at most %d each)", maxPerWorker))
	fs.IntVar(&o.perIP, "per-ip", 250, "connections per source address (under the node's push and http max_conns_per_ip, 256, leaving room for the run's own HTTP calls)")
	fs.IntVar(&o.dialConcurrency, "dial-concurrency", 32, "connections each worker opens at once")
	fs.IntVar(&o.readBuffer, "read-buffer", 64<<10, "bytes a worker's poller reads from a socket at once")
	fs.DurationVar(&o.pollInterval, "poll-interval", 0, "a worker's poller waits this long after serving its ready sockets before it looks again (fewer wake-ups on both sides under load; counted in the latency)")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle time over which the node's memory is sampled (the smallest sample counts)")
	fs.DurationVar(&o.gcWait, "gc-wait", 0, "after the connections open, wait up to this long for the node's next GC before sampling its memory (the runtime forces one every 2 minutes)")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "longest wait for deliveries after the last write is answered")
	fs.StringVar(&o.node, "node", "", "use this running node (http://host:port) instead of starting one")
	fs.StringVar(&o.token, "token", "", "with -node: a viewer-or-above token that may also post logs (operator or admin); default $PAIMON_TOKEN")
	fs.BoolVar(&o.allowRefused, "allow-refused", false, "go on with the connections that opened when the node refuses some")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (node binary, data, node and worker logs)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the node's -log-level")
	fs.StringVar(&o.server, "server", "node", "what the clients connect to: node, bare (the bare fan-out loop: the same frames to the same sockets, no hub) or both (bare then node, -rounds times)")
	fs.IntVar(&o.rounds, "rounds", 1, "with -server both: how many bare/node pairs to run in turn")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.conns < 1:
		return nil, errors.New("-conns must be ≥ 1")
	case o.rate < 1 || o.rate > 100000:
		return nil, errors.New("-rate must be in 1..100000")
	case o.duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.workers < 0 || o.perIP < 1 || o.dialConcurrency < 1 || o.readBuffer < 256 || o.pollInterval < 0:
		return nil, errors.New("-workers must be ≥ 0, -per-ip and -dial-concurrency ≥ 1, -read-buffer ≥ 256, -poll-interval ≥ 0")
	case o.settle < 0 || o.gcWait < 0 || o.drain < time.Second:
		return nil, errors.New("-settle and -gc-wait must be ≥ 0, -drain ≥ 1s")
	case o.server != "node" && o.server != "bare" && o.server != "both":
		return nil, fmt.Errorf("-server %q: want node, bare or both", o.server)
	case o.rounds < 1:
		return nil, errors.New("-rounds must be ≥ 1")
	case sourcesNeeded(o.conns, o.perIP)+1 > benchkit.MaxSources:
		return nil, fmt.Errorf("-conns %d at -per-ip %d needs more source addresses than 127.0.0.0/8 has", o.conns, o.perIP)
	}
	if o.node != "" {
		u, err := url.Parse(o.node)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-node %q: want http://host:port", o.node)
		}
		o.node = strings.TrimRight(o.node, "/")
		if o.token == "" {
			o.token = os.Getenv("PAIMON_TOKEN")
		}
		if o.token == "" {
			return nil, errors.New("-node needs -token (or $PAIMON_TOKEN): an operator or admin token")
		}
	}
	return o, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-worker" {
		os.Exit(runWorker(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "-bare" {
		os.Exit(runBare(os.Args[1:]))
	}
	os.Exit(benchkit.Command[*options]{
		Name: "ws", Pkg: "./bench/ws", Parse: parseFlags, Run: bench,
		Interrupted: func(*options) string { return "stopped the workers and the node" },
	}.Main(os.Args[1:]))
}

// bench runs the whole benchmark: one run against the node or the bare loop, or (-server
// both) bare and node in turn, -rounds times. Every process it starts is stopped and the
// temporary folder removed on return, whatever the outcome.
func bench(ctx context.Context, o *options, command string) (err error) {
	tmp, err := os.MkdirTemp("", "paimon-ws-")
	if err != nil {
		return err
	}
	defer benchkit.RemoveTemp(tmp, o.keep, &err)
	if o.token != "" {
		command = strings.ReplaceAll(command, o.token, "$PAIMON_TOKEN") // a secret stays out of the report
	}
	repo, _ := benchkit.FindRepo(o.repo) // for the commit; required only to build a node
	servers := []string{o.server}
	rounds := 1
	if o.server == "both" {
		servers, rounds = []string{serverBare, serverNode}, o.rounds
	}
	var all []*result
	for round := 1; round <= rounds; round++ {
		for _, srv := range servers {
			if len(servers) > 1 {
				fmt.Printf("\n==== round %d of %d: %s ====\n", round, rounds, srv)
			}
			res, err := runOne(ctx, o, command, repo, tmp, srv)
			if err != nil {
				return err
			}
			res.Round = round
			all = append(all, res)
		}
	}
	if len(all) > 1 {
		printComparison(all)
	}
	if o.jsonPath != "" {
		var v any = all
		if len(all) == 1 {
			v = all[0]
		}
		if err := benchkit.WriteJSON(o.jsonPath, v); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", o.jsonPath)
	}
	return nil
}

// What the clients connect to (-server).
const (
	serverNode = "node"
	serverBare = "bare"
)

// runOne starts the server (the node, or the bare loop), connects the clients, measures and
// stops everything it started.
func runOne(ctx context.Context, o *options, command, repo, tmp, server string) (res *result, err error) {
	res = &result{Time: time.Now().UTC(), Command: command, Machine: machineInfo(repo), Server: server}
	fmt.Printf("command: %s\n", command)
	res.printMachine()

	// 1. The node: built and started here on its embedded defaults, or given; or the bare loop.
	n := &nodeClient{base: o.node, http: &http.Client{Timeout: 30 * time.Second}}
	token := o.token
	var nodeProc *benchkit.Proc
	switch {
	case server == serverBare:
		if nodeProc, n.base, err = startBare(ctx, tmp); err != nil {
			return nil, err
		}
		defer stopNode(nodeProc, &err)
		res.NodeSettings = "the bare fan-out loop (ws -bare): no hub, one writer goroutine per core, blocking writes"
	case o.node == "":
		if repo == "" {
			_, err := benchkit.FindRepo(o.repo)
			return nil, err
		}
		if nodeProc, token, n.base, err = startNode(ctx, repo, tmp, o.nodeLogLevel); err != nil {
			return nil, err
		}
		defer stopNode(nodeProc, &err)
		res.NodeSettings = "embedded defaults (push.max_conns_per_ip 256, http.max_conns_per_ip 256, push.queue_messages 1024, push.write_timeout 5s); none changed"
	default:
		if err := benchkit.WaitHTTP(ctx, nil, n.base+"/readyz", 10*time.Second); err != nil {
			return nil, err
		}
		res.NodeSettings = "a running node (" + n.base + "): its own configuration"
	}
	fmt.Printf("%s: %s\n", server, res.NodeSettings)

	// 2. How many connections this machine lets the node hold.
	conns := o.conns
	res.ConnsRequested = o.conns
	if nodeProc != nil {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", nodeProc.Pid())); err == nil {
			res.NodeFDLimit = openFilesLimit(b)
		}
		if lim := res.NodeFDLimit; lim > 0 && conns+fdReserve > lim {
			conns = lim - fdReserve
			res.ConnsCapped = fmt.Sprintf("-conns %s capped to %s: the node's open-file limit (RLIMIT_NOFILE) is %s on this machine and cannot be raised here; %d descriptors are left for the node's own files. A limit of this machine, not of the software.",
				benchkit.Thousands(o.conns), benchkit.Thousands(conns), benchkit.Thousands(lim), fdReserve)
			fmt.Printf("\n*** %s ***\n\n", res.ConnsCapped)
		}
	}
	workers := o.workers
	if workers == 0 {
		workers = defaultWorkers(conns)
	}
	workers = min(workers, conns)
	res.Conns, res.Workers, res.SourceAddrs = conns, workers, sourcesNeeded(conns, o.perIP)
	res.Settings = map[string]any{"conns": conns, "connsRequested": o.conns, "rate": o.rate, "duration": o.duration.String(),
		"workers": workers, "perIP": o.perIP, "dialConcurrency": o.dialConcurrency, "readBuffer": o.readBuffer, "pollInterval": o.pollInterval.String(),
		"settle": o.settle.String(), "gcWait": o.gcWait.String(), "drain": o.drain.String(), "node": n.base, "server": server}

	// 3. The node's memory before any connection.
	fmt.Printf("sampling the node's memory for %s before connecting\n", o.settle)
	before, err := n.settledMemory(ctx, o.settle)
	if err != nil {
		return nil, err
	}

	// 4. Open and subscribe the connections.
	wsURL := "ws" + strings.TrimPrefix(n.base, "http") + "/v1/ws"
	fmt.Printf("opening %s connections to %s from %d workers, %d source addresses (127.0.0.1…, at most %d each)\n",
		benchkit.Thousands(conns), wsURL, workers, res.SourceAddrs, o.perIP)
	p, err := startWorkers(conns, workers, workerArgs{url: wsURL, token: token, perIP: o.perIP,
		dialConcurrency: o.dialConcurrency, readBuffer: o.readBuffer, pollInterval: o.pollInterval}, tmp)
	defer func() {
		if ctx.Err() != nil {
			p.killAll()
		} else {
			p.stopAll(15 * time.Second)
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := p.connect(ctx, res, o.allowRefused); err != nil {
		return nil, err
	}
	connectedAt := time.Now()

	// 5. Idle memory per connection.
	if err := idleMemory(ctx, n, o, res, before, connectedAt); err != nil {
		return nil, err
	}

	// 6. The load: writes at the rate, every client timing what it receives.
	if err := runLoadPhase(ctx, n, p, token, o, res); err != nil {
		return nil, err
	}
	res.Machine.LoadAfter = benchkit.LoadAvg()
	res.print()
	if nodeProc != nil && nodeProc.Exited() {
		return nil, fmt.Errorf("the %s exited during the benchmark: %v\n%s", server, nodeProc.Err(), nodeProc.LogTail(20))
	}
	return res, nil
}

// startBare starts this program as the bare fan-out server on a free loopback port and
// returns once /readyz answers.
func startBare(ctx context.Context, tmp string) (*benchkit.Proc, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := benchkit.StartProc(benchkit.ProcSpec{Name: "bare", Bin: exe, LogPath: filepath.Join(tmp, "bare.log"),
		Args: []string{"-bare", "-addr", addr}})
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := benchkit.WaitHTTP(ctx, p, base+"/readyz", 30*time.Second); err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, "", err
	}
	fmt.Printf("bare fan-out server at %s (pid %d)\n", addr, p.Pid())
	return p, base, nil
}

// startNode builds the node and starts it on its embedded defaults with a data folder in tmp
// and free loopback ports; it returns once /readyz answers 200, with the admin token the node
// wrote.
func startNode(ctx context.Context, repo, tmp, logLevel string) (p *benchkit.Proc, token, base string, err error) {
	t0 := time.Now()
	bin := filepath.Join(tmp, "paimon")
	if _, err := os.Stat(bin); err != nil { // built once per run
		if err := benchkit.GoBuild(ctx, repo, bin, "./cmd/paimon"); err != nil {
			return nil, "", "", err
		}
		fmt.Printf("built the node in %s\n", time.Since(t0).Round(100*time.Millisecond))
	}
	httpAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, "", "", err
	}
	raftAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, "", "", err
	}
	dataDir, err := os.MkdirTemp(tmp, "data-")
	if err != nil {
		return nil, "", "", err
	}
	p, err = benchkit.StartProc(benchkit.ProcSpec{Name: "node", Bin: bin, LogPath: filepath.Join(tmp, "node.log"),
		Args: []string{"serve", "-data-dir", dataDir, "-http-addr", httpAddr, "-raft-addr", raftAddr, "-log-level", logLevel}})
	if err != nil {
		return nil, "", "", err
	}
	base = "http://" + httpAddr
	t0 = time.Now()
	if err := benchkit.WaitHTTP(ctx, p, base+"/readyz", time.Minute); err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, "", "", err
	}
	tok, err := benchkit.ReadFileWhenPresent(ctx, filepath.Join(dataDir, "admin.token"), 10*time.Second)
	if err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, "", "", err
	}
	fmt.Printf("node ready at %s (raft %s, pid %d) in %s\n", httpAddr, raftAddr, p.Pid(), time.Since(t0).Round(10*time.Millisecond))
	return p, strings.TrimSpace(string(tok)), base, nil
}

// stopNode stops the node (deferred) and reports a failure to stop cleanly unless an error is
// already being returned.
func stopNode(p *benchkit.Proc, err *error) {
	running := !p.Exited()
	stopErr := p.Stop(30 * time.Second)
	if stopErr == nil && running && p.ExitCode() > 0 {
		stopErr = fmt.Errorf("the node exited with code %d on SIGTERM (log: %s)", p.ExitCode(), p.LogPath())
	}
	if stopErr != nil && *err == nil {
		*err = stopErr
	}
}
