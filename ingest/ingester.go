// Package ingest brings the fund's chain events into the Raft log: on the leader only, it polls
// the configured RPC endpoints for confirmed blocks, fetches the contracts' logs in adaptive
// block ranges, decodes them with the same registry as the webhook, checks that each range
// continues the chain it applied before (rolling orphaned blocks back on a reorg), and proposes
// each range as one command carrying its events and the new checkpoint.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/version"
)

// Store is what the ingester needs of the replicated store.
type Store interface {
	SubscribeLeadership() (changes <-chan raftstore.Leadership, cancel func())
	LeaderID() string
	Read() (*raftstore.View, error)
	Propose(ctx context.Context, cmd []byte) (raftstore.Result, error)
}

// Errors of the ingester.
var (
	// ErrChainID: the endpoints serve another chain than ingest.chain_id.
	ErrChainID = errors.New("ingest: RPC chain id differs from ingest.chain_id")
	// ErrDeepReorg: a fork deeper than the kept window; ingest halts rather than diverge.
	ErrDeepReorg = errors.New("ingest: reorg deeper than the kept window")
)

// Ingester runs chain ingest on the leader. New does no I/O; Start runs it; Close stops it.
type Ingester struct {
	cfg    Config
	deps   Deps
	store  Store
	logger *slog.Logger
	pool   *pool

	mu sync.Mutex
	st Status
	// rates over the last stretch of work, for events/s, blocks/s and the ETA
	rateStart            time.Time
	rateEvents, rateBlks uint64

	m struct {
		events, reorgs, proposals *metrics.Counter
		skipped                   map[string]*metrics.Counter
		rangeSeconds              *metrics.PrometheusHistogram
	}

	// haltChecked: this term has looked whether the replicated INGEST_HALTED condition is in
	// force and cleared it; haltRaised: this term proposed it (a halt retried with backoff is
	// not proposed again). Only the lead goroutine uses them.
	haltChecked, haltRaised bool

	stop      chan struct{}
	done      chan struct{}
	started   bool
	closeOnce sync.Once
}

// Status is GET /v1/ingest/status.
type Status struct {
	ChainID       uint64           `json:"chainId"`
	Enabled       bool             `json:"enabled"`
	Running       bool             `json:"running"`
	Head          uint64           `json:"head"`
	ConfirmedHead uint64           `json:"confirmedHead"`
	LastApplied   uint64           `json:"lastApplied"`
	LagBlocks     uint64           `json:"lagBlocks"`
	LagSeconds    float64          `json:"lagSeconds"`
	EventsPerSec  float64          `json:"eventsPerSec"`
	BlocksPerSec  float64          `json:"blocksPerSec"`
	ETASeconds    float64          `json:"etaSeconds"`
	RangeSize     uint64           `json:"rangeSize"`
	RPC           []EndpointStatus `json:"rpc"`
	LeaderOnly    bool             `json:"leaderOnly"`
	RunningOn     string           `json:"runningOn"`
	Reorgs        uint64           `json:"reorgs"`
	Skipped       map[string]int   `json:"skipped"`
	Halted        bool             `json:"halted"`
	Alert         string           `json:"alert,omitempty"`
	LastError     string           `json:"lastError,omitempty"`
	lastBlockTime uint64
}

