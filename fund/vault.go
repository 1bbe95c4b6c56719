package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
)

// applyVault applies the effects of a vault event (EVENTS.md, "Vault").
func (m *Machine) applyVault(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	switch s.ID {
	case chainlog.Transfer:
		from, to, v := a[0].Address, a[1].Address, &a[2].Uint
		if from == (common.Address{}) {
			m.fundAdd(fTotalSupply, v, false)
		} else if err := m.acctChange(from, aShares, v, true); err != nil {
			return err
		}
		if to == (common.Address{}) {
			m.fundAdd(fTotalSupply, v, true)
			return nil
		}
		return m.acctChange(to, aShares, v, false)
	case chainlog.Deposit:
		assets := &a[2].Uint
		if err := m.acctChange(a[1].Address, aDeposited, assets, false); err != nil {
			return err
		}
		m.fundAdd(fTotalAssets, assets, false)
		return m.flowAdd(m.t, flowSubs, assets, false)
	case chainlog.Withdraw:
		assets := &a[3].Uint
		if err := m.acctChange(a[2].Address, aWithdrawn, assets, false); err != nil {
			return err
		}
		m.fundAdd(fTotalAssets, assets, true)
		return m.flowAdd(m.t, flowReds, assets, false)
	case chainlog.SharesLocked, chainlog.SharesUnlocked, chainlog.SharesBurned:
		neg := s.ID != chainlog.SharesLocked
		if err := m.acctChange(a[0].Address, aLocked, &a[1].Uint, neg); err != nil {
			return err
		}
		m.fundAdd(fTotalLocked, &a[1].Uint, neg)
	case chainlog.NavUpdated:
		m.fundSetU256(fSharePrice, &a[1].Uint)
		p := navPoint{sharePrice: a[1].Uint, totalAssets: m.fund.u[fTotalAssets], totalSupply: m.fund.u[fTotalSupply]}
		return m.setKey(navKey(eventTime(&a[2].Uint, m.t), ev.BlockNumber, ev.LogIndex), p.encode())
	case chainlog.EmergencyModeChanged:
		m.setEmergency(a[0].Bool)
		return m.raiseRisk(ev, s, pos, sevCritical)
	case chainlog.RedemptionFeeAdded, chainlog.RedemptionFeeReduced:
		m.fundAdd(fFeeRedemption, &a[0].Uint, s.ID == chainlog.RedemptionFeeReduced)
	}
	return nil
}
