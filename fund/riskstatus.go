package fund

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/holiman/uint256"

	"paimon/kv"
	"paimon/risk"
)

// The risk indicators (OPERATIONS.md "Risk"; DESIGN.md "Risk indicators"): evaluated at the
// end of every command that changed the fund, from the books, against the replicated
// thresholds; the statuses are replicated state (the Q record) so that a crossing is raised
// once, on every node alike, whatever the batching, across restarts and leader changes.

// CmdRiskThresholds replicates the leader's [risk] thresholds: the state machine never reads a
// node's own configuration, so nodes configured differently still evaluate alike. (16: 15 is
// the alert outbox's CmdAlertOutcome.)
const CmdRiskThresholds byte = 16

// RiskThresholdsCommand sets the thresholds every node evaluates the indicators with.
type RiskThresholdsCommand struct {
	Time       int64 // the proposer's clock, unix ns
	Thresholds risk.Thresholds
}

// RiskThresholdsResult is the result of a CmdRiskThresholds command.
type RiskThresholdsResult struct {
	Changed bool // false when the replicated thresholds were these already
}

// EncodeRiskThresholds encodes c as a CmdRiskThresholds command: the time, then warn, critical
// and hysteresis of each indicator in Indicator order (varints).
func EncodeRiskThresholds(c *RiskThresholdsCommand) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64*(1+3*int(risk.NumIndicators)))
	b = append(b, CmdRiskThresholds, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	return appendThresholds(b, &c.Thresholds)
}

// DecodeRiskThresholds decodes a CmdRiskThresholds command strictly; errors wrap
// ErrBadCommand.
func DecodeRiskThresholds(cmd []byte) (*RiskThresholdsCommand, error) {
	d, err := newDec(cmd, CmdRiskThresholds)
	if err != nil {
		return nil, err
	}
	c := &RiskThresholdsCommand{Time: d.varint()}
	d.thresholds(&c.Thresholds)
	return c, d.finish()
}

func appendThresholds(b []byte, t *risk.Thresholds) []byte {
	for i := range t {
		b = binary.AppendVarint(b, t[i].Warn)
		b = binary.AppendVarint(b, t[i].Critical)
		b = binary.AppendVarint(b, t[i].Hysteresis)
	}
	return b
}

func (d *dec) thresholds(t *risk.Thresholds) {
	for i := range t {
		t[i].Warn, t[i].Critical, t[i].Hysteresis = d.varint(), d.varint(), d.varint()
	}
}

// applyRiskThresholds stores the thresholds (refused, changing nothing, when they make no
// sense: the rules of [risk]'s Validate) and evaluates the indicators with them at once.
func (ac *applyContext) applyRiskThresholds(c *RiskThresholdsCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if err := c.Thresholds.Check(); err != nil {
		return invalidf("risk thresholds: %v", err), nil
	}
	rs := &ac.risk
	if rs.custom && rs.thresholds == c.Thresholds {
		return &RiskThresholdsResult{}, nil
	}
	rs.custom, rs.thresholds = true, c.Thresholds
	ac.riskDirty, ac.riskStale = true, true
	return &RiskThresholdsResult{Changed: true}, nil
}

// riskState is the replicated state of the indicators (key Q), kept decoded in the Machine
// like the fund singleton and written at EndBatch when it changed. It is not a primary record:
// PostgreSQL does not keep it (a restore starts the statuses over, see DESIGN.md).
type riskState struct {
	custom     bool            // thresholds replicated by CmdRiskThresholds; else the defaults
	thresholds risk.Thresholds // as configured (0/0 for the band-derived ones)
	evaluated  bool            // the fields below hold an evaluation
	limits     risk.Thresholds // the thresholds applied, band-derived ones resolved
	values     risk.Values
	status     risk.Statuses
	level      risk.Level
	score      int64
	updatedAt  int64 // command time (unix ns) of the last evaluation that changed something
}

