package executor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KeeperConfig is the [keeper] section: the leader settles due redemptions in batches
// (batchSettleRedemptions) through the executor.
type KeeperConfig struct {
	// SettleInterval is how often the leader looks for due redemptions; 0 turns the keeper off.
	SettleInterval time.Duration `toml:"settle_interval"`
	// BatchMax is batchSettleRedemptions' max: the most requests one transaction settles.
	BatchMax int `toml:"batch_max"`
}

// DefaultKeeperConfig returns a keeper that looks every minute and settles up to 50 requests
// a transaction.
func DefaultKeeperConfig() KeeperConfig {
	return KeeperConfig{SettleInterval: time.Minute, BatchMax: 50}
}

// Validate checks the section, naming each offending key.
func (c *KeeperConfig) Validate() error {
	var errs []error
	if c.SettleInterval != 0 && c.SettleInterval < time.Second {
		errs = append(errs, fmt.Errorf("keeper.settle_interval: %s must be 0 (off) or at least 1s", c.SettleInterval))
	}
	if c.BatchMax < 1 || c.BatchMax > 1000 {
		errs = append(errs, fmt.Errorf("keeper.batch_max: %d must be between 1 and 1000", c.BatchMax))
	}
	return errors.Join(errs...)
}

// Due counts the redemptions due for settlement at now (PENDING or APPROVED, settlement time
// reached), as the node's state knows them.
type Due interface {
	Due(ctx context.Context, now time.Time) (int, error)
}

// keep is one keeper round: a BATCH_SETTLE decision when something is due and no batch is in
// flight (one at a time: a second would find nothing the first did not settle).
func (e *Executor) keep(ctx context.Context) {
	e.work.Lock()
	defer e.work.Unlock()
	intents, err := e.deps.Store.Intents(ctx)
	if err != nil {
		return
	}
	for i := range intents {
		if intents[i].Purpose == PurposeBatchSettle && intents[i].open() {
			return
		}
	}
	now := e.deps.Now()
	n, err := e.deps.Due.Due(ctx, now)
	if err != nil || n == 0 {
		if err != nil && ctx.Err() == nil {
			e.log.Warn("keeper: due redemptions", "err", err)
		}
		return
	}
	d := Decision{Purpose: PurposeBatchSettle, Reference: "keeper-" + now.UTC().Format("20060102T150405.000Z"),
		Max: uint64(e.deps.Keeper.BatchMax)}
	data, err := d.calldata()
	if err != nil {
		return
	}
	if _, err := e.submit(ctx, d, data, intents); err != nil && ctx.Err() == nil {
		e.log.Warn("keeper: batch settlement", "due", n, "err", err)
		return
	}
	e.log.Info("keeper: batch settlement", "due", n, "max", d.Max, "reference", d.Reference)
}
