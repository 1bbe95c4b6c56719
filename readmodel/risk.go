package readmodel

import (
	"bytes"
	"encoding/json"
	"strings"

	"paimon/fund"
	"paimon/kv"
)

// The risk events as the API renders them (GET /v1/risk/events, POST
// /v1/risk/events/{id}/resolve, WebSocket channel risk).

// riskEventJSON is one risk event of the API.
type riskEventJSON struct {
	ID          string          `json:"id"`
	Time        string          `json:"time"`
	Source      string          `json:"source"`
	Severity    string          `json:"severity"`
	Type        string          `json:"type"`
	Message     string          `json:"message"`
	Details     json.RawMessage `json:"details"`
	Resolved    bool            `json:"resolved"`
	ResolvedBy  *string         `json:"resolvedBy"`
	ResolvedAt  *string         `json:"resolvedAt"`
	Note        *string         `json:"note"`
	Index       *uint64         `json:"index"`
	BlockNumber uint64          `json:"blockNumber"`
}

// RiskEventJSON renders a risk event as the API does: severity upper-case, details {} when
// it has none, resolvedBy/resolvedAt/note null while unresolved, index null for a CHAIN event
// (it has none, see DESIGN.md).
func RiskEventJSON(rec *fund.RiskEventRecord) ([]byte, error) {
	j := riskEventJSON{
		ID: rec.ID, Time: fmtUnix(rec.BlockTime), Source: rec.Source, Severity: strings.ToUpper(rec.Severity), Type: rec.Event,
		Message: rec.Message, Details: rec.Details, Resolved: rec.Resolved, BlockNumber: rec.BlockNumber,
	}
	if len(j.Details) == 0 {
		j.Details = json.RawMessage("{}")
	}
	if rec.Resolved {
		by, at, note := rec.ResolvedBy, fmtUnixNano(rec.ResolvedAt), rec.Note
		j.ResolvedBy, j.ResolvedAt, j.Note = &by, &at, &note
	}
	if rec.Index != 0 {
		i := rec.Index
		j.Index = &i
	}
	return json.Marshal(&j)
}

// RiskEventParams are the query parameters ParseRiskEventFilter reads.
var RiskEventParams = []string{"severity", "source", "resolved"}

// RiskEventFilter selects risk events: an exact severity and source (0: any) and, when
// Resolved is set, whether they are resolved.
type RiskEventFilter struct {
	Severity fund.RiskSeverity
	Source   fund.RiskSource
	Resolved *bool
}

// ParseRiskEventFilter parses severity (INFO, WARNING, HIGH, CRITICAL), source (CHAIN, RULE,
// SYSTEM), both case-insensitive, and resolved (true or false).
func ParseRiskEventFilter(get Getter) (RiskEventFilter, error) {
	var f RiskEventFilter
	if s, ok := get("severity"); ok {
		v, ok := fund.ParseRiskSeverity(s)
		if !ok {
			return f, invalidParam("severity", "severity must be one of INFO, WARNING, HIGH, CRITICAL")
		}
		f.Severity = v
	}
	if s, ok := get("source"); ok {
		v, ok := fund.ParseRiskSource(s)
		if !ok {
			return f, invalidParam("source", "source must be one of CHAIN, RULE, SYSTEM")
		}
		f.Source = v
	}
	if s, ok := get("resolved"); ok {
		var b bool
		switch s {
		case "true":
			b = true
		case "false":
		default:
			return f, invalidParam("resolved", "resolved must be true or false")
		}
		f.Resolved = &b
	}
	return f, nil
}

func (f *RiskEventFilter) match(r *fund.RiskEventRecord) bool {
	return (f.Severity == 0 || strings.EqualFold(r.Severity, f.Severity.String())) &&
		(f.Source == 0 || r.Source == f.Source.String()) &&
		(f.Resolved == nil || *f.Resolved == r.Resolved)
}

// RiskEvents lists risk events newest first (the reverse of the key order: by block, the
// chain's events of a block then what was raised while it was the last), filtered, one page
// after the cursor. The cursor is the last item's key after its prefix (48 bytes for a CHAIN
// event, 28 for the others). Every event is scanned: there is no index by severity, source or
// resolution (risk events are few; the page bounds the work once enough match).
func RiskEvents(r kv.Reader, f RiskEventFilter, p Page) ([]byte, error) {
	p = fixPage(p)
	lo, hi := []byte{fund.PrefixRisk}, []byte{fund.PrefixRisk + 1}
	if p.Cursor != nil {
		if len(p.Cursor) != fund.RiskChainPosLen && len(p.Cursor) != fund.RiskCmdPosLen {
			return nil, invalidParam("cursor", "cursor is invalid")
		}
		hi = append([]byte{fund.PrefixRisk}, p.Cursor...)
	}
	items := []json.RawMessage{}
	var last []byte
	more := false
	err := scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		rec, err := fund.RiskEventOf(r, k, v)
		if err != nil {
			return false, err
		}
		if !f.match(rec) {
			return true, nil
		}
		if len(items) == p.Limit {
			more = true
			return false, nil
		}
		item, err := RiskEventJSON(rec)
		if err != nil {
			return false, err
		}
		items = append(items, item)
		last = bytes.Clone(k[1:])
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return pageJSON(items, more, last)
}

// RiskEventByID renders one risk event; ErrNotFound for an id that names none.
func RiskEventByID(r kv.Reader, id string) ([]byte, error) {
	k, ok := fund.RiskEventKey(id)
	if !ok {
		return nil, fund.ErrNotFound
	}
	v, found, err := getOpt(r, k)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fund.ErrNotFound
	}
	rec, err := fund.RiskEventOf(r, k, v)
	if err != nil {
		return nil, err
	}
	return RiskEventJSON(rec)
}