const riskStateVersion byte = 1

var initialRisk = func() []byte { s := newRiskState(); return s.encode() }()

func newRiskState() riskState { return riskState{thresholds: risk.DefaultThresholds()} }

// applied returns the thresholds evaluations use.
func (s *riskState) applied() *risk.Thresholds { return &s.thresholds }

func (s *riskState) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, riskStateVersion, boolByte(s.custom), boolByte(s.evaluated))
	b = appendThresholds(b, &s.thresholds)
	b = appendThresholds(b, &s.limits)
	b = binary.AppendUvarint(b, uint64(s.values.Known))
	for _, v := range s.values.V {
		b = binary.AppendVarint(b, v)
	}
	for _, st := range s.status {
		b = append(b, byte(st))
	}
	b = append(b, byte(s.level))
	b = binary.AppendVarint(b, s.score)
	return binary.AppendVarint(b, s.updatedAt)
}

func (s *riskState) decode(v []byte) error {
	d := &dec{b: v}
	ver := d.u8()
	if d.err == nil {
		if err := checkVersion("risk state", ver, riskStateVersion); err != nil {
			return err
		}
	}
	s.custom, s.evaluated = d.bool(), d.bool()
	d.thresholds(&s.thresholds)
	d.thresholds(&s.limits)
	s.values.Known = uint16(d.uvarint())
	for i := range s.values.V {
		s.values.V[i] = d.varint()
	}
	for i := range s.status {
		s.status[i] = risk.Status(d.u8())
		if d.err == nil && s.status[i] > risk.Critical {
			d.fail(fmt.Sprintf("risk status %d", s.status[i]))
		}
	}
	s.level = risk.Level(d.u8())
	s.score = d.varint()
	s.updatedAt = d.varint()
	return d.finish()
}

func loadRisk(r kv.Reader) (riskState, error) {
	v, err := r.Get([]byte{pRiskState})
	if errors.Is(err, kv.ErrNotFound) {
		return newRiskState(), nil
	}
	if err != nil {
		return riskState{}, fmt.Errorf("fund: load risk state: %w", err)
	}
	s := newRiskState()
	if err := s.decode(v); err != nil {
		return riskState{}, corrupt("risk state", err)
	}
	return s, nil
}

// writeRisk writes the risk state at EndBatch when it changed (the initial state is not
// stored, so that an empty store stays empty).
func (m *Machine) writeRisk(rw kv.ReadWriter) error {
	if !m.riskDirty {
		return nil
	}
	m.riskDirty = false
	enc := m.risk.encode()
	var err error
	if string(enc) == string(initialRisk) {
		err = rw.Delete([]byte{pRiskState})
	} else {
		err = rw.Set([]byte{pRiskState}, enc)
	}
	if err != nil {
		return fmt.Errorf("fund: write risk state: %w", err)
	}
	return nil
}

// openRedemptions is what the redemption indicators need of the open redemptions: their
// settlement times (sorted). Derived from the state, built on
// first use after NewMachine, Load or a rolled-back command, then kept up to date by
// swapRedemption.
type openRedemptions struct {
	known  bool
	settle []int64 // settlement times (unix s) of the open redemptions that have one
}

func settleTime(r *redemption) int64 {
	if !r.settlementTime.IsUint64() || r.settlementTime.Uint64() > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(r.settlementTime.Uint64())
}

func (o *openRedemptions) add(r *redemption, sign int64) {
	if r == nil || !statusOpen(r.status) {
		return
	}
	t := settleTime(r)
	if t == 0 {
		return // unknown (a redemption first seen by a later event): never overdue
	}
	i, found := slices.BinarySearch(o.settle, t)
	if sign > 0 {
		o.settle = slices.Insert(o.settle, i, t)
	} else if found {
		o.settle = slices.Delete(o.settle, i, i+1)
	}
}

