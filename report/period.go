package report

import (
	"fmt"
	"time"

	"paimon/fund"
)

// Kind is the length of a report's period.
type Kind string

// The kinds of report: a UTC day, an ISO week (Monday to Sunday), a calendar month.
const (
	Daily   Kind = "daily"
	Weekly  Kind = "weekly"
	Monthly Kind = "monthly"
)

// Format is a report's rendering.
type Format string

// The formats: the JSON of the contract (OPERATIONS.md "Reports"), CSV with a header row
// carrying the same figures, a one-page PDF.
const (
	JSON Format = "json"
	CSV  Format = "csv"
	PDF  Format = "pdf"
)

// DateLayout is the layout of the date query parameter and of the period's bounds.
const DateLayout = "2006-01-02"

// Period is a report's period: the UTC instants [From, To) in unix seconds.
type Period struct {
	Kind     Kind
	From, To int64
}

// ParseKind parses a report kind (the path segment).
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Daily, Weekly, Monthly:
		return k, nil
	}
	return "", invalidParam("kind", "report kind %.40q is not daily, weekly or monthly", s)
}

// ParseFormat parses the format query parameter; "" is JSON.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return JSON, nil
	case JSON, CSV, PDF:
		return f, nil
	}
	return "", invalidParam("format", "format %.40q is not json, csv or pdf", s)
}

// ParseDate parses the date query parameter (YYYY-MM-DD, a UTC day).
func ParseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, invalidParam("date", "date is required (YYYY-MM-DD)")
	}
	d, err := time.Parse(DateLayout, s)
	if err != nil || d.Year() < 1970 || d.Year() > 9999 {
		return time.Time{}, invalidParam("date", "date %.40q is not a day YYYY-MM-DD from 1970", s)
	}
	return d, nil
}

// Getter returns a query parameter and whether it is present (readmodel.Getter).
type Getter func(name string) (string, bool)

// ParseQuery parses a report request: its kind (the path segment) and the query parameters
// date and format. Every error is a *fund.ValidationError naming the parameter.
func ParseQuery(kind string, get Getter) (Period, Format, error) {
	k, err := ParseKind(kind)
	if err != nil {
		return Period{}, "", err
	}
	ds, _ := get("date")
	d, err := ParseDate(ds)
	if err != nil {
		return Period{}, "", err
	}
	fs, _ := get("format")
	f, err := ParseFormat(fs)
	if err != nil {
		return Period{}, "", err
	}
	return PeriodOf(k, d), f, nil
}

// PeriodOf returns the period of kind k that contains the UTC day d.
func PeriodOf(k Kind, d time.Time) Period {
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	var from, to time.Time
	switch k {
	case Weekly:
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		from = d.AddDate(0, 0, -back)
		to = from.AddDate(0, 0, 7)
	case Monthly:
		from = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		to = from.AddDate(0, 1, 0)
	default:
		from, to = d, d.AddDate(0, 0, 1)
	}
	return Period{Kind: k, From: from.Unix(), To: to.Unix()}
}

// Days returns the first second of every UTC day of the period.
func (p Period) Days() []int64 {
	var out []int64
	for d := p.From; d < p.To; d += secondsPerDay {
		out = append(out, d)
	}
	return out
}

// Name names the period: "daily report 2026-01-05", "weekly report 2026-01-05 – 2026-01-11".
func (p Period) Name() string {
	from := time.Unix(p.From, 0).UTC().Format(DateLayout)
	last := time.Unix(p.To-secondsPerDay, 0).UTC().Format(DateLayout)
	if p.Kind == Daily {
		return fmt.Sprintf("%s report %s", p.Kind, from)
	}
	return fmt.Sprintf("%s report %s to %s", p.Kind, from, last)
}

const secondsPerDay = 86400

func invalidParam(param, format string, args ...any) *fund.ValidationError {
	return &fund.ValidationError{Message: fmt.Sprintf(format, args...), Details: map[string]any{"param": param}}
}
