package rebalance

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/holiman/uint256"
)

// Config is the [rebalance] section: what a plan needs beyond the books.
type Config struct {
	// ApprovalAmount (base units, a decimal string): a plan whose total is above it needs a
	// REBALANCE approval ticket (with two approvers above approvals.large_amount) before the
	// executor sends anything. Written into the execute command: the proposer's value counts.
	ApprovalAmount string `toml:"approval_amount"`
	// SlippageBps is every asset's slippage bound unless AssetSlippageBps names it: a trade must
	// receive at least its estimate less this (passed to the asset controller as the minimum).
	SlippageBps      int            `toml:"slippage_bps"`
	AssetSlippageBps map[string]int `toml:"asset_slippage_bps"`
	// LiquidityHorizon: the redemptions due within it keep their cash (never spent by a plan).
	LiquidityHorizon time.Duration `toml:"liquidity_horizon"`
}

// DefaultConfig: 100,000 × 1e18 approval amount, 50 bps slippage, a 7-day horizon.
func DefaultConfig() Config {
	return Config{ApprovalAmount: "100000000000000000000000", SlippageBps: 50, AssetSlippageBps: map[string]int{}, LiquidityHorizon: 7 * 24 * time.Hour}
}

var addrRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// Validate reports every key that makes no sense, naming it.
func (c *Config) Validate() error {
	var errs []error
	if _, err := uint256.FromDecimal(c.ApprovalAmount); err != nil {
		errs = append(errs, fmt.Errorf("rebalance.approval_amount: %q is not a base-unit amount (a decimal integer string)", c.ApprovalAmount))
	}
	if c.SlippageBps < 0 || c.SlippageBps > MaxSlippageBps {
		errs = append(errs, fmt.Errorf("rebalance.slippage_bps: %d must be 0 to %d", c.SlippageBps, MaxSlippageBps))
	}
	for a, v := range c.AssetSlippageBps {
		if !addrRe.MatchString(a) {
			errs = append(errs, fmt.Errorf("rebalance.asset_slippage_bps: %q is not an address", a))
		}
		if v < 0 || v > MaxSlippageBps {
			errs = append(errs, fmt.Errorf("rebalance.asset_slippage_bps.%s: %d must be 0 to %d", a, v, MaxSlippageBps))
		}
	}
	if c.LiquidityHorizon < 0 || c.LiquidityHorizon > 366*24*time.Hour {
		errs = append(errs, fmt.Errorf("rebalance.liquidity_horizon: %s must be 0 to 366 days", c.LiquidityHorizon))
	}
	return errors.Join(errs...)
}

// Approval returns ApprovalAmount (the default's when it does not parse: Validate refuses it).
func (c *Config) Approval() uint256.Int {
	v, err := uint256.FromDecimal(c.ApprovalAmount)
	if err != nil {
		d := DefaultConfig()
		v, _ = uint256.FromDecimal(d.ApprovalAmount)
	}
	return *v
}

// Slippage returns an asset's slippage bound in basis points.
func (c *Config) Slippage(token [20]byte) uint64 {
	want := fmt.Sprintf("0x%x", token[:])
	for a, v := range c.AssetSlippageBps {
		if strings.EqualFold(a, want) {
			return uint64(v)
		}
	}
	return uint64(c.SlippageBps)
}
