package node

import (
	"context"

	"paimon/executor"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/rebalance"
	"paimon/version"
)

// planDecisions is the executor's Source of a rebalance's trades: the executing plan's first
// action that is not DONE, while it is PENDING (one transaction at a time, in order: the next is
// asked for only once the previous one's event is ingested and the state machine marked it
// DONE; a FAILED one failed the plan, fund/rebalance_cmd.go). Keyed (PURCHASE|REDEEM,
// rebalance-<plan>-<index>), so an action gets one intent whichever leader reads it.
type planDecisions struct {
	store *raftstore.Store
}

// Decisions implements executor.Source.
func (s *planDecisions) Decisions(ctx context.Context) ([]executor.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if version.Compare(s.store.ClusterVersion(), version.Cluster) < 0 {
		return nil, nil
	}
	v, err := s.store.Read()
	if err != nil {
		return nil, err
	}
	defer v.Close()
	p, ok, err := fund.ActivePlan(v)
	if err != nil || !ok || p.Status != fund.PlanExecuting {
		return nil, err
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.State == fund.ActionDone {
			continue
		}
		if a.State != fund.ActionPending {
			return nil, nil
		}
		d := executor.Decision{Purpose: executor.PurposePurchase, Reference: fund.PlanIntentReference(p.ID, i), Asset: a.Asset,
			Amount: a.Amount.ToBig(), MinReceived: a.MinReceived.ToBig()}
		if a.Type == rebalance.Redeem {
			d.Purpose, d.Amount = executor.PurposeRedeem, a.Tokens.ToBig()
		}
		return []executor.Decision{d}, nil
	}
	return nil, nil
}

// sources asks each of its Sources in turn.
type sources []executor.Source

// Decisions implements executor.Source.
func (ss sources) Decisions(ctx context.Context) ([]executor.Decision, error) {
	var out []executor.Decision
	for _, s := range ss {
		ds, err := s.Decisions(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}
