package readmodel

import (
	"encoding/json"
	"math/big"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// feeKindsJSON is one figure per kind of fee.
type feeKindsJSON struct {
	Management  string `json:"management"`
	Performance string `json:"performance"`
	Redemption  string `json:"redemption"`
}

// Fees renders GET /v1/fund/fees: the fees accumulated over the fund's life, withdrawable and
// withdrawn, per kind. Management and performance fees are paid out of the vault when collected
// (EVENTS.md), so they are withdrawn as they accrue; redemption fees accrue in the vault
// (RedemptionFeeAdded) until withdrawn (RedemptionFeeReduced), and the withdrawable ones are
// the singleton's fees.redemption. The rates are null: no event and no configuration carries
// them yet.
func Fees(r kv.Reader) ([]byte, error) {
	f, err := fund.LoadFund(r)
	if err != nil {
		return nil, err
	}
	added, err := sumEvents(r, "RedemptionFeeAdded", "fee")
	if err != nil {
		return nil, err
	}
	reduced, err := sumEvents(r, "RedemptionFeeReduced", "fee")
	if err != nil {
		return nil, err
	}
	mgmt, perf := decSigned(&f.FeeManagement), decSigned(&f.FeePerformance)
	return json.Marshal(struct {
		Accumulated  feeKindsJSON       `json:"accumulated"`
		Withdrawable feeKindsJSON       `json:"withdrawable"`
		Withdrawn    feeKindsJSON       `json:"withdrawn"`
		Rates        map[string]*string `json:"rates"`
	}{
		Accumulated:  feeKindsJSON{Management: mgmt, Performance: perf, Redemption: added.String()},
		Withdrawable: feeKindsJSON{Management: "0", Performance: "0", Redemption: decSigned(&f.FeeRedemption)},
		Withdrawn:    feeKindsJSON{Management: mgmt, Performance: perf, Redemption: reduced.String()},
		Rates:        map[string]*string{"management": nil, "performance": nil, "redemption": nil},
	})
}

// sumEvents sums the named uint argument of every ledger entry of the named event, through
// the ledger's event index.
func sumEvents(r kv.Reader, event, arg string) (*big.Int, error) {
	s := chainlog.SpecByName(event)
	sum := new(big.Int)
	prefix := key(fund.PrefixLedgerByEvent, []byte{s.ID})
	err := scan(r, prefix, key(fund.PrefixLedgerByEvent, []byte{s.ID + 1}), false, func(k, _ []byte) (bool, error) {
		v, ok, err := getOpt(r, key(fund.PrefixLedger, k[len(prefix):]))
		if err != nil || !ok {
			return err == nil, err
		}
		ev, err := fund.DecodeLedgerEvent(v)
		if err != nil {
			return false, err
		}
		for i := range ev.Args {
			if ev.Args[i].Name == arg {
				sum.Add(sum, ev.Args[i].Uint.ToBig())
			}
		}
		return true, nil
	})
	return sum, err
}
