// Command cluster starts a three-node Paimon Edge cluster on 127.0.0.1 from the example
// configuration files and, optionally, measures replicated writes and linearizable reads
// against it.
//
// From the repository root:
//
//	go run ./bench/cluster            start, print the cluster status, stop
//	go run ./bench/cluster -hold      start and keep running until Ctrl-C
//	go run ./bench/cluster -bench     start and run the write and read benchmark
//
// It builds the node into a temporary folder, starts examples/cluster/node1..3.toml with their
// data in that folder (serve -data-dir; -data-dir DIR keeps it elsewhere), waits until the
// three nodes agree on a leader and see each other, and prints the membership. With -bench it
// then measures (a) one client writing sequentially to the leader and to a follower, (b) many
// clients writing concurrently to all three nodes, (c) many clients reading linearizably from
// the leader and from the followers, and (d) checks that every acknowledged write is on every
// node exactly once. Ctrl-C stops every client and node and removes the temporary folder. See
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

// exampleToken is the admin token documented in examples/cluster/*.toml (local use only).
const exampleToken = "pmn_example_local_cluster_admin_token"

// seqWarmup is the number of unmeasured writes before a sequential phase: the first writes of
// a connection and of a new leader term are slower.
const seqWarmup = 20

type options struct {
	repo         string
	configDir    string
	token        string
	dataDir      string
	keep         bool
	hold         bool
	bench        bool
	phases       map[string]bool
	writes       int
	perWrite     int
	clients      []int
	readClients  int
	writeTo      string
	duration     time.Duration
	warmup       time.Duration
	timeout      time.Duration
	startTimeout time.Duration
	jsonPath     string
	nodeLogLevel string
	buildFlags   []string
}

func parseFlags(args []string) (*options, error) {
	o := &options{phases: map[string]bool{}}
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&o.configDir, "config-dir", "examples/cluster", "folder of node1.toml, node2.toml, node3.toml (relative to the repository)")
	fs.StringVar(&o.token, "token", exampleToken, "admin or operator token configured in those files")
	fs.StringVar(&o.dataDir, "data-dir", "", "parent of the nodes' data folders (DIR/node1...), kept afterwards (default: in the temporary folder, removed)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binary, node logs, data)")
	fs.BoolVar(&o.hold, "hold", false, "keep the cluster running until Ctrl-C (after the benchmark, with -bench)")
	fs.BoolVar(&o.bench, "bench", false, "run the write and read benchmark")
	phases := fs.String("phases", "seq,write,read", "benchmark phases, comma-separated: seq (one client), write (concurrent), read (linearizable)")
	fs.IntVar(&o.writes, "writes", 2000, "sequential writes per target (phase a)")
	fs.IntVar(&o.perWrite, "logs-per-write", 1, "logs (mints) per POST /v1/admin/logs; each POST is one Raft command")
	clients := fs.String("clients", "64,256", "concurrent writers (phase b), comma-separated: one run per count")
	fs.IntVar(&o.readClients, "read-clients", 64, "concurrent readers (phase c)")
	fs.StringVar(&o.writeTo, "write-to", "all", "nodes the concurrent writers send to, in turn: all, leader or followers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each concurrent phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each concurrent phase (0: none)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "timeout of one request")
	fs.DurationVar(&o.startTimeout, "start-timeout", time.Minute, "longest wait for the cluster to form")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the nodes' -log-level")
	buildFlags := fs.String("build-flags", "", "extra go build flags for the node, space-separated (e.g. -overlay=FILE to try a change without editing the tree)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.buildFlags = strings.Fields(*buildFlags)
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "seq", "write", "read":
			o.phases[p] = true
		default:
			return nil, fmt.Errorf("-phases: unknown phase %q (want seq, write, read)", p)
		}
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive count", s)
		}
		o.clients = append(o.clients, n)
	}
	switch {
	case o.writeTo != "all" && o.writeTo != "leader" && o.writeTo != "followers":
		return nil, fmt.Errorf("-write-to: %q is not all, leader or followers", o.writeTo)
	case o.writes < 1 || o.readClients < 1:
		return nil, errors.New("-writes and -read-clients must be ≥ 1")
	case o.perWrite < 1 || o.perWrite > 1000:
		return nil, errors.New("-logs-per-write must be in 1..1000")
	case o.duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.warmup < 0 || o.timeout <= 0:
		return nil, errors.New("-warmup must be ≥ 0 and -timeout > 0")
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "cluster", Pkg: "./bench/cluster", Parse: parseFlags, Run: start,
		Interrupted: func(o *options) string {
			if o.hold {
				return "" // Ctrl-C is how -hold ends: a failure then is a failure
			}
			return "stopped the clients and the nodes"
		},
	}.Main(os.Args[1:]))
}

