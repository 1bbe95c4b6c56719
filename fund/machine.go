package fund

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/kv"
	"paimon/risk"
)

// Info is the fund's identity from config, rendered in the overview, and the options that
// shape the replicated state. Every node of a cluster must use the same Info. A rule of apply
// that an operator may configure does not belong here but in the command that the proposer
// writes (the reorder window, LogsCommand.ReorderWindow; the price future skew,
// PricesCommand.MaxFutureSkew): a node's own configuration must never decide what a command
// does, or nodes configured differently would diverge (DESIGN.md invariants 1 and 5).
type Info struct {
	FundID, Name, Symbol string
	ChainID              uint64
	// Outbox makes every batch append the primary records it changed to the outbox (outbox.go),
	// for the PostgreSQL sync. Off (the default) writes no outbox at all, so that a node without
	// sync, where nobody proposes the marks that prune it, does not grow one without bound.
	Outbox bool
}

// Observer receives the changes of each committed batch (cache invalidation, WebSocket push,
// waking the PostgreSQL sync, whose outbox is in the state). It is called from the FSM
// goroutine and must not block.
type Observer interface {
	Applied(c *Changes)
}

// Observers is an Observer that calls each of its observers in order.
type Observers []Observer

// Applied implements Observer.
func (o Observers) Applied(c *Changes) {
	for _, x := range o {
		x.Applied(c)
	}
}

// Class is a class of resources, for cache invalidation and push channels.
type Class uint8

// The resource classes.
const (
	ClassOverview Class = iota
	ClassNav
	ClassTiers
	ClassAssets
	ClassFlows
	ClassPrices
	ClassAccounts
	ClassRedemptions
	ClassLedger
	ClassAudit
	ClassRisk
	ClassAlerts
	// ClassRiskStatus: the risk indicators' evaluation (GET /v1/risk/status).
	ClassRiskStatus
	// ClassApprovals: approval tickets and their rules (GET /v1/approvals…).
	ClassApprovals
	// ClassExecutor: the executor's transaction intents (GET /v1/executor/transactions).
	ClassExecutor
	// ClassRebalance: rebalancing plans (GET /v1/rebalance/…).
	ClassRebalance
	NumClasses
)

// ViewRenderer renders the materialized views that EndBatch stores under V and reports in
// Changes.Views. They are part of the replicated state, so every node's Machine must be given
// the same renderer (NewViews). The Machine calls Forget, ViewDefs and RenderBatch from its
// own goroutine only; RenderView must be safe for concurrent use (readers call it).
type ViewRenderer interface {
	// ViewDefs lists the views in the order EndBatch renders them.
	ViewDefs() []ViewDef
	// Forget is called at the start of each EndBatch's views: the renderer drops what it kept
	// from earlier batches that a class in changed (every class when all) may have made stale.
	// prices lists the assets whose current price (a P key) the batch wrote or deleted, each
	// once (nil when all): every such write since the last Forget with all is in some batch's
	// list, so a renderer may keep the current prices and read again only these. The slice is
	// the Machine's, valid during the call.
	Forget(changed *[NumClasses]bool, all bool, prices []common.Address)
	// RenderBatch renders view name from r, the state at the end of the batch (the fund
	// singleton written); it may reuse what it read for another view of the batch or, if
	// Forget did not drop it, of an earlier batch.
	RenderBatch(r kv.Reader, name string) ([]byte, error)
	// RenderView renders view name from r alone.
	RenderView(r kv.Reader, name string) ([]byte, error)
}

// ViewDef declares a materialized view: its name, the class it belongs to (marked changed
// when it is re-rendered) and the classes whose change makes it stale.
type ViewDef struct {
	Name  string
	Class Class
	Deps  []Class
}

// View is a materialized view re-rendered in a batch.
type View struct {
	Name  string
	Class Class
	Body  []byte
}

// EntryChange is one ledger entry that a batch added (Reverted false) or reverted, with its
// event as the ledger holds it: block number, effective block time (the command's time for a
// log without one), arguments. The event's Args are shared with the machine and must not be
// modified.
type EntryChange struct {
	Event    chainlog.Event
	Reverted bool
}

