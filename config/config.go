// Package config composes the TOML configuration of a Paimon Edge node from the components' own
// configurations (each declares its section's keys, defaults and checks), maps the file, the
// environment and the flags onto it, and validates it once, naming every offending key.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/alerts"
	"paimon/chainlog"
	"paimon/executor"
	"paimon/fund"
	"paimon/ingest"
	"paimon/pgsync"
	"paimon/push"
	"paimon/raftstore"
	"paimon/rebalance"
	"paimon/risk"
	"paimon/server"
)

// ErrInvalid is wrapped by every validation error, so callers can tell a bad configuration
// from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

// Config is the whole configuration of one node. Every node of a cluster normally gets the same
// file and differs only by the node section and addresses given as flags.
//
// A section that configures one component is that component's own Config ([http] is
// server.Config, [raft] raftstore.Config, [postgres] pgsync.Config, [ingest] ingest.Config,
// [push] push.Config, [alerts] alerts.Config, [risk] risk.Config, [executor] executor.Config): its fields, defaults and checks are declared there, once. The
// sections that span components or map onto another shape (node, fund, read, cache, cluster,
// auth, ratelimit, log) are declared here, and the methods below compose each component's
// configuration from the sections it needs.
type Config struct {
	Node     Node             `toml:"node"`
	Fund     Fund             `toml:"fund"`
	HTTP     server.Config    `toml:"http"`
	Read     Read             `toml:"read"`
	Raft     raftstore.Config `toml:"raft"`
	Cache    Cache            `toml:"cache"`
	Cluster  Cluster          `toml:"cluster"`
	Postgres pgsync.Config    `toml:"postgres"`
	Ingest   ingest.Config    `toml:"ingest"`
	Prices   Prices           `toml:"prices"`
	Push     push.Config      `toml:"push"`
	Alerts   alerts.Config    `toml:"alerts"`
	Risk     risk.Config      `toml:"risk"`
	// Executor is the leader's executor (issue 12; package executor): off without key_file.
	Executor executor.Config `toml:"executor"`
	// Keeper is [keeper]: the leader's batch settlements through the executor.
	Keeper executor.KeeperConfig `toml:"keeper"`
	// Approvals is [approvals]: approval tickets' rules and the leader's tick (approvals.go).
	Approvals Approvals `toml:"approvals"`
	// Rebalance is [rebalance]: plans' approval amount, slippage bounds, liquidity horizon.
	Rebalance rebalance.Config `toml:"rebalance"`
	Auth      Auth             `toml:"auth"`
	Log       Log              `toml:"log"`
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
	// Assets are the fund's assets whose metadata the leader proposes (fund.CmdAssetMeta):
	// decimals change what the books value an asset at. An asset not listed (or listed without
	// decimals) gets its decimals from the token (eth_call decimals()) when an RPC is
	// configured, else 18.
	Assets []FundAsset `toml:"assets"`
}

// FundAsset is one [[fund.assets]] entry.
type FundAsset struct {
	Address  string `toml:"address"`
	Symbol   string `toml:"symbol"`
	Name     string `toml:"name"`
	Decimals *int   `toml:"decimals"` // nil: from the token, else 18
}

// Read configures read consistency.
type Read struct {
	MaxStaleness time.Duration `toml:"max_staleness"`
}

