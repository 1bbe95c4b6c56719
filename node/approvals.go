package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"paimon/fund"
	"paimon/raftstore"
)

// approvalsLeader is the approval tickets' leader-only work (fund DESIGN.md, "Approval
// tickets"): it replicates this node's [approvals] rules (fund.CmdApprovalRules) whenever the
// state applies others (the state machine never reads a node's own configuration), and it
// advances the state machine's time: every tick interval it reads the earliest SLA time of
// the open tickets and, once that time passed, proposes fund.CmdTick. A tick is proposed only
// when something is due, so an idle cluster's log does not grow by one entry a second; what a
// tick fires depends on the tick's time alone, whoever proposes it. Both commands need the
// cluster version of this release: mid-upgrade they are refused and tried again.
type approvalsLeader struct {
	store    *raftstore.Store
	rules    fund.ApprovalRules
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration

	leaderLoop
}

func newApprovalsLeader(store *raftstore.Store, rules fund.ApprovalRules, interval time.Duration, logger *slog.Logger, now func() time.Time) *approvalsLeader {
	if now == nil {
		now = time.Now
	}
	return &approvalsLeader{store: store, rules: rules, logger: logger, now: now, interval: interval}
}

// Start follows leadership until Close.
func (p *approvalsLeader) Start() {
	p.start(p.store, p.lead)
}

func (p *approvalsLeader) lead(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	rulesDone := false
	for {
		if !rulesDone {
			done, err := p.replicateRules(ctx)
			rulesDone = err == nil
			p.report("approval rules", err, done)
		}
		if rulesDone {
			_, err := p.tick(ctx)
			p.report("approval tick", err, false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *approvalsLeader) report(what string, err error, done bool) {
	switch {
	case err != nil && errors.Is(err, raftstore.ErrMidUpgrade):
		p.logger.Debug(what+" wait for the cluster version", "error", err)
	case err != nil && !errors.Is(err, context.Canceled):
		p.logger.Warn(what+" not replicated", "error", err)
	case done:
		p.logger.Info(what + " replicated")
	}
}

// replicateRules proposes the configured rules when the state applies others.
func (p *approvalsLeader) replicateRules(ctx context.Context) (bool, error) {
	v, err := p.store.Read()
	if err != nil {
		return false, err
	}
	have, replicated, err := fund.ReadApprovalRules(v)
	v.Close()
	if err != nil {
		return false, err
	}
	if have == p.rules && (replicated || p.rules == fund.DefaultApprovalRules()) {
		return false, nil
	}
	res, err := p.store.Propose(ctx, fund.EncodeApprovalRules(&fund.ApprovalRulesCommand{Time: p.now().UnixNano(), Rules: p.rules}))
	if err != nil {
		return false, err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return false, verr
	}
	r, _ := res.Value.(*fund.ApprovalRulesResult)
	return r != nil && r.Changed, nil
}

// tick proposes a CmdTick when an open ticket's SLA time passed.
func (p *approvalsLeader) tick(ctx context.Context) (*fund.TickResult, error) {
	v, err := p.store.Read()
	if err != nil {
		return nil, err
	}
	due, ok, err := fund.NextApprovalDue(v)
	v.Close()
	now := p.now()
	if err != nil || !ok || now.Unix() < due {
		return nil, err
	}
	res, err := p.store.Propose(ctx, fund.EncodeTick(&fund.TickCommand{Time: now.UnixNano()}))
	if err != nil {
		return nil, err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return nil, verr
	}
	r, _ := res.Value.(*fund.TickResult)
	return r, nil
}