// Changes describes what a batch changed. Lists are in first-change order.
type Changes struct {
	Index       uint64            // last Raft index of the batch
	Classes     [NumClasses]bool  // classes that changed
	Views       []View            // re-rendered materialized views
	Accounts    [][20]byte        // accounts whose resource changed
	Redemptions []string          // request ids (decimal) that changed
	Prices      []string          // assets (lower-case hex) whose current price changed
	seenAcct    map[[20]byte]bool // dedup helpers
	seenRed     map[string]bool   //
	seenPrice   map[common.Address]bool

	// Entries are the batch's changes to the ledger, in order: each entry added or reverted,
	// with its event (a late log's insertion reverts the entries after it and adds them again),
	// for the readers that keep running sums of the ledger's events instead of scanning it
	// (readmodel.FeeSums, report.FlowSums).
	Entries []EntryChange

	// Records, with Info.Outbox, are the primary-record changes of the batch, exactly the
	// entries it appends to the outbox, in (Index, Ord) order: one per command and record it
	// changed, with that command's index and time and the record's value after it (nil when
	// the command deleted it). They include entries that a sync mark of the same batch prunes
	// at once, so that, like the outbox, they do not depend on how Raft grouped the commands.
	// RecordJSON renders the values for push. The slices are shared with the machine and
	// must not be modified. nil with the outbox off.
	Records []OutboxEntry

	// Sessions and Roles are the wallet sessions and roles the batch changed, in order (a
	// session may appear more than once: the last change wins); the server's authentication
	// cache follows them.
	Sessions []SessionChange
	Roles    []RoleChange

	// Alerts is how many alerts the batch raised (alerts.go): the node wakes the alert
	// Deliverer when it is not 0.
	Alerts int

	// Reloaded is set on the first batch after the machine was created or Load replaced its
	// state (open, snapshot restore): the state may have jumped past commands no Changes
	// described, so a consumer that follows changes (push) must start over from this batch.
	Reloaded bool
}

func newChanges() *Changes {
	return &Changes{seenAcct: map[[20]byte]bool{}, seenRed: map[string]bool{}, seenPrice: map[common.Address]bool{}}
}

// LogsResult is the result of a CmdLogs command.
type LogsResult struct {
	Accepted, Duplicates, Reverted, Skipped int
	NotFound                                int // removed logs that were not in the ledger (added to the contract)
	Outcomes                                []Outcome
}

// Outcome says what happened to one event of a CmdLogs command.
type Outcome struct {
	TxHash   string
	LogIndex uint64
	Status   string // accepted | duplicate | reverted | not_found
	Reason   string
}

// Outcome statuses.
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
	OutcomeReverted  = "reverted"
	OutcomeNotFound  = "not_found"
)

// PricesResult is the result of a CmdPrices command.
type PricesResult struct {
	Count int
}

// Machine is the fund's state machine. It keeps the fund singleton decoded in memory and is
// driven by one goroutine (the FSM): Load, then per batch Apply… EndBatch, then Committed.
type Machine struct {
	info  Info
	views ViewRenderer
	obs   Observer

	fund      fundState
	fundDirty bool
	dirty     [NumClasses]bool
	allViews  bool // render every view at the next EndBatch (fresh state or after Load)
	changes   *Changes
	overlay   overlay          // the batch's reads and writes, flushed at EndBatch
	pruneTo   uint64           // sync mark set in this batch (0: none): EndBatch prunes the outbox to it
	outboxBuf []byte           // reused buffer for outbox keys and values
	pricesBuf []common.Address // reused: the assets whose P key EndBatch writes (ViewRenderer.Forget)
	journal   []byte           // reused buffer for the undo journal of the event being applied

	// tip is an upper bound of the applied ledger positions (none lies after it), so that
	// events arriving in ledger order need no scan (order.go). tipKnown is false until it is
	// computed after NewMachine or Load; hasTip is false for an empty ledger.
	tip              ledgerPos
	tipKnown, hasTip bool

	// tokens lists the asset tokens the books value (books.go, assetTokens), scanned once
	// after NewMachine or Load (tokensKnown); booksBuf is the Books Apply computes into.
	tokens      []bookToken
	tokensKnown bool
	booksBuf    Books
	// figuresStale is set when the current command changed what the books derive from
	// (booksClass); the command's end recomputes the singleton's figures.
	figuresStale bool
	// The risk indicators (riskstatus.go): the replicated state kept decoded (written at
	// EndBatch when riskDirty), riskStale when the next command must evaluate whatever it
	// changed (new thresholds), and what the evaluations reuse: the open redemptions and the
	// 24 h redemptions (derived from the state, dropped by Load and rollback), the books and
	// the report.
	risk      riskState
	riskDirty bool
	riskStale bool
	riskOpen  openRedemptions
	// riskTickets counts the open approval tickets (pendingApprovals), like riskOpen.
	riskTickets openTickets
	riskFlows   riskFlowCache
	riskBooks   Books
	riskAssets  bool // riskBooks.Assets are the state's (dropped by any asset or price change)
	riskReport  risk.Report
}

