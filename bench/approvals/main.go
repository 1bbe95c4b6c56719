// Command approvals measures issue 12's approval tickets and executor on a three-node cluster
// of real paimon processes and the fund's contracts on the simulated chain: approval decisions
// per second through the cluster against plain writes of the same size in the same run, and
// the time from a ticket's quorum-reaching decision to its transaction mined and to the ticket
// EXECUTED on every node. Every run also checks that each ticket was executed by exactly one
// transaction.
//
// From the repository root:
//
//	go run ./bench/approvals                                  1,000 tickets, 1 s blocks
//	go run ./bench/approvals -tickets 20 -block-interval 500ms   a quick run
//
// See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

type options struct {
	repo          string
	nodes         int
	tickets       int
	clients       int
	ticketRate    float64
	duration      time.Duration
	blockInterval time.Duration
	confirmations int
	seed          int64
	out           string
	keep          bool
	nodeLogLevel  string
	buildFlags    []string
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("approvals", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.IntVar(&o.nodes, "nodes", 3, "cluster size (3: the only size supported)")
	fs.IntVar(&o.tickets, "tickets", 1000, "approval tickets opened (redemptions over the threshold), each decided by two approvers")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients sending the decisions (and the baseline's writes)")
	fs.Float64Var(&o.ticketRate, "ticket-rate", 0, "decide this many tickets a second on average, as Poisson arrivals (0: as fast as the clients go); paced, the decisions measure latency, not cost")
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "the longest the run may take once the cluster is up (opening, both phases, execution); past it the run fails")
	fs.DurationVar(&o.blockInterval, "block-interval", time.Second, "the chain's block period while measuring")
	fs.IntVar(&o.confirmations, "confirmations", 3, "the nodes' ingest.confirmations (the executor's too)")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the chain's keys")
	fs.StringVar(&o.out, "out", "", "also write the results as JSON to FILE")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binary, node configs, logs, data)")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the nodes' -log-level")
	buildFlags := fs.String("build-flags", "", "extra go build flags for the node, space-separated")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.buildFlags = strings.Fields(*buildFlags)
	switch {
	case o.nodes != 3:
		return nil, errors.New("-nodes: only 3 is supported (two approvers decide through different nodes, a quorum of the cluster)")
	case o.tickets < 1 || o.tickets > 5000:
		return nil, errors.New("-tickets must be within 1..5000")
	case o.clients < 1 || o.clients > 256:
		return nil, errors.New("-clients must be within 1..256")
	case !(o.ticketRate >= 0 && o.ticketRate <= 1e6):
		return nil, errors.New("-ticket-rate must be within 0..1e6")
	case o.duration < 10*time.Second:
		return nil, errors.New("-duration must be at least 10s")
	case o.blockInterval < 50*time.Millisecond:
		return nil, errors.New("-block-interval must be at least 50ms")
	case o.confirmations < 1 || o.confirmations > 64:
		return nil, errors.New("-confirmations must be within 1..64")
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "approvals", Pkg: "./bench/approvals", Parse: parseFlags, Run: run,
		Interrupted: func(*options) string { return "the nodes were stopped and the temporary folder removed" },
	}.Main(os.Args[1:]))
}

// run does the whole benchmark and prints the report; an inconsistency found by the checks is
// an error after the report.
func run(ctx context.Context, o *options, command string) (err error) {
	res, err := bench(ctx, o, command)
	if res != nil {
		res.print(os.Stdout)
		if o.out != "" {
			if werr := benchkit.WriteJSON(o.out, res); werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil && len(res.Problems) > 0 {
			err = fmt.Errorf("%d inconsistencies (above)", len(res.Problems))
		}
	}
	return err
}
