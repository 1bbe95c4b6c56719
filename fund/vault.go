package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
)

// vaultEvent applies the effects of a vault event (EVENTS.md, "Vault").
func (ac *applyContext) vaultEvent(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	switch s.ID {
	case chainlog.Transfer:
		from, to, v := a[0].Address, a[1].Address, &a[2].Uint
		if from == (common.Address{}) {
			ac.fundAdd(fTotalSupply, v, false)
		} else if err := ac.acctChange(from, aShares, v, true); err != nil {
			return err
		}
		if to == (common.Address{}) {
			ac.fundAdd(fTotalSupply, v, true)
			return nil
		}
		return ac.acctChange(to, aShares, v, false)
	case chainlog.Deposit:
		assets := &a[2].Uint
		if err := ac.acctChange(a[1].Address, aDeposited, assets, false); err != nil {
			return err
		}
		ac.fundAdd(fTotalAssets, assets, false)
		return ac.flowAdd(ac.blockTime, flowSubs, assets, false)
	case chainlog.Withdraw:
		assets := &a[3].Uint
		if err := ac.acctChange(a[2].Address, aWithdrawn, assets, false); err != nil {
			return err
		}
		ac.fundAdd(fTotalAssets, assets, true)
		return ac.flowAdd(ac.blockTime, flowReds, assets, false)
	case chainlog.SharesLocked, chainlog.SharesUnlocked, chainlog.SharesBurned:
		neg := s.ID != chainlog.SharesLocked
		if err := ac.acctChange(a[0].Address, aLocked, &a[1].Uint, neg); err != nil {
			return err
		}
		ac.fundAdd(fTotalLocked, &a[1].Uint, neg)
	case chainlog.NavUpdated:
		ac.fundSetU256(fSharePrice, &a[1].Uint)
		p := navPoint{sharePrice: a[1].Uint, totalAssets: ac.fund.amounts[fTotalAssets], totalSupply: ac.fund.amounts[fTotalSupply]}
		if ac.fund.books {
			// The books' totalAssets (the vault's formula), not v0.1.0's sum of flows.
			if err := ac.books(&ac.booksBuf); err != nil {
				return err
			}
			p.totalAssets = ac.booksBuf.TotalAssets
		}
		return ac.setKey(navKey(eventTime(&a[2].Uint, ac.blockTime), ev.BlockNumber, ev.LogIndex), p.encode())
	case chainlog.EmergencyModeChanged:
		ac.setEmergency(a[0].Bool)
		return ac.raiseChainRisk(ev, s, pos, SeverityCritical)
	case chainlog.RedemptionFeeAdded, chainlog.RedemptionFeeReduced:
		ac.fundAdd(fFeeRedemption, &a[0].Uint, s.ID == chainlog.RedemptionFeeReduced)
	}
	return nil
}
