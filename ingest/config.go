package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/chainlog"
)

// Config is the [ingest] section: the chain's id, the RPC endpoints the leader polls, and the
// fund's contracts. With no RPC URL, ingest is off: Start does nothing and Status reports the
// replicated checkpoint only.
type Config struct {
	ChainID       uint64        `toml:"chain_id"`
	RPCURLs       []string      `toml:"rpc_urls"`
	Confirmations uint64        `toml:"confirmations"`
	StartBlock    uint64        `toml:"start_block"`
	PollInterval  time.Duration `toml:"poll_interval"`
	MaxBlockRange uint64        `toml:"max_block_range"`
	RPCTimeout    time.Duration `toml:"rpc_timeout"`
	// ReorgWindow is how many recent blocks the checkpoint keeps to find a reorg's common
	// ancestor.
	ReorgWindow int `toml:"reorg_window"`
	// ReorderWindowBlocks is how far behind the highest block applied a log may arrive
	// through the webhook (or be removed); older ones are refused with CONFLICT. Every node
	// must use the same value: it decides what the state machine applies (fund.Info).
	ReorderWindowBlocks uint64 `toml:"reorder_window_blocks"`
	// Pending previews unconfirmed events on every node (with push and RPC endpoints).
	Pending bool `toml:"pending"`
	// Contracts are the fund's contracts whose events are decoded; the node builds the
	// registry (Deps.Registry) from them.
	Contracts []Contract `toml:"contracts"`
}

// Contract is one of the fund's contracts whose events the node decodes.
type Contract struct {
	Name    string `toml:"name"`
	Kind    string `toml:"kind"`
	Address string `toml:"address"`
	// ABIFile optionally replaces the built-in ABI of the contract's kind (JSON).
	ABIFile string `toml:"abi_file"`
}

// DefaultConfig returns the defaults documented in config.example.toml: BNB Smart Chain, no
// endpoint, and the fund's contracts (the mainnet vault and the development addresses of the
// other three, which examples/sample-logs.json uses).
func DefaultConfig() Config {
	return Config{
		ChainID:       56,
		Confirmations: 15,
		PollInterval:  250 * time.Millisecond,
		MaxBlockRange: 2000,
		RPCTimeout:    10 * time.Second,
		ReorgWindow:   256,
		// The state machine's, through fund.Info; ingest itself does not use it.
		ReorderWindowBlocks: 256,
		Contracts: []Contract{
			{Name: "vault", Kind: "vault", Address: "0x8505c32631034a7ce8800239c08547e0434edad9"},
			{Name: "redemptions", Kind: "redemption_manager", Address: "0x0000000000000000000000000000000000000a01"},
			{Name: "assets", Kind: "asset_controller", Address: "0x0000000000000000000000000000000000000a02"},
			{Name: "oracle", Kind: "oracle", Address: "0x0000000000000000000000000000000000000a03"},
		},
	}
}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	addrRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
)

// Validate checks the configuration; each error names the [ingest] key at fault. It reads no
// ABI file (the node does, when it builds the registry).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ingest.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.ChainID == 0 {
		bad("chain_id", "must not be 0")
	}
	for i, u := range c.RPCURLs {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(fmt.Sprintf("rpc_urls[%d]", i), "%q must be an http:// or https:// URL", u)
		}
	}
	if c.Confirmations > 10_000 {
		bad("confirmations", "%d must be at most 10000", c.Confirmations)
	}
	if c.PollInterval <= 0 {
		bad("poll_interval", "%s must be positive", c.PollInterval)
	}
	if c.RPCTimeout <= 0 {
		bad("rpc_timeout", "%s must be positive", c.RPCTimeout)
	}
	if c.MaxBlockRange < 1 || c.MaxBlockRange > 100_000 {
		bad("max_block_range", "%d must be between 1 and 100000", c.MaxBlockRange)
	}
	if c.ReorgWindow < 1 || c.ReorgWindow > 100_000 {
		bad("reorg_window", "%d must be between 1 and 100000", c.ReorgWindow)
	}
	if c.ReorderWindowBlocks < 1 || c.ReorderWindowBlocks > 10_000_000 {
		bad("reorder_window_blocks", "%d must be between 1 and 10000000", c.ReorderWindowBlocks)
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for i, ct := range c.Contracts {
		key := fmt.Sprintf("contracts[%d]", i)
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
	return errors.Join(errs...)
}

// Deps are what the ingester and the pending watcher use besides their configuration.
type Deps struct {
	// Registry decodes the contracts' logs (required).
	Registry *chainlog.Registry
	Logger   *slog.Logger // nil: slog.Default()
	Metrics  *metrics.Set // nil: a set of its own
	Now      func() time.Time
}

func (d *Deps) fill() error {
	if d.Registry == nil {
		return errors.New("ingest: no contract registry")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewSet()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return nil
}
