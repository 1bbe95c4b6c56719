// Package node assembles one Paimon Edge node from its configuration: the cache, the fund's
// state machine, the Raft store and the HTTP server, started in dependency order and closed in
// reverse. main runs one; tests run several in one process.
package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/alerts"
	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/config"
	"paimon/console"
	"paimon/executor"
	"paimon/fund"
	"paimon/ingest"
	"paimon/pgsync"
	"paimon/push"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/server"
)

// Options are the parts of a node that are not configuration: tests replace them.
type Options struct {
	// Network is the Raft transport's network; nil is TCP.
	Network raftstore.Network
	// Now is the clock of the HTTP layer; nil is time.Now.
	Now func() time.Time
	// PGBeforeCommit, for fault-injection tests, runs inside each PostgreSQL sync transaction
	// just before it commits.
	PGBeforeCommit func(lastIndex uint64)
	// ExecutorPoll, for tests, is the executor's Poll (0: its default, 500 ms).
	ExecutorPoll time.Duration
}

// Node is one running node. New does no I/O; Start opens and serves; Close stops (idempotent).
type Node struct {
	cfg    *config.Config
	opts   Options
	logger *slog.Logger

	metrics  *metrics.Set
	registry *chainlog.Registry
	cache    *cache.Cache
	auth     *auth.Auth
	updater  *server.CacheUpdater
	hub      *push.Hub // nil when push is disabled
	machine  *fund.Machine
	store    *raftstore.Store
	syncer   *pgsync.Syncer
	alerts   *alerts.Deliverer
	waker    alertWaker    // wakes alerts when a batch raised one
	execWake executorWaker // wakes the executor when a batch changed a ticket
	// executor sends the fund's transactions while this node leads (nil without
	// [executor] key_file); closeExecutor closes its RPC clients.
	executor      *executor.Executor
	closeExecutor func()
	ingester      *ingest.Ingester
	pending       *ingest.PendingWatcher // nil unless [ingest] pending with push and RPC endpoints
	server        *server.Server
	riskProp      *riskProposer // replicates [risk] while this node leads
	// assetMeta replicates the assets' metadata while this node leads; closeCallers closes
	// its eth_call clients.
	assetMeta    *assetMetaProposer
	closeCallers func()
	// approvals replicates [approvals] and proposes ticks while this node leads.
	approvals *approvalsLeader

	fatal     chan error
	stop      context.CancelFunc // ends cluster formation
	formDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New builds an unstarted node from a validated configuration.
func New(cfg *config.Config, logger *slog.Logger, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, opts: opts, logger: logger.With("node", cfg.Node.ID), fatal: make(chan error, 1)}, nil
}

// LoadContracts reads each contract's ABI file, if any (config validates the keys but reads no
// file but its own), and returns the fund's contract registry.
func LoadContracts(cfg *config.Config) (*chainlog.Registry, error) {
	out := make([]chainlog.ContractConfig, 0, len(cfg.Ingest.Contracts))
	for i, c := range cfg.Ingest.Contracts {
		cc := chainlog.ContractConfig{Name: c.Name, Kind: c.Kind, Address: c.Address}
		if c.ABIFile != "" {
			b, err := os.ReadFile(c.ABIFile)
			if err != nil {
				return nil, fmt.Errorf("ingest.contracts[%d].abi_file: %w", i, err)
			}
			cc.ABI = b
		}
		out = append(out, cc)
	}
	reg, err := chainlog.NewRegistry(out)
	if err != nil {
		return nil, fmt.Errorf("ingest.contracts: %w", err)
	}
	return reg, nil
}

