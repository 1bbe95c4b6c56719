package readmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// Materialized view names (ReadView).
const (
	ViewOverview = "overview"
	ViewNav      = "nav"
	ViewTiers    = "tiers"
	ViewAssets   = "assets"
	ViewFlows    = "flows"
	ViewPrices   = "prices"
)

// viewDefs lists the materialized views, the class each belongs to, and the classes whose
// change makes it stale.
var viewDefs = []fund.ViewDef{
	{Name: ViewOverview, Class: fund.ClassOverview, Deps: []fund.Class{fund.ClassOverview, fund.ClassAssets, fund.ClassPrices, fund.ClassTiers}},
	{Name: ViewNav, Class: fund.ClassNav, Deps: []fund.Class{fund.ClassNav}},
	{Name: ViewTiers, Class: fund.ClassTiers, Deps: []fund.Class{fund.ClassTiers, fund.ClassAssets, fund.ClassPrices}},
	{Name: ViewAssets, Class: fund.ClassAssets, Deps: []fund.Class{fund.ClassAssets, fund.ClassPrices, fund.ClassTiers}}, // tiers: cash (allocations in L1)
	{Name: ViewFlows, Class: fund.ClassFlows, Deps: []fund.Class{fund.ClassFlows}},
	{Name: ViewPrices, Class: fund.ClassPrices, Deps: []fund.Class{fund.ClassPrices}},
	{Name: ViewRisk, Class: fund.ClassRiskStatus, Deps: []fund.Class{fund.ClassRiskStatus, fund.ClassTiers}}, // tiers: the bands, before the first evaluation
}

// ViewNames returns the names of the materialized views.
func ViewNames() []string {
	out := make([]string, len(viewDefs))
	for i, v := range viewDefs {
		out[i] = v.Name
	}
	return out
}

// assetRows memoizes loadAssets: the overview, tiers and assets views all read every asset
// with its price. The Machine keeps one across batches and drops it when an asset or a
// price changed (every write of an X or P key marks ClassAssets or ClassPrices).
type assetRows struct {
	rows   []assetRow
	loaded bool
}

func (a *assetRows) get(r kv.Reader) ([]assetRow, error) {
	if !a.loaded {
		rows, err := loadAssets(r)
		if err != nil {
			return nil, err
		}
		a.rows, a.loaded = rows, true
	}
	return a.rows, nil
}

// Views is the fund.ViewRenderer of the fund's materialized views.
type Views struct {
	info fund.Info
	// What RenderBatch read, for the rest of the batch: the fund singleton and, across
	// batches until an asset or a price changes, the assets with their prices (the overview,
	// tiers and assets views all read them).
	fund       fund.StoredFund
	fundLoaded bool
	assets     assetRows
	// prices keeps the prices view's items across batches: each batch reads again only the
	// assets whose current price it wrote (Forget's prices), not every current price.
	prices priceRows
}

// NewViews returns the renderer of the materialized views for a fund.Machine
// (fund.NewMachine) with Info info.
func NewViews(info fund.Info) *Views { return &Views{info: info} }

// ViewDefs implements fund.ViewRenderer.
func (v *Views) ViewDefs() []fund.ViewDef { return viewDefs }

// Forget implements fund.ViewRenderer: the singleton is read again in every batch, the assets
// when an asset or a price changed (every write of an X or P key marks ClassAssets or
// ClassPrices), the current prices of the assets in prices (all of them after all).
func (v *Views) Forget(changed *[fund.NumClasses]bool, all bool, prices []common.Address) {
	v.fundLoaded = false
	if all || changed[fund.ClassAssets] || changed[fund.ClassPrices] {
		v.assets = assetRows{}
	}
	if all {
		v.prices = priceRows{}
	} else {
		v.prices.forget(prices)
	}
}

// RenderBatch implements fund.ViewRenderer.
func (v *Views) RenderBatch(r kv.Reader, name string) ([]byte, error) {
	if !v.fundLoaded {
		f, err := fund.LoadFund(r)
		if err != nil {
			return nil, err
		}
		v.fund, v.fundLoaded = f, true
	}
	return renderView(r, &v.fund, v.info, name, &v.assets, &v.prices)
}

