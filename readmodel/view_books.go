package readmodel

import (
	"encoding/json"
	"strconv"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// The books in the views (DESIGN.md "The books"): the overview's figures and the tier values
// come from Books, computed from the same asset rows the views read.

// booksOfRows computes the Books of the singleton f and the asset rows (values already
// computed with each asset's decimals).
func booksOfRows(rows []assetRow, f *fund.StoredFund) *fund.Books {
	assets := make([]fund.AssetBooks, len(rows))
	for i := range rows {
		row := &rows[i]
		a := &assets[i]
		*a = fund.AssetBooks{Token: row.token, Tier: row.a.Tier, Active: row.a.Active, Allocation: row.a.Allocation,
			Holding: row.a.Holding, Decimals: row.decimals(), Value: row.value}
		if row.price != nil {
			a.HasPrice, a.Price, a.PriceTime = true, row.price.Price, row.price.Time
		}
	}
	return fund.BooksOf(f, assets)
}

// tierAssets lists the addresses of tier t's active assets, ascending.
func tierAssets(rows []assetRow, t uint8) []string {
	out := []string{}
	for i := range rows {
		if rows[i].a.Active && rows[i].a.Tier == t {
			out = append(out, chainlog.HexAddress(rows[i].token))
		}
	}
	return out
}

// loadRowMeta reads an asset's metadata (key D), if any.
func loadRowMeta(r kv.Reader, row *assetRow) error {
	v, ok, err := getOpt(r, fund.AssetMetaKey(row.token))
	if err != nil || !ok {
		return err
	}
	m, err := fund.DecodeAssetMetaRecord(v)
	if err != nil {
		return err
	}
	row.meta = &m
	return nil
}

func (row *assetRow) decimals() uint8 {
	if row.meta == nil {
		return 18
	}
	return row.meta.Decimals
}

// assetMetaJSON is the metadata part of an item of GET /v1/fund/assets: decimals (18 unless
// known otherwise), symbol and name (null when unknown).
type assetMetaJSON struct {
	Decimals uint8   `json:"decimals"`
	Symbol   *string `json:"symbol"`
	Name     *string `json:"name"`
}

func (row *assetRow) metaJSON() assetMetaJSON {
	j := assetMetaJSON{Decimals: row.decimals()}
	if m := row.meta; m != nil {
		if m.Symbol != "" {
			s := m.Symbol
			j.Symbol = &s
		}
		if m.Name != "" {
			n := m.Name
			j.Name = &n
		}
	}
	return j
}

// booksFields sets the overview's books fields: null until the books started (a v0.1.0
// state), computedSharePrice and navDriftBps also when they cannot be computed.
func (o *overviewJSON) booksFields(b *fund.Books) {
	if !b.Started {
		return
	}
	cash, gross := decSigned(&b.Cash), decSigned(&b.GrossAssets)
	o.Cash, o.GrossAssets = &cash, &gross
	if b.HasComputedSharePrice {
		p := decSigned(&b.ComputedSharePrice)
		o.ComputedSharePrice = &p
	}
	if d, ok := b.DriftBps(); ok {
		n := json.Number(strconv.FormatInt(d, 10))
		o.NavDriftBps = &n
	}
}
