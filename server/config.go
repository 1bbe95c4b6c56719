package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/alerts"
	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/executor"
	"paimon/fund"
	"paimon/ingest"
	"paimon/internal/hostport"
	"paimon/pgsync"
	"paimon/readmodel"
	"paimon/rebalance"
	"paimon/report"
)

// Config is the [http] section: the API listener. The fields tagged `toml:"-"` come from other
// sections and are set by the configuration that composes them.
type Config struct {
	Addr string `toml:"addr"`
	// Advertise is the address other members reach this API at (forwarding, joins); empty
	// means Addr.
	Advertise    string        `toml:"advertise"`
	MaxBodyBytes int           `toml:"max_body_bytes"`
	ReadTimeout  time.Duration `toml:"read_timeout"`
	WriteTimeout time.Duration `toml:"write_timeout"`
	IdleTimeout  time.Duration `toml:"idle_timeout"`
	// Concurrency bounds the connections served at once (fasthttp answers one over it with
	// 503 and closes it); 0 derives it from the descriptor limit (DefaultConcurrency).
	Concurrency int `toml:"concurrency"`
	// MaxConnsPerIP bounds the open connections from one address (an IPv6 address counts by
	// its /64), WebSocket connections included; one over it is answered 429 (without TLS) and
	// closed when accepted.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// TLSCertFile and TLSKeyFile (PEM), set both or neither, make the API serve HTTPS only;
	// members then reach each other's API over https, verifying certificates against
	// cluster.tls_ca_file (when set) and the system roots. The node loads them (Deps.TLS).
	TLSCertFile   string `toml:"tls_cert_file"`
	TLSKeyFile    string `toml:"tls_key_file"`
	TLSMinVersion string `toml:"tls_min_version"`

	// NodeID is this node's id (node.id).
	NodeID string `toml:"-"`
	// MaxStaleness is the default bound of a local read (read.max_staleness): a node that has
	// not heard from a leader for longer refuses it with STALE_READ.
	MaxStaleness time.Duration `toml:"-"`
	// ApplyTimeout bounds how long a write or a linearizable read waits for the cluster
	// (raft.apply_timeout).
	ApplyTimeout time.Duration `toml:"-"`
	// ChainID is reported by GET /v1/ingest/status when this node ingests nothing
	// (ingest.chain_id).
	ChainID uint64 `toml:"-"`
	// ApprovalSignature refuses an approval decision without an EIP-712 signature
	// (approvals.require_signature); ApprovalTokensExempt lets static API tokens decide without
	// one (approvals.exempt_static_tokens). server/approvals_sig.go.
	ApprovalSignature    bool `toml:"-"`
	ApprovalTokensExempt bool `toml:"-"`
	// Rebalance is [rebalance]: the planner's slippage bounds and liquidity horizon, and the
	// approval amount written into every execute command this server proposes.
	Rebalance rebalance.Config `toml:"-"`
	// ClusterSecret authenticates requests between members (forwarding, joins)
	// (cluster.secret).
	ClusterSecret []byte `toml:"-"`
	// RaftAddr is this node's advertised Raft address, reported to peers forming a cluster.
	RaftAddr string `toml:"-"`
	// ReorderWindow is the reorder window, in blocks, written into every version-2 CmdLogs
	// this server proposes (ingest.reorder_window_blocks); 0 means fund.DefaultReorderWindow.
	// Replicas apply the command's window, never their own setting, so the value that counts
	// is the proposer's (the leader's: a follower forwards writes).
	ReorderWindow uint64 `toml:"-"`
	// MaxPriceFutureSkew is how far ahead of its command a price may be, written into every
	// version-2 CmdPrices this server proposes (prices.max_future_skew); 0 means
	// fund.DefaultMaxPriceFutureSkew.
	MaxPriceFutureSkew time.Duration `toml:"-"`
	// AlertWebhooks are the configured webhooks ([[alerts.webhooks]] names and
	// min_severity): GET /v1/alerts shows PENDING for each one an alert is for and has no
	// outcome for yet.
	AlertWebhooks []readmodel.AlertWebhook `toml:"-"`
}

// DefaultConfig returns the defaults documented in config.example.toml.
func DefaultConfig() Config {
	return Config{
		Addr:          "127.0.0.1:8080",
		MaxBodyBytes:  1 << 20,
		ReadTimeout:   10 * time.Second,
		WriteTimeout:  10 * time.Second,
		IdleTimeout:   60 * time.Second,
		MaxConnsPerIP: DefaultMaxConnsPerIP,
		// Ignored without a certificate.
		TLSMinVersion: "1.2",
		NodeID:        "node1",
		MaxStaleness:  5 * time.Second,
		ApplyTimeout:  10 * time.Second,
		ChainID:       56,
		ReorderWindow: fund.DefaultReorderWindow,
		// The default of prices.max_future_skew.
		MaxPriceFutureSkew: fund.DefaultMaxPriceFutureSkew,
		Rebalance:          rebalance.DefaultConfig(),
	}
}