// RenderView implements fund.ViewRenderer; it keeps nothing, so readers may call it
// concurrently.
func (v *Views) RenderView(r kv.Reader, name string) ([]byte, error) {
	f, err := fund.LoadFund(r)
	if err != nil {
		return nil, err
	}
	return renderView(r, &f, v.info, name, &assetRows{}, nil)
}

// renderView renders view name; prices, when not nil, keeps the prices view's items across
// calls (Views.RenderBatch), else the prices are scanned.
func renderView(r kv.Reader, f *fund.StoredFund, info fund.Info, name string, assets *assetRows, prices *priceRows) ([]byte, error) {
	switch name {
	case ViewOverview:
		rows, err := assets.get(r)
		if err != nil {
			return nil, err
		}
		return renderOverview(rows, f, info)
	case ViewNav:
		return navHistory(r, NavQuery{Interval: IntervalDay, Limit: MaxLimit})
	case ViewTiers:
		rows, err := assets.get(r)
		if err != nil {
			return nil, err
		}
		return renderTiers(rows, f)
	case ViewAssets:
		rows, err := assets.get(r)
		if err != nil {
			return nil, err
		}
		return renderAssets(rows, f, nil)
	case ViewFlows:
		return renderFlows(r, f)
	case ViewPrices:
		if prices != nil {
			return prices.render(r)
		}
		return renderPrices(r)
	case ViewRisk:
		return renderRiskStatus(r)
	}
	return nil, fund.ErrNotFound
}

// scan wraps kv.Reader.Scan so that the callback can fail.
func scan(r kv.Reader, lo, hi []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	var ferr error
	err := r.Scan(lo, hi, reverse, func(k, v []byte) bool {
		more, err := fn(k, v)
		if err != nil {
			ferr = err
			return false
		}
		return more
	})
	if err != nil {
		return fmt.Errorf("readmodel: scan: %w", err)
	}
	return ferr
}

func getOpt(r kv.Reader, k []byte) ([]byte, bool, error) {
	v, err := r.Get(k)
	if err == kv.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("readmodel: get: %w", err)
	}
	return v, true, nil
}

// tierName is the API name of a tier: 0 is "L1".
func tierName(t uint8) string { return "L" + strconv.Itoa(int(t)+1) }

type assetRow struct {
	token common.Address
	a     fund.StoredAsset
	price *fund.StoredPrice
	meta  *fund.StoredAssetMeta // nil: no metadata (decimals 18)
	value uint256.Int           // holding × price / 10^decimals, signed (wrap-around)
}