// Cache configures the in-process view cache.
type Cache struct {
	SizeMiB     int           `toml:"size_mib"`
	OverviewTTL time.Duration `toml:"overview_ttl"`
	NavTTL      time.Duration `toml:"nav_ttl"`
	PricesTTL   time.Duration `toml:"prices_ttl"`
	DefaultTTL  time.Duration `toml:"default_ttl"`
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

// Prices configures operator prices (POST /v1/admin/prices).
type Prices struct {
	// MaxFutureSkew is how far ahead of the command's time a price may be; later ones are
	// refused. Every node must use the same value: the state machine checks it.
	MaxFutureSkew time.Duration `toml:"max_future_skew"`
}

// Auth holds static API tokens, wallet sessions and bootstrap wallet roles.
type Auth struct {
	// Service names the service in the message a wallet signs to log in.
	Service string `toml:"service"`
	// NonceTTL is how long a login nonce may be used.
	NonceTTL time.Duration `toml:"nonce_ttl"`
	// SessionTTL is a session's lifetime after login or after its last extension.
	SessionTTL time.Duration `toml:"session_ttl"`
	// SessionExtendAfter: a session in use is extended (one replicated write) once this much of
	// its lifetime has passed since it was issued or last extended.
	SessionExtendAfter time.Duration `toml:"session_extend_after"`
	Tokens             []Token       `toml:"tokens"`
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
	Enabled               bool          `toml:"enabled"`
	LoginRate             float64       `toml:"login_rate"`
	LoginBurst            int           `toml:"login_burst"`
	ReadRate              float64       `toml:"read_rate"`
	ReadBurst             int           `toml:"read_burst"`
	WriteRate             float64       `toml:"write_rate"`
	WriteBurst            int           `toml:"write_burst"`
	FailedLoginPerAddress int           `toml:"failed_login_per_address"`
	FailedLoginPerIP      int           `toml:"failed_login_per_ip"`
	FailedLoginWindow     time.Duration `toml:"failed_login_window"`
	MaxClients            int           `toml:"max_clients"`
	IdleEvict             time.Duration `toml:"idle_evict"`
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
		Node:      Node{ID: "node1", DataDir: "./data"},
		Fund:      Fund{ID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", Assets: []FundAsset{}},
		HTTP:      server.DefaultConfig(),
		Read:      Read{MaxStaleness: 5 * time.Second},
		Raft:      raftstore.DefaultConfig(),
		Cache:     Cache{SizeMiB: 64, OverviewTTL: 60 * time.Second, NavTTL: 5 * time.Minute, PricesTTL: 300 * time.Second, DefaultTTL: 60 * time.Second},
		Cluster:   Cluster{BootstrapExpect: 1},
		Postgres:  pgsync.DefaultConfig(),
		Ingest:    ingest.DefaultConfig(),
		Prices:    Prices{MaxFutureSkew: 5 * time.Minute},
		Push:      push.DefaultConfig(),
		Alerts:    alerts.DefaultConfig(),
		Risk:      risk.DefaultConfig(),
		Executor:  executor.DefaultConfig(),
		Keeper:    executor.DefaultKeeperConfig(),
		Approvals: DefaultApprovals(),
		Rebalance: rebalance.DefaultConfig(),
		Auth: Auth{
			Service: "Paimon Edge", NonceTTL: 5 * time.Minute, SessionTTL: 30 * time.Minute,
			SessionExtendAfter: 5 * time.Minute, Wallets: []Wallet{},
		},
		// Logins are anonymous and each costs a Raft entry (the nonce) and a signature check, so
		// they are limited per IP. Reads are off: the cached read path serves tens of thousands
		// of requests a second and benchmarks drive it from one IP. Writes are off: every write
		// route needs an operator or admin token (or is a logout), and one token legitimately
		// carries thousands of writes a second (a log-provider webhook, the benchmarks).
		RateLimit: RateLimit{
			Enabled: true, LoginRate: 1, LoginBurst: 20, ReadRate: 0, ReadBurst: 200, WriteRate: 0, WriteBurst: 100,
			FailedLoginPerAddress: 5, FailedLoginPerIP: 20, FailedLoginWindow: 15 * time.Minute,
			MaxClients: 100000, IdleEvict: 10 * time.Minute,
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
	if err := decode(data, c); err != nil {
		return nil, err
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
	seen := map[string]bool{}
	for i, a := range c.Fund.Assets {
		key := fmt.Sprintf("fund.assets[%d]", i)
		addr, err := chainlog.ParseAddress(a.Address)
		switch {
		case err != nil:
			bad(key+".address", "%q must be 0x followed by 40 hex digits", a.Address)
		case addr == (common.Address{}):
			bad(key+".address", "must not be the zero address")
		case seen[strings.ToLower(a.Address)]:
			bad(key+".address", "%s is listed twice", a.Address)
		}
		seen[strings.ToLower(a.Address)] = true
		if a.Decimals != nil && (*a.Decimals < 0 || *a.Decimals > fund.MaxDecimals) {
			bad(key+".decimals", "%d must be between 0 and %d", *a.Decimals, fund.MaxDecimals)
		}
		if len(a.Symbol) > fund.MaxAssetMetaText {
			bad(key+".symbol", "must be at most %d bytes", fund.MaxAssetMetaText)
		}
		if len(a.Name) > fund.MaxAssetMetaText {
			bad(key+".name", "must be at most %d bytes", fund.MaxAssetMetaText)
		}
	}
	problems(&errs, c.HTTP.Validate())
	if c.HTTP.Advertise == "" && (len(c.Cluster.Join) > 0 || c.Cluster.BootstrapExpect > 1) {
		if host, _, err := net.SplitHostPort(c.HTTP.Addr); err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				bad("http.advertise", "must be set when http.addr %q listens on all interfaces in a cluster", c.HTTP.Addr)
			}
		}
	}
	positive(bad, "read.max_staleness", c.Read.MaxStaleness)
	problems(&errs, c.Push.Validate())
	c.RateLimit.validate(bad)
	problems(&errs, c.Raft.Validate())
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
	problems(&errs, c.Postgres.Validate())
	problems(&errs, c.Ingest.Validate())
	if d := c.Prices.MaxFutureSkew; d <= 0 || d > 24*time.Hour {
		bad("prices.max_future_skew", "%s must be positive and at most 24h", d)
	}
	problems(&errs, c.Alerts.Validate())
	problems(&errs, c.Risk.Validate())
	problems(&errs, c.Executor.Validate())
	problems(&errs, c.Keeper.Validate())
	if c.Executor.Enabled() {
		// The executor sends to one redemption manager and one asset controller: with several
		// of a kind listed, [executor] names the one (it must not pick one silently).
		for _, pick := range []struct{ kind, key, name string }{
			{"redemption_manager", "redemption_manager", c.Executor.RedemptionManager},
			{"asset_controller", "asset_controller", c.Executor.AssetController},
		} {
			var names []string
			found := false
			for _, ct := range c.Ingest.Contracts {
				if ct.Kind == pick.kind {
					names = append(names, ct.Name)
					found = found || ct.Name == pick.name
				}
			}
			switch {
			case pick.name != "" && !found:
				bad("executor."+pick.key, "%q is not an ingest.contracts entry of kind %s (those: %s)", pick.name, pick.kind, strings.Join(names, ", "))
			case pick.name == "" && len(names) > 1:
				bad("executor."+pick.key, "ingest.contracts lists %d contracts of kind %s (%s): name the one the executor sends to", len(names), pick.kind, strings.Join(names, ", "))
			}
		}
	}
	if id := c.Executor.ChainID; id != 0 && id != c.Ingest.ChainID {
		bad("executor.chain_id", "%d differs from ingest.chain_id %d: the executor sends to the chain the node ingests (0: the same)", id, c.Ingest.ChainID)
	}
	problems(&errs, c.Approvals.Validate())
	problems(&errs, c.Rebalance.Validate())
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
	if d := c.Auth.NonceTTL; d < 10*time.Second || d > 15*time.Minute {
		bad("auth.nonce_ttl", "%s must be between 10s and 15m", d)
	}
	if d := c.Auth.SessionTTL; d < time.Minute || d > 24*time.Hour {
		bad("auth.session_ttl", "%s must be between 1m and 24h", d)
	}
	if d := c.Auth.SessionExtendAfter; d < time.Second || d >= c.Auth.SessionTTL {
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
func (c *Config) HTTPAdvertise() string { return c.HTTP.AdvertiseAddr() }

// RaftAdvertise is the Raft address other nodes use to reach this one.
func (c *Config) RaftAdvertise() string { return c.Raft.AdvertiseAddr() }

// problems appends the problems err joins (a component's Validate) to errs, one by one.
func problems(errs *[]error, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		*errs = append(*errs, j.Unwrap()...)
		return
	}
	*errs = append(*errs, err)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func positive(bad func(string, string, ...any), key string, d time.Duration) {
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
