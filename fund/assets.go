package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
)

func (ac *applyContext) loadAsset(token common.Address) (*asset, bool, error) {
	v, ok, err := ac.get(assetKey(token))
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

// assetEvent applies an asset controller event (EVENTS.md, "Asset controller"). An event for
// an unknown token creates it active, in the tier the event names (L1 if it names none).
func (ac *applyContext) assetEvent(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	switch s.ID {
	case chainlog.AssetAdded:
		tier, alloc := uint8(a[1].Uint.Uint64()), a[2].Uint
		return ac.assetSet(a[0].Address, func(x *asset) { x.tier, x.active, x.alloc = tier, true, alloc })
	case chainlog.AssetRemoved:
		return ac.assetSet(a[0].Address, func(x *asset) { x.active = false })
	case chainlog.AssetAllocationUpdated:
		alloc := a[2].Uint
		return ac.assetSet(a[0].Address, func(x *asset) { x.alloc = alloc })
	case chainlog.AssetPurchased:
		return ac.assetHold(a[0].Address, uint8(a[1].Uint.Uint64()), &a[3].Uint, false)
	case chainlog.AssetRedeemed:
		return ac.assetHold(a[0].Address, uint8(a[1].Uint.Uint64()), &a[2].Uint, true)
	case chainlog.WaterfallLiquidation:
		if err := ac.assetHold(a[1].Address, uint8(a[0].Uint.Uint64()), &a[2].Uint, true); err != nil {
			return err
		}
		return ac.raiseChainRisk(ev, s, pos, SeverityHigh)
	case chainlog.LayerConfigUpdated:
		if tier := a[0].Uint.Uint64(); tier < 3 {
			ac.setBand(uint8(tier), &band{target: a[1].Uint, min: a[2].Uint, max: a[3].Uint})
		}
	case chainlog.ManagementFeeCollected:
		ac.fundAdd(fFeeManagement, &a[0].Uint, false)
	case chainlog.PerformanceFeeCollected:
		ac.fundAdd(fFeePerformance, &a[0].Uint, false)
	}
	return nil
}

// journalAssetSet records the prior tier/active/allocation of a token (zero when created).
func (ac *applyContext) journalAssetSet(token common.Address, created bool, prev *asset) {
	ac.journal = append(ac.journal, opAssetSet)
	ac.journal = append(ac.journal, token[:]...)
	ac.journal = append(ac.journal, boolByte(created), prev.tier, boolByte(prev.active))
	ac.journal = appendU256(ac.journal, &prev.alloc)
}

// assetSet changes the "set" fields of an asset (tier, active, allocation), journaled.
func (ac *applyContext) assetSet(token common.Address, fn func(x *asset)) error {
	x, ok, err := ac.loadAsset(token)
	if err != nil {
		return err
	}
	prev := *x
	if !ok {
		x.active = true
		ac.noteAsset(token)
	}
	fn(x)
	if !ok || x.tier != prev.tier || x.active != prev.active || !x.alloc.Eq(&prev.alloc) {
		ac.journalAssetSet(token, !ok, &prev)
	}
	ac.markAssets()
	return ac.set(assetKey(token), x.encode())
}

// assetHold adds to (or subtracts from) a holding, creating the asset if unknown; journaled.
func (ac *applyContext) assetHold(token common.Address, tier uint8, amt *uint256.Int, neg bool) error {
	x, ok, err := ac.loadAsset(token)
	if err != nil {
		return err
	}
	if !ok {
		ac.journalAssetSet(token, true, x)
		x.tier, x.active = tier, true
		ac.noteAsset(token)
	}
	if !amt.IsZero() {
		ac.journal = append(ac.journal, opAssetAdd)
		ac.journal = append(ac.journal, token[:]...)
		ac.journal = append(ac.journal, boolByte(neg))
		ac.journal = appendU256(ac.journal, amt)
		addSigned(&x.holding, amt, neg)
	}
	ac.markAssets()
	return ac.set(assetKey(token), x.encode())
}

func (ac *applyContext) assetHoldRaw(token common.Address, amt *uint256.Int, neg bool) error {
	x, _, err := ac.loadAsset(token)
	if err != nil {
		return err
	}
	addSigned(&x.holding, amt, neg)
	ac.markAssets()
	return ac.set(assetKey(token), x.encode())
}

func (ac *applyContext) undoAssetSet(o *journalOp) error {
	x, ok, err := ac.loadAsset(o.addr)
	if err != nil || !ok {
		return err
	}
	ac.markAssets()
	if o.created {
		if x.holding.IsZero() {
			return ac.del(assetKey(o.addr))
		}
		return nil
	}
	x.tier, x.active, x.alloc = o.tier, o.active, o.amt
	return ac.set(assetKey(o.addr), x.encode())
}