// NewMachine returns a Machine over an empty state; call Load before Apply when the store
// may hold state. views renders the materialized views (NewViews(info)); obs may be nil.
func NewMachine(info Info, views ViewRenderer, obs Observer) *Machine {
	if views == nil {
		panic("fund: NewMachine without a ViewRenderer") // the views are replicated state
	}
	m := &Machine{info: info, views: views, obs: obs, fund: newFundState(), risk: newRiskState(), allViews: true, changes: newChanges(), overlay: newOverlay()}
	m.overlay.outbox = info.Outbox
	return m
}

// Load reads the fund singleton from r (after open or a snapshot restore) and forgets any
// unflushed in-memory change. The next EndBatch re-renders every view.
func (m *Machine) Load(r kv.Reader) error {
	f, err := loadFund(r)
	if err != nil {
		return err
	}
	rs, err := loadRisk(r)
	if err != nil {
		return err
	}
	m.fund = f
	m.fundDirty = false
	m.risk, m.riskDirty, m.riskStale = rs, false, false
	m.riskOpen.known, m.riskFlows.valid, m.riskAssets, m.riskTickets.known = false, false, false, false
	m.dirty = [NumClasses]bool{}
	m.allViews = true
	m.changes = newChanges()
	m.overlay.reset()
	m.pruneTo = 0
	m.tipKnown = false
	m.tokensKnown = false
	return nil
}

func loadFund(r kv.Reader) (fundState, error) {
	v, err := r.Get([]byte{pFund})
	if errors.Is(err, kv.ErrNotFound) {
		return newFundState(), nil
	}
	if err != nil {
		return fundState{}, fmt.Errorf("fund: load: %w", err)
	}
	f := newFundState()
	if err := f.decode(v); err != nil {
		return fundState{}, corrupt("fund singleton", err)
	}
	return f, nil
}

