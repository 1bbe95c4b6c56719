package readmodel

import (
	"strconv"

	"paimon/fund"
	"paimon/kv"
	"paimon/risk"
)

// ViewRisk is the materialized view of GET /v1/risk/status.
const ViewRisk = "risk"

// renderRiskStatus renders GET /v1/risk/status from the stored evaluation: {level, score,
// indicators: [{name, value, warn, critical, status}], updatedAt}; a value the indicator does
// not have, and updatedAt before the first evaluation, are null.
func renderRiskStatus(r kv.Reader) ([]byte, error) {
	s, err := fund.ReadRiskStatus(r)
	if err != nil {
		return nil, err
	}
	return AppendRiskStatusJSON(make([]byte, 0, 1024), &s), nil
}

// AppendRiskStatusJSON appends the JSON of GET /v1/risk/status for s to b.
func AppendRiskStatusJSON(b []byte, s *fund.RiskStatus) []byte {
	b = append(b, `{"level":"`...)
	b = append(b, s.Level.String()...)
	b = append(b, `","score":`...)
	b = strconv.AppendInt(b, s.Score, 10)
	b = append(b, `,"indicators":[`...)
	for i := range risk.NumIndicators {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, i.Name()...)
		b = append(b, `","value":`...)
		if s.Values.Has(i) {
			b = strconv.AppendInt(b, s.Values.V[i], 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"warn":`...)
		b = strconv.AppendInt(b, s.Limits[i].Warn, 10)
		b = append(b, `,"critical":`...)
		b = strconv.AppendInt(b, s.Limits[i].Critical, 10)
		b = append(b, `,"status":"`...)
		b = append(b, s.Status[i].String()...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"updatedAt":`...)
	if s.Evaluated && s.UpdatedAt > 0 {
		b = append(b, '"')
		b = append(b, fmtUnixNano(s.UpdatedAt)...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
