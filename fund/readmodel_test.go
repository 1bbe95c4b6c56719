package fund_test

import (
	"fmt"

	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
)

// init gives fund's behaviour tests the read model's functions (see export_test.go): fund
// does not import readmodel, its external test package may.
func init() {
	for _, c := range [][2]string{
		{fund.ViewOverview, readmodel.ViewOverview}, {fund.ViewNav, readmodel.ViewNav}, {fund.ViewTiers, readmodel.ViewTiers},
		{fund.ViewAssets, readmodel.ViewAssets}, {fund.ViewFlows, readmodel.ViewFlows}, {fund.ViewPrices, readmodel.ViewPrices},
		{fund.ViewRisk, readmodel.ViewRisk},
		{fund.IntervalRaw, readmodel.IntervalRaw}, {fmt.Sprint(fund.MaxLimit), fmt.Sprint(readmodel.MaxLimit)},
	} {
		if c[0] != c[1] {
			panic(fmt.Sprintf("fund's test constant %q is %q in readmodel", c[0], c[1]))
		}
	}
	fund.NewViews = func(info fund.Info) fund.ViewRenderer { return readmodel.NewViews(info) }
	fund.ViewNames = readmodel.ViewNames
	fund.ReadView = readmodel.ReadView
	fund.Account = readmodel.Account
	fund.Price = func(r kv.Reader, asset string, q fund.PriceQuery) ([]byte, error) {
		return readmodel.Price(r, asset, readmodel.PriceQuery(q))
	}
	fund.NavHistory = func(r kv.Reader, q fund.NavQuery) ([]byte, error) {
		return readmodel.NavHistory(r, readmodel.NavQuery(q))
	}
	fund.Redemption = readmodel.Redemption
	fund.Redemptions = func(r kv.Reader, f fund.RedemptionFilter, p fund.Page) ([]byte, error) {
		return readmodel.Redemptions(r, readmodel.RedemptionFilter(f), readmodel.Page(p))
	}
	fund.Audit = func(r kv.Reader, f fund.AuditFilter, p fund.Page) ([]byte, error) {
		return readmodel.Audit(r, readmodel.AuditFilter(f), readmodel.Page(p))
	}
	fund.LedgerEntry = readmodel.LedgerEntry
	fund.RecordJSON = readmodel.RecordJSON
	fund.ParseTime = readmodel.ParseTime
}
