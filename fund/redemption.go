package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
)

func redemptionKey(id *[32]byte) []byte { return key(pRedemption, id[:]) }

func (ac *applyContext) loadRedemption(id *[32]byte) (*redemption, error) {
	v, ok, err := ac.get(redemptionKey(id))
	if err != nil || !ok {
		return nil, err
	}
	r := &redemption{}
	if err := r.decode(v); err != nil {
		return nil, corrupt("redemption", err)
	}
	return r, nil
}

// redemptionEvent applies a redemption manager event (EVENTS.md, "Redemption manager"). An
// unknown requestId creates the redemption from what the event carries.
func (ac *applyContext) redemptionEvent(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	switch s.ID {
	case chainlog.LowLiquidityAlert:
		return ac.raiseChainRisk(ev, s, pos, SeverityWarning)
	case chainlog.CriticalLiquidityAlert:
		return ac.raiseChainRisk(ev, s, pos, SeverityCritical)
	}
	id := a[0].Uint.Bytes32()
	old, err := ac.loadRedemption(&id)
	if err != nil {
		return err
	}
	var r *redemption
	if old != nil {
		r = old.clone()
	} else {
		r = &redemption{id: a[0].Uint, tx: ev.TxHash}
	}
	switch s.ID {
	case chainlog.RedemptionRequested:
		r.owner, r.receiver = a[1].Address, a[2].Address
		r.shares, r.locked, r.estFee = a[3].Uint, a[4].Uint, a[5].Uint
		r.channel, r.requiresApproval = uint8(a[6].Uint.Uint64()), a[7].Bool
		r.settlementTime, r.windowID = a[8].Uint, a[9].Uint
		r.requestedAt, r.tx = ac.blockTime, ev.TxHash
		r.status = stPending
		if r.requiresApproval {
			r.status = stPendingApproval
		}
	case chainlog.RedemptionApproved:
		r.status, r.settlementTime = stApproved, a[2].Uint
	case chainlog.RedemptionRejected:
		r.status = stRejected
	case chainlog.RedemptionCancelled:
		r.status = stCancelled
		if a[1].Address != (common.Address{}) {
			r.owner = a[1].Address
		}
	case chainlog.RedemptionSettled:
		r.owner, r.receiver = a[1].Address, a[2].Address
		r.gross, r.fee, r.net = a[3].Uint, a[4].Uint, a[5].Uint
		r.channel, r.status = uint8(a[6].Uint.Uint64()), stSettled
		if err := ac.acctChange(r.owner, aRedeemed, &r.net, false); err != nil {
			return err
		}
		ac.fundAdd(fTotalAssets, &r.net, true)
		if err := ac.flowAdd(ac.blockTime, flowReds, &r.net, false); err != nil {
			return err
		}
	}
	r.timeline = append(r.timeline, timelineEntry{status: r.status, time: ac.blockTime, tx: ev.TxHash, bn: ev.BlockNumber})
	// Touch the owners first so that their records exist before pendingRedemptions moves, and
	// are deleted (if created here) only after it moved back on revert.
	if err := ac.acctChange(r.owner, -1, nil, false); err != nil {
		return err
	}
	if old != nil && old.owner != r.owner {
		if err := ac.acctChange(old.owner, -1, nil, false); err != nil {
			return err
		}
	}
	ac.journal = append(ac.journal, opRedemption)
	ac.journal = append(ac.journal, id[:]...)
	ac.journal = append(ac.journal, boolByte(old != nil))
	if old != nil {
		ac.journal = appendString(ac.journal, string(old.encode()))
	}
	if err := ac.swapRedemption(&id, old, r); err != nil {
		return err
	}
	// Approval tickets (approvals.go), journaled with the event after the redemption.
	switch s.ID {
	case chainlog.RedemptionRequested:
		if r.requiresApproval {
			return ac.openRedemptionTicket(r, &id, ev)
		}
	case chainlog.RedemptionApproved:
		return ac.closeRedemptionTicket(&id, ev, stApproved)
	case chainlog.RedemptionRejected:
		return ac.closeRedemptionTicket(&id, ev, stRejected)
	case chainlog.RedemptionCancelled:
		return ac.closeRedemptionTicket(&id, ev, stCancelled)
	}
	return nil
}

func (ac *applyContext) undoRedemption(o *journalOp) error {
	id := [32]byte(o.key)
	cur, err := ac.loadRedemption(&id)
	if err != nil {
		return err
	}
	var prior *redemption
	if o.created {
		prior = &redemption{}
		if err := prior.decode(o.val); err != nil {
			return corrupt("journal redemption", err)
		}
	}
	return ac.swapRedemption(&id, cur, prior)
}

// swapRedemption replaces the record old by new (either may be nil) and moves everything
// derived from it: liability, the owners' pendingRedemptions, the owner and status indexes.
func (ac *applyContext) swapRedemption(id *[32]byte, old, new *redemption) error {
	co, cn := old.contribution(), new.contribution()
	var oo, no common.Address
	if old != nil {
		oo = old.owner
	}
	if new != nil {
		no = new.owner
	}
	if !co.Eq(cn) {
		ac.fundAddRaw(fLiability, co, true)
		ac.fundAddRaw(fLiability, cn, false)
	}
	if oo != no || !co.Eq(cn) {
		if err := ac.acctRaw(oo, aPending, co, true); err != nil {
			return err
		}
		if err := ac.acctRaw(no, aPending, cn, false); err != nil {
			return err
		}
	}
	if old != nil && (new == nil || oo != no) && oo != (common.Address{}) {
		if err := ac.del(key(pRedOwner, oo[:], id[:])); err != nil {
			return err
		}
	}
	if new != nil && (old == nil || oo != no) && no != (common.Address{}) {
		if err := ac.set(key(pRedOwner, no[:], id[:]), nil); err != nil {
			return err
		}
	}
	if old != nil && (new == nil || old.status != new.status) {
		if err := ac.del(key(pRedStatus, []byte{old.status}, id[:])); err != nil {
			return err
		}
	}
	if new != nil && (old == nil || old.status != new.status) {
		if err := ac.set(key(pRedStatus, []byte{new.status}, id[:]), nil); err != nil {
			return err
		}
	}
	ac.noteRedemption(old, new)
	var idInt uint256.Int
	ac.markRedemption(idInt.SetBytes32(id[:]).Dec())
	if new == nil {
		return ac.del(redemptionKey(id))
	}
	return ac.set(redemptionKey(id), new.encode())
}