// Start is the node's start-up story: it builds every part in dependency order, opens the
// store, serves HTTP, joins or forms the cluster, and starts the background work. Each part
// takes its configuration (composed by config) and its dependencies as arguments. On error,
// everything started so far is closed.
func (n *Node) Start() (err error) {
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	cfg := n.cfg
	n.metrics = metrics.NewSet()
	if n.registry, err = LoadContracts(cfg); err != nil {
		return err
	}

	// The cache comes first: the state machine writes views through it from the first apply.
	if n.cache, err = cache.New(cfg.CacheConfig(), n.metrics, nil); err != nil {
		return err
	}

	// Authentication next: the server and the push hub both use it, and the cache updater
	// keeps its sessions and roles in step with apply. The server binds the store to it.
	if n.auth, err = n.newAuth(); err != nil {
		return err
	}
	n.updater = server.NewCacheUpdater(n.cache, n.auth)
	var observer fund.Observer = fund.Observers{n.updater, &n.waker, &n.execWake}

	// The push hub observes every applied batch from the first (the log replayed at open starts
	// its resume windows); it authenticates through auth and authorizes channels by the
	// server's resource table.
	if cfg.Push.Enabled {
		if n.hub, err = push.New(cfg.Push, n.auth, server.Channels(), n.logger, n.metrics); err != nil {
			return err
		}
		n.hub.Start()
		observer = fund.Observers{n.updater, n.hub, &n.waker, &n.execWake}
	}
	info := cfg.FundInfo()
	views := readmodel.NewViews(info)
	n.machine = fund.NewMachine(info, views, observer)

	// The store opens the Raft log and the state and replays what the state lacks.
	clusterTLS, err := LoadClusterTLS(cfg.Cluster)
	if err != nil {
		return err
	}
	if n.store, err = raftstore.New(cfg.StoreConfig(), n.machine, raftstore.Deps{
		TLS: clusterTLS, Network: n.opts.Network, Logger: n.logger, Metrics: n.metrics,
		OnFatal: n.onFatal, OnRestore: n.updater.Restored,
		// A command an older member could not apply waits for the cluster version (issue 19).
		CommandVersion: fund.CommandVersion,
	}); err != nil {
		return err
	}
	if err := n.store.Open(); err != nil {
		return err
	}

	// The syncer drains the outbox into PostgreSQL while this node leads; it never holds up the
	// store or the API.
	if n.syncer, err = pgsync.New(cfg.PGSyncConfig(), n.store, pgsync.Deps{
		Logger: n.logger, Metrics: n.metrics, BeforeCommit: n.opts.PGBeforeCommit,
	}); err != nil {
		return err
	}

	// The alert Deliverer sends the replicated alert outbox to the webhooks while this node
	// leads, and records each outcome through the store: it needs the store open; the
	// waker, observing since the first batch, tells it of new alerts from here on.
	outbox := &alertOutbox{store: n.store, applyTimeout: cfg.Raft.ApplyTimeout, now: time.Now}
	if n.alerts, err = alerts.New(cfg.AlertsConfig(), outbox, n.store, alerts.Deps{Logger: n.logger, Metrics: n.metrics}); err != nil {
		return err
	}
	n.waker.d.Store(n.alerts)

	// The executor records every transaction in the store before it sends it, and sends
	// while this node leads: it needs the store open.
	if n.executor, n.closeExecutor, err = newExecutor(cfg, n.store, n); err != nil {
		return err
	}
	n.execWake.e.Store(n.executor)

	// Chain ingest runs on the leader only, through the store like any write. Unconfirmed
	// events are previewed on every node, from its own endpoints' view of the tip.
	ingestDeps := ingest.Deps{Registry: n.registry, Logger: n.logger, Metrics: n.metrics}
	if n.ingester, err = ingest.New(cfg.Ingest, n.store, ingestDeps); err != nil {
		return err
	}
	if n.hub != nil && cfg.Ingest.Pending && len(cfg.Ingest.RPCURLs) > 0 {
		if n.pending, err = ingest.NewPendingWatcher(cfg.Ingest, n.hub, ingestDeps); err != nil {
			return err
		}
	}

	// The API last: it serves reads from the cache and the store, writes through the store,
	// and reports ingest and the sync.
	httpTLS, peerTLS, err := LoadHTTPTLS(cfg)
	if err != nil {
		return err
	}
	deps := server.Deps{
		Store: n.store, Cache: n.cache, Registry: n.registry, Views: views, Auth: n.auth,
		TLS: httpTLS, PeerTLS: peerTLS, Ingest: n.ingester, PGSync: n.syncer, Alerts: n.alerts,
		SystemConfig: cfg.Public(), Logger: n.logger, Metrics: n.metrics, Now: n.opts.Now, FeeSums: n.updater.FeeSums(),
		FlowSums: n.updater.FlowSums(),
	}
	if n.hub != nil {
		deps.Push = n.hub
	}
	if deps.Console, err = console.New(); err != nil {
		return err
	}
	if n.executor != nil {
		deps.Settler, deps.Executor = executorSettler{n.executor}, n.executor
	}
	if n.server, err = server.New(cfg.ServerConfig(), deps); err != nil {
		return err
	}
	if err := n.server.Start(); err != nil {
		return err
	}

	// Formation needs the API up: peers announce themselves and join through it.
	ctx, stop := context.WithCancel(context.Background())
	n.stop, n.formDone = stop, make(chan struct{})
	go func() {
		defer close(n.formDone)
		err := n.store.Form(ctx, raftstore.FormConfig{
			Self:            raftstore.Member{ID: cfg.Node.ID, RaftAddr: cfg.RaftAdvertise(), HTTPAddr: cfg.HTTPAdvertise(), Voter: true},
			Join:            cfg.Cluster.Join,
			BootstrapExpect: cfg.Cluster.BootstrapExpect,
			Peers:           n.server.Peers(),
		})
		if err != nil && ctx.Err() == nil {
			n.logger.Error("cluster formation stopped", "error", err)
		}
	}()

	// Leader-only work follows the store's leadership notification from here on.
	n.syncer.Start()
	if err := n.alerts.Start(context.Background()); err != nil {
		return err
	}
	n.ingester.Start()
	if n.executor != nil {
		if err := n.executor.Start(context.Background()); err != nil {
			return err
		}
	}
	n.riskProp = newRiskProposer(n.store, cfg.Risk.Thresholds(), n.logger, n.opts.Now)
	n.riskProp.Start()
	// Asset metadata (decimals: they change the books) is replicated by the leader, from
	// [[fund.assets]] or read from the tokens through the ingest endpoints.
	callers, closeCallers, err := dialCallers(cfg.Ingest.RPCURLs)
	if err != nil {
		return err
	}
	n.closeCallers = closeCallers
	n.assetMeta = newAssetMetaProposer(n.store, cfg.Fund.Assets, callers, n.logger, n.opts.Now)
	n.assetMeta.Start()
	rules, err := cfg.Approvals.Rules()
	if err != nil {
		return err // Validate checked it
	}
	n.approvals = newApprovalsLeader(n.store, rules, cfg.Approvals.TickInterval, n.logger, n.opts.Now)
	n.approvals.Start()
	if n.pending != nil {
		n.pending.Start()
	}
	n.logger.Info("node started", "http", n.server.Addr(), "raft", cfg.RaftAdvertise(), "data_dir", absPath(cfg.Node.DataDir))
	return nil
}

