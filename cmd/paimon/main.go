// Command paimon is the Paimon Edge node: one binary per host that serves the Paimon Prime
// Fund's API from a Raft-replicated Pebble store through an in-process cache.
//
//	paimon serve [-config FILE] [flags]   run a node
//	paimon serve -check-config [...]      validate the configuration and exit
//	paimon pg verify|restore [-config FILE]  compare with, or rebuild from, PostgreSQL
//	paimon watch [-url U] [-token T] CHANNEL...  print a node's push frames
//	paimon token                          make an API token and its config entry
//	paimon version                        print the release, commit and build date
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"paimon/auth"
	"paimon/config"
	"paimon/internal/redact"
	"paimon/node"
	"paimon/version"
)

const usage = `paimon: the Paimon Edge node

usage:
  paimon serve [-config FILE] [flags]   run a node (flags override the file)
  paimon serve -check-config [...]      validate the configuration and exit
  paimon pg verify|restore [-config FILE]  compare with, or rebuild from, PostgreSQL
  paimon watch [-url U] [-token T] CHANNEL...  print push frames (WebSocket)
  paimon login -key-file FILE [-url U]  sign in with a wallet key; print the session token
  paimon report daily|weekly|monthly -date D [-format json|csv|pdf] [-o FILE]  fetch a report
  paimon token                          make an API token and its config entry
  paimon version                        print the release, commit and build date

run "paimon serve -h" for the flags.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "pg":
		return pgCommand(args[1:], stdout, stderr)
	case "watch":
		return watch(args[1:], stdout, stderr)
	case "login":
		return login(args[1:], stdout, stderr)
	case "report":
		return reportCommand(args[1:], stdout, stderr)
	case "token":
		tok, sum := auth.NewToken()
		fmt.Fprintf(stdout, "token: %s\n\n[[auth.tokens]]\nname = \"NAME\"\nrole = \"viewer\"  # viewer, operator or admin\nsha256 = \"%s\"\n", tok, sum)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version.Get())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "paimon: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// loadConfig reads the file, then the environment, then the flags, and validates once.
func loadConfig(args []string, stderr io.Writer) (*config.Config, bool, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (default: embedded defaults)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	overrides := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, false, err
	}
	if fs.NArg() > 0 {
		return nil, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return nil, false, err
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return nil, false, err
	}
	overrides.Apply(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, false, err
	}
	return cfg, *check, nil
}

// serve is a node's life, top to bottom: the configuration (defaults, file, environment,
// flags, validated once), the files it names (contract ABIs, certificates: loaded before
// anything starts, which is all -check-config does besides validating), the logger, then the
// node itself until SIGINT/SIGTERM or a fatal apply error (runNode).
func serve(args []string, stdout, stderr io.Writer) int {
	cfg, check, err := loadConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	if _, err := node.LoadContracts(cfg); err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	if _, err := node.LoadClusterTLS(cfg.Cluster); err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	if _, _, err := node.LoadHTTPTLS(cfg); err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	if check {
		fmt.Fprintf(stdout, "configuration ok: node %s, http %s, raft %s, data %s, %d contracts, %d tokens\n",
			cfg.Node.ID, cfg.HTTP.Addr, cfg.RaftAdvertise(), cfg.Node.DataDir, len(cfg.Ingest.Contracts), len(cfg.Auth.Tokens))
		return 0
	}
	logger := newLogger(cfg.Log, stderr)
	if err := runNode(cfg, logger); err != nil {
		logger.Error("node stopped", "error", err)
		return 1
	}
	return 0
}

// runNode starts the node, serves until SIGINT/SIGTERM or a fatal apply error, and closes it.
func runNode(cfg *config.Config, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, logger, node.Options{})
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	v := version.Get()
	logger.Info("paimon running", "release", v.Release, "commit", v.Commit, "cluster_version", v.Cluster)
	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-n.Fatal():
	}
	logger.Info("shutting down")
	// A leader hands leadership over first, while its API still serves; then in-flight
	// requests get a few seconds to finish (node.Close).
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(cctx); err != nil {
		logger.Warn("close", "error", err)
	}
	return fatal
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	// No log line carries a credential, whichever package wrote it.
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact.ReplaceAttr}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
