// Command paimon is the Paimon Edge node: one binary per host that serves the Paimon Prime
// Fund's API from a Raft-replicated Pebble store through an in-process cache.
//
//	paimon serve [-config FILE] [flags]   run a node (SIGHUP reloads what can change while it runs)
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
	logger, level := newLogger(cfg.Log, stderr)
	reload := func() (*config.Config, error) {
		c, _, err := loadConfig(args, io.Discard)
		return c, err
	}
	if err := runNode(cfg, logger, level, reload); err != nil {
		logger.Error("node stopped", "error", err)
		return 1
	}
	return 0
}

// runNode starts the node, serves until SIGINT/SIGTERM or a fatal apply error, and closes it.
// SIGHUP reloads the configuration (reloadConfig).
func runNode(cfg *config.Config, logger *slog.Logger, level *slog.LevelVar, load func() (*config.Config, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case fatal = <-n.Fatal():
			running = false
		case <-hup:
			cfg = reloadConfig(cfg, n, logger, level, load)
		}
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

// reloadConfig is SIGHUP: the file, environment and flags are read and validated again (as at
// start); a configuration that fails is refused with a log line and the running one stays.
// Otherwise the node applies what can change while it runs (node.Reload: the API certificate,
// rate limits, alert webhooks), the log level changes here, and every other changed key is
// named as needing a restart. It returns the configuration now in force for the next reload's
// comparison: the running one with the reloaded keys changed.
func reloadConfig(cur *config.Config, n *node.Node, logger *slog.Logger, level *slog.LevelVar, load func() (*config.Config, error)) *config.Config {
	logger.Info("reloading configuration (SIGHUP)")
	next, err := load()
	if err == nil {
		_, err = parseLevel(next.Log.Level)
	}
	if err != nil {
		logger.Error("configuration reload refused: keeping the running configuration", "error", err)
		return cur
	}
	restart, err := n.Reload(next)
	if err != nil {
		logger.Error("configuration reload refused: keeping the running configuration", "error", err)
		return cur
	}
	lv, _ := parseLevel(next.Log.Level)
	level.Set(lv)
	var changed []string
	for _, k := range config.Changed(cur, next) {
		if config.IsReloadable(k) {
			changed = append(changed, k)
		}
	}
	logger.Info("configuration reloaded", "applied", changed, "log_level", lv.String())
	if len(restart) > 0 {
		logger.Warn("configuration changes that need a restart were not applied", "keys", restart)
	}
	return config.ApplyReloadable(cur, next)
}

func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	err := level.UnmarshalText([]byte(s))
	return level, err
}

// newLogger builds the process's logger; its level can change while it runs (SIGHUP).
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	lv, _ := parseLevel(c.Level)
	level.Set(lv)
	// No log line carries a credential, whichever package wrote it.
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact.ReplaceAttr}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}