// onFatal passes the store's fatal apply error on to Fatal.
func (n *Node) onFatal(err error) {
	select {
	case n.fatal <- err:
	default:
	}
}

// newAuth builds authentication from [auth] and [ratelimit]. With no configured tokens nobody
// could write, so the node then accepts a local admin token, created once in the data folder,
// readable only by the node's user (as the development servers of Vault and Consul print a
// root token).
func (n *Node) newAuth() (*auth.Auth, error) {
	ac := n.cfg.AuthConfig()
	if len(ac.Tokens) == 0 {
		tok, path, err := localAdminToken(n.cfg.Node.DataDir)
		if err != nil {
			return nil, err
		}
		n.logger.Warn("no [[auth.tokens]] configured: accepting the local admin token", "file", absPath(path))
		ac.Tokens = []auth.Token{tok}
	}
	return auth.New(ac, auth.Deps{Logger: n.logger, Metrics: n.metrics, Now: n.opts.Now})
}

// Fatal delivers the error that stopped the state machine, if one does; the process should
// then shut down.
func (n *Node) Fatal() <-chan error { return n.fatal }

// Close stops the HTTP server (letting requests in flight finish until ctx ends) and then the
// store. It is safe to call more than once.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.stop != nil {
			n.stop()
			<-n.formDone
		}
		// Leadership first, while the API still serves: requests the other members forward
		// here meanwhile are refused as not proposed, and they send them to the new leader.
		n.handOver()
		// Ingest and the syncer next: they read the store and propose to it.
		if n.ingester != nil {
			errs = append(errs, n.ingester.Close())
		}
		if n.executor != nil {
			errs = append(errs, n.executor.Close())
			n.closeExecutor()
		}
		if n.riskProp != nil {
			errs = append(errs, n.riskProp.Close())
		}
		if n.assetMeta != nil {
			errs = append(errs, n.assetMeta.Close())
			n.closeCallers()
		}
		if n.approvals != nil {
			errs = append(errs, n.approvals.Close())
		}
		if n.pending != nil {
			errs = append(errs, n.pending.Close())
		}
		if n.syncer != nil {
			errs = append(errs, n.syncer.Close())
		}
		if n.alerts != nil {
			errs = append(errs, n.alerts.Close())
		}
		// WebSocket clients first (close 1001): fasthttp's shutdown does not wait for hijacked
		// connections, and the hub refuses new ones from here on.
		if n.hub != nil {
			errs = append(errs, n.hub.Close())
		}
		// HTTP next, so no request reaches a closing store.
		if n.server != nil {
			errs = append(errs, n.server.Close(ctx))
		}
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		n.closeErr = errors.Join(errs...)
		n.logger.Info("node stopped")
	})
	return n.closeErr
}