// start builds and starts the cluster, then benchmarks and/or holds it. Every node is stopped
// and the temporary folder removed on return, whatever the outcome.
func start(ctx context.Context, o *options, command string) (err error) {
	repo, err := benchkit.FindRepo(o.repo)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "paimon-cluster-")
	if err != nil {
		return err
	}
	defer benchkit.RemoveTemp(tmp, o.keep, &err)
	dataParent := filepath.Join(tmp, "data")
	if o.dataDir != "" {
		if dataParent, err = filepath.Abs(o.dataDir); err != nil {
			return err
		}
	}
	configDir := o.configDir
	if !filepath.IsAbs(configDir) {
		configDir = filepath.Join(repo, configDir)
	}
	maxConns := o.readClients
	for _, n := range o.clients {
		maxConns = max(maxConns, n)
	}
	c, err := loadMembers(configDir, o.token, dataParent, o.timeout, maxConns+16)
	if err != nil {
		return err
	}
	for _, m := range c.members {
		if err := checkFree(m.httpAddr, m.id+" http"); err != nil {
			return err
		}
		if err := checkFree(m.raftAddr, m.id+" raft"); err != nil {
			return err
		}
	}

	rep := &report{Time: time.Now().UTC(), Command: command, Machine: machineInfo(repo), Settings: map[string]any{
		"configDir": o.configDir, "dataDir": dataParent, "writes": o.writes, "logsPerWrite": o.perWrite,
		"clients": o.clients, "readClients": o.readClients, "duration": o.duration.String(), "warmup": o.warmup.String(),
		"timeout": o.timeout.String(), "seqWarmupWrites": seqWarmup, "phases": o.phases, "writeTo": o.writeTo,
		"buildFlags": o.buildFlags,
	}}
	fmt.Printf("command: %s\n", command)
	rep.printMachine()

	// 1. Build the node.
	t0 := time.Now()
	bin := filepath.Join(tmp, "paimon")
	if err := benchkit.GoBuild(ctx, repo, bin, "./cmd/paimon", o.buildFlags...); err != nil {
		return err
	}
	fmt.Printf("built the node in %s\n", time.Since(t0).Round(100*time.Millisecond))

	// 2. Start the three nodes at once: with bootstrap_expect = 3 and the same join list, the
	// first that sees all three bootstraps and the others join.
	defer stopAll(c, &err)
	for _, m := range c.members {
		m.proc, err = benchkit.StartProc(benchkit.ProcSpec{Name: m.id, Bin: bin, Dir: repo, LogPath: filepath.Join(tmp, m.id+".log"),
			Args: []string{"serve", "-config", m.config, "-data-dir", m.dataDir, "-log-level", o.nodeLogLevel}})
		if err != nil {
			return err
		}
		fmt.Printf("started %s (pid %d): http %s, raft %s, data %s, log %s\n", m.id, m.proc.Pid(),
			m.httpAddr, m.raftAddr, m.dataDir, m.proc.LogPath())
	}
	t0 = time.Now()
	st, err := c.waitFormed(ctx, o.startTimeout)
	if err != nil {
		return err
	}
	fmt.Printf("cluster formed in %s\n", time.Since(t0).Round(10*time.Millisecond))
	printStatus(st)
	rep.Cluster, rep.Leader = st.Nodes, st.Leader

	if o.bench {
		if err := benchmark(ctx, c, o, rep); err != nil {
			return err
		}
	}
	if o.hold {
		return hold(ctx, c)
	}
	return nil
}

// hold keeps the cluster up until Ctrl-C, or fails when a node exits on its own.
func hold(ctx context.Context, c *cluster) error {
	m := c.members[0]
	fmt.Printf("\nthe cluster is running; Ctrl-C stops it. Try:\n")
	fmt.Printf("  TOKEN=%s\n", c.token)
	fmt.Printf("  curl -s -H \"Authorization: Bearer $TOKEN\" %s/v1/cluster/status\n", m.httpAddr)
	fmt.Printf("  curl -s -H \"Authorization: Bearer $TOKEN\" --data-binary @examples/sample-logs.json %s/v1/admin/logs | head -c 200; echo\n", c.members[1].httpAddr)
	fmt.Printf("  curl -s '%s/v1/fund/overview?consistency=linearizable'\n", c.members[2].httpAddr)
	for {
		for _, m := range c.members {
			if m.proc.Exited() {
				return fmt.Errorf("%s exited: %v\n--- %s (last 30 lines) ---\n%s", m.id, m.proc.Err(), m.proc.LogPath(), nodeLog(m.proc, 30))
			}
		}
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping the nodes")
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stopAll sends SIGTERM to every node at once and waits for each (deferred). A node that had
// to be killed or that exited non-zero, on SIGTERM or before, is an error unless one is already
// being returned.
func stopAll(c *cluster, err *error) {
	for _, m := range c.members {
		m.proc.Terminate()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.members))
	for i, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.proc.Stop(20 * time.Second)
			if code := m.proc.ExitCode(); errs[i] == nil && code > 0 {
				errs[i] = fmt.Errorf("%s exited with code %d (log: %s)", m.id, code, m.proc.LogPath())
			}
		}()
	}
	wg.Wait()
	if e := errors.Join(errs...); e != nil && *err == nil {
		*err = e
	}
}

