package readmodel

import (
	"strconv"
	"strings"

	"paimon/fund"
	"paimon/kv"
)

// AssetParams are the query parameters of GET /v1/fund/assets (ParseAssetQuery).
var AssetParams = []string{"tier", "active"}

// AssetQuery filters the assets: by tier (0 L1, 1 L2, 2 L3; -1 any) and by whether they are
// active (nil: both).
type AssetQuery struct {
	Tier   int
	Active *bool
}

// ParseAssetQuery parses tier (L1, L2, L3, case-insensitive) and active (true, false).
func ParseAssetQuery(get Getter) (AssetQuery, error) {
	q := AssetQuery{Tier: -1}
	if s, ok := get("tier"); ok {
		switch t := strings.ToUpper(s); t {
		case "L1", "L2", "L3":
			q.Tier = int(t[1] - '1')
		default:
			return AssetQuery{}, invalidParam("tier", "tier %.20q is not L1, L2 or L3", s)
		}
	}
	if s, ok := get("active"); ok {
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			return AssetQuery{}, invalidParam("active", "active must be true or false")
		}
		q.Active = &b
	}
	return q, nil
}

// Assets renders GET /v1/fund/assets with the assets q selects: the assets view's items,
// filtered (the view itself answers the query without parameters); allocations stay shares of
// the whole tier.
func Assets(r kv.Reader, q AssetQuery) ([]byte, error) {
	rows, err := loadAssets(r)
	if err != nil {
		return nil, err
	}
	f, err := fund.LoadFund(r)
	if err != nil {
		return nil, err
	}
	return renderAssets(rows, &f, func(row *assetRow) bool {
		return (q.Tier < 0 || int(row.a.Tier) == q.Tier) && (q.Active == nil || row.a.Active == *q.Active)
	})
}