// loadAssets reads every asset (ascending by address) with its current price and value.
func loadAssets(r kv.Reader) ([]assetRow, error) {
	var rows []assetRow
	err := scan(r, []byte{fund.PrefixAsset}, []byte{fund.PrefixAsset + 1}, false, func(k, v []byte) (bool, error) {
		row := assetRow{token: [20]byte(k[1:21])}
		var err error
		if row.a, err = fund.DecodeAsset(v); err != nil {
			return false, err
		}
		rows = append(rows, row)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for i := range rows {
		row := &rows[i]
		v, ok, err := getOpt(r, key(fund.PrefixPrice, row.token[:]))
		if err != nil {
			return nil, err
		}
		if ok {
			p, err := fund.DecodePrice(v)
			if err != nil {
				return nil, err
			}
			row.price = &p
		}
		if err := loadRowMeta(r, row); err != nil {
			return nil, err
		}
		if row.price != nil {
			row.value = fund.AssetValue(&row.a.Holding, &row.price.Price, row.decimals())
		}
	}
	return rows, nil
}

func signedBig(u *uint256.Int) *big.Int {
	if u.Sign() < 0 {
		return new(big.Int).Neg(new(uint256.Int).Neg(u).ToBig())
	}
	return u.ToBig()
}

type tierBrief struct {
	Value       string      `json:"value"`
	Ratio       json.Number `json:"ratio"`
	TargetRatio json.Number `json:"targetRatio"`
	MinRatio    json.Number `json:"minRatio"`
	MaxRatio    json.Number `json:"maxRatio"`
}

type feesJSON struct {
	Management  string `json:"management"`
	Performance string `json:"performance"`
	Redemption  string `json:"redemption"`
}

type overviewJSON struct {
	FundID                   string               `json:"fundId"`
	Name                     string               `json:"name"`
	Symbol                   string               `json:"symbol"`
	ChainID                  uint64               `json:"chainId"`
	SharePrice               string               `json:"sharePrice"`
	Nav                      string               `json:"nav"`
	Cash                     *string              `json:"cash"`
	GrossAssets              *string              `json:"grossAssets"`
	TotalAssets              string               `json:"totalAssets"`
	ComputedSharePrice       *string              `json:"computedSharePrice"`
	NavDriftBps              *json.Number         `json:"navDriftBps"`
	TotalSupply              string               `json:"totalSupply"`
	TotalLockedShares        string               `json:"totalLockedShares"`
	TotalRedemptionLiability string               `json:"totalRedemptionLiability"`
	EmergencyMode            bool                 `json:"emergencyMode"`
	HolderCount              int64                `json:"holderCount"`
	Tiers                    map[string]tierBrief `json:"tiers"`
	Fees                     feesJSON             `json:"fees"`
	LastBlock                uint64               `json:"lastBlock"`
	UpdatedAt                *string              `json:"updatedAt"`
}

func num(u *uint256.Int) json.Number { return json.Number(u.Dec()) }

func renderOverview(rows []assetRow, f *fund.StoredFund, info fund.Info) ([]byte, error) {
	bk := booksOfRows(rows, f)
	o := overviewJSON{
		FundID: info.FundID, Name: info.Name, Symbol: info.Symbol, ChainID: info.ChainID,
		SharePrice:               f.SharePrice.Dec(),
		Nav:                      navString(&f.SharePrice),
		TotalAssets:              decSigned(&bk.TotalAssets),
		TotalSupply:              decSigned(&f.TotalSupply),
		TotalLockedShares:        decSigned(&f.TotalLockedShares),
		TotalRedemptionLiability: decSigned(&f.TotalRedemptionLiability),
		EmergencyMode:            f.EmergencyMode,
		HolderCount:              f.HolderCount,
		Tiers:                    map[string]tierBrief{},
		Fees: feesJSON{
			Management:  decSigned(&f.FeeManagement),
			Performance: decSigned(&f.FeePerformance),
			Redemption:  decSigned(&f.FeeRedemption),
		},
		LastBlock: f.LastBlock,
	}
	for t := uint8(0); t < 3; t++ {
		b := &f.Tiers[t]
		o.Tiers[tierName(t)] = tierBrief{
			Value: decSigned(&bk.Tiers[t].Value), Ratio: json.Number(decSigned(&bk.Tiers[t].Ratio)),
			TargetRatio: num(&b.Target), MinRatio: num(&b.Min), MaxRatio: num(&b.Max),
		}
	}
	o.booksFields(bk)
	if f.UpdatedAt != 0 {
		s := fmtUnixNano(f.UpdatedAt)
		o.UpdatedAt = &s
	}
	return json.Marshal(&o)
}

type tierJSON struct {
	Tier        string      `json:"tier"`
	Value       string      `json:"value"`
	Ratio       json.Number `json:"ratio"`
	TargetRatio json.Number `json:"targetRatio"`
	MinRatio    json.Number `json:"minRatio"`
	MaxRatio    json.Number `json:"maxRatio"`
	Deviation   json.Number `json:"deviation"`
	Assets      []string    `json:"assets"`
}

func renderTiers(rows []assetRow, f *fund.StoredFund) ([]byte, error) {
	bk := booksOfRows(rows, f)
	items := make([]tierJSON, 3)
	for t := uint8(0); t < 3; t++ {
		b := &f.Tiers[t]
		dev := new(big.Int).Sub(signedBig(&bk.Tiers[t].Ratio), b.Target.ToBig())
		assets := tierAssets(rows, t)
		items[t] = tierJSON{
			Tier: tierName(t), Value: decSigned(&bk.Tiers[t].Value), Ratio: json.Number(decSigned(&bk.Tiers[t].Ratio)),
			TargetRatio: num(&b.Target), MinRatio: num(&b.Min), MaxRatio: num(&b.Max),
			Deviation: json.Number(dev.String()), Assets: assets,
		}
	}
	return json.Marshal(map[string]any{"items": items})
}

type assetJSON struct {
	Token            string      `json:"token"`
	Tier             string      `json:"tier"`
	Active           bool        `json:"active"`
	TargetAllocation json.Number `json:"targetAllocation"`
	Holding          string      `json:"holding"`
	Price            *string     `json:"price"`
	Value            string      `json:"value"`
	// Allocation is the asset's share of its tier's value (cash in L1), in bps (null: inactive,
	// or the tier's value is not positive); targetAllocation is its target.
	Allocation *int64 `json:"allocation"`
	assetMetaJSON
}

// renderAssets renders the assets for which keep is true (nil: all); the allocations are
// shares of the tiers as the books value them, from every row.
func renderAssets(rows []assetRow, f *fund.StoredFund, keep func(*assetRow) bool) ([]byte, error) {
	bk := booksOfRows(rows, f)
	items := make([]assetJSON, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		if keep != nil && !keep(row) {
			continue
		}
		item := assetJSON{
			Token: chainlog.HexAddress(row.token), Tier: tierName(row.a.Tier), Active: row.a.Active,
			TargetAllocation: num(&row.a.Allocation), Holding: decSigned(&row.a.Holding), Value: decSigned(&row.value),
		}
		if row.price != nil {
			p := row.price.Price.Dec()
			item.Price = &p
		}
		if a, ok := bk.AllocationBps(i); ok {
			item.Allocation = &a
		}
		item.assetMetaJSON = row.metaJSON()
		items = append(items, item)
	}
	return json.Marshal(map[string]any{"items": items})
}

type flowsJSON struct {
	Subscriptions24h   string `json:"subscriptions24h"`
	Redemptions24h     string `json:"redemptions24h"`
	Net24h             string `json:"net24h"`
	Subscriptions7d    string `json:"subscriptions7d"`
	Redemptions7d      string `json:"redemptions7d"`
	Net7d              string `json:"net7d"`
	PendingRedemptions string `json:"pendingRedemptions"`
}

// renderFlows sums the hourly buckets of the 24 (168) hours ending with the hour that holds
// the fund's latest block time.
func renderFlows(r kv.Reader, f *fund.StoredFund) ([]byte, error) {
	var d1, d7 [2]uint256.Int // subscriptions, redemptions
	if latest := f.LatestBlockTime; latest > 0 {
		end := latest - latest%3600
		start24, start7 := end-23*3600, max(end-167*3600, 0)
		err := scan(r, flowKey(start7), flowKey(end+1), false, func(k, v []byte) (bool, error) {
			b, err := fund.DecodeFlowBucket(v)
			if err != nil {
				return false, err
			}
			for i, amount := range [2]*uint256.Int{&b.Subscriptions, &b.Redemptions} {
				d7[i].Add(&d7[i], amount)
				if int64(be64get(k[1:])) >= start24 {
					d1[i].Add(&d1[i], amount)
				}
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	var n1, n7 uint256.Int
	n1.Sub(&d1[0], &d1[1])
	n7.Sub(&d7[0], &d7[1])
	return json.Marshal(&flowsJSON{
		Subscriptions24h: decSigned(&d1[0]), Redemptions24h: decSigned(&d1[1]), Net24h: decSigned(&n1),
		Subscriptions7d: decSigned(&d7[0]), Redemptions7d: decSigned(&d7[1]), Net7d: decSigned(&n7),
		PendingRedemptions: decSigned(&f.TotalRedemptionLiability),
	})
}

type priceJSON struct {
	Asset    string          `json:"asset,omitempty"`
	Price    string          `json:"price"`
	Source   string          `json:"source"`
	SourceID *uint8          `json:"sourceId,omitempty"`
	Time     string          `json:"time"`
	Items    json.RawMessage `json:"items,omitempty"`
}

// priceJSONOf renders a current price or a price point; asset "" leaves it out.
func priceJSONOf(p *fund.StoredPrice, asset string) priceJSON {
	j := priceJSON{Asset: asset, Price: p.Price.Dec(), Source: p.Source, Time: fmtUnix(p.Time)}
	if p.Source == "oracle" {
		id := p.SourceID
		j.SourceID = &id
	}
	return j
}

// renderPrices renders the prices view from a scan of every current price.
func renderPrices(r kv.Reader) ([]byte, error) {
	items := []priceJSON{}
	err := scan(r, []byte{fund.PrefixPrice}, []byte{fund.PrefixPrice + 1}, false, func(k, v []byte) (bool, error) {
		p, err := fund.DecodePrice(v)
		if err != nil {
			return false, err
		}
		items = append(items, priceJSONOf(&p, chainlog.HexAddress([20]byte(k[1:21]))))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"items": items})
}

// priceRows is the prices view kept across batches (Views.prices): each current price's item
// JSON, ascending by asset as a scan of the P keys returns them. The view is the same bytes as
// renderPrices: json.Marshal renders an element of a slice exactly as it renders the value
// alone. Before a full render (loaded false) nothing is kept; after one, stale lists the
// assets whose P key was written since (Forget), read again at the next render.
type priceRows struct {
	loaded bool
	assets []common.Address // ascending
	items  [][]byte         // items[i]: assets[i]'s priceJSON
	stale  []common.Address
}

// forget notes the assets whose current price changed; render reads them again.
func (p *priceRows) forget(assets []common.Address) {
	if p.loaded {
		p.stale = append(p.stale, assets...)
	}
}

// render returns the prices view: a scan of the P keys the first time, then, for each asset
// noted by forget, one read of its current price.
func (p *priceRows) render(r kv.Reader) ([]byte, error) {
	if !p.loaded {
		p.assets, p.items = p.assets[:0], p.items[:0]
		err := scan(r, []byte{fund.PrefixPrice}, []byte{fund.PrefixPrice + 1}, false, func(k, v []byte) (bool, error) {
			item, err := priceItem(k[1:21], v)
			if err != nil {
				return false, err
			}
			p.assets, p.items = append(p.assets, common.Address(k[1:21])), append(p.items, item)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		p.loaded = true
	}
	for _, a := range p.stale {
		v, ok, err := getOpt(r, key(fund.PrefixPrice, a[:]))
		if err != nil {
			return nil, err
		}
		i, found := slices.BinarySearchFunc(p.assets, a, func(x, y common.Address) int { return bytes.Compare(x[:], y[:]) })
		switch {
		case ok:
			item, err := priceItem(a[:], v)
			if err != nil {
				return nil, err
			}
			if found {
				p.items[i] = item
			} else {
				p.assets, p.items = slices.Insert(p.assets, i, a), slices.Insert(p.items, i, item)
			}
		case found:
			p.assets, p.items = slices.Delete(p.assets, i, i+1), slices.Delete(p.items, i, i+1)
		}
	}
	p.stale = p.stale[:0]
	n := len(`{"items":[]}`) + len(p.items)
	for _, it := range p.items {
		n += len(it)
	}
	out := make([]byte, 0, n)
	out = append(out, `{"items":[`...)
	for i, it := range p.items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, it...)
	}
	return append(out, `]}`...), nil
}

// priceItem renders the current price v of asset (20 bytes) as an item of the prices view.
func priceItem(asset, v []byte) ([]byte, error) {
	pr, err := fund.DecodePrice(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(priceJSONOf(&pr, chainlog.HexAddress([20]byte(asset))))
}

// ReadView returns a materialized view's JSON as the last batch rendered it; fund.ErrNotFound
// for an unknown name or before the first batch (Views.RenderView renders one on demand).
func ReadView(r kv.Reader, name string) ([]byte, error) {
	known := false
	for _, v := range viewDefs {
		known = known || v.Name == name
	}
	if !known {
		return nil, fund.ErrNotFound
	}
	v, ok, err := getOpt(r, fund.ViewKey(name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fund.ErrNotFound
	}
	return bytes.Clone(v), nil
}