// Apply decodes and applies one command at Raft index index. The result is *LogsResult,
// *PricesResult, *PriceDeleteResult, *AuditResult, *SyncMarkResult, …, or a user error value
// (*ValidationError) for a command that changed nothing. A returned error means an undecodable command or a broken
// invariant: the node must stop.
func (m *Machine) Apply(rw kv.ReadWriter, index uint64, cmd []byte) (any, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadCommand)
	}
	var res any
	var err error
	// The command's context; the journal buffer is the machine's, reused across commands.
	ac := &applyContext{Machine: m, store: rw, index: index, journal: m.journal[:0]}
	sp := m.savepoint()
	m.changes.Index = index
	if err := ac.startBooksIfDue(cmd); err != nil {
		return nil, err
	}
	switch cmd[0] {
	case CmdLogs:
		var c *LogsCommand
		if c, err = DecodeLogs(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyLogs(c)
		}
	case CmdPrices:
		var c *PricesCommand
		if c, err = DecodePrices(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyPrices(c)
		}
	case CmdAudit:
		var c *AuditCommand
		if c, err = DecodeAudit(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyAudit(c)
		}
	case CmdSyncMark:
		var c *SyncMarkCommand
		if c, err = DecodeSyncMark(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applySyncMark(c)
		}
	case CmdIngest:
		var c *IngestCommand
		if c, err = DecodeIngest(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyIngest(c)
		}
	case CmdNonce:
		var c *NonceCommand
		if c, err = DecodeNonce(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyNonce(c)
		}
	case CmdLogin:
		var c *LoginCommand
		if c, err = DecodeLogin(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyLogin(c)
		}
	case CmdTouch:
		var c *TouchCommand
		if c, err = DecodeTouch(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyTouch(c)
		}
	case CmdLogout:
		var c *LogoutCommand
		if c, err = DecodeLogout(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyLogout(c)
		}
	case CmdRole:
		var c *RoleCommand
		if c, err = DecodeRole(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRole(c)
		}
	case CmdPriceDelete:
		var c *PriceDeleteCommand
		if c, err = DecodePriceDelete(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyPriceDelete(c)
		}
	case CmdRiskEvent:
		var c *RiskEventCommand
		if c, err = DecodeRiskEvent(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRiskEvent(c)
		}
	case CmdRiskResolve:
		var c *RiskResolveCommand
		if c, err = DecodeRiskResolve(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRiskResolve(c)
		}
	case CmdAssetMeta:
		var c *AssetMetaCommand
		if c, err = DecodeAssetMeta(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyAssetMeta(c)
		}
	case CmdAlertOutcome:
		var c *AlertOutcomeCommand
		if c, err = DecodeAlertOutcome(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyAlertOutcome(c)
		}
	case CmdApprovalRules:
		var c *ApprovalRulesCommand
		if c, err = DecodeApprovalRules(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyApprovalRules(c)
		}
	case CmdApprovalDecision:
		var c *ApprovalDecisionCommand
		if c, err = DecodeApprovalDecision(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyApprovalDecision(c)
		}
	case CmdTick:
		var c *TickCommand
		if c, err = DecodeTick(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyTick(c)
		}
	case CmdRiskThresholds:
		var c *RiskThresholdsCommand
		if c, err = DecodeRiskThresholds(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRiskThresholds(c)
		}
	case CmdTxIntent:
		var c *TxIntentCommand
		if c, err = DecodeTxIntent(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyTxIntent(c)
		}
	case CmdTxUpdate:
		var c *TxUpdateCommand
		if c, err = DecodeTxUpdate(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyTxUpdate(c)
		}
	case CmdTicketRetry:
		var c *TicketRetryCommand
		if c, err = DecodeTicketRetry(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyTicketRetry(c)
		}
	case CmdRebalancePlan:
		var c *RebalancePlanCommand
		if c, err = DecodeRebalancePlan(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRebalancePlan(c)
		}
	case CmdRebalanceExecute:
		var c *RebalanceExecuteCommand
		if c, err = DecodeRebalanceExecute(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRebalanceExecute(c)
		}
	case CmdRebalanceCancel:
		var c *RebalanceCancelCommand
		if c, err = DecodeRebalanceCancel(cmd); err == nil {
			ac.cmdTime = c.Time
			res, err = ac.applyRebalanceCancel(c)
		}
	default:
		err = fmt.Errorf("%w: unknown command type %d", ErrBadCommand, cmd[0])
	}
	m.journal = ac.journal[:0]
	if err != nil {
		return nil, err
	}
	if _, refused := res.(*ValidationError); refused {
		m.rollback(sp)
		m.figuresStale = false
		return res, nil
	}
	if err := ac.refreshFigures(); err != nil {
		return nil, err
	}
	// The risk indicators, once per command that changed the fund (its singleton always
	// changes then: updatedAt, the latest block), so that their history does not depend on
	// how Raft batched the commands.
	if err := ac.evaluateRisk(m.fund != sp.fund); err != nil {
		return nil, err
	}
	if m.info.Outbox {
		m.recordChanges(index, ac.cmdTime, &sp.fund)
	}
	return res, nil
}

// savepoint is the Machine's state before a command, so that a refused command changes
// nothing even if it is refused after it began changing state (today every check comes
// first; the savepoint keeps that property from depending on it).
type savepoint struct {
	fund                          fundState
	fundDirty                     bool
	dirty, classes                [NumClasses]bool
	index, pruneTo                uint64
	accounts, redemptions, prices int
	entries                       int
	sessions, roles, alerts       int
	tip                           ledgerPos
	tipKnown, hasTip              bool
	riskState                     riskState
	riskDirty, riskStale          bool
}

func (m *Machine) savepoint() savepoint {
	m.overlay.begin()
	c := m.changes
	return savepoint{
		fund: m.fund, fundDirty: m.fundDirty, dirty: m.dirty, classes: c.Classes, index: c.Index, pruneTo: m.pruneTo,
		accounts: len(c.Accounts), redemptions: len(c.Redemptions), prices: len(c.Prices), entries: len(c.Entries),
		sessions: len(c.Sessions), roles: len(c.Roles), alerts: c.Alerts,
		tip: m.tip, tipKnown: m.tipKnown, hasTip: m.hasTip,
		riskState: m.risk, riskDirty: m.riskDirty, riskStale: m.riskStale,
	}
}

