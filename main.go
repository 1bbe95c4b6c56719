// Command paimon is the Paimon Edge node: one binary per host that serves the Paimon Prime
// Fund's API from a Raft-replicated Pebble store through an in-process cache.
//
//	paimon serve [-config FILE] [flags]   run a node
//	paimon serve -check-config [...]      validate the configuration and exit
//	paimon token                          make an API token and its config entry
//	paimon version                        print the version
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/cache"
	"paimon/config"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `paimon: the Paimon Edge node

usage:
  paimon serve [-config FILE] [flags]   run a node (flags override the file)
  paimon serve -check-config [...]      validate the configuration and exit
  paimon version                        print the version

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
	case "token":
		tok, sum := newToken()
		fmt.Fprintf(stdout, "token: %s\n\n[[auth.tokens]]\nname = \"NAME\"\nrole = \"viewer\"  # viewer, operator or admin\nsha256 = \"%s\"\n", tok, sum)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "paimon: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return "paimon " + v
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

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, check, err := loadConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	contracts, err := loadContracts(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	registry, err := fund.NewRegistry(contracts)
	if err != nil {
		fmt.Fprintf(stderr, "paimon: ingest.contracts: %v\n", err)
		return 2
	}
	if check {
		fmt.Fprintf(stdout, "configuration ok: node %s, http %s, raft %s, data %s, %d contracts, %d tokens\n",
			cfg.Node.ID, cfg.HTTP.Addr, cfg.RaftAdvertise(), cfg.Node.DataDir, len(cfg.Ingest.Contracts), len(cfg.Auth.Tokens))
		return 0
	}
	logger := newLogger(cfg.Log, stderr)
	if err := runNode(cfg, registry, logger); err != nil {
		logger.Error("node stopped", "error", err)
		return 1
	}
	return 0
}

// runNode builds the node in dependency order, serves until SIGINT/SIGTERM or a fatal apply
// error, and closes in reverse order.
func runNode(cfg *config.Config, registry *fund.Registry, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var fatal error
	fatalCtx, fatalCancel := context.WithCancelCause(ctx)
	defer fatalCancel(nil)

	if cfg.Postgres.DSN != "" {
		logger.Warn("postgres.dsn is set but this build has no PostgreSQL sync; it is ignored")
	}
	set := metrics.NewSet()

	// The cache comes first: the state machine writes views through it from the first apply.
	vc, err := cache.New(cache.Config{
		SizeBytes:  cfg.Cache.SizeMiB << 20,
		TTLs:       server.CacheClassTTLs(cfg.Cache),
		DefaultTTL: cfg.Cache.DefaultTTL.D(),
		Metrics:    set,
	})
	if err != nil {
		return err
	}
	updater := server.NewCacheUpdater(vc)
	machine := fund.NewMachine(fund.Info{
		FundID: cfg.Fund.ID, Name: cfg.Fund.Name, Symbol: cfg.Fund.Symbol, ChainID: cfg.Ingest.ChainID,
	}, updater)

	// The store opens the Raft log and the state, replays what the state lacks and joins or
	// bootstraps the cluster.
	rcfg := raftstore.DefaultConfig()
	rcfg.NodeID = cfg.Node.ID
	rcfg.Dir = cfg.Node.DataDir
	rcfg.BindAddr = cfg.Raft.Addr
	rcfg.Advertise = cfg.Raft.Advertise
	rcfg.Bootstrap = cfg.Cluster.BootstrapExpect <= 1 && len(cfg.Cluster.Join) == 0
	rcfg.HeartbeatTimeout = cfg.Raft.HeartbeatTimeout.D()
	rcfg.ElectionTimeout = cfg.Raft.ElectionTimeout.D()
	rcfg.LeaderLeaseTimeout = cfg.Raft.LeaderLeaseTimeout.D()
	rcfg.CommitTimeout = cfg.Raft.CommitTimeout.D()
	rcfg.ApplyTimeout = cfg.Raft.ApplyTimeout.D()
	rcfg.MaxAppendEntries = cfg.Raft.MaxAppendEntries
	rcfg.SnapshotInterval = cfg.Raft.SnapshotInterval.D()
	rcfg.SnapshotThreshold = cfg.Raft.SnapshotThreshold
	rcfg.TrailingLogs = cfg.Raft.TrailingLogs
	rcfg.SnapshotRetain = cfg.Raft.SnapshotRetain
	rcfg.Logger = logger
	rcfg.Metrics = set
	rcfg.OnFatal = func(err error) { fatalCancel(err) }
	rcfg.OnRestore = updater.Restored
	store, err := raftstore.New(rcfg, machine)
	if err != nil {
		return err
	}
	if err := store.Open(); err != nil {
		return err
	}
	// Closed last: the HTTP server below may still be answering from it while it drains.
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("close store", "error", err)
		}
	}()

	tokens := make([]server.Token, 0, len(cfg.Auth.Tokens))
	for _, t := range cfg.Auth.Tokens {
		var sum [32]byte
		b, _ := hex.DecodeString(t.SHA256) // validated by config
		copy(sum[:], b)
		tokens = append(tokens, server.Token{Name: t.Name, Role: t.Role, SHA256: sum})
	}
	if len(tokens) == 0 {
		// With no configured tokens nobody could write; create a local admin token once, in
		// the data folder, readable only by the node's user (as development servers of Vault
		// and Consul print a root token).
		tok, path, err := localAdminToken(cfg.Node.DataDir)
		if err != nil {
			return err
		}
		tokens = append(tokens, tok)
		logger.Warn("no [[auth.tokens]] configured: accepting the local admin token", "file", absPath(path))
	}
	srv, err := server.New(server.Config{
		NodeID:       cfg.Node.ID,
		Addr:         cfg.HTTP.Addr,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		ReadTimeout:  cfg.HTTP.ReadTimeout.D(),
		WriteTimeout: cfg.HTTP.WriteTimeout.D(),
		IdleTimeout:  cfg.HTTP.IdleTimeout.D(),
		Concurrency:  cfg.HTTP.Concurrency,
		MaxStaleness: cfg.Read.MaxStaleness.D(),
		ApplyTimeout: cfg.Raft.ApplyTimeout.D(),
		ChainID:      cfg.Ingest.ChainID,
		Tokens:       tokens,
		Logger:       logger,
		Metrics:      set,
	}, store, vc, registry, machine)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	logger.Info("node started", "node", cfg.Node.ID, "http", srv.Addr(), "raft", cfg.RaftAdvertise(), "data_dir", absPath(cfg.Node.DataDir), "version", version)

	<-fatalCtx.Done()
	if cause := context.Cause(fatalCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		fatal = cause
	}
	logger.Info("shutting down")
	// HTTP first, so no request reaches a closing store; it gets a few seconds to drain.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		logger.Warn("http shutdown", "error", err)
	}
	return fatal
}

// loadContracts reads each contract's ABI file, if any: config validates keys but reads no
// file but its own.
func loadContracts(cfg *config.Config) ([]fund.ContractConfig, error) {
	out := make([]fund.ContractConfig, 0, len(cfg.Ingest.Contracts))
	for i, c := range cfg.Ingest.Contracts {
		cc := fund.ContractConfig{Name: c.Name, Kind: c.Kind, Address: c.Address}
		if c.ABIFile != "" {
			b, err := os.ReadFile(c.ABIFile)
			if err != nil {
				return nil, fmt.Errorf("ingest.contracts[%d].abi_file: %w", i, err)
			}
			cc.ABI = b
		}
		out = append(out, cc)
	}
	return out, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// localAdminTokenFile holds the token a node accepts as admin when no tokens are configured.
const localAdminTokenFile = "admin.token"

// localAdminToken reads, or creates on first use, the local admin token in the data folder.
func localAdminToken(dataDir string) (server.Token, string, error) {
	path := filepath.Join(dataDir, localAdminTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tok, _ := newToken()
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return server.Token{}, "", err
		}
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return server.Token{}, "", fmt.Errorf("write %s: %w", path, err)
		}
		b = []byte(tok)
	} else if err != nil {
		return server.Token{}, "", fmt.Errorf("read %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return server.Token{}, "", fmt.Errorf("%s: token is too short; delete the file to get a new one", path)
	}
	var sum [32]byte
	h, _ := hex.DecodeString(server.TokenHash(tok))
	copy(sum[:], h)
	return server.Token{Name: "local-admin", Role: "admin", SHA256: sum}, path, nil
}

// newToken returns a random API token and its SHA-256, for `paimon token`.
func newToken() (string, string) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "pmn_" + hex.EncodeToString(b[:])
	return tok, server.TokenHash(tok)
}
