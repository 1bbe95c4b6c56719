package readmodel

import (
	"encoding/json"
	"testing"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
)

// FuzzQueryParsers gives every parameter the same fuzzed value: each parser returns a
// result or a *ValidationError naming a parameter.
func FuzzQueryParsers(f *testing.F) {
	for _, s := range []string{"", "10", "0", "1001", "2025-01-06T00:00:00Z", "raw", "1d", "1w", "L2", "l3", "true", "PENDING", "emergency",
		"0x8505c32631034a7ce8800239c08547e0434edad9", "Deposit", "0x10", "AQI", "-1", "99999999999999999999",
		"7d", "30d", "1d ", "CRITICAL", "warning", "CHAIN", "system", "false",
		"PARTIALLY_APPROVED", "expired", "REDEMPTION", "rebalance", "2025-01-06T00:00:00+02:00", "1736121600"} {
		f.Add(s, true)
	}
	f.Add("x", false)
	f.Fuzz(func(t *testing.T, v string, present bool) {
		get := func(string) (string, bool) { return v, present }
		for name, parse := range map[string]func(Getter) (any, error){"page": pageP, "nav": navP, "price": priceP, "redemptions": redP, "tx": txP, "audit": auditP,
			"risk events": riskP, "forecast": forecastP, "approvals": approvalsP, "sla report": slaP, "assets": assetsP} {
			if _, err := parse(get); err != nil {
				ve, ok := err.(*fund.ValidationError)
				if !ok || ve.Details["param"] == nil || ve.Message == "" {
					t.Fatalf("%s: error %T %v", name, err, err)
				}
			}
		}
		for _, p := range []func(string) (string, error){ParseRequestID, ParseAsset} {
			if s, err := p(v); err != nil && !isValidation(err) || err == nil && s == "" {
				t.Fatalf("%q: %q %v", v, s, err)
			}
		}
	})
}

// FuzzCursor uses arbitrary cursors on every list: a page or a *ValidationError.
func FuzzCursor(f *testing.F) {
	e := newEnv(f)
	e.logs(chainlogtest.AllEvents(testNow)...)
	e.apply(fund.EncodePrices(&fund.PricesCommand{Time: 1, Actor: fund.Actor{Name: "ops"}, Prices: []fund.PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow}}}))
	for _, s := range []string{"", "AQI", "AAAAAAAAAAEAAAAAAAAAAQ", "____", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAv__________wAAAAAAAAADAAAAAA",         // a RULE/SYSTEM risk event's position
		"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} { // an approval ticket's key
		f.Add(s, "2")
	}
	f.Fuzz(func(t *testing.T, cursor, limit string) {
		p, err := ParsePage(getter("cursor", cursor, "limit", limit))
		if err != nil {
			if !isValidation(err) {
				t.Fatalf("ParsePage: %T %v", err, err)
			}
			return
		}
		h := addr(1)
		lists := []func() ([]byte, error){
			func() ([]byte, error) { return Transactions(e.st, TxFilter{}, p) },
			func() ([]byte, error) { return Transactions(e.st, TxFilter{Event: "Transfer"}, p) },
			func() ([]byte, error) { return Redemptions(e.st, RedemptionFilter{}, p) },
			func() ([]byte, error) { return Redemptions(e.st, RedemptionFilter{Owner: &h}, p) },
			func() ([]byte, error) { return Audit(e.st, AuditFilter{}, p) },
			func() ([]byte, error) { return AccountTransactions(e.st, h, p) },
			func() ([]byte, error) { return RiskEvents(e.st, RiskEventFilter{}, p) },
			func() ([]byte, error) { return Approvals(e.st, ApprovalFilter{}, p) },
			func() ([]byte, error) {
				return Approvals(e.st, ApprovalFilter{Status: fund.TicketPending, Type: fund.TicketRedemption}, p)
			},
		}
		for i, list := range lists {
			body, err := list()
			if err != nil {
				if !isValidation(err) {
					t.Fatalf("list %d: %T %v", i, err, err)
				}
				continue
			}
			if !json.Valid(body) {
				t.Fatalf("list %d: invalid JSON", i)
			}
		}
	})
}

func riskP(g Getter) (any, error)      { return ParseRiskEventFilter(g) }
func forecastP(g Getter) (any, error)  { return ParseForecastQuery(g) }
func approvalsP(g Getter) (any, error) { return ParseApprovalFilter(g) }
func slaP(g Getter) (any, error)       { return ParseSLAReportQuery(g) }
func assetsP(g Getter) (any, error)    { return ParseAssetQuery(g) }