// New returns an unstarted ingester.
func New(cfg Config, store Store, deps Deps) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.fill(); err != nil {
		return nil, err
	}
	g := &Ingester{cfg: cfg, deps: deps, store: store, logger: deps.Logger.With("component", "ingest"), stop: make(chan struct{}), done: make(chan struct{})}
	g.st = Status{ChainID: cfg.ChainID, Enabled: len(cfg.RPCURLs) > 0, LeaderOnly: true, RangeSize: cfg.MaxBlockRange, Skipped: map[string]int{}}
	set := deps.Metrics
	g.m.events = set.GetOrCreateCounter("paimon_ingest_events_total")
	g.m.reorgs = set.GetOrCreateCounter("paimon_ingest_reorgs_total")
	g.m.proposals = set.GetOrCreateCounter("paimon_ingest_ranges_total")
	g.m.rangeSeconds = set.GetOrCreatePrometheusHistogram("paimon_ingest_range_seconds")
	g.m.skipped = map[string]*metrics.Counter{}
	for _, r := range []string{chainlog.SkipMalformed, chainlog.SkipUnknownContract, chainlog.SkipUnknownTopic, chainlog.SkipBadTopicCount, chainlog.SkipShortData, chainlog.SkipBadData} {
		g.m.skipped[r] = set.GetOrCreateCounter(fmt.Sprintf(`paimon_ingest_skipped_total{reason=%q}`, r))
	}
	gauge := func(name string, f func(Status) float64) {
		set.GetOrCreateGauge(name, func() float64 { return f(g.Status()) })
	}
	gauge("paimon_ingest_head_block", func(s Status) float64 { return float64(s.Head) })
	gauge("paimon_ingest_confirmed_block", func(s Status) float64 { return float64(s.ConfirmedHead) })
	gauge("paimon_ingest_applied_block", func(s Status) float64 { return float64(s.LastApplied) })
	gauge("paimon_ingest_lag_blocks", func(s Status) float64 { return float64(s.LagBlocks) })
	gauge("paimon_ingest_lag_seconds", func(s Status) float64 { return s.LagSeconds })
	gauge("paimon_ingest_events_per_second", func(s Status) float64 { return s.EventsPerSec })
	gauge("paimon_ingest_halted", func(s Status) float64 { return b2f(s.Halted) })
	if len(cfg.RPCURLs) > 0 {
		p, err := newPool(cfg.RPCURLs, cfg.RPCTimeout, set, deps.Now)
		if err != nil {
			return nil, err
		}
		g.pool = p
	}
	return g, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Start runs ingest in the background; without RPC endpoints it does nothing.
func (g *Ingester) Start() {
	if g.pool == nil || g.started {
		return
	}
	g.started = true
	go g.run()
}

// Close stops ingest and closes the RPC connections. It is safe to call more than once.
func (g *Ingester) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		if g.started {
			<-g.done
		}
		if g.pool != nil {
			g.pool.close()
		}
	})
	return nil
}

// Status reports ingest: live figures on the node that runs it, the replicated checkpoint
// elsewhere.
func (g *Ingester) Status() Status {
	g.mu.Lock()
	st := g.st
	st.Skipped = make(map[string]int, len(g.st.Skipped))
	for k, v := range g.st.Skipped {
		st.Skipped[k] = v
	}
	g.mu.Unlock()
	if g.pool != nil {
		st.RPC = g.pool.status()
	} else {
		st.RPC = []EndpointStatus{}
	}
	st.RunningOn = g.store.LeaderID()
	if v, err := g.store.Read(); err == nil {
		if cp, ok, err := fund.ReadIngestCheckpoint(v); err == nil && ok {
			st.LastApplied = cp.Block.Number
		}
		v.Close()
	}
	if st.ConfirmedHead > st.LastApplied {
		st.LagBlocks = st.ConfirmedHead - st.LastApplied
	} else {
		st.LagBlocks = 0
	}
	if st.Running && st.lastBlockTime > 0 {
		st.LagSeconds = max(0, g.deps.Now().Sub(time.Unix(int64(st.lastBlockTime), 0)).Seconds())
	}
	return st
}

func (g *Ingester) update(f func(*Status)) {
	g.mu.Lock()
	f(&g.st)
	g.mu.Unlock()
}

// run follows leadership: it leads ingest for each term this node leads (the store's one
// leadership notification starts and stops it), and idles otherwise.
func (g *Ingester) run() {
	defer close(g.done)
	root, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-g.stop
		cancel()
	}()
	changes, unsubscribe := g.store.SubscribeLeadership()
	defer unsubscribe()
	raftstore.WhileLeader(root, changes, g.leadTerm)
}

