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
	"github.com/ethereum/go-ethereum/common"

	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/config"
	"paimon/fund"
	"paimon/ingest"
	"paimon/pgsync"
	"paimon/push"
	"paimon/raftstore"
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
	ingester *ingest.Ingester
	pending  *ingest.PendingWatcher // nil unless [ingest] pending with push and RPC endpoints
	server   *server.Server

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

// Start opens the store, starts serving HTTP and joins or forms the cluster. On error,
// everything started so far is closed.
func (n *Node) Start() (err error) {
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	cfg := n.cfg
	if n.registry, err = LoadContracts(cfg); err != nil {
		return err
	}
	n.metrics = metrics.NewSet()

	// The cache comes first: the state machine writes views through it from the first apply.
	if n.cache, err = cache.New(cache.Config{
		SizeBytes:  cfg.Cache.SizeMiB << 20,
		TTLs:       server.CacheClassTTLs(cfg.Cache),
		DefaultTTL: cfg.Cache.DefaultTTL.D(),
		Metrics:    n.metrics,
	}); err != nil {
		return err
	}
	// Authentication comes next: the server and the push hub both use it, and the cache updater
	// keeps its sessions and roles in step with apply. The server binds the store to it.
	tokens, err := n.tokens()
	if err != nil {
		return err
	}
	if n.auth, err = auth.New(auth.Config{
		Tokens:             tokens,
		Wallets:            wallets(cfg.Auth.Wallets),
		ClusterSecret:      []byte(cfg.Cluster.Secret),
		Service:            cfg.Auth.Service,
		ChainID:            cfg.Ingest.ChainID,
		NonceTTL:           cfg.Auth.NonceTTL.D(),
		SessionTTL:         cfg.Auth.SessionTTL.D(),
		SessionExtendAfter: cfg.Auth.SessionExtendAfter.D(),
		RateLimit:          server.RateLimitOf(cfg.RateLimit),
		Logger:             n.logger,
		Metrics:            n.metrics,
		Now:                n.opts.Now,
	}); err != nil {
		return err
	}
	n.updater = server.NewCacheUpdater(n.cache, n.auth)
	var observer fund.Observer = n.updater
	// The push hub observes every applied batch from the first (the log replayed at open starts
	// its resume windows); it authenticates through auth and authorizes channels by the
	// server's resource table.
	if cfg.Push.Enabled {
		if n.hub, err = push.New(pushConfig(cfg.Push), n.auth, server.Channels(), n.logger, n.metrics); err != nil {
			return err
		}
		n.hub.Start()
		observer = fund.Observers{n.updater, n.hub}
	}
	// The outbox is always written (fundInfo), whether or not this node syncs to PostgreSQL:
	// every replica must apply commands to the same bytes (the leader prunes it when nothing
	// consumes it).
	n.machine = fund.NewMachine(fundInfo(cfg), observer)

	// The store opens the Raft log and the state and replays what the state lacks.
	rc := n.storeConfig()
	if rc.TLS, err = LoadClusterTLS(cfg.Cluster); err != nil {
		return err
	}
	if n.store, err = raftstore.New(rc, n.machine); err != nil {
		return err
	}
	if err := n.store.Open(); err != nil {
		return err
	}

	// The syncer drains the outbox into PostgreSQL while this node leads; it never holds up the
	// store or the API.
	if n.syncer, err = pgsync.New(pgsync.Config{
		DSN:             cfg.Postgres.DSN,
		PoolSize:        cfg.Postgres.PoolSize,
		BatchRows:       cfg.Postgres.BatchRows,
		Interval:        cfg.Postgres.Interval.D(),
		ConnectTimeout:  cfg.Postgres.ConnectTimeout.D(),
		MaxBackoff:      cfg.Postgres.MaxBackoff.D(),
		MarkInterval:    cfg.Postgres.MarkInterval.D(),
		ApplicationName: "paimon/" + cfg.Node.ID,
		BeforeCommit:    n.opts.PGBeforeCommit,
		Logger:          n.logger,
		Metrics:         n.metrics,
	}, n.store); err != nil {
		return err
	}

	// Chain ingest runs on the leader only, through the store like any write.
	icfg := ingest.Config{
		ChainID:       cfg.Ingest.ChainID,
		RPCURLs:       cfg.Ingest.RPCURLs,
		Confirmations: cfg.Ingest.Confirmations,
		StartBlock:    cfg.Ingest.StartBlock,
		PollInterval:  cfg.Ingest.PollInterval.D(),
		MaxBlockRange: cfg.Ingest.MaxBlockRange,
		RPCTimeout:    cfg.Ingest.RPCTimeout.D(),
		Window:        cfg.Ingest.ReorgWindow,
		Registry:      n.registry,
		NodeID:        cfg.Node.ID,
		Logger:        n.logger,
		Metrics:       n.metrics,
	}
	if n.ingester, err = ingest.New(icfg, n.store); err != nil {
		return err
	}
	// Unconfirmed events are previewed on every node, from its own endpoints' view of the tip.
	if n.hub != nil && cfg.Ingest.Pending && len(cfg.Ingest.RPCURLs) > 0 {
		if n.pending, err = ingest.NewPendingWatcher(icfg, n.hub); err != nil {
			return err
		}
	}

	var pusher server.Pusher
	if n.hub != nil {
		pusher = n.hub
	}
	httpTLS, peerTLS, err := LoadHTTPTLS(cfg)
	if err != nil {
		return err
	}
	if n.server, err = server.New(server.Config{
		NodeID:        cfg.Node.ID,
		Addr:          cfg.HTTP.Addr,
		MaxBodyBytes:  cfg.HTTP.MaxBodyBytes,
		ReadTimeout:   cfg.HTTP.ReadTimeout.D(),
		WriteTimeout:  cfg.HTTP.WriteTimeout.D(),
		IdleTimeout:   cfg.HTTP.IdleTimeout.D(),
		Concurrency:   cfg.HTTP.Concurrency,
		MaxConnsPerIP: cfg.HTTP.MaxConnsPerIP,
		MaxStaleness:  cfg.Read.MaxStaleness.D(),
		ApplyTimeout:  cfg.Raft.ApplyTimeout.D(),
		ChainID:       cfg.Ingest.ChainID,
		ClusterSecret: []byte(cfg.Cluster.Secret),
		HTTPAdvertise: cfg.HTTPAdvertise(),
		RaftAddr:      cfg.RaftAdvertise(),
		TLS:           httpTLS,
		PeerTLS:       peerTLS,
		PGSync:        n.pgStatus,
		IngestStatus:  func() any { return n.ingester.Status() },
		PGVerify:      n.pgVerify,
		SystemConfig:  cfg.Public(),
		Push:          pusher,
		Logger:        n.logger,
		Metrics:       n.metrics,
		Now:           n.opts.Now,
	}, n.store, n.cache, n.registry, n.machine, n.auth); err != nil {
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
	n.syncer.Start()
	n.ingester.Start()
	if n.pending != nil {
		n.pending.Start()
	}
	n.logger.Info("node started", "http", n.server.Addr(), "raft", cfg.RaftAdvertise(), "data_dir", absPath(cfg.Node.DataDir))
	return nil
}

// pushConfig maps [push] to the hub's configuration.
func pushConfig(c config.Push) push.Config {
	pc := push.DefaultConfig()
	pc.WindowMessages = c.WindowMessages
	pc.WindowAge = c.WindowAge.D()
	pc.QueueMessages = c.QueueMessages
	pc.WriteTimeout = c.WriteTimeout.D()
	pc.SendBufferBytes = c.SendBufferBytes
	pc.MaxFrameBytes = c.MaxFrameBytes
	pc.FramesPerSecond = c.FramesPerSecond
	pc.FrameBurst = c.FrameBurst
	pc.MaxSubscriptions = c.MaxSubscriptions
	pc.MaxConns = c.MaxConns
	pc.MaxConnsPerIP = c.MaxConnsPerIP
	pc.AllowedOrigins = c.AllowedOrigins
	pc.PingInterval = c.PingInterval.D()
	pc.PongTimeout = c.PongTimeout.D()
	return pc
}

func (n *Node) storeConfig() raftstore.Config {
	cfg := n.cfg
	rc := raftstore.DefaultConfig()
	rc.NodeID = cfg.Node.ID
	rc.Dir = cfg.Node.DataDir
	rc.BindAddr = cfg.Raft.Addr
	rc.Advertise = cfg.Raft.Advertise
	rc.Bootstrap = cfg.Cluster.BootstrapExpect <= 1 && len(cfg.Cluster.Join) == 0
	rc.HeartbeatTimeout = cfg.Raft.HeartbeatTimeout.D()
	rc.ElectionTimeout = cfg.Raft.ElectionTimeout.D()
	rc.LeaderLeaseTimeout = cfg.Raft.LeaderLeaseTimeout.D()
	rc.CommitTimeout = cfg.Raft.CommitTimeout.D()
	rc.ApplyTimeout = cfg.Raft.ApplyTimeout.D()
	rc.MaxAppendEntries = cfg.Raft.MaxAppendEntries
	rc.SnapshotInterval = cfg.Raft.SnapshotInterval.D()
	rc.SnapshotThreshold = cfg.Raft.SnapshotThreshold
	rc.TrailingLogs = cfg.Raft.TrailingLogs
	rc.SnapshotRetain = cfg.Raft.SnapshotRetain
	rc.LogSegmentBytes = cfg.Raft.LogSegmentBytes
	rc.StateCacheBytes = int64(cfg.Raft.StateCacheMiB) << 20
	rc.Secret = []byte(cfg.Cluster.Secret)
	rc.HTTPAddr = cfg.HTTPAdvertise()
	rc.Network = n.opts.Network
	rc.Logger = n.logger
	rc.Metrics = n.metrics
	rc.OnFatal = func(err error) {
		select {
		case n.fatal <- err:
		default:
		}
	}
	if n.updater != nil {
		rc.OnRestore = n.updater.Restored
	}
	return rc
}

// tokens returns the configured API tokens or, when there are none, the local admin token.
// wallets maps [[auth.wallets]] (validated by config) to the server's bootstrap roles.
func wallets(ws []config.Wallet) []auth.Wallet {
	out := make([]auth.Wallet, 0, len(ws))
	for _, w := range ws {
		out = append(out, auth.Wallet{Address: common.HexToAddress(w.Address), Role: w.Role})
	}
	return out
}

func (n *Node) tokens() ([]auth.Token, error) {
	tokens := make([]auth.Token, 0, len(n.cfg.Auth.Tokens))
	for _, t := range n.cfg.Auth.Tokens {
		var sum [32]byte
		b, _ := hex.DecodeString(t.SHA256) // validated by config
		copy(sum[:], b)
		tokens = append(tokens, auth.Token{Name: t.Name, Role: t.Role, SHA256: sum})
	}
	if len(tokens) > 0 {
		return tokens, nil
	}
	// With no configured tokens nobody could write; create a local admin token once, in the
	// data folder, readable only by the node's user (as the development servers of Vault and
	// Consul print a root token).
	tok, path, err := localAdminToken(n.cfg.Node.DataDir)
	if err != nil {
		return nil, err
	}
	n.logger.Warn("no [[auth.tokens]] configured: accepting the local admin token", "file", absPath(path))
	return []auth.Token{tok}, nil
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
		if n.pending != nil {
			errs = append(errs, n.pending.Close())
		}
		if n.syncer != nil {
			errs = append(errs, n.syncer.Close())
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
	deadline := time.Now().Add(n.cfg.Raft.ElectionTimeout.D())
	for time.Now().Before(deadline) {
		if id := n.store.LeaderID(); id != "" && id != n.cfg.Node.ID {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(handOverGrace)
}

func (n *Node) pgStatus() server.PGSyncStatus {
	st := n.syncer.Status()
	return server.PGSyncStatus{Enabled: st.Enabled, Running: st.Running, SyncedIndex: st.SyncedIndex,
		LagIndex: st.LagIndex, LagSeconds: st.LagSeconds, LastError: st.LastError}
}

func (n *Node) pgVerify(ctx context.Context, wait time.Duration) (any, int, error) {
	rep, err := pgsync.VerifyStore(ctx, n.cfg.Postgres.DSN, n.store, wait)
	if err != nil {
		return nil, 0, err
	}
	return rep, rep.Differences, nil
}

// Ingester is the node's chain ingester.
func (n *Node) Ingester() *ingest.Ingester { return n.ingester }

// Syncer is the node's PostgreSQL syncer.
func (n *Node) Syncer() *pgsync.Syncer { return n.syncer }

// Hub is the node's push hub; nil when push is disabled.
func (n *Node) Hub() *push.Hub { return n.hub }

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
