// Package config is the TOML schema of a Paimon Edge node: defaults, file loading, environment
// and flag overrides, and validation that names the offending key.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// ErrInvalid is wrapped by every validation error, so callers can tell a bad configuration
// from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

// Config is the whole configuration of one node. Every node of a cluster normally gets the same
// file and differs only by the node section and addresses given as flags.
type Config struct {
	Node     Node     `toml:"node"`
	Fund     Fund     `toml:"fund"`
	HTTP     HTTP     `toml:"http"`
	Read     Read     `toml:"read"`
	Raft     Raft     `toml:"raft"`
	Cache    Cache    `toml:"cache"`
	Cluster  Cluster  `toml:"cluster"`
	Postgres Postgres `toml:"postgres"`
	Ingest   Ingest   `toml:"ingest"`
	Prices   Prices   `toml:"prices"`
	Push     Push     `toml:"push"`
	Auth     Auth     `toml:"auth"`
	Log      Log      `toml:"log"`
	// RateLimit holds the per-client budgets of the HTTP API.
	RateLimit RateLimit `toml:"ratelimit"`
}

// Node identifies this node and where it keeps its data.
type Node struct {
	ID      string `toml:"id"`
	DataDir string `toml:"data_dir"`
}

// Fund describes the fund this node serves; it is rendered in the overview.
type Fund struct {
	ID     string `toml:"id"`
	Name   string `toml:"name"`
	Symbol string `toml:"symbol"`
}

// HTTP configures the API listener.
type HTTP struct {
	Addr         string   `toml:"addr"`
	Advertise    string   `toml:"advertise"`
	MaxBodyBytes int      `toml:"max_body_bytes"`
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	// Concurrency 0 derives it from the descriptor limit (server.DefaultConcurrency).
	Concurrency   int `toml:"concurrency"`
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// TLSCertFile and TLSKeyFile (PEM), set both or neither, make the API serve HTTPS only;
	// members then reach each other's API over https, verifying certificates against
	// cluster.tls_ca_file (when set) and the system roots.
	TLSCertFile   string `toml:"tls_cert_file"`
	TLSKeyFile    string `toml:"tls_key_file"`
	TLSMinVersion string `toml:"tls_min_version"`
}

// Read configures read consistency.
type Read struct {
	MaxStaleness Duration `toml:"max_staleness"`
}

// Raft configures consensus and the local log.
type Raft struct {
	Addr               string   `toml:"addr"`
	Advertise          string   `toml:"advertise"`
	HeartbeatTimeout   Duration `toml:"heartbeat_timeout"`
	ElectionTimeout    Duration `toml:"election_timeout"`
	LeaderLeaseTimeout Duration `toml:"leader_lease_timeout"`
	CommitTimeout      Duration `toml:"commit_timeout"`
	ApplyTimeout       Duration `toml:"apply_timeout"`
	MaxAppendEntries   int      `toml:"max_append_entries"`
	SnapshotInterval   Duration `toml:"snapshot_interval"`
	SnapshotThreshold  uint64   `toml:"snapshot_threshold"`
	TrailingLogs       uint64   `toml:"trailing_logs"`
	SnapshotRetain     int      `toml:"snapshot_retain"`
	LogSegmentBytes    int      `toml:"log_segment_bytes"`
	StateCacheMiB      int      `toml:"state_cache_mib"`
}

// Cache configures the in-process view cache.
type Cache struct {
	SizeMiB     int      `toml:"size_mib"`
	OverviewTTL Duration `toml:"overview_ttl"`
	NavTTL      Duration `toml:"nav_ttl"`
	PricesTTL   Duration `toml:"prices_ttl"`
	DefaultTTL  Duration `toml:"default_ttl"`
}

// Cluster configures membership.
type Cluster struct {
	Join            []string `toml:"join"`
	BootstrapExpect int      `toml:"bootstrap_expect"`
	Secret          string   `toml:"secret"`
	TLSCertFile     string   `toml:"tls_cert_file"`
	TLSKeyFile      string   `toml:"tls_key_file"`
	TLSCAFile       string   `toml:"tls_ca_file"`
}