// leadTerm ingests while ctx lasts (this node's term as leader, or until Close), retrying
// with backoff after errors; the next leader resumes from the replicated checkpoint.
func (g *Ingester) leadTerm(ctx context.Context) {
	g.update(func(s *Status) { s.Running = true })
	defer g.update(func(s *Status) { s.Running = false })
	g.haltRaised = false
	failures := 0
	for ctx.Err() == nil {
		err := g.lead(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		failures++
		g.update(func(s *Status) { s.LastError = err.Error() })
		g.logger.Error("chain ingest", "error", err, "retry_in", backoff(failures).String())
		if !sleep(ctx, backoff(failures)) {
			return
		}
	}
}

func backoff(failures int) time.Duration {
	return min(time.Second<<min(failures-1, 6), time.Minute)
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// checkpoint reads the replicated ingest checkpoint.
func (g *Ingester) checkpoint() (fund.IngestCheckpoint, error) {
	v, err := g.store.Read()
	if err != nil {
		return fund.IngestCheckpoint{}, err
	}
	defer v.Close()
	cp, _, err := fund.ReadIngestCheckpoint(v)
	return cp, err
}

// lead ingests until ctx ends (leadership lost or Close) or an error it cannot retry in place.
func (g *Ingester) lead(ctx context.Context) error {
	g.haltChecked = false
	id, err := g.pool.chainID(ctx)
	if err != nil {
		return err
	}
	if id != g.cfg.ChainID {
		err := fmt.Errorf("%w: the endpoints serve chain %d, the configuration says %d", ErrChainID, id, g.cfg.ChainID)
		g.halt(ctx, err.Error(), map[string]any{"reason": "chain_id", "chainId": id, "configured": g.cfg.ChainID})
		return err
	}
	for ctx.Err() == nil {
		cp, err := g.checkpoint()
		if err != nil {
			return err
		}
		err = g.pipeline(ctx, cp)
		switch {
		case err == nil || ctx.Err() != nil:
			return nil
		case errors.Is(err, errRestart):
			continue // the state moved under us (a reorg, or another proposer): start over from it
		default:
			return err
		}
	}
	return nil
}

// errRestart asks lead to restart the pipeline from the replicated checkpoint.
var errRestart = errors.New("restart from the checkpoint")

// halt records a condition that needs an operator: ingest stops trying until then. It raises
// the SYSTEM risk event INGEST_HALTED (once while the condition is in force, however many
// leaders halt on it: the state keeps it until a range applies again).
func (g *Ingester) halt(ctx context.Context, alert string, details map[string]any) {
	g.logger.Error("chain ingest halted", "alert", alert)
	g.update(func(s *Status) { s.Halted, s.Alert = true, alert })
	if g.haltRaised {
		return
	}
	det, _ := json.Marshal(details) // fixed keys of numbers and strings: always marshals, sorted
	g.haltRaised = g.proposeRisk(ctx, &fund.RiskEventCommand{Type: fund.RiskIngestHalted, Severity: fund.SeverityCritical, Message: "chain ingest halted: " + alert, Details: det})
}

// clearHalt clears INGEST_HALTED once per term, after the first range applied: ingest runs
// again (an operator restored or resynced, or a new leader's RPC sees the right chain).
func (g *Ingester) clearHalt(ctx context.Context) {
	if g.haltChecked {
		return
	}
	v, err := g.store.Read()
	if err != nil {
		return
	}
	active, err := fund.RiskConditionActive(v, fund.RiskIngestHalted)
	v.Close()
	if err != nil {
		return
	}
	g.haltChecked = true
	if active && g.proposeRisk(ctx, &fund.RiskEventCommand{Type: fund.RiskIngestHalted, Clear: true}) {
		g.haltRaised = false
	}
}

// proposeRisk proposes a CmdRiskEvent and reports whether it was committed. A failure is
// logged, not returned: the risk event is a report about ingest, and a cluster still at version
// 0.1 refuses the command type.
func (g *Ingester) proposeRisk(ctx context.Context, c *fund.RiskEventCommand) bool {
	c.Time = g.deps.Now().UnixNano()
	cmd := fund.EncodeRiskEvent(c)
	if cv, ok := g.store.(interface{ ClusterVersion() string }); ok && version.Compare(cv.ClusterVersion(), fund.CommandVersion(cmd)) < 0 {
		return false // a cluster mid-upgrade cannot apply it yet
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := g.store.Propose(pctx, cmd); err != nil {
		g.logger.Warn("propose risk event", "type", c.Type, "clear", c.Clear, "error", err)
		if c.Clear {
			g.haltChecked = false // try again after the next range
		}
		return false
	}
	return true
}

// span is one range on its way from the fetcher to the proposer.
type span struct {
	cmd    *fund.IngestCommand
	blocks uint64
	events int
	last   Header    // the range's last block
	reorg  bool      // the fetcher found the chain no longer continues the previous range
	start  time.Time // when the fetch of the range began
	err    error
}

// pipeline runs the fetcher (head, logs, headers, decoding) and the proposer concurrently with
// a bounded queue between them, from checkpoint cp, until ctx ends or something requires a
// restart from the replicated checkpoint.
func (g *Ingester) pipeline(ctx context.Context, cp fund.IngestCheckpoint) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan span, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		g.fetchLoop(fctx, cp, queue)
	}()
	defer func() {
		cancel()
		for range queue { // let the fetcher finish
		}
		wg.Wait()
	}()
	prev := cp.Block
	for sp := range queue {
		if sp.err != nil {
			return sp.err
		}
		if sp.reorg {
			return g.handleReorg(ctx)
		}
		sp.cmd.Prev = prev
		sp.cmd.Version = g.ingestVersion()
		start := time.Now()
		res, err := g.store.Propose(ctx, fund.EncodeIngest(sp.cmd))
		if err != nil {
			if errors.Is(err, raftstore.ErrNotLeader) || errors.Is(err, raftstore.ErrNoLeader) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		r, ok := res.Value.(*fund.IngestResult)
		if !ok {
			// Refused: the checkpoint moved (another proposer, or a restart in between).
			g.logger.Warn("ingest range refused; restarting from the checkpoint", "result", res.Value)
			return errRestart
		}
		prev = sp.cmd.Head
		g.clearHalt(ctx)
		g.m.proposals.Inc()
		g.m.events.Add(r.Accepted)
		g.m.rangeSeconds.UpdateDuration(start)
		g.progress(sp, r)
	}
	return nil
}

// progress updates the status and logs progress during a backfill.
func (g *Ingester) progress(sp span, r *fund.IngestResult) {
	now := g.deps.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	// The rates cover the work since the window began (at the first range's fetch), restarted
	// every 30 s so they follow the current pace.
	if g.rateStart.IsZero() || now.Sub(g.rateStart) > 30*time.Second {
		g.rateStart, g.rateEvents, g.rateBlks = sp.start, 0, 0
	}
	g.rateEvents += uint64(sp.events)
	g.rateBlks += sp.blocks
	if el := now.Sub(g.rateStart).Seconds(); el > 0 {
		g.st.EventsPerSec = float64(g.rateEvents) / el
		g.st.BlocksPerSec = float64(g.rateBlks) / el
	}
	g.st.lastBlockTime = sp.last.Time
	g.st.LastError = ""
	remaining := float64(0)
	if g.st.ConfirmedHead > sp.cmd.Head.Number {
		remaining = float64(g.st.ConfirmedHead - sp.cmd.Head.Number)
	}
	g.st.ETASeconds = 0
	if g.st.BlocksPerSec > 0 {
		g.st.ETASeconds = remaining / g.st.BlocksPerSec
	}
	if remaining > 0 && sp.blocks > 1 {
		g.logger.Info("ingest backfill", "block", sp.cmd.Head.Number, "confirmed_head", g.st.ConfirmedHead,
			"blocks_per_s", int(g.st.BlocksPerSec), "events_per_s", int(g.st.EventsPerSec), "eta", time.Duration(g.st.ETASeconds*float64(time.Second)).Round(time.Second).String(),
			"accepted", r.Accepted, "duplicates", r.Duplicates)
	}
}

// fetchLoop produces ranges from cp on: it tracks the head, fetches confirmed ranges whose size
// adapts to the endpoints (halving on errors, doubling back after successes), and stops at the
// first sign of a reorg (the next range does not continue the last one's hash).
func (g *Ingester) fetchLoop(ctx context.Context, cp fund.IngestCheckpoint, out chan<- span) {
	send := func(sp span) bool {
		select {
		case out <- sp:
			return true
		case <-ctx.Done():
			return false
		}
	}
	prev := cp.Block
	next := prev.Number + 1
	if prev == (fund.BlockRef{}) {
		next = g.cfg.StartBlock
	}
	size := g.cfg.MaxBlockRange
	successes := 0
	addrs := g.deps.Registry.Addresses()
	for ctx.Err() == nil {
		head, err := g.pool.head(ctx, max(1000, 4*g.cfg.Confirmations))
		if err != nil {
			send(span{err: err})
			return
		}
		confirmed := uint64(0)
		if head >= g.cfg.Confirmations {
			confirmed = head - g.cfg.Confirmations
		}
		g.update(func(s *Status) { s.Head, s.ConfirmedHead, s.RangeSize = head, confirmed, size })
		if head < g.cfg.Confirmations || next > confirmed {
			if !sleep(ctx, g.cfg.PollInterval) {
				return
			}
			continue
		}
		for next <= confirmed && ctx.Err() == nil {
			to := min(next+size-1, confirmed)
			sp, err := g.fetch(ctx, prev, next, to, addrs)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if size > 1 {
					size = max(1, size/2)
					successes = 0
					g.logger.Warn("ingest range failed; halving it", "from", next, "to", to, "new_size", size, "error", err)
					g.update(func(s *Status) { s.RangeSize, s.LastError = size, err.Error() })
					continue
				}
				send(span{err: err})
				return
			}
			if !send(sp) || sp.reorg {
				return
			}
			prev, next = sp.cmd.Head, sp.cmd.Head.Number+1
			if successes++; successes >= 4 && size < g.cfg.MaxBlockRange {
				size, successes = min(size*2, g.cfg.MaxBlockRange), 0
				g.update(func(s *Status) { s.RangeSize = size })
			}
		}
	}
}

// fetch reads one range: its logs, the headers of its first and last blocks and of every block
// with a log (their timestamps and hashes), checks that the range continues prev and that every
// log belongs to the canonical block it names, and decodes the logs.
func (g *Ingester) fetch(ctx context.Context, prev fund.BlockRef, from, to uint64, addrs []common.Address) (span, error) {
	start := g.deps.Now()
	logs, err := g.pool.logs(ctx, from, to, addrs)
	if err != nil {
		return span{}, fmt.Errorf("eth_getLogs %d-%d: %w", from, to, err)
	}
	want := map[uint64]bool{from: true, to: true}
	for i := range logs {
		n, _ := parseHexQuantity(logs[i].BlockNumber)
		want[n] = true
	}
	headers, err := g.headers(ctx, want)
	if err != nil {
		return span{}, err
	}
	first, last := headers[from], headers[to]
	if prev != (fund.BlockRef{}) && first.ParentHash != prev.Hash && from == prev.Number+1 {
		g.logger.Warn("the chain no longer continues the last applied block: reorg", "block", prev.Number,
			"applied_hash", prev.Hash.Hex(), "canonical_parent", first.ParentHash.Hex())
		return span{reorg: true}, nil
	}
	cmd := &fund.IngestCommand{Version: g.ingestVersion(), Time: g.deps.Now().UnixNano(), Head: last.Ref(), Window: g.cfg.ReorgWindow}
	for _, h := range headers {
		cmd.Blocks = append(cmd.Blocks, h.Ref())
	}
	skipped := map[string]int{}
	for i := range logs {
		l := &logs[i]
		n, _ := parseHexQuantity(l.BlockNumber)
		h := headers[n]
		if !hashEqual(l.BlockHash, h.Hash) {
			// The endpoint answered from two different forks: a reorg under way. Fetch again.
			return span{}, fmt.Errorf("%w: log of block %d names hash %s, the block is %s", errBadResponse, n, l.BlockHash, h.Hash.Hex())
		}
		if l.BlockTimestamp == "" {
			l.BlockTimestamp = fmt.Sprintf("0x%x", h.Time)
		}
		ev, err := g.deps.Registry.Decode(l)
		if err != nil {
			var se *chainlog.SkipError
			if errors.As(err, &se) {
				skipped[se.Reason]++
				g.logger.Warn("ingest skipped a log", "block", n, "tx", l.TransactionHash, "log_index", l.LogIndex, "reason", se.Reason, "detail", se.Detail)
				continue
			}
			return span{}, err
		}
		cmd.Events = append(cmd.Events, ev)
	}
	for r, n := range skipped {
		cmd.Skipped += n
		if c := g.m.skipped[r]; c != nil {
			c.Add(n)
		}
	}
	if len(skipped) > 0 {
		g.update(func(s *Status) {
			for r, n := range skipped {
				s.Skipped[r] += n
			}
		})
	}
	return span{cmd: cmd, blocks: to - from + 1, events: len(cmd.Events), last: last, start: start}, nil
}

// headers fetches the headers of the given blocks, a few at a time.
func (g *Ingester) headers(ctx context.Context, want map[uint64]bool) (map[uint64]Header, error) {
	out := make(map[uint64]Header, len(want))
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for n := range want {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h, err := g.pool.header(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("header of block %d: %w", n, err)
				}
				return
			}
			out[n] = h
		}()
	}
	wg.Wait()
	return out, firstErr
}

