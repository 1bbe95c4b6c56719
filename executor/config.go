package executor

import (
	"errors"
	"fmt"
	"time"
)

// Config is the [executor] section: the account that sends the fund's transactions (approve
// and reject redemptions, batch settlements, a rebalance's purchases and redemptions) and the
// limits it sends them with.
//
// An empty key_file leaves the executor off. bench/chainsim -fund-contracts -config-out writes
// a section with a key file.
type Config struct {
	// KeyFile is a file holding the executor's secp256k1 private key as hex (go-ethereum's
	// crypto.LoadECDSA format, which bench/chainsim -executor-key-out writes). Its account
	// needs the executor role on the fund's contracts and gas money.
	KeyFile string `toml:"key_file"`
	// ChainID is the chain the transactions are signed for; 0 means ingest.chain_id.
	ChainID uint64 `toml:"chain_id"`
	// GasLimit bounds the gas of one transaction.
	GasLimit uint64 `toml:"gas_limit"`
	// MaxFeeGwei caps the fee per gas (EIP-1559 maxFeePerGas), fee bumps included.
	MaxFeeGwei uint64 `toml:"max_fee_gwei"`
	// MaxTipGwei caps the priority fee per gas (maxPriorityFeePerGas).
	MaxTipGwei uint64 `toml:"max_tip_gwei"`
	// Confirmations is the depth at which a mined transaction counts as confirmed; 0 means
	// ingest.confirmations.
	Confirmations int `toml:"confirmations"`
	// ReplaceAfter is how long a sent transaction may stay unmined before it is replaced by
	// one with a higher fee at the same nonce.
	ReplaceAfter time.Duration `toml:"replace_after"`
	// RedemptionManager and AssetController name the [[ingest.contracts]] entries the
	// executor sends to; empty: the one contract of that kind (required when several are
	// listed, e.g. a retired contract still ingested for its history).
	RedemptionManager string `toml:"redemption_manager"`
	AssetController   string `toml:"asset_controller"`
}

// DefaultConfig returns the executor off, with the limits it would use on BSC.
func DefaultConfig() Config {
	return Config{GasLimit: 2_000_000, MaxFeeGwei: 50, MaxTipGwei: 5, ReplaceAfter: time.Minute}
}

// Enabled reports whether a key is configured.
func (c *Config) Enabled() bool { return c.KeyFile != "" }

// Validate checks the section (it reads no file), naming each offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("executor.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.GasLimit < 21_000 || c.GasLimit > 30_000_000 {
		bad("gas_limit", "%d must be between 21000 and 30000000", c.GasLimit)
	}
	if c.MaxFeeGwei == 0 {
		bad("max_fee_gwei", "must be positive")
	}
	if c.MaxTipGwei > c.MaxFeeGwei {
		bad("max_tip_gwei", "%d must not exceed max_fee_gwei (%d)", c.MaxTipGwei, c.MaxFeeGwei)
	}
	if c.Confirmations < 0 {
		bad("confirmations", "%d must not be negative", c.Confirmations)
	}
	if c.ReplaceAfter < time.Second {
		bad("replace_after", "%s must be at least 1s", c.ReplaceAfter)
	}
	return errors.Join(errs...)
}