// rollback restores the state of sp: the overlay, the singleton, the dirty classes and the
// batch's Changes.
func (m *Machine) rollback(sp savepoint) {
	m.overlay.rollback()
	m.fund, m.fundDirty, m.dirty, m.pruneTo = sp.fund, sp.fundDirty, sp.dirty, sp.pruneTo
	m.tip, m.tipKnown, m.hasTip = sp.tip, sp.tipKnown, sp.hasTip
	m.risk, m.riskDirty, m.riskStale = sp.riskState, sp.riskDirty, sp.riskStale
	m.riskOpen.known, m.riskFlows.valid, m.riskAssets, m.riskTickets.known = false, false, false, false // rebuilt from the rolled-back state
	c := m.changes
	c.Classes, c.Index = sp.classes, sp.index
	for _, a := range c.Accounts[sp.accounts:] {
		delete(c.seenAcct, a)
	}
	for _, id := range c.Redemptions[sp.redemptions:] {
		delete(c.seenRed, id)
	}
	for _, p := range c.Prices[sp.prices:] {
		a, _ := chainlog.ParseAddress(p)
		delete(c.seenPrice, a)
	}
	c.Accounts, c.Redemptions = c.Accounts[:sp.accounts], c.Redemptions[:sp.redemptions]
	c.Prices, c.Entries = c.Prices[:sp.prices], c.Entries[:sp.entries]
	c.Sessions, c.Roles = c.Sessions[:sp.sessions], c.Roles[:sp.roles]
	c.Alerts = sp.alerts
}

func checkCommandTime(t int64) *ValidationError {
	if t < 0 {
		return invalidf("command time %d is negative", t)
	}
	return nil
}

