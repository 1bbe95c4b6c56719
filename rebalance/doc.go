// Package rebalance is the rebalancing planner: from the fund's books, target ratios, the
// assets' allocations, prices and slippage bounds, and the cash reserved for redemptions, the
// PURCHASE / REDEEM actions that put every tier within ±50 bps of its target (DESIGN.md).
// It is pure: no clock, no I/O, integers only.
package rebalance