// noteRedemption follows a redemption record replaced by swapRedemption.
func (m *Machine) noteRedemption(old, new *redemption) {
	if !m.riskOpen.known {
		return
	}
	m.riskOpen.add(old, -1)
	m.riskOpen.add(new, +1)
}

// openRedemptions returns the open redemptions, building them from the state (the store merged
// with the batch's overlay) when they are not known.
func (ac *applyContext) openRedemptions() (*openRedemptions, error) {
	o := &ac.riskOpen
	if o.known {
		return o, nil
	}
	o.settle = o.settle[:0]
	var ids [][32]byte
	for st := range stApproved + 1 {
		lo := []byte{pRedStatus, st}
		hi := []byte{pRedStatus, st + 1}
		err := ac.scanMerged(lo, hi, func(k, _ []byte) error {
			if len(k) == 34 {
				ids = append(ids, [32]byte(k[2:]))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i := range ids {
		r, err := ac.loadRedemption(&ids[i])
		if err != nil {
			return nil, err
		}
		o.add(r, +1)
	}
	o.known = true
	return o, nil
}

// openTickets counts the approval tickets still waiting for decisions (PENDING,
// PARTIALLY_APPROVED): the pendingApprovals indicator. An open ticket always has an SLA time to
// come (the deadline expires it), so they are the due index's keys (h). Counted from the state
// on first use after NewMachine, Load or a rolled-back command, then kept up to date by
// moveDue, which follows every write of a ticket (the journal's undo included).
type openTickets struct {
	known bool
	n     int64
}

// noteTicket follows a ticket that was open (wasOpen) and is open now (isOpen); a change makes
// the command evaluate the indicators, so the count is current after every decision, tick and
// opening, whatever else the command changed.
func (ac *applyContext) noteTicket(wasOpen, isOpen bool) {
	if wasOpen == isOpen {
		return
	}
	ac.riskStale = true
	if ac.riskTickets.known {
		if isOpen {
			ac.riskTickets.n++
		} else {
			ac.riskTickets.n--
		}
	}
}

// openTicketCount returns the open tickets, counting the due index (the store merged with the
// batch's overlay) when the count is not known.
func (ac *applyContext) openTicketCount() (int64, error) {
	o := &ac.riskTickets
	if !o.known {
		o.n = 0
		err := ac.scanMerged([]byte{pTicketDue}, []byte{pTicketDue + 1}, func(k, _ []byte) error {
			if len(k) == 1+8+1+32 {
				o.n++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		o.known = true
	}
	return o.n, nil
}

// redemptions24h is the redemptions of the 24 hourly flow buckets ending with the hour of the
// latest block time (the flows view's window), cached until a bucket or that hour changes.
func (ac *applyContext) redemptions24h() (*uint256.Int, error) {
	latest := ac.fund.ints[fLatestTime]
	end := latest - latest%3600
	c := &ac.riskFlows
	if c.valid && c.hour == end {
		return &c.sum, nil
	}
	c.sum.Clear()
	if latest > 0 {
		for h := max(end-23*3600, 0); h <= end; h += 3600 {
			v, ok, err := ac.get(flowKey(h))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			var b flowBucket
			if err := b.decode(v); err != nil {
				return nil, corrupt("flow bucket", err)
			}
			c.sum.Add(&c.sum, &b.v[1])
		}
	}
	c.valid, c.hour = true, end
	return &c.sum, nil
}

// riskFlowCache is redemptions24h's cache.
type riskFlowCache struct {
	valid bool
	hour  int64
	sum   uint256.Int
}

// ratioBps sets v's indicator i to num × 10000 / den when den > 0.
func ratioBps(v *risk.Values, i risk.Indicator, num, den *uint256.Int) {
	if den.Sign() <= 0 {
		return
	}
	var z uint256.Int
	if mulQuo(&z, num, u256TenThousand, den) {
		v.Set(i, Int64(&z))
	}
}

// riskValues computes the indicators' values from the books and the state.
func (ac *applyContext) riskValues(b *Books, v *risk.Values) error {
	*v = risk.Values{}
	var l1l2 uint256.Int
	l1l2.Add(&b.Tiers[0].Value, &b.Tiers[1].Value)
	ratioBps(v, risk.L1Ratio, &b.Tiers[0].Value, &b.GrossAssets)
	ratioBps(v, risk.L1L2Ratio, &l1l2, &b.GrossAssets)
	ratioBps(v, risk.RedemptionCoverage, &l1l2, &b.Liability)
	if b.GrossAssets.Sign() > 0 {
		var top uint256.Int
		found := false
		for i := range b.Assets {
			a := &b.Assets[i]
			if a.Active && a.Tier < 3 && (!found || top.Slt(&a.Value)) {
				top, found = a.Value, true
			}
		}
		if found {
			ratioBps(v, risk.MaxAssetConcentration, &top, &b.GrossAssets)
		}
	}
	red, err := ac.redemptions24h()
	if err != nil {
		return err
	}
	ratioBps(v, risk.DailyRedemptionRate, red, &b.TotalAssets)
	if d, ok := b.DriftBps(); ok {
		v.Set(risk.NavDriftBps, d)
	}
	oldest, priced := int64(math.MaxInt64), false
	for i := range b.Assets {
		if a := &b.Assets[i]; a.Active && a.HasPrice {
			oldest, priced = min(oldest, a.PriceTime), true
		}
	}
	if priced && b.BlockTime > 0 {
		v.Set(risk.OracleStalenessSeconds, max(b.BlockTime-oldest, 0))
	}
	o, err := ac.openRedemptions()
	if err != nil {
		return err
	}
	tickets, err := ac.openTicketCount()
	if err != nil {
		return err
	}
	v.Set(risk.PendingApprovals, tickets)
	overdue := int64(0)
	if b.BlockTime > 0 {
		i, _ := slices.BinarySearch(o.settle, b.BlockTime)
		overdue = int64(i) // settlement times strictly before the latest block time
	}
	v.Set(risk.OverdueRedemptions, overdue)
	return nil
}

// evaluateRisk evaluates the indicators at the end of a command that changed the fund, once
// the books are kept (from the cluster version that starts them: a member that does not
// evaluate never applies such a log), raises a RULE risk event for each crossing and records
// the new statuses.
func (ac *applyContext) evaluateRisk(changed bool) error {
	if !ac.fund.books || (!changed && !ac.riskStale) {
		return nil
	}
	ac.riskStale = false
	// The assets with their prices are read again only after one of them changed; the rest
	// of the books is derived from the singleton, without reads or allocation.
	b := &ac.riskBooks
	if ac.riskAssets {
		computeBooks(&ac.fund, b)
	} else {
		if err := ac.books(b); err != nil {
			return err
		}
		ac.riskAssets = true
	}
	var v risk.Values
	if err := ac.riskValues(b, &v); err != nil {
		return err
	}
	rs := &ac.risk
	bands := risk.Bands{L1Min: Int64(&b.Tiers[0].MinRatio), L2Min: Int64(&b.Tiers[1].MinRatio)}
	var prev risk.Statuses
	if rs.evaluated {
		prev = rs.status
	}
	r := &ac.riskReport
	risk.Evaluate(rs.applied(), bands, &prev, &v, r)
	for i := range risk.NumIndicators {
		if c, ok := r.Crossing(i); ok {
			if err := ac.raiseRiskEvent(ruleEvent(&c, &r.Limits[i]), nil); err != nil {
				return err
			}
		}
	}
	if rs.evaluated && rs.values == r.Values && rs.status == r.Status && rs.limits == r.Limits {
		return nil
	}
	rs.evaluated, rs.values, rs.status, rs.limits = true, r.Values, r.Status, r.Limits
	rs.level, rs.score, rs.updatedAt = r.Level, r.Score, ac.cmdTime
	ac.riskDirty = true
	ac.mark(ClassRiskStatus)
	return nil
}

// ruleEvent is the RULE risk event of a crossing: WARNING or CRITICAL going up (the new
// status), INFO going down. Its details are built in a fixed order (replicated state).
func ruleEvent(c *risk.Crossing, l *risk.Threshold) *RiskEvent {
	name := c.Indicator.Name()
	sev := SeverityInfo
	switch {
	case c.Up() && c.To == risk.Critical:
		sev = SeverityCritical
	case c.Up():
		sev = SeverityWarning
	}
	var msg string
	dir := "above"
	if c.Indicator.LowerIsWorse() {
		dir = "below"
	}
	if c.Up() {
		msg = fmt.Sprintf("%s %d is %s its %s threshold %d: %s", name, c.Value, dir, lowerName(c.To), c.Threshold, c.To)
	} else {
		msg = fmt.Sprintf("%s %d is back past its %s threshold %d by the hysteresis %d: %s", name, c.Value, lowerName(c.From), c.Threshold, c.Hysteresis, c.To)
	}
	d := make([]byte, 0, 192)
	d = append(d, `{"indicator":"`...)
	d = append(d, name...)
	d = append(d, `","value":`...)
	d = strconv.AppendInt(d, c.Value, 10)
	d = append(d, `,"from":"`...)
	d = append(d, c.From.String()...)
	d = append(d, `","to":"`...)
	d = append(d, c.To.String()...)
	d = append(d, `","threshold":`...)
	d = strconv.AppendInt(d, c.Threshold, 10)
	d = append(d, `,"warn":`...)
	d = strconv.AppendInt(d, l.Warn, 10)
	d = append(d, `,"critical":`...)
	d = strconv.AppendInt(d, l.Critical, 10)
	d = append(d, `,"hysteresis":`...)
	d = strconv.AppendInt(d, l.Hysteresis, 10)
	d = append(d, '}')
	return &RiskEvent{Source: SourceRule, Severity: sev, Type: name, Message: msg, Details: d}
}

func lowerName(s risk.Status) string {
	if s == risk.Critical {
		return "critical"
	}
	return "warn"
}

// RiskThresholds returns the thresholds the state machine evaluates with, read from r, and
// whether they were replicated (false: the defaults, no CmdRiskThresholds applied yet). The
// leader compares them with its [risk] to decide whether to propose its own.
func RiskThresholds(r kv.Reader) (risk.Thresholds, bool, error) {
	s, err := loadRisk(r)
	if err != nil {
		return risk.Thresholds{}, false, err
	}
	return s.thresholds, s.custom, nil
}

// RiskStatus is the stored evaluation of the indicators (GET /v1/risk/status, the metrics).
type RiskStatus struct {
	Evaluated bool            // false until the first evaluation (the books not started yet)
	Limits    risk.Thresholds // the thresholds applied (band-derived ones resolved)
	Values    risk.Values
	Status    risk.Statuses
	Level     risk.Level
	Score     int64
	UpdatedAt int64 // unix ns
}

// ReadRiskStatus reads the stored evaluation from r. Before the first one, the limits are the
// thresholds that will apply (band-derived ones resolved from the fund's bands), with no
// values.
func ReadRiskStatus(r kv.Reader) (RiskStatus, error) {
	s, err := loadRisk(r)
	if err != nil {
		return RiskStatus{}, err
	}
	if !s.evaluated {
		f, err := loadFund(r)
		if err != nil {
			return RiskStatus{}, err
		}
		bands := risk.Bands{L1Min: Int64(&f.tiers[0].min), L2Min: Int64(&f.tiers[1].min)}
		return RiskStatus{Limits: s.thresholds.Resolve(bands)}, nil
	}
	return RiskStatus{Evaluated: true, Limits: s.limits, Values: s.values, Status: s.status, Level: s.level, Score: s.score, UpdatedAt: s.updatedAt}, nil
}
