package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"paimon/fund"
	"paimon/kv"
)

// TestReportsAddUpOverAYear: on a generated year, the sums over every daily report equal the
// fund's life-of-fund totals summed from the events themselves, every week and month equals the
// sum of its days, and each day's closing figures are the next day's opening ones.
func TestReportsAddUpOverAYear(t *testing.T) {
	data, st := year(t)
	var life totals
	for i := range data.Events {
		life.addEvent(&data.Events[i])
	}
	first := data.Events[0].BlockTime
	last := data.Events[len(data.Events)-1].BlockTime
	if life.settled == 0 || life.mgmt.Sign() == 0 || life.perf.Sign() == 0 || life.red.Sign() == 0 || life.withdrawals.Sign() == 0 {
		t.Fatalf("a degenerate history: %v", life.strings())
	}

	daily := map[int64]*Report{}
	var sum totals
	var prev *Report
	for d := first - first%secondsPerDay - secondsPerDay; d <= last+secondsPerDay; d += secondsPerDay {
		rep, err := Build(st, PeriodOf(Daily, time.Unix(d, 0).UTC()))
		if err != nil {
			t.Fatal(err)
		}
		daily[d] = rep
		sum.addReport(t, rep)
		if prev != nil && figs(prev.Closing) != figs(rep.Opening) {
			t.Fatalf("%s: opening %s, the day before closed at %s", rep.Period.From, figs(rep.Opening), figs(prev.Closing))
		}
		if rep.Closed != (d+secondsPerDay <= last) {
			t.Fatalf("%s: closed %v", rep.Period.From, rep.Closed)
		}
		prev = rep
	}
	if got, want := sum.strings(), life.strings(); !slices.Equal(got, want) {
		t.Fatalf("Σ daily reports %v, life of fund %v", got, want)
	}
	// Risk events and decided tickets: the daily counts add up to the store's.
	risk, decided := map[string]int64{}, int64(0)
	for _, rep := range daily {
		for s, n := range rep.RiskEvents {
			risk[s] += n
		}
		decided += rep.Approvals.Decided
	}
	wantRisk, wantDecided := storeCounts(t, st)
	if fmt.Sprint(risk) != fmt.Sprint(wantRisk) || decided != wantDecided || wantDecided == 0 || wantRisk["WARNING"] == 0 {
		t.Fatalf("Σ daily risk events %v, decided %d; the store has %v, %d", risk, decided, wantRisk, wantDecided)
	}
	if figs(prev.Closing) == figs(Figures{}) || *prev.Closing.TotalAssets == "0" {
		t.Fatalf("final closing %s", figs(prev.Closing))
	}

	for _, k := range []Kind{Weekly, Monthly} {
		n := 0
		for d := first - first%secondsPerDay; d <= last; {
			p := PeriodOf(k, time.Unix(d, 0).UTC())
			rep, err := Build(st, p)
			if err != nil {
				t.Fatal(err)
			}
			var days, whole totals
			whole.addReport(t, rep)
			for _, day := range p.Days() {
				dr := daily[day]
				if dr == nil {
					if dr, err = Build(st, PeriodOf(Daily, time.Unix(day, 0).UTC())); err != nil {
						t.Fatal(err)
					}
				}
				days.addReport(t, dr)
			}
			if got, want := whole.strings(), days.strings(); !slices.Equal(got, want) {
				t.Fatalf("%s: %v, Σ of its days %v", p.Name(), got, want)
			}
			first, lastDay := daily[p.From], daily[p.To-secondsPerDay]
			if first != nil && figs(rep.Opening) != figs(first.Opening) || lastDay != nil && figs(rep.Closing) != figs(lastDay.Closing) {
				t.Fatalf("%s: opening %s closing %s, its days' %s %s", p.Name(), figs(rep.Opening), figs(rep.Closing), figs(first.Opening), figs(lastDay.Closing))
			}
			d, n = p.To, n+1
		}
		if n < 12 {
			t.Fatalf("%d %s reports", n, k)
		}
	}
	t.Logf("%d events over %d days; life of fund %v", len(data.Events), len(daily), life.strings())
}

