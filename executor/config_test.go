package executor

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil || c.Enabled() {
		t.Fatalf("defaults: %v, enabled %v", err, c.Enabled())
	}
	for key, mutate := range map[string]func(*Config){
		"executor.gas_limit":     func(c *Config) { c.GasLimit = 20_000 },
		"executor.max_fee_gwei":  func(c *Config) { c.MaxFeeGwei = 0 },
		"executor.max_tip_gwei":  func(c *Config) { c.MaxTipGwei = c.MaxFeeGwei + 1 },
		"executor.confirmations": func(c *Config) { c.Confirmations = -1 },
		"executor.replace_after": func(c *Config) { c.ReplaceAfter = time.Millisecond },
	} {
		t.Run(key, func(t *testing.T) {
			c := DefaultConfig()
			mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("error %v does not name %s", err, key)
			}
		})
	}
}