// benchmark runs the phases in order, prints each as it ends, then the tables; the
// verification's failure is the benchmark's error.
func benchmark(ctx context.Context, c *cluster, o *options, rep *report) error {
	runID := time.Now().UTC().Format("20060102T150405.000000")
	var writers []*writer
	newWriter := func(label string) *writer {
		w := &writer{Label: label, Owner: fundtest.Addr("clusterbench " + runID + " " + label)}
		writers = append(writers, w)
		return w
	}
	add := func(p *phaseResult) error {
		rep.Results = append(rep.Results, p)
		printPhase(p)
		for _, m := range c.members {
			if m.proc.Exited() {
				return fmt.Errorf("%s exited during the benchmark: %v\n--- %s (last 30 lines) ---\n%s", m.id, m.proc.Err(), m.proc.LogPath(), nodeLog(m.proc, 30))
			}
		}
		return nil
	}
	fmt.Println()

	// a) One client, one write at a time: commit latency to the leader, then through a follower.
	if o.phases["seq"] {
		fmt.Printf("a) sequential writes: %d per target after %d unmeasured, %d log(s) each\n", o.writes, seqWarmup, o.perWrite)
		leader, followers, err := c.leaderAndFollowers()
		if err != nil {
			return err
		}
		for _, target := range []*member{leader, followers[0]} {
			w := newWriter("sequential via " + target.id)
			p, err := c.sequentialWrites(ctx, target, o.writes, seqWarmup, o.perWrite, w)
			if err != nil {
				return err
			}
			if target != leader {
				p.Target += " → leader"
			}
			if err := add(p); err != nil {
				return err
			}
		}
	}

	// b) Many clients at once, each rotating over the three nodes.
	if o.phases["write"] {
		for _, n := range o.clients {
			fmt.Printf("b) concurrent writes: %d clients, %s after a %s warm-up, to %s in turn\n", n, o.duration, o.warmup, o.writeTo)
			leader, followers, err := c.leaderAndFollowers()
			if err != nil {
				return err
			}
			targets, label := c.members, "all 3, round-robin"
			switch o.writeTo {
			case "leader":
				targets, label = []*member{leader}, "leader "+leader.id
			case "followers":
				targets, label = followers, "followers "+followers[0].id+","+followers[1].id+" → leader"
			}
			ws := make([]*writer, n)
			for i := range ws {
				ws[i] = newWriter(fmt.Sprintf("concurrent %d client %d", n, i))
			}
			p := c.concurrentWrites(ctx, n, o.warmup, o.duration, o.perWrite, targets, label, ws)
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
		}
	}

	// c) Linearizable reads from the leader, then from the followers (which forward them).
	if o.phases["read"] {
		fmt.Printf("c) linearizable reads: %d clients, %s after a %s warm-up\n", o.readClients, o.duration, o.warmup)
		leader, followers, err := c.leaderAndFollowers()
		if err != nil {
			return err
		}
		targets := []struct {
			label string
			ms    []*member
		}{
			{"leader " + leader.id, []*member{leader}},
			{"followers " + followers[0].id + "," + followers[1].id + " → leader", followers},
		}
		for _, t := range targets {
			p := c.linearizableReads(ctx, o.readClients, o.warmup, o.duration, t.ms, t.label)
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
		}
	}
	rep.Machine.LoadAfter = benchkit.LoadAvg()

	// d) Every acknowledged write on every node, exactly once.
	if len(writers) > 0 {
		fmt.Printf("d) verifying %d accounts on %d nodes\n", len(writers), len(c.members))
		rep.Verify = c.verify(ctx, writers, o.perWrite)
		rep.Writers = writers
	}
	rep.printTable()
	if v := rep.Verify; v != nil {
		if v.OK {
			fmt.Printf("verify: OK: %d accounts, %s acknowledged logs, every node at index ≥ %d holds exactly them (%d writers in doubt)\n",
				v.Writers, benchkit.Thousands(v.Acknowledged), v.Index, v.InDoubt)
		} else {
			fmt.Printf("verify: MISMATCH (%d):\n", len(v.Mismatches))
			for i, m := range v.Mismatches {
				if i == 20 {
					fmt.Printf("  … %d more\n", len(v.Mismatches)-i)
					break
				}
				fmt.Printf("  %s\n", m)
			}
		}
	}
	if o.jsonPath != "" {
		if err := benchkit.WriteJSON(o.jsonPath, rep); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", o.jsonPath)
	}
	if rep.Verify != nil && !rep.Verify.OK {
		return fmt.Errorf("verification failed: %d mismatches", len(rep.Verify.Mismatches))
	}
	return nil
}