func (ac *applyContext) applyLogs(c *LogsCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	specs := make([]*chainlog.Spec, len(c.Events))
	for i := range c.Events {
		s, verr := eventSpec(&c.Events[i])
		if verr != nil {
			verr.Message = fmt.Sprintf("events[%d]: %s", i, verr.Message)
			return verr, nil
		}
		specs[i] = s
	}
	prevLast := ac.fund.ints[fLastBlock]
	res := &LogsResult{Skipped: c.Skipped, Outcomes: make([]Outcome, len(c.Events))}
	if c.Version == 1 {
		if err := ac.legacyLogs(c, specs, res); err != nil {
			return nil, err
		}
		return ac.auditLogs(c, res, prevLast)
	}
	if verr, err := ac.checkWindow(c.Events, c.ReorderWindow); verr != nil || err != nil {
		return verr, err
	}
	ac.overlay.skipUnchanged = true
	order := ledgerOrder(c.Events)
	sq := sequencer{ac: ac}
	for n := range c.Events {
		i := n
		if order != nil {
			i = order[n]
		}
		ev := &c.Events[i]
		out := &res.Outcomes[i]
		out.TxHash, out.LogIndex = chainlog.HexHash(ev.TxHash), ev.LogIndex
		var err error
		if ev.Removed {
			var found bool
			found, err = sq.remove(ev)
			if found {
				out.Status = OutcomeReverted
				res.Reverted++
			} else {
				out.Status, out.Reason = OutcomeNotFound, "log is not in the ledger"
				res.NotFound++
			}
		} else {
			var dup bool
			dup, err = sq.add(ev, specs[i])
			if dup {
				out.Status, out.Reason = OutcomeDuplicate, "log is already in the ledger"
				res.Duplicates++
			} else {
				out.Status = OutcomeAccepted
				res.Accepted++
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sq.finish(); err != nil {
		return nil, err
	}
	return ac.auditLogs(c, res, prevLast)
}

// auditLogs writes the logs.submit audit entry of a command with an actor.
func (ac *applyContext) auditLogs(c *LogsCommand, res *LogsResult, prevLast int64) (any, error) {
	if !c.Actor.IsZero() {
		before := fmt.Appendf(nil, `{"lastBlock":%d}`, uint64(prevLast))
		after := fmt.Appendf(nil, `{"events":%d,"accepted":%d,"duplicates":%d,"reverted":%d,"notFound":%d,"skipped":%d,"lastBlock":%d}`,
			len(c.Events), res.Accepted, res.Duplicates, res.Reverted, res.NotFound, res.Skipped, uint64(ac.fund.ints[fLastBlock]))
		if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "logs.submit", "ledger", before, after); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// EndBatch writes the batch's changes (and, with Info.Outbox, their outbox entries), prunes
// the outbox to a sync mark set in the batch, writes the fund singleton if it changed and
// renders the dirty materialized views into rw. Call it once per Raft batch, after its
// Applies and before the batch commits.
func (m *Machine) EndBatch(rw kv.ReadWriter, lastIndex uint64) error {
	m.changes.Index = lastIndex
	m.changes.Reloaded = m.changes.Reloaded || m.allViews
	if err := m.writeOutbox(rw); err != nil {
		return err
	}
	m.pricesBuf = m.overlay.writtenPrices(m.pricesBuf[:0])
	if err := m.overlay.flush(rw); err != nil {
		return err
	}
	if m.fundDirty {
		// The initial singleton is not stored, so that reverting everything restores an
		// empty store exactly (with or without books: books that are all zero start again,
		// exactly, from the ledger at the next command that starts them, see books.go).
		enc := m.fund.encode()
		var err error
		if bytes.Equal(enc, initialFund) || bytes.Equal(enc, initialBooksFund) {
			err = rw.Delete([]byte{pFund})
		} else {
			err = rw.Set([]byte{pFund}, enc)
		}
		if err != nil {
			return fmt.Errorf("fund: write singleton: %w", err)
		}
		m.fundDirty = false
	}
	if err := m.writeRisk(rw); err != nil {
		return err
	}
	prices := m.pricesBuf
	if m.allViews {
		prices = nil
	}
	m.views.Forget(&m.dirty, m.allViews, prices)
	for _, v := range m.views.ViewDefs() {
		if !m.allViews && !viewDirty(v.Deps, &m.dirty) {
			continue
		}
		body, err := m.views.RenderBatch(rw, v.Name)
		if err != nil {
			return err
		}
		if err := rw.Set(viewKey(v.Name), body); err != nil {
			return fmt.Errorf("fund: write view %s: %w", v.Name, err)
		}
		m.changes.Views = append(m.changes.Views, View{Name: v.Name, Class: v.Class, Body: body})
		m.changes.Classes[v.Class] = true
	}
	m.allViews = false
	m.dirty = [NumClasses]bool{}
	return nil
}

// viewDirty reports whether a class in deps changed.
func viewDirty(deps []Class, dirty *[NumClasses]bool) bool {
	for _, c := range deps {
		if dirty[c] {
			return true
		}
	}
	return false
}

// Committed hands the changes accumulated since the last call to the observer (if any) and
// starts a fresh Changes. Call it after the batch is committed and visible to readers.
func (m *Machine) Committed() {
	c := m.changes
	m.changes = newChanges()
	c.seenAcct, c.seenRed, c.seenPrice = nil, nil, nil
	if m.obs != nil {
		m.obs.Applied(c)
	}
}

// RenderView renders a materialized view from r with this machine's renderer (a fallback
// for a view that ReadView does not find, e.g. before the first batch).
func (m *Machine) RenderView(r kv.Reader, name string) ([]byte, error) {
	return m.views.RenderView(r, name)
}

func (m *Machine) mark(classes ...Class) {
	for _, c := range classes {
		m.dirty[c] = true
		m.changes.Classes[c] = true
		m.figuresStale = m.figuresStale || booksClass[c]
		if c == ClassAssets || c == ClassPrices {
			m.riskAssets = false // riskstatus.go reads the assets again
		}
	}
}

func (m *Machine) markAccount(a common.Address) {
	m.mark(ClassAccounts)
	if !m.changes.seenAcct[a] {
		m.changes.seenAcct[a] = true
		m.changes.Accounts = append(m.changes.Accounts, a)
	}
}

func (m *Machine) markRedemption(id string) {
	m.mark(ClassRedemptions)
	if !m.changes.seenRed[id] {
		m.changes.seenRed[id] = true
		m.changes.Redemptions = append(m.changes.Redemptions, id)
	}
}

func (m *Machine) markPrice(a common.Address) {
	m.mark(ClassPrices, ClassAssets, ClassTiers, ClassOverview)
	if !m.changes.seenPrice[a] {
		m.changes.seenPrice[a] = true
		m.changes.Prices = append(m.changes.Prices, chainlog.HexAddress(a))
	}
}

// set writes v at k through the overlay (written to the store at EndBatch). The overlay keeps
// k and v: the caller must not modify them afterwards.
func (m *Machine) set(k, v []byte) error {
	m.overlay.put(k, v, true)
	return nil
}

// del deletes k through the overlay, which keeps k.
func (m *Machine) del(k []byte) error {
	m.overlay.put(k, nil, false)
	return nil
}