// handleReorg finds the common ancestor of the applied chain and the canonical one among the
// kept blocks, and proposes the range after it with the orphaned blocks' effects rolled back.
// A fork below every kept block halts ingest.
func (g *Ingester) handleReorg(ctx context.Context) error {
	cp, err := g.checkpoint()
	if err != nil {
		return err
	}
	var ancestor *fund.BlockRef
	for i := len(cp.Window) - 1; i >= 0; i-- {
		r := cp.Window[i]
		h, err := g.pool.header(ctx, r.Number)
		if err != nil {
			return err
		}
		if h.Hash == r.Hash {
			ancestor = &r
			break
		}
	}
	if ancestor == nil && len(cp.Window) > 0 && cp.Window[0].Number > 0 {
		// The oldest kept block was orphaned too, but it names its parent: if that is still
		// canonical, it is the common ancestor.
		o := cp.Window[0]
		h, err := g.pool.header(ctx, o.Number-1)
		if err != nil {
			return err
		}
		if h.Hash == o.ParentHash {
			ref := h.Ref()
			ancestor = &ref
		}
	}
	if ancestor == nil {
		alert := fmt.Sprintf("the chain forked below the %d kept blocks (oldest kept %d); ingest is halted so the state cannot diverge from the chain: investigate, then restore or resync",
			len(cp.Window), oldest(cp.Window))
		g.halt(ctx, alert, map[string]any{"reason": "deep_reorg", "keptBlocks": len(cp.Window), "oldestKept": oldest(cp.Window), "checkpoint": cp.Block.Number})
		<-ctx.Done() // stays halted while this node leads
		return fmt.Errorf("%w: %s", ErrDeepReorg, alert)
	}
	if ancestor.Number == cp.Block.Number {
		return errRestart // only unapplied ranges were on the orphaned fork
	}
	g.m.reorgs.Inc()
	g.update(func(s *Status) { s.Reorgs++ })
	head, err := g.pool.head(ctx, max(1000, 4*g.cfg.Confirmations))
	if err != nil {
		return err
	}
	confirmed := head - min(head, g.cfg.Confirmations)
	to := min(ancestor.Number+g.cfg.MaxBlockRange, max(confirmed, ancestor.Number+1))
	sp, err := g.fetch(ctx, *ancestor, ancestor.Number+1, to, g.deps.Registry.Addresses())
	if err != nil {
		return err
	}
	if sp.reorg {
		return errRestart // the chain moved again while we looked
	}
	sp.cmd.Prev, sp.cmd.Reorg, sp.cmd.Ancestor = cp.Block, true, ancestor.Number
	sp.cmd.Version = g.ingestVersion()
	res, err := g.store.Propose(ctx, fund.EncodeIngest(sp.cmd))
	if err != nil {
		return err
	}
	r, ok := res.Value.(*fund.IngestResult)
	if !ok {
		return errRestart
	}
	g.logger.Warn("reorg rolled back", "ancestor", ancestor.Number, "orphaned_from", ancestor.Number+1, "applied_to", cp.Block.Number,
		"reverted", r.Reverted, "reapplied", r.Accepted)
	g.progress(sp, r)
	return errRestart
}

func oldest(w []fund.BlockRef) uint64 {
	if len(w) == 0 {
		return 0
	}
	return w[0].Number
}

// riskSince is the cluster version from which every member applies fund.RiskVersion.
const riskSince = "0.2"

// ingestVersion is the version of the CmdIngest to propose: 1, which every member applies as
// v0.1.0 did, while the replicated cluster version is below riskSince (a v0.1.0 member may
// remain), else fund.RiskVersion (CHAIN risk events stored whole).
func (g *Ingester) ingestVersion() byte {
	if cv, ok := g.store.(interface{ ClusterVersion() string }); ok && version.Compare(cv.ClusterVersion(), riskSince) < 0 {
		return 1
	}
	return fund.RiskVersion
}
