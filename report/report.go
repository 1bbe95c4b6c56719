// Package report builds the fund's daily, weekly and monthly reports (OPERATIONS.md
// "Reports") from the replicated state, and renders them as JSON, CSV and PDF.
package report

import (
	"encoding/binary"
	"math/big"
	"strings"
	"time"

	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// Report is one period's report. Its JSON is the contract's; Closed, Nav and the figures'
// sources are not part of it.
type Report struct {
	Period     PeriodJSON       `json:"period"`
	Opening    Figures          `json:"opening"`
	Closing    Figures          `json:"closing"`
	Flows      Flows            `json:"flows"`
	Fees       Fees             `json:"fees"`
	Tiers      map[string]Tier  `json:"tiers"`
	RiskEvents map[string]int64 `json:"riskEvents"`
	Approvals  Approvals        `json:"approvals"`
	Rebalances Rebalances       `json:"rebalances"`

	// Closed tells that the period is over: the fund has applied an event after it, so its
	// report no longer changes and may be cached.
	Closed bool `json:"-"`
	// Nav is the NAV points of the period (time, share price), for the PDF's chart.
	Nav []NavPoint `json:"-"`

	p Period
}

// PeriodJSON is the period: its kind and its first and last UTC day.
type PeriodJSON struct {
	Kind Kind   `json:"kind"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Figures are the books at one instant: the period's start (the end of the day before) or its
// end. A figure is null when the books were not kept then.
type Figures struct {
	SharePrice  *string `json:"sharePrice"`
	TotalAssets *string `json:"totalAssets"`
	TotalSupply *string `json:"totalSupply"`
}

// Flows are the vault's and the redemption manager's flows of the period, each dated by its
// block time.
type Flows struct {
	Deposits             string               `json:"deposits"`
	Withdrawals          string               `json:"withdrawals"`
	RedemptionsRequested RedemptionsRequested `json:"redemptionsRequested"`
	RedemptionsSettled   RedemptionsSettled   `json:"redemptionsSettled"`
}

// RedemptionsRequested counts the RedemptionRequested events and sums their lockedAmount.
type RedemptionsRequested struct {
	Count        int64  `json:"count"`
	LockedAmount string `json:"lockedAmount"`
}

// RedemptionsSettled counts the RedemptionSettled events and sums their amounts.
type RedemptionsSettled struct {
	Count int64  `json:"count"`
	Gross string `json:"gross"`
	Fee   string `json:"fee"`
	Net   string `json:"net"`
}

// Fees are the fees of the period: management and performance fees collected, redemption fees
// added.
type Fees struct {
	Management  string `json:"management"`
	Performance string `json:"performance"`
	Redemption  string `json:"redemption"`
}

// Tier is a tier's value and ratio (basis points) at the period's end.
type Tier struct {
	Value *string `json:"value"`
	Ratio *int64  `json:"ratio"`
}

// Approvals counts the approval tickets decided (approved or rejected) in the period and those
// of them decided within their SLA.
type Approvals struct {
	Decided   int64 `json:"decided"`
	WithinSLA int64 `json:"withinSla"`
}

// Rebalances counts the rebalancing plans that ended COMPLETED or FAILED in the period (by
// their finishedAt: a completed plan's last trade's block time, a failed one's failing
// command's time).
type Rebalances struct {
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
}

// NavPoint is one NavUpdated of the period.
type NavPoint struct {
	Time       int64
	SharePrice float64 // 1.0 = par
}

// Severities are the risk event severities a report counts.
var Severities = []string{"INFO", "WARNING", "HIGH", "CRITICAL"}

// Tiers are the tiers' names.
var Tiers = []string{"L1", "L2", "L3"}

// maxNavPoints bounds the NAV points a report keeps for its chart.
const maxNavPoints = 1000

// Build computes the report of period p from the state r (a read view).
//
// Opening figures are the daily snapshot of the day before the period, closing ones that of its
// last day; a day without one is the current books when the fund has applied nothing since
// (the day in progress), zero before the fund's first event, and null otherwise (before the
// books started). Flows, fees, risk events, approvals and rebalances are those dated inside the
// period.
func Build(r kv.Reader, p Period) (*Report, error) { return build(r, p, nil, 0, true) }

// build is Build with the flows and fees from fs's running sums when they hold p's at index,
// the Raft index of r (fs nil: scanned), and the NAV points only with nav (the PDF's chart: the
// JSON and the CSV do not carry them, and an open day has thousands).
func build(r kv.Reader, p Period, fs *FlowSums, index uint64, nav bool) (*Report, error) {
	books, err := fund.ReadBooks(r)
	if err != nil {
		return nil, err
	}
	lg, err := newLedger(r)
	if err != nil {
		return nil, err
	}
	rep := &Report{p: p, Closed: books.BlockTime >= p.To, Tiers: map[string]Tier{}, RiskEvents: map[string]int64{}}
	rep.Period = PeriodJSON{Kind: p.Kind, From: day(p.From), To: day(p.To - secondsPerDay)}
	open, err := booksAt(r, lg, books, p.From)
	if err != nil {
		return nil, err
	}
	closing, err := booksAt(r, lg, books, p.To)
	if err != nil {
		return nil, err
	}
	rep.Opening, rep.Closing = figuresOf(open), figuresOf(closing)
	for i, name := range Tiers {
		var t Tier
		if closing != nil {
			v, ratio := closing.TierValues[i].String(), closing.TierRatios[i].Int64()
			t = Tier{Value: &v, Ratio: &ratio}
		}
		rep.Tiers[name] = t
	}
	if err := rep.flows(lg, p, fs, index); err != nil {
		return nil, err
	}
	if err := rep.riskEvents(r, p); err != nil {
		return nil, err
	}
	if err := rep.approvals(r, p); err != nil {
		return nil, err
	}
	if err := rep.rebalances(r, p); err != nil {
		return nil, err
	}
	if nav {
		if err := rep.nav(r, p); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func day(t int64) string { return time.Unix(t, 0).UTC().Format(DateLayout) }

// booksAt returns the books at instant t (a day's first second): the snapshot of the day before.
func booksAt(r kv.Reader, lg *ledger, books *fund.Books, t int64) (*fund.DaySnapshotRecord, error) {
	s, ok, err := fund.ReadDaySnapshot(r, t-secondsPerDay)
	if err != nil || ok {
		return s, err
	}
	if books.BlockTime < t {
		// Nothing applied since t: the books now are the books then.
		return fund.BooksSnapshot(books, t-secondsPerDay), nil
	}
	before, err := lg.anyBefore(t)
	if err != nil {
		return nil, err
	}
	if !before {
		return fund.BooksSnapshot(&fund.Books{}, t-secondsPerDay), nil
	}
	return nil, nil // before the books started
}

func figuresOf(s *fund.DaySnapshotRecord) Figures {
	if s == nil {
		return Figures{}
	}
	price, total, supply := navString(s.SharePrice), s.TotalAssets.String(), s.TotalSupply.String()
	return Figures{SharePrice: &price, TotalAssets: &total, TotalSupply: &supply}
}

// navString renders a 1e18-scaled share price as a decimal, trailing zeros trimmed (as the
// read model does).
func navString(p *big.Int) string {
	neg := p.Sign() < 0
	s := new(big.Int).Abs(p).String()
	if len(s) <= 18 {
		s = strings.Repeat("0", 19-len(s)) + s
	}
	ip, fp := s[:len(s)-18], strings.TrimRight(s[len(s)-18:], "0")
	if fp != "" {
		ip += "." + fp
	}
	if neg {
		ip = "-" + ip
	}
	return ip
}

// sums accumulates the period's flows.
type sums struct {
	deposits, withdrawals, locked, gross, fee, net, mgmt, perf, red big.Int
	requested, settled                                              int64
}

// add adds the flow of ev to s, or subtracts it (reverted: the entry left the ledger); it
// reports whether ev is a flow (one of the events a report sums).
func (s *sums) add(ev *chainlog.Event, reverted bool) bool {
	one := int64(1)
	if reverted {
		one = -1
	}
	add := func(z *big.Int, name string) {
		if x := arg(ev, name).ToBig(); reverted {
			z.Sub(z, x)
		} else {
			z.Add(z, x)
		}
	}
	switch ev.Name {
	case "Deposit":
		add(&s.deposits, "assets")
	case "Withdraw":
		add(&s.withdrawals, "assets")
	case "RedemptionRequested":
		s.requested += one
		add(&s.locked, "lockedAmount")
	case "RedemptionSettled":
		s.settled += one
		add(&s.gross, "grossAmount")
		add(&s.fee, "fee")
		add(&s.net, "netAmount")
	case "ManagementFeeCollected":
		add(&s.mgmt, "feeAmount")
	case "PerformanceFeeCollected":
		add(&s.perf, "feeAmount")
	case "RedemptionFeeAdded":
		add(&s.red, "fee")
	default:
		return false
	}
	return true
}

// flows sets the period's flows and fees: from fs's running sums when they hold them at index,
// else from a scan of the period's ledger entries (which fs may keep as the period's sums).
func (rep *Report) flows(lg *ledger, p Period, fs *FlowSums, index uint64) error {
	lo, hi, err := lg.bounds(p.From, p.To)
	if err != nil {
		return err
	}
	if fs != nil && fs.report(rep, index, p, lo, hi) {
		return nil
	}
	ps := &periodSums{floor: lo}
	if err := lg.scan(lo, hi, p.From, p.To, func(ev *chainlog.Event) { ps.move(ev, false) }); err != nil {
		return err
	}
	rep.setFlows(&ps.sums)
	if fs != nil {
		fs.keep(rep, index, p, ps, hi == lg.end())
	}
	return nil
}

// setFlows sets the report's flows and fees from the period's sums.
func (rep *Report) setFlows(s *sums) {
	rep.Flows = Flows{
		Deposits: s.deposits.String(), Withdrawals: s.withdrawals.String(),
		RedemptionsRequested: RedemptionsRequested{Count: s.requested, LockedAmount: s.locked.String()},
		RedemptionsSettled:   RedemptionsSettled{Count: s.settled, Gross: s.gross.String(), Fee: s.fee.String(), Net: s.net.String()},
	}
	rep.Fees = Fees{Management: s.mgmt.String(), Performance: s.perf.String(), Redemption: s.red.String()}
}

var zero uint256.Int

// arg returns the named uint argument of ev (zero when it has none: the spec was checked on apply).
func arg(ev *chainlog.Event, name string) *uint256.Int {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return &ev.Args[i].Uint
		}
	}
	return &zero
}

func (rep *Report) riskEvents(r kv.Reader, p Period) error {
	for _, s := range Severities {
		rep.RiskEvents[s] = 0
	}
	var ferr error
	err := r.Scan([]byte{fund.PrefixRisk}, []byte{fund.PrefixRisk + 1}, false, func(k, v []byte) bool {
		e, err := fund.RiskEventOf(r, k, v)
		if err != nil {
			ferr = err
			return false
		}
		if e.BlockTime >= p.From && e.BlockTime < p.To {
			sev := strings.ToUpper(e.Severity) // the record's is lower-case
			if _, ok := rep.RiskEvents[sev]; ok {
				rep.RiskEvents[sev]++
			}
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}

// decidedAt returns when a ticket was decided (unix s): approved or rejected by its approvers,
// or by the chain's RedemptionApproved or RedemptionRejected (EXECUTED, dated by that block).
// A ticket cancelled or expired was not decided.
func decidedAt(t *fund.TicketRecord) (int64, bool) {
	switch t.Status {
	case fund.TicketApproved, fund.TicketRejected, fund.TicketExecuted:
		return t.ClosedAt / 1e9, t.ClosedAt != 0
	}
	return 0, false
}

func (rep *Report) approvals(r kv.Reader, p Period) error {
	var ferr error
	err := r.Scan([]byte{fund.PrefixTicket}, []byte{fund.PrefixTicket + 1}, false, func(_, v []byte) bool {
		t, err := fund.DecodeTicket(v)
		if err != nil {
			ferr = err
			return false
		}
		if at, ok := decidedAt(&t); ok && at >= p.From && at < p.To {
			rep.Approvals.Decided++
			if !t.Breached && (t.DueAt == 0 || at <= t.DueAt) {
				rep.Approvals.WithinSLA++
			}
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}

func (rep *Report) rebalances(r kv.Reader, p Period) error {
	var ferr error
	err := r.Scan([]byte{fund.PrefixPlan}, []byte{fund.PrefixPlan + 1}, false, func(k, v []byte) bool {
		pl, err := fund.DecodePlan(k, v)
		if err != nil {
			ferr = err
			return false
		}
		if at := pl.FinishedAt / 1e9; at < p.From || at >= p.To {
			return true
		}
		switch pl.Status {
		case fund.PlanCompleted:
			rep.Rebalances.Completed++
		case fund.PlanFailed:
			rep.Rebalances.Failed++
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}

func (rep *Report) nav(r kv.Reader, p Period) error {
	lo := binary.BigEndian.AppendUint64([]byte{fund.PrefixNav}, uint64(max(p.From, 0)))
	hi := binary.BigEndian.AppendUint64([]byte{fund.PrefixNav}, uint64(max(p.To, 0)))
	var ferr error
	err := r.Scan(lo, hi, false, func(k, v []byte) bool {
		n, err := fund.DecodeNavPoint(v)
		if err != nil {
			ferr = err
			return false
		}
		f, _ := new(big.Float).Quo(new(big.Float).SetInt(n.SharePrice.ToBig()), big.NewFloat(1e18)).Float64()
		rep.Nav = append(rep.Nav, NavPoint{Time: int64(binary.BigEndian.Uint64(k[1:9])), SharePrice: f})
		return true
	})
	if err == nil {
		err = ferr
	}
	if n := len(rep.Nav); n > maxNavPoints {
		step := (n + maxNavPoints - 1) / maxNavPoints
		kept := rep.Nav[:0]
		for i := 0; i < n; i += step {
			kept = append(kept, rep.Nav[i])
		}
		if kept[len(kept)-1] != rep.Nav[n-1] {
			kept = append(kept, rep.Nav[n-1])
		}
		rep.Nav = kept
	}
	return err
}
