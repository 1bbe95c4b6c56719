package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
)

// Column is one figure of a report: its JSON path ("flows.redemptionsSettled.gross") and value
// ("" for null).
type Column struct{ Name, Value string }

// Columns lists every figure of the report in the contract's order: the CSV's header and row,
// and the PDF's table.
func (rep *Report) Columns() []Column {
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	c := []Column{
		{"period.kind", string(rep.Period.Kind)}, {"period.from", rep.Period.From}, {"period.to", rep.Period.To},
	}
	for _, f := range []struct {
		name string
		f    *Figures
	}{{"opening", &rep.Opening}, {"closing", &rep.Closing}} {
		c = append(c, Column{f.name + ".sharePrice", str(f.f.SharePrice)}, Column{f.name + ".totalAssets", str(f.f.TotalAssets)},
			Column{f.name + ".totalSupply", str(f.f.TotalSupply)})
	}
	fl := &rep.Flows
	c = append(c,
		Column{"flows.deposits", fl.Deposits}, Column{"flows.withdrawals", fl.Withdrawals},
		Column{"flows.redemptionsRequested.count", num(fl.RedemptionsRequested.Count)},
		Column{"flows.redemptionsRequested.lockedAmount", fl.RedemptionsRequested.LockedAmount},
		Column{"flows.redemptionsSettled.count", num(fl.RedemptionsSettled.Count)},
		Column{"flows.redemptionsSettled.gross", fl.RedemptionsSettled.Gross},
		Column{"flows.redemptionsSettled.fee", fl.RedemptionsSettled.Fee},
		Column{"flows.redemptionsSettled.net", fl.RedemptionsSettled.Net},
		Column{"fees.management", rep.Fees.Management}, Column{"fees.performance", rep.Fees.Performance},
		Column{"fees.redemption", rep.Fees.Redemption})
	for _, t := range Tiers {
		tr := rep.Tiers[t]
		ratio := ""
		if tr.Ratio != nil {
			ratio = num(*tr.Ratio)
		}
		c = append(c, Column{"tiers." + t + ".value", str(tr.Value)}, Column{"tiers." + t + ".ratio", ratio})
	}
	for _, s := range Severities {
		c = append(c, Column{"riskEvents." + s, num(rep.RiskEvents[s])})
	}
	return append(c,
		Column{"approvals.decided", num(rep.Approvals.Decided)}, Column{"approvals.withinSla", num(rep.Approvals.WithinSLA)},
		Column{"rebalances.completed", num(rep.Rebalances.Completed)}, Column{"rebalances.failed", num(rep.Rebalances.Failed)})
}

// JSON renders the report as the contract's JSON.
func (rep *Report) JSON() ([]byte, error) { return json.Marshal(rep) }

// CSV renders the report as a header row (the figures' JSON paths) and one row of figures.
func (rep *Report) CSV() ([]byte, error) {
	cols := rep.Columns()
	head, row := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		head[i], row[i] = c.Name, c.Value
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll([][]string{head, row}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Render renders the report in format f; it returns the body and its content type.
func (rep *Report) Render(f Format) ([]byte, string, error) {
	switch f {
	case CSV:
		b, err := rep.CSV()
		return b, "text/csv; charset=utf-8", err
	case PDF:
		b, err := rep.PDF()
		return b, "application/pdf", err
	}
	b, err := rep.JSON()
	return b, "application/json", err
}

// FileName is the name a client saves the report in format f under.
func (p Period) FileName(f Format) string {
	return "paimon-" + string(p.Kind) + "-" + day(p.From) + "." + string(f)
}
