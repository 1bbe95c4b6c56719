package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"paimon/fund"
	"paimon/raftstore"
	"paimon/risk"
)

// riskCheckInterval is how often the leader compares its [risk] thresholds with the
// replicated ones (and retries a proposal the cluster version refused mid-upgrade).
const riskCheckInterval = 10 * time.Second

// riskProposer replicates this node's [risk] thresholds while it leads: the state machine
// never reads a node's own configuration (every node must evaluate the indicators alike), so
// the leader proposes fund.CmdRiskThresholds whenever its thresholds differ from those the
// state applies. The command needs the cluster version that starts the books: mid-upgrade the
// proposal is refused and tried again later. Configure the same [risk] on every node, or the
// thresholds change with the leader.
type riskProposer struct {
	store    *raftstore.Store
	want     risk.Thresholds
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration

	leaderLoop
}

func newRiskProposer(store *raftstore.Store, want risk.Thresholds, logger *slog.Logger, now func() time.Time) *riskProposer {
	if now == nil {
		now = time.Now
	}
	return &riskProposer{store: store, want: want, logger: logger, now: now, interval: riskCheckInterval}
}

// Start follows leadership until Close.
func (p *riskProposer) Start() {
	p.start(p.store, p.lead)
}

func (p *riskProposer) lead(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		if done, err := p.check(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, raftstore.ErrMidUpgrade) {
				p.logger.Debug("risk thresholds wait for the cluster version", "error", err)
			} else {
				p.logger.Warn("risk thresholds not replicated", "error", err)
			}
		} else if done {
			p.logger.Info("risk thresholds replicated")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check proposes the configured thresholds when the state applies others; done reports a
// proposal that changed them.
func (p *riskProposer) check(ctx context.Context) (done bool, err error) {
	v, err := p.store.Read()
	if err != nil {
		return false, err
	}
	have, replicated, err := fund.RiskThresholds(v)
	v.Close()
	if err != nil {
		return false, err
	}
	if have == p.want && (replicated || p.want == risk.DefaultThresholds()) {
		return false, nil
	}
	cmd := fund.EncodeRiskThresholds(&fund.RiskThresholdsCommand{Time: p.now().UnixNano(), Thresholds: p.want})
	res, err := p.store.Propose(ctx, cmd)
	if err != nil {
		return false, err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return false, verr
	}
	r, _ := res.Value.(*fund.RiskThresholdsResult)
	return r != nil && r.Changed, nil
}