// Postgres configures the asynchronous sync to the system of record.
type Postgres struct {
	DSN            string   `toml:"dsn"`
	PoolSize       int      `toml:"pool_size"`
	BatchRows      int      `toml:"batch_rows"`
	Interval       Duration `toml:"interval"`
	ConnectTimeout Duration `toml:"connect_timeout"`
	MaxBackoff     Duration `toml:"max_backoff"`
	MarkInterval   Duration `toml:"mark_interval"`
}

// Ingest configures the chain: its id, the RPC endpoints the leader polls, and the fund's
// contracts.
type Ingest struct {
	ChainID       uint64   `toml:"chain_id"`
	RPCURLs       []string `toml:"rpc_urls"`
	Confirmations uint64   `toml:"confirmations"`
	StartBlock    uint64   `toml:"start_block"`
	PollInterval  Duration `toml:"poll_interval"`
	MaxBlockRange uint64   `toml:"max_block_range"`
	RPCTimeout    Duration `toml:"rpc_timeout"`
	ReorgWindow   int      `toml:"reorg_window"`
	// ReorderWindowBlocks is how far behind the highest block applied a log may arrive
	// through the webhook (or be removed); older ones are refused with CONFLICT. Every node
	// must use the same value: it decides what the state machine applies.
	ReorderWindowBlocks uint64     `toml:"reorder_window_blocks"`
	Pending             bool       `toml:"pending"`
	Contracts           []Contract `toml:"contracts"`
}

// Prices configures operator prices (POST /v1/admin/prices).
type Prices struct {
	// MaxFutureSkew is how far ahead of the command's time a price may be; later ones are
	// refused. Every node must use the same value: the state machine checks it.
	MaxFutureSkew Duration `toml:"max_future_skew"`
}

// Contract is one of the fund's contracts whose events the node decodes.
type Contract struct {
	Name    string `toml:"name"`
	Kind    string `toml:"kind"`
	Address string `toml:"address"`
	ABIFile string `toml:"abi_file"`
}

// Push configures the WebSocket push layer (GET /v1/ws).
type Push struct {
	Enabled          bool     `toml:"enabled"`
	WindowMessages   int      `toml:"window_messages"`
	WindowAge        Duration `toml:"window_age"`
	QueueMessages    int      `toml:"queue_messages"`
	WriteTimeout     Duration `toml:"write_timeout"`
	SendBufferBytes  int      `toml:"send_buffer_bytes"`
	MaxFrameBytes    int      `toml:"max_frame_bytes"`
	FramesPerSecond  float64  `toml:"frames_per_second"`
	FrameBurst       int      `toml:"frame_burst"`
	MaxSubscriptions int      `toml:"max_subscriptions"`
	MaxConns         int      `toml:"max_conns"`
	MaxConnsPerIP    int      `toml:"max_conns_per_ip"`
	AllowedOrigins   []string `toml:"allowed_origins"`
	PingInterval     Duration `toml:"ping_interval"`
	PongTimeout      Duration `toml:"pong_timeout"`
}

// Auth holds static API tokens, wallet sessions and bootstrap wallet roles.
type Auth struct {
	// Service names the service in the message a wallet signs to log in.
	Service string `toml:"service"`
	// NonceTTL is how long a login nonce may be used.
	NonceTTL Duration `toml:"nonce_ttl"`
	// SessionTTL is a session's lifetime after login or after its last extension.
	SessionTTL Duration `toml:"session_ttl"`
	// SessionExtendAfter: a session in use is extended (one replicated write) once this much of
	// its lifetime has passed since it was issued or last extended.
	SessionExtendAfter Duration `toml:"session_extend_after"`
	Tokens             []Token  `toml:"tokens"`
	// Wallets are bootstrap roles for wallet addresses, identical on every node; roles granted
	// through POST /v1/admin/roles are replicated instead. A wallet holds the higher of both.
	Wallets []Wallet `toml:"wallets"`
}

// Wallet is a bootstrap role for a wallet address.
type Wallet struct {
	Address string `toml:"address"`
	Role    string `toml:"role"`
}

// Token is a static API token: only its SHA-256 is configured.
type Token struct {
	Name   string `toml:"name"`
	Role   string `toml:"role"`
	SHA256 string `toml:"sha256"`
}

