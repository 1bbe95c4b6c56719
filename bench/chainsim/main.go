// Command chainsim runs a local EVM chain for development and demos: go-ethereum's simulated
// backend served over HTTP JSON-RPC, with the fund's four contracts at the default config's
// addresses emitting every event of EVENTS.md, blocks on an interval, events at a rate (up to a
// flood) and optional injected reorgs. It prints the RPC URL, the chain id, the contracts and,
// every few seconds, its progress; it writes a node config that ingests from it.
//
// From the repository root:
//
//	go run ./bench/chainsim -config-out chainsim.toml            until Ctrl-C
//	go run ./bench/chainsim -rate flood -duration 1m              a minute of full blocks
//	go run ./bench/chainsim -reorg-depth 3 -reorg-every 20        a 3-block reorg every 20 blocks
//	go run ./bench/chainsim -fund-contracts -approval-share 0.3 -config-out chainsim.toml -executor-key-out executor.key
//	                                                              the fund's Solidity contracts, driven by users
//
// See bench/README.md for a two-terminal demo with a node; the library is internal/chainsim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
)

type options struct {
	sim           chainsim.Config
	confirmations int
	configOut     string
	duration      time.Duration
	progress      time.Duration
	fund          fundOptions
}

// rateFlag is -rate: events per second, or "flood".
type rateFlag struct{ v *float64 }

func (r rateFlag) String() string {
	if r.v == nil {
		return ""
	}
	if *r.v == chainsim.Flood {
		return "flood"
	}
	return strconv.FormatFloat(*r.v, 'f', -1, 64)
}

func (r rateFlag) Set(s string) error {
	if s == "flood" {
		*r.v = chainsim.Flood
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return errors.New(`want events per second (≥ 0) or "flood"`)
	}
	*r.v = v
	return nil
}

func parseFlags(args []string) (*options, error) {
	o := &options{sim: chainsim.DefaultConfig()}
	o.sim.Addr = "127.0.0.1:8545"
	fs := flag.NewFlagSet("chainsim", flag.ContinueOnError)
	fs.StringVar(&o.sim.Addr, "addr", o.sim.Addr, "HTTP JSON-RPC listen address (port 0: a free port)")
	fs.DurationVar(&o.sim.BlockInterval, "block-interval", o.sim.BlockInterval, "time between blocks (at least 10ms; below 1s block times run ahead of the clock, a second a block)")
	fs.Var(rateFlag{&o.sim.Rate}, "rate", `events (logs) per second, spread over the blocks, or "flood" to fill every block`)
	fs.IntVar(&o.sim.ReorgDepth, "reorg-depth", 0, "blocks orphaned by each injected reorg")
	fs.IntVar(&o.sim.ReorgEvery, "reorg-every", 0, "inject a reorg every N blocks (0: never; needs -reorg-depth)")
	fs.Int64Var(&o.sim.Seed, "seed", o.sim.Seed, "seed of the sender key, the holders and the random choices")
	fs.IntVar(&o.sim.Holders, "holders", o.sim.Holders, "the most distinct share holders")
	fs.IntVar(&o.sim.History, "history", o.sim.History, "blocks kept for reorgs (the deepest possible reorg)")
	fs.IntVar(&o.confirmations, "confirmations", 15, "confirmations in the node config written")
	fs.StringVar(&o.configOut, "config-out", "", "write a node config that ingests from this chain to FILE")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: at Ctrl-C)")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "time between progress lines")
	level := fs.String("log-level", "info", "debug, info, warn or error (reorgs are logged at info)")
	fs.BoolVar(&o.fund.enabled, "fund-contracts", false, "deploy the fund's Solidity contracts (vault, redemption manager, asset controller, oracle) and drive users instead of the emitters; the config written ingests them and has an [executor] section")
	fs.Float64Var(&o.fund.approvalShare, "approval-share", 0.2, "with -fund-contracts: the share of redemption requests at or above the approval threshold")
	fs.IntVar(&o.fund.users, "users", 20, "with -fund-contracts: user accounts (funded at genesis)")
	fs.Float64Var(&o.fund.userRate, "user-rate", 2, "with -fund-contracts: user actions per second (a deposit, or a deposit and a redemption request)")
	fs.Float64Var(&o.fund.threshold, "approval-threshold", 100_000, "with -fund-contracts: the redemption amount (whole USDT) from which a request needs approval")
	fs.DurationVar(&o.fund.settleDelay, "settlement-delay", time.Minute, "with -fund-contracts: a standard request's settlement time after the request (T+7 compressed; emergency: a tenth)")
	fs.StringVar(&o.fund.executorKeyOut, "executor-key-out", "", "with -fund-contracts: write the executor's private key (hex) to FILE (default with -config-out: FILE.executor.key next to it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return nil, fmt.Errorf("-log-level: %v", err)
	}
	o.sim.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	switch {
	case o.sim.BlockInterval <= 0:
		return nil, errors.New("-block-interval must be positive")
	case o.confirmations < 0:
		return nil, errors.New("-confirmations must not be negative")
	case o.duration < 0 || o.progress <= 0:
		return nil, errors.New("-duration must be ≥ 0 and -progress > 0")
	}
	if err := o.fund.validate(o, explicit); err != nil {
		return nil, err
	}
	if o.fund.enabled {
		if o.fund.executorKeyOut == "" && o.configOut != "" {
			o.fund.executorKeyOut = o.configOut + ".executor.key"
		}
		o.sim.Accounts = o.fund.accounts(newFundKeys(o.sim.Seed), o.sim.Seed)
	}
	if err := o.sim.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func main() {
	os.Exit(benchkit.Command[*options]{
		Name: "chainsim", Pkg: "./bench/chainsim", Parse: parseFlags, Run: run,
		Interrupted: func(*options) string { return "" }, // Ctrl-C is how a run ends
	}.Main(os.Args[1:]))
}