// AdvertiseAddr is the API address other members use to reach this one.
func (c *Config) AdvertiseAddr() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	return c.Addr
}

// Validate checks the [http] keys and reports every problem (errors.Join); each error names
// the key at fault. It changes nothing. The fields from other sections are checked where
// they are keys (New refuses them unset).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	hostPort := func(key, v string, needHost bool) {
		if err := hostport.Check(v, needHost); err != nil {
			bad(key, "%v", err)
		}
	}
	hostPort("http.addr", c.Addr, false)
	if c.Advertise != "" {
		hostPort("http.advertise", c.Advertise, true)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("http.max_body_bytes", "%d must be between 1024 and 67108864", c.MaxBodyBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_timeout", c.ReadTimeout}, {"http.write_timeout", c.WriteTimeout}, {"http.idle_timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			bad(d.key, "%s must be positive", d.v)
		}
	}
	if c.Concurrency < 0 {
		bad("http.concurrency", "%d must not be negative (0 derives it from the descriptor limit)", c.Concurrency)
	}
	if c.MaxConnsPerIP < 1 {
		bad("http.max_conns_per_ip", "%d must be at least 1", c.MaxConnsPerIP)
	}
	if c.TLSCertFile != "" && c.TLSKeyFile == "" {
		bad("http.tls_key_file", "must be set with http.tls_cert_file")
	} else if c.TLSCertFile == "" && c.TLSKeyFile != "" {
		bad("http.tls_cert_file", "must be set with http.tls_key_file")
	}
	if v := c.TLSMinVersion; v != "" && v != "1.2" && v != "1.3" {
		bad("http.tls_min_version", "%q must be \"1.2\" or \"1.3\"", c.TLSMinVersion)
	}
	return errors.Join(errs...)
}

// IngestReporter reports chain ingest for GET /v1/ingest/status (an *ingest.Ingester).
type IngestReporter interface {
	Status() ingest.Status
}

// AlertsReporter reports the alert webhooks' delivery as this node sees it (an
// *alerts.Deliverer: only the leader sends).
type AlertsReporter interface {
	Status() []alerts.WebhookStatus
}

// ExecutorReporter reports the executor as this node sees it (an *executor.Executor: it
// runs on the leader only).
type ExecutorReporter interface {
	Status() executor.Status
}

// PGSync is the PostgreSQL sync as the server reports and verifies it (a *pgsync.Syncer).
type PGSync interface {
	Status() pgsync.Status
	// Verify compares this node's state with PostgreSQL after waiting up to wait for it to
	// catch up.
	Verify(ctx context.Context, wait time.Duration) (*pgsync.Report, error)
}

// Deps are what the server uses besides its configuration.
type Deps struct {
	// Store is the replicated store; Cache the view cache kept in step with it; Registry
	// decodes posted chain logs; Views renders a view not stored yet; Auth authenticates (the
	// server binds the store to it, auth.Bind). All required.
	Store    Store
	Cache    *cache.Cache
	Registry *chainlog.Registry
	Views    ViewRenderer
	Auth     *auth.Auth
	// TLS, when set, makes Start serve HTTPS (and wss://) only, with its certificates. Members
	// are then reached over https too: every member of a cluster has the same [http] TLS
	// settings, so this node's own choice decides the scheme of its calls to the others.
	TLS *tls.Config
	// PeerTLS verifies the other members' API certificates when TLS is set (nil: the system
	// roots).
	PeerTLS *tls.Config
	// SystemConfig is the node's effective configuration without secrets, answered by GET
	// /v1/system/config (config.Config.Public).
	SystemConfig any
	// Push serves GET /v1/ws; nil when push is disabled.
	Push Pusher
	// Ingest reports chain ingest; nil when there is none.
	Ingest IngestReporter
	// PGSync reports and verifies the PostgreSQL sync; nil reports it disabled.
	PGSync PGSync
	// Alerts reports the alert deliveries in GET /v1/cluster/status; nil reports none.
	Alerts AlertsReporter
	// Settler settles one redemption through the executor (POST
	// /v1/redemptions/{id}/settle); nil answers 503 EXECUTOR_OFF.
	Settler Settler
	// Console serves the operator console at /console/; nil answers 404 there.
	Console Console
	// Executor reports the executor in GET /v1/system/health; nil reports it disabled.
	Executor ExecutorReporter
	// FeeSums are the running sums GET /v1/fund/fees reads, kept by the CacheUpdater that
	// observes Store's state machine (CacheUpdater.FeeSums); nil scans the ledger per render.
	FeeSums *readmodel.FeeSums
	// FlowSums are the running sums of the open periods' flows GET /v1/reports/{kind} reads,
	// kept by the same CacheUpdater (CacheUpdater.FlowSums); nil scans the period's ledger per
	// build.
	FlowSums *report.FlowSums
	// Logger (nil: slog.Default()), Metrics (nil: a set of its own), Now (nil: auth's clock).
	Logger  *slog.Logger
	Metrics *metrics.Set
	Now     func() time.Time
}
