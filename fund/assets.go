package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
)

func (m *Machine) loadAsset(token common.Address) (*asset, bool, error) {
	v, ok, err := m.get(assetKey(token))
	if err != nil || !ok {
		return &asset{}, false, err
	}
	x := &asset{}
	if err := x.decode(v); err != nil {
		return nil, false, corrupt("asset", err)
	}
	return x, true, nil
}

func (m *Machine) markAssets() { m.mark(ClassAssets, ClassTiers, ClassOverview) }

// applyAssets applies an asset controller event (EVENTS.md, "Asset controller"). An event for
// an unknown token creates it active, in the tier the event names (L1 if it names none).
func (m *Machine) applyAssets(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	switch s.ID {
	case chainlog.AssetAdded:
		tier, alloc := uint8(a[1].Uint.Uint64()), a[2].Uint
		return m.assetSet(a[0].Address, func(x *asset) { x.tier, x.active, x.alloc = tier, true, alloc })
	case chainlog.AssetRemoved:
		return m.assetSet(a[0].Address, func(x *asset) { x.active = false })
	case chainlog.AssetAllocationUpdated:
		alloc := a[2].Uint
		return m.assetSet(a[0].Address, func(x *asset) { x.alloc = alloc })
	case chainlog.AssetPurchased:
		return m.assetHold(a[0].Address, uint8(a[1].Uint.Uint64()), &a[3].Uint, false)
	case chainlog.AssetRedeemed:
		return m.assetHold(a[0].Address, uint8(a[1].Uint.Uint64()), &a[2].Uint, true)
	case chainlog.WaterfallLiquidation:
		if err := m.assetHold(a[1].Address, uint8(a[0].Uint.Uint64()), &a[2].Uint, true); err != nil {
			return err
		}
		return m.raiseRisk(ev, s, pos, sevHigh)
	case chainlog.LayerConfigUpdated:
		if tier := a[0].Uint.Uint64(); tier < 3 {
			m.setBand(uint8(tier), &band{target: a[1].Uint, min: a[2].Uint, max: a[3].Uint})
		}
	case chainlog.ManagementFeeCollected:
		m.fundAdd(fFeeManagement, &a[0].Uint, false)
	case chainlog.PerformanceFeeCollected:
		m.fundAdd(fFeePerformance, &a[0].Uint, false)
	}
	return nil
}

// journalAssetSet records the prior tier/active/allocation of a token (zero when created).
func (m *Machine) journalAssetSet(token common.Address, created bool, prev *asset) {
	m.j = append(m.j, opAssetSet)
	m.j = append(m.j, token[:]...)
	m.j = append(m.j, boolByte(created), prev.tier, boolByte(prev.active))
	m.j = appendU256(m.j, &prev.alloc)
}

// assetSet changes the "set" fields of an asset (tier, active, allocation), journaled.
func (m *Machine) assetSet(token common.Address, fn func(x *asset)) error {
	x, ok, err := m.loadAsset(token)
	if err != nil {
		return err
	}
	prev := *x
	if !ok {
		x.active = true
	}
	fn(x)
	if !ok || x.tier != prev.tier || x.active != prev.active || !x.alloc.Eq(&prev.alloc) {
		m.journalAssetSet(token, !ok, &prev)
	}
	m.markAssets()
	return m.set(assetKey(token), x.encode())
}

// assetHold adds to (or subtracts from) a holding, creating the asset if unknown; journaled.
func (m *Machine) assetHold(token common.Address, tier uint8, amt *uint256.Int, neg bool) error {
	x, ok, err := m.loadAsset(token)
	if err != nil {
		return err
	}
	if !ok {
		m.journalAssetSet(token, true, x)
		x.tier, x.active = tier, true
	}
	if !amt.IsZero() {
		m.j = append(m.j, opAssetAdd)
		m.j = append(m.j, token[:]...)
		m.j = append(m.j, boolByte(neg))
		m.j = appendU256(m.j, amt)
		addSigned(&x.holding, amt, neg)
	}
	m.markAssets()
	return m.set(assetKey(token), x.encode())
}

func (m *Machine) assetHoldRaw(token common.Address, amt *uint256.Int, neg bool) error {
	x, _, err := m.loadAsset(token)
	if err != nil {
		return err
	}
	addSigned(&x.holding, amt, neg)
	m.markAssets()
	return m.set(assetKey(token), x.encode())
}

func (m *Machine) undoAssetSet(o *jop) error {
	x, ok, err := m.loadAsset(o.addr)
	if err != nil || !ok {
		return err
	}
	m.markAssets()
	if o.created {
		if x.holding.IsZero() {
			return m.del(assetKey(o.addr))
		}
		return nil
	}
	x.tier, x.active, x.alloc = o.tier, o.active, o.amt
	return m.set(assetKey(o.addr), x.encode())
}
