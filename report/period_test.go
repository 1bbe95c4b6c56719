package report

import (
	"errors"
	"testing"
	"time"

	"paimon/fund"
)

func query(q map[string]string) Getter {
	return func(name string) (string, bool) { v, ok := q[name]; return v, ok }
}

func TestParseQuery(t *testing.T) {
	for _, c := range []struct {
		kind, date, format string
		from, to           string
		f                  Format
		bad                string // the parameter refused
	}{
		{kind: "daily", date: "2026-01-07", from: "2026-01-07", to: "2026-01-07", f: JSON},
		{kind: "weekly", date: "2026-01-07", format: "csv", from: "2026-01-05", to: "2026-01-11", f: CSV},
		{kind: "weekly", date: "2026-01-04", format: "pdf", from: "2025-12-29", to: "2026-01-04", f: PDF}, // a Sunday
		{kind: "weekly", date: "2026-01-05", from: "2026-01-05", to: "2026-01-11", f: JSON},               // a Monday
		{kind: "monthly", date: "2024-02-29", format: "json", from: "2024-02-01", to: "2024-02-29", f: JSON},
		{kind: "monthly", date: "2025-12-31", from: "2025-12-01", to: "2025-12-31", f: JSON},
		{kind: "yearly", date: "2026-01-07", bad: "kind"},
		{kind: "", date: "2026-01-07", bad: "kind"},
		{kind: "daily", bad: "date"},
		{kind: "daily", date: "2026-02-30", bad: "date"},
		{kind: "daily", date: "07/01/2026", bad: "date"},
		{kind: "daily", date: "2026-01-07T00:00:00Z", bad: "date"},
		{kind: "daily", date: "0001-01-01", bad: "date"},
		{kind: "daily", date: "2026-01-07", format: "xlsx", bad: "format"},
		{kind: "daily", date: "2026-01-07", format: "JSON", bad: "format"},
	} {
		q := map[string]string{"date": c.date}
		if c.format != "" {
			q["format"] = c.format
		}
		p, f, err := ParseQuery(c.kind, query(q))
		if c.bad != "" {
			var ve *fund.ValidationError
			if !errors.As(err, &ve) || ve.Details["param"] != c.bad {
				t.Errorf("%s %v: %v, want a refusal of %s", c.kind, q, err, c.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, q, err)
			continue
		}
		if f != c.f || day(p.From) != c.from || day(p.To-secondsPerDay) != c.to || string(p.Kind) != c.kind {
			t.Errorf("%s %v: %s %s..%s, want %s %s..%s", c.kind, q, f, day(p.From), day(p.To-secondsPerDay), c.f, c.from, c.to)
		}
	}
}

// FuzzParseQuery: never a panic; a refusal is a *fund.ValidationError naming its parameter; an
// accepted query gives a period of whole UTC days that contains the date, starting on a Monday
// for a week and on the 1st for a month.
func FuzzParseQuery(f *testing.F) {
	for _, s := range [][3]string{
		{"daily", "2026-01-07", ""}, {"weekly", "2026-01-04", "csv"}, {"monthly", "2024-02-29", "pdf"},
		{"monthly", "1970-01-01", "json"}, {"weekly", "9999-12-31", ""}, {"hourly", "2026-01-07", ""},
		{"daily", "2026-13-01", ""}, {"daily", "", "json"}, {"daily", "2026-01-07", "xml"}, {"daily", "+2026-01-07", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, kind, date, format string) {
		p, fm, err := ParseQuery(kind, query(map[string]string{"date": date, "format": format}))
		if err != nil {
			var ve *fund.ValidationError
			if !errors.As(err, &ve) || ve.Details["param"] == nil {
				t.Fatalf("%q %q %q: %v", kind, date, format, err)
			}
			return
		}
		d, _ := time.Parse(DateLayout, date)
		if fm == "" || p.From%secondsPerDay != 0 || p.To%secondsPerDay != 0 || d.Unix() < p.From || d.Unix() >= p.To {
			t.Fatalf("%q %q: period %d..%d", kind, date, p.From, p.To)
		}
		from := time.Unix(p.From, 0).UTC()
		switch p.Kind {
		case Daily:
			if p.To-p.From != secondsPerDay {
				t.Fatal("a day is not a day")
			}
		case Weekly:
			if from.Weekday() != time.Monday || p.To-p.From != 7*secondsPerDay {
				t.Fatalf("week from %s", from)
			}
		case Monthly:
			if from.Day() != 1 || time.Unix(p.To, 0).UTC().Day() != 1 || p.To-p.From < 28*secondsPerDay {
				t.Fatalf("month %s..%s", from, time.Unix(p.To, 0).UTC())
			}
		}
	})
}
