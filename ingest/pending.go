package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// PendingSink receives the fund's unconfirmed chain events: the push hub turns them into
// "pending" and "removed" frames. Calls come from the watcher's goroutine, one at a time.
type PendingSink interface {
	// Pending reports events newly seen in blocks not yet confirmations deep, in chain order.
	Pending(evs []chainlog.Event)
	// Withdrawn reports pending events that left the chain before they were confirmed (a
	// shallow reorg).
	Withdrawn(evs []chainlog.Event)
}

// maxPending bounds the unconfirmed events a watcher tracks; past it, further events of a
// flood are not pushed as pending (they still arrive confirmed).
const maxPending = 10000

// PendingWatcher follows the unconfirmed tip of the chain — the blocks above head minus
// confirmations — on every node with RPC endpoints, independently of leadership and of the
// ingester (which applies only confirmed blocks, on the leader): each poll reads the tip's logs,
// reports the events it had not seen and withdraws those that vanished from blocks that are
// still unconfirmed. An event that reaches the confirmation depth is forgotten: it arrives as
// an applied change with its seq. Nothing it does is replicated or acknowledged; a failed poll
// is retried at the next one.
type PendingWatcher struct {
	cfg    Config
	deps   Deps
	sink   PendingSink
	pool   *pool
	logger *slog.Logger

	seen    map[pendingKey]pendingEvent
	checked bool // the endpoints' chain id was checked

	polls, failures, pushed, withdrawn *metrics.Counter

	stop      chan struct{}
	done      chan struct{}
	started   bool
	closeOnce sync.Once
}

type pendingKey struct {
	tx common.Hash
	li uint64
}

type pendingEvent struct {
	ev    chainlog.Event
	block common.Hash
}

// NewPendingWatcher returns an unstarted watcher over cfg's endpoints (cfg as for New); with
// no RPC URL it does nothing.
func NewPendingWatcher(cfg Config, sink PendingSink, deps Deps) (*PendingWatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.fill(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("ingest: pending watcher without a sink")
	}
	set := deps.Metrics
	w := &PendingWatcher{
		cfg: cfg, deps: deps, sink: sink, logger: deps.Logger.With("component", "pending"),
		seen:      map[pendingKey]pendingEvent{},
		polls:     set.GetOrCreateCounter("paimon_pending_polls_total"),
		failures:  set.GetOrCreateCounter("paimon_pending_poll_failures_total"),
		pushed:    set.GetOrCreateCounter("paimon_pending_events_total"),
		withdrawn: set.GetOrCreateCounter("paimon_pending_withdrawn_total"),
		stop:      make(chan struct{}), done: make(chan struct{}),
	}
	if len(cfg.RPCURLs) > 0 {
		p, err := newPool(cfg.RPCURLs, cfg.RPCTimeout, metrics.NewSet(), deps.Now)
		if err != nil {
			return nil, err
		}
		w.pool = p
	}
	return w, nil
}

// Start polls in the background; without RPC endpoints it does nothing.
func (w *PendingWatcher) Start() {
	if w.pool == nil || w.started {
		return
	}
	w.started = true
	go w.run()
}

// Close stops the watcher. It is safe to call more than once.
func (w *PendingWatcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		if w.started {
			<-w.done
		}
		if w.pool != nil {
			w.pool.close()
		}
	})
	return nil
}

func (w *PendingWatcher) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.stop
		cancel()
	}()
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	failures := 0
	for {
		if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
			failures++
			w.failures.Inc()
			if failures == 1 || failures%60 == 0 {
				w.logger.Warn("pending poll failed", "error", err, "failures", failures)
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads the unconfirmed tip once and reports what changed. Tests call it directly.
func (w *PendingWatcher) Poll(ctx context.Context) error {
	w.polls.Inc()
	if !w.checked {
		id, err := w.pool.chainID(ctx)
		if err != nil {
			return err
		}
		if id != w.cfg.ChainID {
			return fmt.Errorf("%w: endpoints serve %d, configured %d", ErrChainID, id, w.cfg.ChainID)
		}
		w.checked = true
	}
	head, err := w.pool.head(ctx, max(1000, 4*w.cfg.Confirmations))
	if err != nil {
		return err
	}
	var confirmed uint64
	if head > w.cfg.Confirmations {
		confirmed = head - w.cfg.Confirmations
	}
	// Forget what is confirmed now: it is the ingester's.
	for k, p := range w.seen {
		if p.ev.BlockNumber <= confirmed {
			delete(w.seen, k)
		}
	}
	if w.cfg.Confirmations == 0 || head <= confirmed {
		return nil
	}
	from := confirmed + 1
	logs, err := w.pool.logs(ctx, from, head, w.deps.Registry.Addresses())
	if err != nil {
		return fmt.Errorf("eth_getLogs %d-%d: %w", from, head, err)
	}
	cur := make([]chainlog.Event, 0, len(logs))
	now := make(map[pendingKey]common.Hash, len(logs))
	times := map[uint64]uint64{}
	for i := range logs {
		l := &logs[i]
		n, _ := parseHexQuantity(l.BlockNumber)
		if l.BlockTimestamp == "" {
			// Ask the block for its time once per block (providers without blockTimestamp).
			t, ok := times[n]
			if !ok {
				h, err := w.pool.header(ctx, n)
				if err != nil {
					return err
				}
				if !hashEqual(l.BlockHash, h.Hash) {
					return fmt.Errorf("%w: log of block %d names hash %s, the block is %s", errBadResponse, n, l.BlockHash, h.Hash.Hex())
				}
				t = h.Time
				times[n] = t
			}
			l.BlockTimestamp = fmt.Sprintf("0x%x", t)
		}
		ev, err := w.deps.Registry.Decode(l)
		if err != nil {
			continue // the ingester reports skipped logs when it applies their block
		}
		cur = append(cur, ev)
		now[pendingKey{ev.TxHash, ev.LogIndex}] = ev.BlockHash
	}
	// Withdrawn: gone from the tip, or moved to another block (then pending again below).
	var gone []chainlog.Event
	for k, p := range w.seen {
		if h, ok := now[k]; !ok || h != p.block {
			gone = append(gone, p.ev)
			delete(w.seen, k)
		}
	}
	var fresh []chainlog.Event
	for _, ev := range cur {
		k := pendingKey{ev.TxHash, ev.LogIndex}
		if _, ok := w.seen[k]; ok || len(w.seen) >= maxPending {
			continue
		}
		w.seen[k] = pendingEvent{ev: ev, block: ev.BlockHash}
		fresh = append(fresh, ev)
	}
	if len(gone) > 0 {
		slices.SortFunc(gone, func(a, b chainlog.Event) int {
			if c := cmp.Compare(a.BlockNumber, b.BlockNumber); c != 0 {
				return c
			}
			return cmp.Compare(a.LogIndex, b.LogIndex)
		})
		w.withdrawn.Add(len(gone))
		w.sink.Withdrawn(gone)
	}
	if len(fresh) > 0 {
		w.pushed.Add(len(fresh))
		w.sink.Pending(fresh)
	}
	return nil
}