// storeCounts counts the store's risk events by severity and its decided tickets.
func storeCounts(t *testing.T, r kv.Reader) (map[string]int64, int64) {
	risk := map[string]int64{"INFO": 0, "WARNING": 0, "HIGH": 0, "CRITICAL": 0}
	var decided int64
	err := r.Scan([]byte{fund.PrefixRisk}, []byte{fund.PrefixRisk + 1}, false, func(k, v []byte) bool {
		e, err := fund.RiskEventOf(r, k, v)
		if err != nil {
			t.Fatal(err)
		}
		risk[strings.ToUpper(e.Severity)]++
		return true
	})
	if err == nil {
		err = r.Scan([]byte{fund.PrefixTicket}, []byte{fund.PrefixTicket + 1}, false, func(_, v []byte) bool {
			tk, err := fund.DecodeTicket(v)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Status == fund.TicketApproved || tk.Status == fund.TicketRejected || tk.Status == fund.TicketExecuted {
				decided++
			}
			return true
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return risk, decided
}

func figs(f Figures) string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	return s(f.SharePrice) + "/" + s(f.TotalAssets) + "/" + s(f.TotalSupply)
}

// TestCSVCarriesTheJSONFigures: the CSV's header names every figure of the JSON by its path,
// with the same value.
func TestCSVCarriesTheJSONFigures(t *testing.T) {
	data, st := year(t)
	mid := time.Unix(data.Events[len(data.Events)/2].BlockTime, 0).UTC()
	for _, k := range []Kind{Daily, Weekly, Monthly} {
		rep, err := Build(st, PeriodOf(k, mid))
		if err != nil {
			t.Fatal(err)
		}
		js, _, err := rep.Render(JSON)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		d := json.NewDecoder(bytes.NewReader(js))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		flat := map[string]string{}
		flatten("", doc, flat)
		body, ctype, err := rep.Render(CSV)
		if err != nil || !strings.HasPrefix(ctype, "text/csv") {
			t.Fatal(err, ctype)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("csv: %v, %d rows", err, len(rows))
		}
		if len(rows[0]) != len(flat) {
			t.Errorf("%s: %d CSV columns, %d JSON figures", k, len(rows[0]), len(flat))
		}
		for i, name := range rows[0] {
			if w, ok := flat[name]; !ok || w != rows[1][i] {
				t.Errorf("%s: CSV %s = %q, JSON %q (%v)", k, name, rows[1][i], w, ok)
			}
		}
		if flat["flows.deposits"] == "0" && k == Monthly {
			t.Errorf("a month without deposits: %s", js)
		}
	}
}

func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, e, out)
		}
	case nil:
		out[prefix] = ""
	default:
		out[prefix] = fmt.Sprint(x)
	}
}

// TestPDFNamesThePeriod: the PDF is a well-formed PDF (header, cross-reference table where
// startxref says, trailer), names its period in its title and on the page, and draws the NAV
// chart. (No PDF rasteriser is installed on this machine: pdftoppm is not checked.)
func TestPDFNamesThePeriod(t *testing.T) {
	data, st := year(t)
	mid := time.Unix(data.Events[len(data.Events)/2].BlockTime, 0).UTC()
	for _, k := range []Kind{Daily, Monthly} {
		p := PeriodOf(k, mid)
		rep, err := Build(st, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Nav) < 20 {
			t.Fatalf("%d NAV points in %s", len(rep.Nav), p.Name())
		}
		b, ctype, err := rep.Render(PDF)
		if err != nil || ctype != "application/pdf" {
			t.Fatal(err, ctype)
		}
		checkPDF(t, b)
		name := "Paimon Edge " + p.Name()
		if !bytes.Contains(b, []byte("/Title ("+name+")")) || !bytes.Contains(b, []byte("("+name+")Tj")) {
			t.Errorf("%s: the PDF does not name its period", p.Name())
		}
		if bytes.Count(b, []byte(" l S")) < 20 {
			t.Errorf("%s: no NAV chart", p.Name())
		}
	}
}

// checkPDF checks the PDF's structure: the header, the trailer, and that startxref points at
// the cross-reference table whose entries point at their objects.
func checkPDF(t *testing.T, b []byte) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("%PDF-1.")) || !bytes.HasSuffix(bytes.TrimSpace(b), []byte("%%EOF")) {
		t.Fatalf("not a PDF: %.20q … %.20q", b, b[max(len(b)-20, 0):])
	}
	i := bytes.LastIndex(b, []byte("startxref"))
	var off int
	if _, err := fmt.Sscan(string(b[i+len("startxref"):]), &off); err != nil || off <= 0 || off >= len(b) {
		t.Fatalf("startxref: %v %d", err, off)
	}
	if !bytes.HasPrefix(b[off:], []byte("xref")) {
		t.Fatalf("startxref %d does not point at the xref table", off)
	}
	lines := strings.Split(string(b[off:]), "\n")
	var first, n int
	if _, err := fmt.Sscan(lines[1], &first, &n); err != nil || n < 3 {
		t.Fatalf("xref header %q: %v", lines[1], err)
	}
	for j := 1; j < n; j++ {
		f := strings.Fields(lines[2+j]) // offsets have leading zeros: not Sscan, which reads octal
		if len(f) != 3 || f[2] != "n" {
			continue
		}
		pos, err := strconv.Atoi(f[0])
		if err != nil || pos >= len(b) {
			t.Fatalf("xref entry %q", lines[2+j])
		}
		if want := fmt.Sprintf("%d 0 obj", first+j); !bytes.HasPrefix(b[pos:], []byte(want)) {
			t.Fatalf("xref entry %d at %d (%q) points at %.12q", first+j, pos, lines[2+j], b[pos:])
		}
	}
}
