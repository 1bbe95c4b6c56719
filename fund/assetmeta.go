package fund

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"paimon/kv"
)

// CmdAssetMeta records the metadata of assets (decimals, symbol, name): the leader proposes it
// once it knows them, from the configuration ([[fund.assets]]) or from the token contract
// (eth_call decimals()). Decimals change what the books value an asset at, which is
// replicated state: they must come from the log, never from a node's own configuration.
// The type follows CmdRiskResolve (13) in the append-only command list.
const CmdAssetMeta byte = 14

// pAssetMeta is the key prefix of asset metadata: D token20 → assetMeta.
const pAssetMeta = 'D'

func assetMetaKey(token common.Address) []byte { return key(pAssetMeta, token[:]) }

// Limits of CmdAssetMeta.
const (
	MaxAssetMetaPerCommand = 1000
	MaxAssetMetaText       = 64 // bytes of a symbol or a name
)

// AssetMeta is one asset's metadata.
type AssetMeta struct {
	Token    common.Address
	Decimals uint8 // 0..MaxDecimals
	Symbol   string
	Name     string
}

// AssetMetaCommand sets the metadata of the listed assets (a token listed twice: the last
// wins). Time is the proposer's clock (unix ns).
type AssetMetaCommand struct {
	Time   int64
	Assets []AssetMeta
}

// AssetMetaResult is the result of a CmdAssetMeta: how many assets' metadata changed.
type AssetMetaResult struct {
	Changed int
}

// EncodeAssetMeta encodes c as a CmdAssetMeta command.
func EncodeAssetMeta(c *AssetMetaCommand) []byte {
	b := make([]byte, 0, 16+len(c.Assets)*40)
	b = append(b, CmdAssetMeta, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = binary.AppendUvarint(b, uint64(len(c.Assets)))
	for i := range c.Assets {
		a := &c.Assets[i]
		b = append(b, a.Token[:]...)
		b = append(b, a.Decimals)
		b = appendString(b, a.Symbol)
		b = appendString(b, a.Name)
	}
	return b
}

// DecodeAssetMeta decodes a CmdAssetMeta command strictly; errors wrap ErrBadCommand.
func DecodeAssetMeta(cmd []byte) (*AssetMetaCommand, error) {
	d, err := newDec(cmd, CmdAssetMeta)
	if err != nil {
		return nil, err
	}
	c := &AssetMetaCommand{Time: d.varint()}
	n := d.count(20 + 1 + 2)
	c.Assets = make([]AssetMeta, n)
	for i := 0; i < n && d.err == nil; i++ {
		a := &c.Assets[i]
		a.Token = common.Address(d.fixed(20))
		a.Decimals = d.u8()
		a.Symbol, a.Name = d.str(), d.str()
	}
	return c, d.finish()
}

// assetMeta is the stored metadata of an asset (key D).
type assetMeta struct {
	decimals     uint8
	symbol, name string
}

func (m *assetMeta) encode() []byte {
	b := make([]byte, 0, 4+len(m.symbol)+len(m.name))
	b = append(b, recVersion, m.decimals)
	b = appendString(b, m.symbol)
	return appendString(b, m.name)
}

func (m *assetMeta) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	m.decimals = d.u8()
	m.symbol, m.name = d.str(), d.str()
	if m.decimals > MaxDecimals {
		d.fail("decimals out of range")
	}
	return d.finish()
}

// metaDecimals reads the decimals of an asset metadata record without decoding its texts
// (the apply path reads them per asset and batch).
func metaDecimals(v []byte) (uint8, error) {
	d := &dec{b: v}
	d.recordVersion()
	dd := d.u8()
	if d.err == nil && dd > MaxDecimals {
		d.fail("decimals out of range")
	}
	return dd, d.err
}

// applyAssetMeta stores the metadata that differs from what the state holds. Like an
// operator price it is not an event and is not revertible.
func (ac *applyContext) applyAssetMeta(c *AssetMetaCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if len(c.Assets) > MaxAssetMetaPerCommand {
		return invalidParam("assets", "assets must have at most %d items", MaxAssetMetaPerCommand), nil
	}
	for i := range c.Assets {
		a := &c.Assets[i]
		switch {
		case a.Token == (common.Address{}):
			return invalidParam(fmt.Sprintf("assets[%d].address", i), "assets[%d].address must not be the zero address", i), nil
		case a.Decimals > MaxDecimals:
			return invalidParam(fmt.Sprintf("assets[%d].decimals", i), "assets[%d].decimals must be at most %d", i, MaxDecimals), nil
		case len(a.Symbol) > MaxAssetMetaText || len(a.Name) > MaxAssetMetaText:
			return invalidParam(fmt.Sprintf("assets[%d]", i), "assets[%d]: symbol and name must be at most %d bytes", i, MaxAssetMetaText), nil
		}
	}
	ac.journal = ac.journal[:0]
	ac.overlay.skipUnchanged = true
	res := &AssetMetaResult{}
	// Sorted and deduplicated (the last of a token wins), so that the writes do not depend on
	// how the proposer listed them.
	items := slices.Clone(c.Assets)
	slices.SortStableFunc(items, func(a, b AssetMeta) int { return compareAddr(a.Token, b.Token) })
	for i := range items {
		if i+1 < len(items) && items[i+1].Token == items[i].Token {
			continue
		}
		a := &items[i]
		enc := (&assetMeta{decimals: a.Decimals, symbol: a.Symbol, name: a.Name}).encode()
		k := assetMetaKey(a.Token)
		prev, ok, err := ac.get(k)
		if err != nil {
			return nil, err
		}
		if ok && string(prev) == string(enc) {
			continue
		}
		if err := ac.set(k, enc); err != nil {
			return nil, err
		}
		res.Changed++
		ac.markAssets()
	}
	return res, nil
}

func compareAddr(a, b common.Address) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// AssetMetadata returns the metadata the state holds for every asset that has some, in
// ascending token order (the leader compares it with what it knows before proposing).
func AssetMetadata(r kv.Reader) ([]AssetMeta, error) {
	var out []AssetMeta
	var derr error
	err := r.Scan([]byte{pAssetMeta}, []byte{pAssetMeta + 1}, false, func(k, v []byte) bool {
		if len(k) != 21 {
			return true
		}
		var m assetMeta
		if err := m.decode(v); err != nil {
			derr = corrupt("asset metadata", err)
			return false
		}
		out = append(out, AssetMeta{Token: common.Address(k[1:]), Decimals: m.decimals, Symbol: m.symbol, Name: m.name})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("fund: scan: %w", err)
	}
	return out, derr
}
