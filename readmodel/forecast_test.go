package readmodel

import (
	"encoding/json"
	"testing"
)

type forecastBody struct {
	Horizon           string `json:"horizon"`
	AsOf              *string
	Available         string
	ConfirmedOutflows string
	ExpectedInflows   string
	Projected         string
	Shortfall         string
	OpenRedemptions   int
	InflowWindowDays  int
	ByDay             []struct {
		Day                                     int
		From, To                                string
		Outflows, Inflows, Projected, Shortfall string
	}
}

func (e *env) forecast(horizon string) forecastBody {
	e.t.Helper()
	q, err := ParseForecastQuery(func(string) (string, bool) { return horizon, horizon != "" })
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := LiquidityForecast(e.st, q)
	if err != nil {
		e.t.Fatal(err)
	}
	var f forecastBody
	if err := json.Unmarshal(b, &f); err != nil {
		e.t.Fatalf("%s: %v", b, err)
	}
	return f
}

// TestLiquidityForecast: 700 of cash from a deposit three days ago (100 a day over the 7-day
// window), redemptions overdue (300), due in two days (1,010 locked, 10 of fee), due in ten
// days (500), and one cancelled.
func TestLiquidityForecast(t *testing.T) {
	e := newEnv(t)
	if f := e.forecast(""); f.Horizon != "7d" || f.AsOf != nil || f.Available != "0" || f.Projected != "0" || len(f.ByDay) != 7 {
		t.Fatalf("empty state: %+v", f)
	}
	now := testNow
	owner := addr(1)
	req := func(li uint64, id, locked, fee int, settle int64) {
		e.logs(mk("RedemptionRequested", 20, li, now, id, owner, owner, u(1), u(uint64(locked)), u(uint64(fee)), 0, false, uint64(settle), 0))
	}
	e.logs(mk("Deposit", 10, 0, now-3*86400, owner, owner, u(700), u(700)))
	req(0, 1, 300, 0, now-100)
	req(1, 2, 1010, 10, now+2*86400+5)
	req(2, 3, 500, 0, now+10*86400)
	req(3, 4, 900, 0, now+86400)
	e.logs(mk("RedemptionCancelled", 20, 4, now, 4, owner))

	f := e.forecast("7d")
	if f.AsOf == nil || *f.AsOf != "2025-01-06T21:46:40Z" || f.Available != "700" || f.ConfirmedOutflows != "1300" || f.ExpectedInflows != "700" ||
		f.Projected != "100" || f.Shortfall != "300" || f.OpenRedemptions != 2 || f.InflowWindowDays != 7 {
		t.Fatalf("7d: %+v", f)
	}
	wantProjected := []string{"500", "600", "-300", "-200", "-100", "0", "100"}
	for i, d := range f.ByDay {
		if d.Day != i+1 || d.Inflows != "100" || d.Projected != wantProjected[i] {
			t.Errorf("7d day %d: %+v, projected want %s", i+1, d, wantProjected[i])
		}
	}
	if d := f.ByDay[2]; d.Outflows != "1000" || d.Shortfall != "300" || d.From != "2025-01-08T21:46:40Z" || d.To != "2025-01-09T21:46:40Z" {
		t.Errorf("day 3: %+v", d)
	}
	f = e.forecast("1d")
	if f.ConfirmedOutflows != "300" || f.ExpectedInflows != "100" || f.Projected != "500" || f.Shortfall != "0" || len(f.ByDay) != 1 {
		t.Fatalf("1d: %+v", f)
	}
	f = e.forecast("30d")
	if f.ConfirmedOutflows != "1800" || f.ExpectedInflows != "700" || f.Projected != "-400" || f.InflowWindowDays != 30 || len(f.ByDay) != 30 {
		t.Fatalf("30d: %+v", f)
	}
	// The worst day is the 11th: 700 + 700×11/30 (256) − 1,800.
	if f.Shortfall != "844" || f.ByDay[10].Shortfall != "844" {
		t.Fatalf("30d shortfall %s, day 11 %+v", f.Shortfall, f.ByDay[10])
	}
}

func TestForecastQueryRefuses(t *testing.T) {
	for _, h := range []string{"", "2d", "7D", "1", "30", "7d ", "-1d"} {
		_, err := ParseForecastQuery(func(string) (string, bool) { return h, true })
		if !isValidation(err) {
			t.Errorf("horizon %q: %v", h, err)
		}
	}
}
