package readmodel

import (
	"encoding/json"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// GET /v1/risk/liquidity-forecast (OPERATIONS.md, "Risk"): whether the fund's liquid assets
// cover the redemptions it owes over a horizon, day by day. "Now" is the fund's latest block
// time, so the forecast is a pure function of the state, like every read.

// ForecastParams are the query parameters ParseForecastQuery reads.
var ForecastParams = []string{"horizon"}

// ForecastQuery is a forecast's horizon in days.
type ForecastQuery struct {
	Days int
}

// ParseForecastQuery parses horizon: 1d, 7d (the default) or 30d.
func ParseForecastQuery(get Getter) (ForecastQuery, error) {
	s, ok := get("horizon")
	if !ok {
		return ForecastQuery{Days: 7}, nil
	}
	switch s {
	case "1d":
		return ForecastQuery{Days: 1}, nil
	case "7d":
		return ForecastQuery{Days: 7}, nil
	case "30d":
		return ForecastQuery{Days: 30}, nil
	}
	return ForecastQuery{}, invalidParam("horizon", "horizon must be 1d, 7d or 30d")
}

type forecastDay struct {
	Day       int    `json:"day"`
	From      string `json:"from"`
	To        string `json:"to"`
	Outflows  string `json:"outflows"`
	Inflows   string `json:"inflows"`
	Projected string `json:"projected"`
	Shortfall string `json:"shortfall"`
}

type forecastJSON struct {
	Horizon           string        `json:"horizon"`
	AsOf              *string       `json:"asOf"`
	Available         string        `json:"available"`
	ConfirmedOutflows string        `json:"confirmedOutflows"`
	ExpectedInflows   string        `json:"expectedInflows"`
	Projected         string        `json:"projected"`
	Shortfall         string        `json:"shortfall"`
	OpenRedemptions   int           `json:"openRedemptions"`
	InflowWindowDays  int           `json:"inflowWindowDays"`
	ByDay             []forecastDay `json:"byDay"`
}

// LiquidityForecast renders the forecast over q.Days days from the fund's latest block time:
//
//   - available: the L1 tier's value (its liquid assets and, once the books run, cash);
//   - confirmedOutflows: what the open redemptions (PENDING, PENDING_APPROVAL, APPROVED) due
//     before the horizon's end will pay, lockedAmount − estimatedFee each (the fee stays in the
//     vault), on the day of their settlementTime; overdue ones, and ones without a settlement
//     time, on day 1;
//   - expectedInflows: subscriptions at the average daily rate of the trailing window (the
//     horizon, at least 7 days, of hourly flow buckets ending with the latest block's hour),
//     spread evenly over the days (truncated, the days summing exactly to the total);
//   - projected: available + expectedInflows − confirmedOutflows (may be negative);
//   - byDay: per day, its outflows and inflows, the projected balance at its end and the
//     shortfall (how far that balance is below zero, else 0); shortfall at the top is the
//     largest of the days' (a gap mid-horizon counts even if later inflows close it).
func LiquidityForecast(r kv.Reader, q ForecastQuery) ([]byte, error) {
	b, err := fund.ReadBooks(r)
	if err != nil {
		return nil, err
	}
	days := q.Days
	now := b.BlockTime
	out := forecastJSON{Horizon: map[int]string{1: "1d", 7: "7d", 30: "30d"}[days], Available: decSigned(&b.Tiers[0].Value)}
	if now > 0 {
		t := fmtUnix(now)
		out.AsOf = &t
	}
	end := now + int64(days)*day

	// Outflows by day.
	outflows := make([]uint256.Int, days)
	err = dueRedemptions(r, now, end, func(due int64, pay *uint256.Int) {
		d := 0
		if due > now {
			d = int((due - now) / day)
		}
		outflows[d].Add(&outflows[d], pay)
		out.OpenRedemptions++
	})
	if err != nil {
		return nil, err
	}

	// Inflows: the trailing window's subscriptions at their daily rate.
	window := max(days, 7)
	out.InflowWindowDays = window
	var subs uint256.Int
	if now > 0 {
		last := now - now%3600
		first := max(last-int64(window)*24*3600+3600, 0)
		err := scan(r, flowKey(first), flowKey(last+1), false, func(_, v []byte) (bool, error) {
			fb, err := fund.DecodeFlowBucket(v)
			if err != nil {
				return false, err
			}
			subs.Add(&subs, &fb.Subscriptions)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Inflows until the end of day d: subs × d / window, truncated.
	inflowsUntil := func(d int) uint256.Int {
		var v uint256.Int
		v.Mul(&subs, uint256.NewInt(uint64(d)))
		v.Div(&v, uint256.NewInt(uint64(window)))
		return v
	}

	var totalOut, balance, worst uint256.Int
	balance.Set(&b.Tiers[0].Value)
	var prevIn uint256.Int
	out.ByDay = make([]forecastDay, days)
	for d := 0; d < days; d++ {
		cum := inflowsUntil(d + 1)
		var in uint256.Int
		in.Sub(&cum, &prevIn)
		prevIn = cum
		totalOut.Add(&totalOut, &outflows[d])
		balance.Add(&balance, &in)
		balance.Sub(&balance, &outflows[d])
		var short uint256.Int
		if balance.Sign() < 0 {
			short.Neg(&balance)
		}
		if short.Cmp(&worst) > 0 {
			worst.Set(&short)
		}
		out.ByDay[d] = forecastDay{Day: d + 1, From: fmtUnix(now + int64(d)*day), To: fmtUnix(now + int64(d+1)*day),
			Outflows: outflows[d].Dec(), Inflows: in.Dec(), Projected: decSigned(&balance), Shortfall: short.Dec()}
	}
	out.ConfirmedOutflows, out.ExpectedInflows = totalOut.Dec(), prevIn.Dec()
	out.Projected, out.Shortfall = decSigned(&balance), worst.Dec()
	return json.Marshal(&out)
}

// dueRedemptions calls fn for every open redemption (PENDING, PENDING_APPROVAL, APPROVED) due
// before end, with its settlement time (now for one without, or overdue) and what it will pay:
// lockedAmount − estimatedFee (the fee stays in the vault). The liquidity forecast's outflows
// and the cash a rebalancing plan may not spend.
func dueRedemptions(r kv.Reader, now, end int64, fn func(due int64, pay *uint256.Int)) error {
	for _, status := range []string{"PENDING", "PENDING_APPROVAL", "APPROVED"} {
		prefix, _ := fund.RedemptionStatusPrefix(status)
		err := scan(r, prefix, kv.PrefixEnd(prefix), false, func(k, _ []byte) (bool, error) {
			id := k[len(prefix):]
			if len(id) != redemptionIDLen {
				return false, corrupt("redemption key", errBadKeyLength)
			}
			rd, err := readRedemption(r, id)
			if err != nil {
				if err == fund.ErrNotFound {
					err = corrupt("redemption index", errDanglingIndex)
				}
				return false, err
			}
			due := now
			if st := &rd.SettlementTime; st.IsUint64() && st.Uint64() <= chainlog.MaxUnixSeconds && st.Uint64() > 0 {
				if int64(st.Uint64()) >= end {
					return true, nil // due after the horizon
				}
				due = max(int64(st.Uint64()), now)
			}
			var pay uint256.Int
			if rd.LockedAmount.Cmp(&rd.EstimatedFee) > 0 {
				pay.Sub(&rd.LockedAmount, &rd.EstimatedFee)
			}
			fn(due, &pay)
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