// run starts the chain, prints where it is, and reports progress until ctx is cancelled or
// -duration has passed; the chain is closed on return.
func run(ctx context.Context, o *options, command string) (err error) {
	sim, err := chainsim.New(o.sim)
	if err != nil {
		return err
	}
	if err := sim.Start(); err != nil {
		return err
	}
	defer func() {
		if cerr := sim.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	start := time.Now()
	var fr *fundRun
	if o.fund.enabled {
		if fr, err = startFund(ctx, sim, o, newFundKeys(o.sim.Seed)); err != nil {
			return err
		}
		defer fr.close()
	}

	fmt.Printf("command: %s\n", command)
	fmt.Printf("rpc url: %s\n", sim.URL())
	fmt.Printf("chain id: %d\n", chainsim.ChainID)
	fmt.Printf("sender: %s\n", sim.Sender())
	if fr != nil {
		fr.printFund(o)
	} else {
		fmt.Println("contracts:")
		for _, c := range fundtest.Contracts() {
			fmt.Printf("  %-12s %-19s %s\n", c.Name, c.Kind, c.Address)
		}
	}
	reorgs := "none"
	if o.sim.ReorgEvery > 0 {
		reorgs = fmt.Sprintf("%d blocks every %d blocks", o.sim.ReorgDepth, o.sim.ReorgEvery)
	}
	events := rateFlag{&o.sim.Rate}.String() + "/s"
	if fr != nil {
		events = "the users' (the emitters are silent)"
	}
	fmt.Printf("blocks: every %s; events: %s; reorgs: %s; seed %d\n", o.sim.BlockInterval, events, reorgs, o.sim.Seed)
	snippet := sim.ConfigSnippet(o.confirmations)
	if fr != nil {
		snippet = sim.ConfigSnippetFor(o.confirmations, fr.fund.ContractConfigs())
		if o.fund.executorKeyOut != "" {
			path, err := writeExecutorKey(o.fund.executorKeyOut, fr.keys.executor)
			if err != nil {
				return err
			}
			fmt.Printf("executor key: written to %s\n", path)
			snippet += executorSection(path)
		}
	}
	if o.configOut != "" {
		if err := os.WriteFile(o.configOut, []byte(snippet), 0o644); err != nil {
			return err
		}
		fmt.Printf("node config (written to %s):\n", o.configOut)
	} else {
		fmt.Println("node config (-config-out FILE writes it):")
	}
	fmt.Println(indent(snippet))
	fmt.Println("Ctrl-C stops.")

	var done <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		done = t.C
	}
	tick := time.NewTicker(o.progress)
	defer tick.Stop()
	var users <-chan time.Time // the users' actions, once a block interval
	if fr != nil {
		ut := time.NewTicker(o.sim.BlockInterval)
		defer ut.Stop()
		users = ut.C
	}
	last, lastAt, lastErr := sim.Stats(), start, ""
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			printFinal(sim, start, fr)
			return nil
		case <-done:
			printFinal(sim, start, fr)
			return nil
		case now := <-users:
			if err := fr.step(ctx, now); err != nil && ctx.Err() == nil {
				fmt.Printf("        users: %v\n", err)
			}
		case now := <-tick.C:
			st := sim.Stats()
			secs := now.Sub(lastAt).Seconds()
			fmt.Printf("%6s  head %d  blocks %d  events %s (%.0f/s)  canonical %s  orphaned %s  reorgs %d\n",
				now.Sub(start).Round(time.Second), st.Head, st.Blocks, benchkit.Thousands(st.Events),
				float64(st.Events-last.Events)/secs, benchkit.Thousands(st.CanonicalEvents),
				benchkit.Thousands(st.OrphanedEvents), st.Reorgs)
			if fr != nil {
				fmt.Printf("        %s\n", fr.progress())
			}
			if st.LastError != "" && st.LastError != lastErr {
				fmt.Printf("        mining error: %s\n", st.LastError)
				lastErr = st.LastError
			}
			last, lastAt = st, now
		}
	}
}

func printFinal(sim *chainsim.Sim, start time.Time, fr *fundRun) {
	st := sim.Stats()
	fmt.Printf("stopped after %s: head %d, %d blocks, %s transactions, %s events (%s canonical, %s orphaned), %d reorgs\n",
		time.Since(start).Round(time.Second), st.Head, st.Blocks, benchkit.Thousands(st.Txs), benchkit.Thousands(st.Events),
		benchkit.Thousands(st.CanonicalEvents), benchkit.Thousands(st.OrphanedEvents), st.Reorgs)
	if fr != nil {
		fmt.Printf("  %s\n", fr.progress())
	}
	rs := sim.Reorgs()
	if len(rs) > 10 {
		fmt.Printf("  (the last 10 of %d reorgs)\n", len(rs))
		rs = rs[len(rs)-10:]
	}
	for _, r := range rs {
		fmt.Printf("  reorg at %s: %d blocks above %d orphaned (%d txs mined again, %d dropped), head %d → %d\n",
			r.Time.Format("15:04:05"), r.Depth, r.Ancestor.Number, r.ReminedTxs, r.DroppedTxs, r.OldHead.Number, r.NewHead.Number)
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