// RateLimit configures the per-client budgets of the HTTP API: a token bucket per token or
// session, else per client IP, for logins, reads and writes; a rate of 0 turns a budget off.
type RateLimit struct {
	Enabled               bool     `toml:"enabled"`
	LoginRate             float64  `toml:"login_rate"`
	LoginBurst            int      `toml:"login_burst"`
	ReadRate              float64  `toml:"read_rate"`
	ReadBurst             int      `toml:"read_burst"`
	WriteRate             float64  `toml:"write_rate"`
	WriteBurst            int      `toml:"write_burst"`
	FailedLoginPerAddress int      `toml:"failed_login_per_address"`
	FailedLoginPerIP      int      `toml:"failed_login_per_ip"`
	FailedLoginWindow     Duration `toml:"failed_login_window"`
	MaxClients            int      `toml:"max_clients"`
	IdleEvict             Duration `toml:"idle_evict"`
}

// Log configures the process log.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Default returns the embedded defaults: a single node that bootstraps itself in ./data,
// listening on loopback, with the fund's contracts (the mainnet vault and the development
// addresses of the other three, which examples/sample-logs.json uses).
func Default() *Config {
	return &Config{
		Node: Node{ID: "node1", DataDir: "./data"},
		Fund: Fund{ID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT"},
		HTTP: HTTP{
			Addr:          "127.0.0.1:8080",
			MaxBodyBytes:  1 << 20,
			ReadTimeout:   Duration(10 * time.Second),
			WriteTimeout:  Duration(10 * time.Second),
			IdleTimeout:   Duration(60 * time.Second),
			MaxConnsPerIP: 256,
			// Ignored without a certificate.
			TLSMinVersion: "1.2",
		},
		Read: Read{MaxStaleness: Duration(5 * time.Second)},
		Raft: Raft{
			Addr:               "127.0.0.1:7000",
			HeartbeatTimeout:   Duration(1000 * time.Millisecond),
			ElectionTimeout:    Duration(1000 * time.Millisecond),
			LeaderLeaseTimeout: Duration(500 * time.Millisecond),
			CommitTimeout:      Duration(50 * time.Millisecond),
			ApplyTimeout:       Duration(10 * time.Second),
			MaxAppendEntries:   512,
			SnapshotInterval:   Duration(120 * time.Second),
			SnapshotThreshold:  8192,
			TrailingLogs:       10240,
			SnapshotRetain:     2,
			LogSegmentBytes:    64 << 20,
			StateCacheMiB:      128,
		},
		Cache: Cache{
			SizeMiB:     64,
			OverviewTTL: Duration(60 * time.Second),
			NavTTL:      Duration(5 * time.Minute),
			PricesTTL:   Duration(300 * time.Second),
			DefaultTTL:  Duration(60 * time.Second),
		},
		Cluster: Cluster{BootstrapExpect: 1},
		Postgres: Postgres{
			PoolSize:       4,
			BatchRows:      20000,
			Interval:       Duration(200 * time.Millisecond),
			ConnectTimeout: Duration(5 * time.Second),
			MaxBackoff:     Duration(30 * time.Second),
			MarkInterval:   Duration(time.Second),
		},
		Ingest: Ingest{
			ChainID:             56,
			Confirmations:       15,
			PollInterval:        Duration(250 * time.Millisecond),
			MaxBlockRange:       2000,
			RPCTimeout:          Duration(10 * time.Second),
			ReorgWindow:         256,
			ReorderWindowBlocks: 256,
			Contracts: []Contract{
				{Name: "vault", Kind: "vault", Address: "0x8505c32631034a7ce8800239c08547e0434edad9"},
				{Name: "redemptions", Kind: "redemption_manager", Address: "0x0000000000000000000000000000000000000a01"},
				{Name: "assets", Kind: "asset_controller", Address: "0x0000000000000000000000000000000000000a02"},
				{Name: "oracle", Kind: "oracle", Address: "0x0000000000000000000000000000000000000a03"},
			},
		},
		Prices: Prices{MaxFutureSkew: Duration(5 * time.Minute)},
		Auth: Auth{
			Service: "Paimon Edge", NonceTTL: Duration(5 * time.Minute), SessionTTL: Duration(30 * time.Minute),
			SessionExtendAfter: Duration(5 * time.Minute), Wallets: []Wallet{},
		},
		Push: Push{
			Enabled: true, WindowMessages: 4096, WindowAge: Duration(10 * time.Minute), QueueMessages: 1024,
			WriteTimeout: Duration(5 * time.Second), MaxFrameBytes: 4096, FramesPerSecond: 50, FrameBurst: 100,
			MaxSubscriptions: 64, MaxConns: 100000, MaxConnsPerIP: 256, AllowedOrigins: []string{},
			PingInterval: Duration(30 * time.Second), PongTimeout: Duration(15 * time.Second),
		},
		// Logins are anonymous and each costs a Raft entry (the nonce) and a signature check, so
		// they are limited per IP. Reads are off: the cached read path serves tens of thousands
		// of requests a second and benchmarks drive it from one IP. Writes are off: every write
		// route needs an operator or admin token (or is a logout), and one token legitimately
		// carries thousands of writes a second (a log-provider webhook, the benchmarks).
		RateLimit: RateLimit{
			Enabled: true, LoginRate: 1, LoginBurst: 20, ReadRate: 0, ReadBurst: 200, WriteRate: 0, WriteBurst: 100,
			FailedLoginPerAddress: 5, FailedLoginPerIP: 20, FailedLoginWindow: Duration(15 * time.Minute),
			MaxClients: 100000, IdleEvict: Duration(10 * time.Minute),
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// Parse decodes a TOML document over the defaults. Unknown keys are errors.
func Parse(data []byte) (*Config, error) {
	c := Default()
	// A file that lists contracts replaces the default list rather than appending to it; one
	// that lists none keeps the defaults.
	c.Ingest.Contracts = nil
	// The unmarshaler interface lets Duration refuse bare integers (see Duration.UnmarshalTOML).
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().EnableUnmarshalerInterface()
	if err := dec.Decode(c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			keys := make([]string, 0, len(strict.Errors))
			for _, e := range strict.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return nil, fmt.Errorf("%w: unknown key %s", ErrInvalid, strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%w: line %d column %d: %s", ErrInvalid, row, col, de.Error())
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Ingest.Contracts == nil {
		c.Ingest.Contracts = Default().Ingest.Contracts
	}
	return c, nil
}

// Load reads and parses a config file; an empty path returns the defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var (
	nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	addrRe   = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Validate checks every key and the rules between keys. The error names the offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !nodeIDRe.MatchString(c.Node.ID) {
		bad("node.id", "%q must be 1-64 letters, digits, '.', '_' or '-'", c.Node.ID)
	}
	if c.Node.DataDir == "" {
		bad("node.data_dir", "must not be empty")
	}
	if c.Fund.Name == "" {
		bad("fund.name", "must not be empty")
	}
	if c.Fund.Symbol == "" {
		bad("fund.symbol", "must not be empty")
	}
	checkHostPort(bad, "http.addr", c.HTTP.Addr, false)
	if c.HTTP.Advertise != "" {
		checkHostPort(bad, "http.advertise", c.HTTP.Advertise, true)
	} else if clustered := len(c.Cluster.Join) > 0 || c.Cluster.BootstrapExpect > 1; clustered {
		if host, _, err := net.SplitHostPort(c.HTTP.Addr); err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				bad("http.advertise", "must be set when http.addr %q listens on all interfaces in a cluster", c.HTTP.Addr)
			}
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 64<<20 {
		bad("http.max_body_bytes", "%d must be between 1024 and 67108864", c.HTTP.MaxBodyBytes)
	}
	positive(bad, "http.read_timeout", c.HTTP.ReadTimeout)
	positive(bad, "http.write_timeout", c.HTTP.WriteTimeout)
	positive(bad, "http.idle_timeout", c.HTTP.IdleTimeout)
	if c.HTTP.Concurrency < 0 {
		bad("http.concurrency", "%d must not be negative (0 derives it from the descriptor limit)", c.HTTP.Concurrency)
	}
	if c.HTTP.MaxConnsPerIP < 1 {
		bad("http.max_conns_per_ip", "%d must be at least 1", c.HTTP.MaxConnsPerIP)
	}
	// The files themselves are loaded by node.LoadHTTPTLS (config reads no file but its own).
	if c.HTTP.TLSCertFile != "" && c.HTTP.TLSKeyFile == "" {
		bad("http.tls_key_file", "must be set with http.tls_cert_file")
	} else if c.HTTP.TLSCertFile == "" && c.HTTP.TLSKeyFile != "" {
		bad("http.tls_cert_file", "must be set with http.tls_key_file")
	}
	if v := c.HTTP.TLSMinVersion; v != "" && v != "1.2" && v != "1.3" {
		bad("http.tls_min_version", "%q must be \"1.2\" or \"1.3\"", c.HTTP.TLSMinVersion)
	}
	positive(bad, "read.max_staleness", c.Read.MaxStaleness)
	c.Push.validate(bad)
	c.RateLimit.validate(bad)
	checkHostPort(bad, "raft.addr", c.Raft.Addr, false)
	if c.Raft.Advertise != "" {
		checkHostPort(bad, "raft.advertise", c.Raft.Advertise, true)
	} else if host, _, err := net.SplitHostPort(c.Raft.Addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			bad("raft.advertise", "must be set when raft.addr %q listens on all interfaces", c.Raft.Addr)
		}
	}
	positive(bad, "raft.heartbeat_timeout", c.Raft.HeartbeatTimeout)
	positive(bad, "raft.election_timeout", c.Raft.ElectionTimeout)
	positive(bad, "raft.leader_lease_timeout", c.Raft.LeaderLeaseTimeout)
	positive(bad, "raft.commit_timeout", c.Raft.CommitTimeout)
	positive(bad, "raft.apply_timeout", c.Raft.ApplyTimeout)
	positive(bad, "raft.snapshot_interval", c.Raft.SnapshotInterval)
	if c.Raft.LeaderLeaseTimeout > c.Raft.HeartbeatTimeout {
		bad("raft.leader_lease_timeout", "%s must not exceed raft.heartbeat_timeout %s", c.Raft.LeaderLeaseTimeout, c.Raft.HeartbeatTimeout)
	}
	if c.Raft.ElectionTimeout < c.Raft.HeartbeatTimeout {
		bad("raft.election_timeout", "%s must be at least raft.heartbeat_timeout %s", c.Raft.ElectionTimeout, c.Raft.HeartbeatTimeout)
	}
	if c.Raft.MaxAppendEntries < 1 || c.Raft.MaxAppendEntries > 1024 {
		bad("raft.max_append_entries", "%d must be between 1 and 1024", c.Raft.MaxAppendEntries)
	}
	if c.Raft.SnapshotThreshold < 1 {
		bad("raft.snapshot_threshold", "must be at least 1")
	}
	if c.Raft.SnapshotRetain < 1 {
		bad("raft.snapshot_retain", "%d must be at least 1", c.Raft.SnapshotRetain)
	}
	if c.Raft.LogSegmentBytes < 32<<10 || c.Raft.LogSegmentBytes > 1<<30 {
		bad("raft.log_segment_bytes", "%d must be between 32768 and 1073741824", c.Raft.LogSegmentBytes)
	}
	if c.Raft.StateCacheMiB < 1 || c.Raft.StateCacheMiB > 1<<16 {
		bad("raft.state_cache_mib", "%d must be between 1 and 65536", c.Raft.StateCacheMiB)
	}
	if c.Cache.SizeMiB < 1 || c.Cache.SizeMiB > 1<<16 {
		bad("cache.size_mib", "%d must be between 1 and 65536", c.Cache.SizeMiB)
	}
	positive(bad, "cache.overview_ttl", c.Cache.OverviewTTL)
	positive(bad, "cache.nav_ttl", c.Cache.NavTTL)
	positive(bad, "cache.prices_ttl", c.Cache.PricesTTL)
	positive(bad, "cache.default_ttl", c.Cache.DefaultTTL)
	for i, j := range c.Cluster.Join {
		checkHostPort(bad, fmt.Sprintf("cluster.join[%d]", i), j, true)
	}
	if c.Cluster.BootstrapExpect < 0 || c.Cluster.BootstrapExpect > 9 {
		bad("cluster.bootstrap_expect", "%d must be between 0 and 9", c.Cluster.BootstrapExpect)
	}
	if c.Cluster.BootstrapExpect > 1 && len(c.Cluster.Join) == 0 {
		bad("cluster.join", "must list the peers when cluster.bootstrap_expect is %d", c.Cluster.BootstrapExpect)
	}
	if c.Cluster.Secret != "" && len(c.Cluster.Secret) < 16 {
		bad("cluster.secret", "must be at least 16 characters")
	} else if c.Cluster.Secret == "" && (len(c.Cluster.Join) > 0 || c.Cluster.BootstrapExpect > 1) {
		bad("cluster.secret", "must be set for a multi-node cluster: it authenticates Raft and forwarding between members")
	}
	if n := btoi(c.Cluster.TLSCertFile != "") + btoi(c.Cluster.TLSKeyFile != "") + btoi(c.Cluster.TLSCAFile != ""); n != 0 && n != 3 {
		bad("cluster.tls_cert_file", "cluster.tls_cert_file, cluster.tls_key_file and cluster.tls_ca_file go together: set all three or none")
	}
	if c.Postgres.DSN != "" && !strings.Contains(c.Postgres.DSN, "://") && !strings.Contains(c.Postgres.DSN, "=") {
		bad("postgres.dsn", "must be a postgres:// URL or key=value connection string")
	}
	if c.Postgres.PoolSize < 2 || c.Postgres.PoolSize > 64 {
		bad("postgres.pool_size", "%d must be between 2 and 64", c.Postgres.PoolSize)
	}
	if c.Postgres.BatchRows < 1 || c.Postgres.BatchRows > 1_000_000 {
		bad("postgres.batch_rows", "%d must be between 1 and 1000000", c.Postgres.BatchRows)
	}
	positive(bad, "postgres.interval", c.Postgres.Interval)
	positive(bad, "postgres.connect_timeout", c.Postgres.ConnectTimeout)
	positive(bad, "postgres.max_backoff", c.Postgres.MaxBackoff)
	positive(bad, "postgres.mark_interval", c.Postgres.MarkInterval)
	if c.Ingest.ChainID == 0 {
		bad("ingest.chain_id", "must not be 0")
	}
	for i, u := range c.Ingest.RPCURLs {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(fmt.Sprintf("ingest.rpc_urls[%d]", i), "%q must be an http:// or https:// URL", u)
		}
	}
	if c.Ingest.Confirmations > 10_000 {
		bad("ingest.confirmations", "%d must be at most 10000", c.Ingest.Confirmations)
	}
	positive(bad, "ingest.poll_interval", c.Ingest.PollInterval)
	positive(bad, "ingest.rpc_timeout", c.Ingest.RPCTimeout)
	if c.Ingest.MaxBlockRange < 1 || c.Ingest.MaxBlockRange > 100_000 {
		bad("ingest.max_block_range", "%d must be between 1 and 100000", c.Ingest.MaxBlockRange)
	}
	if c.Ingest.ReorgWindow < 1 || c.Ingest.ReorgWindow > 100_000 {
		bad("ingest.reorg_window", "%d must be between 1 and 100000", c.Ingest.ReorgWindow)
	}
	if c.Ingest.ReorderWindowBlocks < 1 || c.Ingest.ReorderWindowBlocks > 10_000_000 {
		bad("ingest.reorder_window_blocks", "%d must be between 1 and 10000000", c.Ingest.ReorderWindowBlocks)
	}
	if d := time.Duration(c.Prices.MaxFutureSkew); d <= 0 || d > 24*time.Hour {
		bad("prices.max_future_skew", "%s must be positive and at most 24h", d)
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for i, ct := range c.Ingest.Contracts {
		key := fmt.Sprintf("ingest.contracts[%d]", i)
		if !nameRe.MatchString(ct.Name) {
			bad(key+".name", "%q must be 1-64 letters, digits, '.', '_' or '-'", ct.Name)
		} else if names[ct.Name] {
			bad(key+".name", "%q is listed twice", ct.Name)
		}
		names[ct.Name] = true
		switch ct.Kind {
		case "vault", "redemption_manager", "asset_controller", "oracle":
		default:
			bad(key+".kind", "%q must be vault, redemption_manager, asset_controller or oracle", ct.Kind)
		}
		if !addrRe.MatchString(ct.Address) {
			bad(key+".address", "%q must be 0x followed by 40 hex digits", ct.Address)
		} else if a := strings.ToLower(ct.Address); addrs[a] {
			bad(key+".address", "%s is listed twice", a)
		} else {
			addrs[a] = true
		}
	}
	tokenNames := map[string]bool{}
	tokenHashes := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if !nameRe.MatchString(t.Name) {
			bad(key+".name", "%q must be 1-64 letters, digits, '.', '_' or '-'", t.Name)
		} else if tokenNames[t.Name] {
			bad(key+".name", "%q is listed twice", t.Name)
		}
		tokenNames[t.Name] = true
		switch t.Role {
		case "viewer", "operator", "approver", "admin":
		default:
			bad(key+".role", "%q must be viewer, operator, approver or admin", t.Role)
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			bad(key+".sha256", "must be the hex SHA-256 of the token (64 hex digits)")
		} else if h := strings.ToLower(t.SHA256); tokenHashes[h] {
			bad(key+".sha256", "the same token is listed twice")
		} else {
			tokenHashes[h] = true
		}
	}
	if c.Auth.Service == "" || len(c.Auth.Service) > 64 || strings.ContainsAny(c.Auth.Service, "\r\n") {
		bad("auth.service", "%q must be 1-64 characters on one line", c.Auth.Service)
	}
	if d := c.Auth.NonceTTL.D(); d < 10*time.Second || d > 15*time.Minute {
		bad("auth.nonce_ttl", "%s must be between 10s and 15m", d)
	}
	if d := c.Auth.SessionTTL.D(); d < time.Minute || d > 24*time.Hour {
		bad("auth.session_ttl", "%s must be between 1m and 24h", d)
	}
	if d := c.Auth.SessionExtendAfter.D(); d < time.Second || d >= c.Auth.SessionTTL.D() {
		bad("auth.session_extend_after", "%s must be at least 1s and less than auth.session_ttl", d)
	}
	wallets := map[string]bool{}
	for i, w := range c.Auth.Wallets {
		key := fmt.Sprintf("auth.wallets[%d]", i)
		if !addrRe.MatchString(w.Address) {
			bad(key+".address", "%q must be 0x followed by 40 hex digits", w.Address)
		} else if a := strings.ToLower(w.Address); wallets[a] {
			bad(key+".address", "%s is listed twice", a)
		} else {
			wallets[a] = true
		}
		switch w.Role {
		case "viewer", "operator", "approver", "admin":
		default:
			bad(key+".role", "%q must be viewer, operator, approver or admin", w.Role)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// HTTPAdvertise is the API address other nodes use to reach this one.
func (c *Config) HTTPAdvertise() string {
	if c.HTTP.Advertise != "" {
		return c.HTTP.Advertise
	}
	return c.HTTP.Addr
}

// RaftAdvertise is the Raft address other nodes use to reach this one.
func (c *Config) RaftAdvertise() string {
	if c.Raft.Advertise != "" {
		return c.Raft.Advertise
	}
	return c.Raft.Addr
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func positive(bad func(string, string, ...any), key string, d Duration) {
	if d <= 0 {
		bad(key, "%s must be positive", d)
	}
}

func checkHostPort(bad func(string, string, ...any), key, v string, needHost bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		bad(key, "%q is not host:port: %v", v, err)
		return
	}
	if needHost && host == "" {
		bad(key, "%q needs a host", v)
	}
	if port == "" {
		bad(key, "%q needs a port", v)
	}
}

// Duration is a time.Duration written in Go syntax ("200ms", "5s") in TOML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want Go syntax such as \"200ms\" or \"5s\"", string(b))
	}
	*d = Duration(v)
	return nil
}

// UnmarshalTOML implements go-toml's unstable.Unmarshaler, which Parse enables. Without it
// go-toml stores a bare integer straight into the int64 underneath, so `apply_timeout = 10`
// would silently mean 10ns; a duration must be a string in Go syntax. The error points at the
// value, so Parse reports its line.
func (d *Duration) UnmarshalTOML(raw []byte) error {
	if len(raw) == 0 || (raw[0] != '"' && raw[0] != '\'') {
		return unstable.NewParserError(raw, "duration %s: want a string in Go syntax such as \"200ms\" or \"5s\"", raw)
	}
	var v struct{ V string }
	if err := toml.Unmarshal(append([]byte("V = "), raw...), &v); err != nil {
		return unstable.NewParserError(raw, "duration %s: %v", raw, err)
	}
	if err := d.UnmarshalText([]byte(v.V)); err != nil {
		return unstable.NewParserError(raw, "%v", err)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String returns the Go syntax of the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (p *Push) validate(bad func(key, format string, args ...any)) {
	atLeast1 := func(key string, v int) {
		if v < 1 {
			bad(key, "%d must be at least 1", v)
		}
	}
	atLeast1("push.window_messages", p.WindowMessages)
	atLeast1("push.queue_messages", p.QueueMessages)
	atLeast1("push.frame_burst", p.FrameBurst)
	atLeast1("push.max_subscriptions", p.MaxSubscriptions)
	atLeast1("push.max_conns", p.MaxConns)
	atLeast1("push.max_conns_per_ip", p.MaxConnsPerIP)
	positive(bad, "push.window_age", p.WindowAge)
	positive(bad, "push.write_timeout", p.WriteTimeout)
	positive(bad, "push.ping_interval", p.PingInterval)
	positive(bad, "push.pong_timeout", p.PongTimeout)
	if p.MaxFrameBytes < 256 || p.MaxFrameBytes > 1<<20 {
		bad("push.max_frame_bytes", "%d must be between 256 and 1048576", p.MaxFrameBytes)
	}
	if p.SendBufferBytes < 0 {
		bad("push.send_buffer_bytes", "%d must not be negative (0 keeps the system's default)", p.SendBufferBytes)
	}
	if !(p.FramesPerSecond > 0) {
		bad("push.frames_per_second", "%g must be positive", p.FramesPerSecond)
	}
	if p.MaxConnsPerIP > p.MaxConns {
		bad("push.max_conns_per_ip", "%d must not exceed push.max_conns %d", p.MaxConnsPerIP, p.MaxConns)
	}
	for i, o := range p.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("push.allowed_origins[%d]", i), "%q must be \"*\" or an origin such as \"https://app.example.com\"", o)
		}
	}
}

func (r *RateLimit) validate(bad func(key, format string, args ...any)) {
	for _, b := range []struct {
		name  string
		rate  float64
		burst int
	}{{"login", r.LoginRate, r.LoginBurst}, {"read", r.ReadRate, r.ReadBurst}, {"write", r.WriteRate, r.WriteBurst}} {
		if !(b.rate >= 0 && b.rate <= 1e6) {
			bad("ratelimit."+b.name+"_rate", "%g must be between 0 (no limit) and 1000000 requests per second", b.rate)
		}
		if b.burst < 1 || b.burst > 1e6 {
			bad("ratelimit."+b.name+"_burst", "%d must be between 1 and 1000000", b.burst)
		}
	}
	if r.FailedLoginPerAddress < 0 || r.FailedLoginPerAddress > 1e6 {
		bad("ratelimit.failed_login_per_address", "%d must be between 0 (no limit) and 1000000", r.FailedLoginPerAddress)
	}
	if r.FailedLoginPerIP < 0 || r.FailedLoginPerIP > 1e6 {
		bad("ratelimit.failed_login_per_ip", "%d must be between 0 (no limit) and 1000000", r.FailedLoginPerIP)
	}
	positive(bad, "ratelimit.failed_login_window", r.FailedLoginWindow)
	if r.MaxClients < 64 || r.MaxClients > 100_000_000 {
		bad("ratelimit.max_clients", "%d must be between 64 and 100000000", r.MaxClients)
	}
	positive(bad, "ratelimit.idle_evict", r.IdleEvict)
}