// handOverGrace is how long a node that handed leadership over keeps serving before it closes
// its API: the other members learn of the new leader from its first heartbeat, and until then
// they may still forward here (and are answered that this node no longer leads, so they retry),
// rather than meet a closing socket, where a request's fate would be unknown.
const handOverGrace = 100 * time.Millisecond

// handOver transfers leadership away when this node leads, and waits until the new leader is
// known here and handOverGrace has passed.
func (n *Node) handOver() {
	if n.store == nil || !n.store.TransferLeadership() {
		return
	}
	deadline := time.Now().Add(n.cfg.Raft.ElectionTimeout)
	for time.Now().Before(deadline) {
		if id := n.store.LeaderID(); id != "" && id != n.cfg.Node.ID {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(handOverGrace)
}

// Ingester is the node's chain ingester.
func (n *Node) Ingester() *ingest.Ingester { return n.ingester }

// Syncer is the node's PostgreSQL syncer.
func (n *Node) Syncer() *pgsync.Syncer { return n.syncer }

// Hub is the node's push hub; nil when push is disabled.
func (n *Node) Hub() *push.Hub { return n.hub }

// Executor is the node's executor (nil without [executor] key_file): decisions to execute on
// chain are submitted to it on the leader.
func (n *Node) Executor() *executor.Executor { return n.executor }

// Alerts is the node's alert Deliverer.
func (n *Node) Alerts() *alerts.Deliverer { return n.alerts }

// Store is the node's Raft store.
func (n *Node) Store() *raftstore.Store { return n.store }

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string { return n.server.Addr() }

// LocalAdminTokenFile holds the token a node accepts as admin when no tokens are configured.
const LocalAdminTokenFile = "admin.token"

// localAdminToken reads, or creates on first use, the local admin token in the data folder.
func localAdminToken(dataDir string) (auth.Token, string, error) {
	path := filepath.Join(dataDir, LocalAdminTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tok, _ := auth.NewToken()
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return auth.Token{}, "", err
		}
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return auth.Token{}, "", fmt.Errorf("write %s: %w", path, err)
		}
		b = []byte(tok)
	} else if err != nil {
		return auth.Token{}, "", fmt.Errorf("read %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return auth.Token{}, "", fmt.Errorf("%s: token is too short; delete the file to get a new one", path)
	}
	var sum [32]byte
	h, _ := hex.DecodeString(auth.TokenHash(tok))
	copy(sum[:], h)
	return auth.Token{Name: "local-admin", Role: "admin", SHA256: sum}, path, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
