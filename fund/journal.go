package fund

import (
	"encoding/binary"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// The undo journal. Every state change an event makes goes through one of the primitives
// below, which performs it and appends an op to the applyContext's journal. The journal is stored in the event's
// ledger record; reverting the event replays its ops backwards, inverting each: additive ops
// by subtracting the same amount (wrap-around arithmetic makes that exact), "set" ops by
// restoring the prior value they recorded, creations by deleting. Aggregates derived from a
// record (holder count, liability, pendingRedemptions, redemption indexes) are not journaled:
// the primitive that changes the record recomputes them from the old and new record, in both
// directions. Op codes are stored: append only.
const (
	opAcctAdd     byte = 1  // addr20 field neg amount
	opAcctTouch   byte = 2  // addr20 created prevFirst prevLast
	opFundAdd     byte = 3  // field neg amount
	opFundSetU256 byte = 4  // field prev
	opFundSetInt  byte = 5  // field prev
	opEmergency   byte = 6  // prev
	opBand        byte = 7  // tier prev(target min max)
	opRedemption  byte = 8  // id32 existed [prev record]
	opAssetSet    byte = 9  // token20 created prevTier prevActive prevAlloc
	opAssetAdd    byte = 10 // token20 neg amount
	opKeySet      byte = 11 // key existed [prev value]
	opFlowAdd     byte = 12 // hour which neg amount
)

type journalOp struct {
	op                  byte
	addr                common.Address
	field               uint8
	neg                 bool
	amt                 uint256.Int
	created             bool  // also "existed" for opRedemption and opKeySet
	prevFirst, prevLast int64 // opAcctTouch: the account's prior firstSeen and lastActivity
	prevInt             int64 // opFundSetInt: the field's prior value
	hour                int64 // opFlowAdd: the flow bucket's hour
	tier                uint8
	active              bool
	band                band
	key, val            []byte
}

func parseJournal(b []byte) ([]journalOp, error) {
	d := &dec{b: b}
	var ops []journalOp
	for len(d.b) > 0 && d.err == nil {
		o := journalOp{op: d.u8()}
		switch o.op {
		case opAcctAdd, opAssetAdd:
			o.addr = [20]byte(d.fixed(20))
			if o.op == opAcctAdd {
				o.field = d.u8()
			}
			o.neg = d.bool()
			d.u256(&o.amt)
		case opAcctTouch:
			o.addr = [20]byte(d.fixed(20))
			o.created = d.bool()
			o.prevFirst, o.prevLast = d.varint(), d.varint()
		case opFundAdd:
			o.field, o.neg = d.u8(), d.bool()
			d.u256(&o.amt)
		case opFundSetU256:
			o.field = d.u8()
			d.u256(&o.amt)
		case opFundSetInt:
			o.field = d.u8()
			o.prevInt = d.varint()
		case opEmergency:
			o.active = d.bool()
		case opBand:
			o.tier = d.u8()
			d.u256(&o.band.target)
			d.u256(&o.band.min)
			d.u256(&o.band.max)
		case opRedemption, opKeySet:
			if o.op == opRedemption {
				o.key = d.fixed(32)
			} else {
				o.key = []byte(d.str())
			}
			o.created = d.bool()
			if o.created {
				o.val = []byte(d.str())
			}
		case opAssetSet:
			o.addr = [20]byte(d.fixed(20))
			o.created = d.bool()
			o.tier, o.active = d.u8(), d.bool()
			d.u256(&o.amt)
		case opFlowAdd:
			o.hour = d.varint()
			o.field, o.neg = d.u8(), d.bool()
			d.u256(&o.amt)
		default:
			d.fail("unknown journal op")
		}
		if o.field >= 64 || o.tier >= 3 && o.op == opBand {
			d.fail("journal field out of range")
		}
		ops = append(ops, o)
	}
	return ops, d.finish()
}

// undo inverts one journal op.
func (ac *applyContext) undo(o *journalOp) error {
	switch o.op {
	case opAcctAdd:
		if int(o.field) >= numAcctFields {
			return corrupt("journal", errBadField)
		}
		return ac.acctRaw(o.addr, int(o.field), &o.amt, !o.neg)
	case opAcctTouch:
		return ac.untouchAcct(o)
	case opFundAdd:
		if int(o.field) >= numFundU256 {
			return corrupt("journal", errBadField)
		}
		ac.fundAddRaw(int(o.field), &o.amt, !o.neg)
	case opFundSetU256:
		if int(o.field) >= numFundU256 {
			return corrupt("journal", errBadField)
		}
		ac.fund.amounts[o.field] = o.amt
		ac.markFundU256(int(o.field))
	case opFundSetInt:
		if int(o.field) >= numFundInt {
			return corrupt("journal", errBadField)
		}
		ac.fund.ints[o.field] = o.prevInt
		ac.markFundInt(int(o.field))
	case opEmergency:
		ac.fund.emergency = o.active
		ac.fundDirty = true
		ac.mark(ClassOverview)
	case opBand:
		ac.fund.tiers[o.tier] = o.band
		ac.fundDirty = true
		ac.mark(ClassTiers, ClassOverview)
	case opRedemption:
		return ac.undoRedemption(o)
	case opAssetSet:
		return ac.undoAssetSet(o)
	case opAssetAdd:
		return ac.assetHoldRaw(o.addr, &o.amt, !o.neg)
	case opKeySet:
		if o.key[0] == pPrice && !ac.legacy {
			// The current price is not restored from the journal: an operator price or a
			// price deletion may have changed it since. The history point's undo, which
			// follows (the point was set first), derives it from the remaining history.
			return nil
		}
		// Read it first: a record put back as it was is then not reported as changed (overlay).
		cur, _, err := ac.get(o.key)
		if err != nil {
			return err
		}
		if o.key[0] == pRisk && !ac.legacy {
			ac.keepRiskResolution(o.key, cur)
		}
		if o.key[0] == pTicket {
			if err := ac.undoTicket(o.key, cur, o.val, o.created); err != nil {
				return err
			}
		}
		if o.key[0] == pPlan {
			if err := ac.undoPlan(o.key, cur, o.val, o.created); err != nil {
				return err
			}
		}
		if o.created {
			if err := ac.set(o.key, o.val); err != nil {
				return err
			}
		} else if err := ac.del(o.key); err != nil {
			return err
		}
		ac.markKey(o.key)
		if o.key[0] == pPriceHist && len(o.key) > 21 && !ac.legacy {
			return ac.recomputePrice(common.Address(o.key[1:21]))
		}
	case opFlowAdd:
		if o.field > flowReds {
			return corrupt("journal", errBadField)
		}
		return ac.flowRaw(o.hour, int(o.field), &o.amt, !o.neg)
	}
	return nil
}

var errBadField = errorString("field out of range")

type errorString string

func (e errorString) Error() string { return string(e) }

func (ac *applyContext) journalAmount(op byte, field int, neg bool, amt *uint256.Int) {
	ac.journal = append(ac.journal, op, byte(field), boolByte(neg))
	ac.journal = appendU256(ac.journal, amt)
}

// ---- fund singleton ----

func (m *Machine) markFundU256(field int) {
	m.fundDirty = true
	m.mark(ClassOverview)
	if field == fLiability {
		m.mark(ClassFlows)
	}
}

func (m *Machine) markFundInt(field int) {
	m.fundDirty = true
	if field == fLatestTime {
		m.mark(ClassFlows)
	} else {
		m.mark(ClassOverview)
	}
}

func addSigned(z, amt *uint256.Int, neg bool) {
	if neg {
		z.Sub(z, amt)
	} else {
		z.Add(z, amt)
	}
}

func (m *Machine) fundAddRaw(field int, amt *uint256.Int, neg bool) {
	addSigned(&m.fund.amounts[field], amt, neg)
	m.markFundU256(field)
}

// fundAdd adds (or subtracts) amt to an additive fund field.
func (ac *applyContext) fundAdd(field int, amt *uint256.Int, neg bool) {
	if amt.IsZero() {
		return
	}
	ac.journalAmount(opFundAdd, field, neg, amt)
	ac.fundAddRaw(field, amt, neg)
}

// fundSetU256 sets a "set" fund field, journaling its prior value.
func (ac *applyContext) fundSetU256(field int, v *uint256.Int) {
	if ac.fund.amounts[field].Eq(v) {
		return
	}
	ac.journal = append(ac.journal, opFundSetU256, byte(field))
	ac.journal = appendU256(ac.journal, &ac.fund.amounts[field])
	ac.fund.amounts[field] = *v
	ac.markFundU256(field)
}

func (ac *applyContext) fundSetInt(field int, v int64) {
	if ac.fund.ints[field] == v {
		return
	}
	ac.journal = append(ac.journal, opFundSetInt, byte(field))
	ac.journal = binary.AppendVarint(ac.journal, ac.fund.ints[field])
	ac.fund.ints[field] = v
	ac.markFundInt(field)
}

func (ac *applyContext) setEmergency(v bool) {
	if ac.fund.emergency == v {
		return
	}
	ac.journal = append(ac.journal, opEmergency, boolByte(ac.fund.emergency))
	ac.fund.emergency = v
	ac.fundDirty = true
	ac.mark(ClassOverview)
}

func (ac *applyContext) setBand(tier uint8, b *band) {
	old := &ac.fund.tiers[tier]
	if old.target.Eq(&b.target) && old.min.Eq(&b.min) && old.max.Eq(&b.max) {
		return
	}
	ac.journal = append(ac.journal, opBand, tier)
	ac.journal = appendU256(ac.journal, &old.target)
	ac.journal = appendU256(ac.journal, &old.min)
	ac.journal = appendU256(ac.journal, &old.max)
	*old = *b
	ac.fundDirty = true
	ac.mark(ClassTiers, ClassOverview)
}

// ---- generic keys (prices, history, NAV points, risk events) ----

// setKey stores v at k, journaling the prior value (or its absence).
func (ac *applyContext) setKey(k, v []byte) error {
	prev, existed, err := ac.get(k)
	if err != nil {
		return err
	}
	ac.journal = append(ac.journal, opKeySet)
	ac.journal = appendString(ac.journal, string(k))
	ac.journal = append(ac.journal, boolByte(existed))
	if existed {
		ac.journal = appendString(ac.journal, string(prev))
	}
	if err := ac.set(k, v); err != nil {
		return err
	}
	ac.markKey(k)
	return nil
}

func (m *Machine) markKey(k []byte) {
	switch k[0] {
	case pPrice:
		if len(k) == 21 {
			m.markPrice([20]byte(k[1:21]))
		}
	case pPriceHist:
		m.mark(ClassPrices)
	case pNav:
		m.mark(ClassNav)
	case pRisk:
		m.mark(ClassRisk)
	case pPlan:
		m.mark(ClassRebalance)
	}
}

// ---- flows ----

func (ac *applyContext) flowAdd(t int64, which int, amt *uint256.Int, neg bool) error {
	if amt.IsZero() {
		return nil
	}
	hour := t - t%3600
	ac.journal = append(ac.journal, opFlowAdd)
	ac.journal = binary.AppendVarint(ac.journal, hour)
	ac.journal = append(ac.journal, byte(which), boolByte(neg))
	ac.journal = appendU256(ac.journal, amt)
	return ac.flowRaw(hour, which, amt, neg)
}

// flowRaw changes an hourly bucket; a bucket that sums to zero is deleted, so that reverting
// restores the absence of the key.
func (ac *applyContext) flowRaw(hour int64, which int, amt *uint256.Int, neg bool) error {
	k := flowKey(hour)
	v, ok, err := ac.get(k)
	if err != nil {
		return err
	}
	var f flowBucket
	if ok {
		if err := f.decode(v); err != nil {
			return corrupt("flow bucket", err)
		}
	}
	addSigned(&f.v[which], amt, neg)
	ac.mark(ClassFlows)
	ac.riskFlows.valid = false
	if f.v[0].IsZero() && f.v[1].IsZero() {
		return ac.del(k)
	}
	return ac.set(k, f.encode())
}

// ---- accounts ----

func positive(u *uint256.Int) bool { return u.Sign() > 0 }

func (ac *applyContext) loadAccount(addr common.Address) (*account, bool, error) {
	v, ok, err := ac.get(accountKey(addr))
	if err != nil || !ok {
		return &account{}, false, err
	}
	a := &account{}
	if err := a.decode(v); err != nil {
		return nil, false, corrupt("account", err)
	}
	return a, true, nil
}

// addField changes one amount and keeps the holder count (accounts with a positive balance).
func (m *Machine) addField(a *account, field int, amt *uint256.Int, neg bool) {
	if field == aShares {
		before := positive(&a.amt[aShares])
		addSigned(&a.amt[aShares], amt, neg)
		after := positive(&a.amt[aShares])
		if before != after {
			if after {
				m.fund.holders++
			} else {
				m.fund.holders--
			}
			m.fundDirty = true
			m.mark(ClassOverview)
		}
		return
	}
	addSigned(&a.amt[field], amt, neg)
}

// acctChange touches an account (creating it, moving firstSeen/lastActivity to the event's
// block time) and, when field >= 0, adds amt to that field; both journaled.
func (ac *applyContext) acctChange(addr common.Address, field int, amt *uint256.Int, neg bool) error {
	if addr == (common.Address{}) {
		return nil
	}
	a, ok, err := ac.loadAccount(addr)
	if err != nil {
		return err
	}
	pf, pl := a.first, a.last
	if !ok {
		a.first, a.last = ac.blockTime, ac.blockTime
	} else {
		a.first, a.last = min(a.first, ac.blockTime), max(a.last, ac.blockTime)
	}
	if !ok || a.first != pf || a.last != pl {
		ac.journal = append(ac.journal, opAcctTouch)
		ac.journal = append(ac.journal, addr[:]...)
		ac.journal = append(ac.journal, boolByte(!ok))
		ac.journal = binary.AppendVarint(ac.journal, pf)
		ac.journal = binary.AppendVarint(ac.journal, pl)
	}
	if field >= 0 && !amt.IsZero() {
		ac.journal = append(ac.journal, opAcctAdd)
		ac.journal = append(ac.journal, addr[:]...)
		ac.journal = append(ac.journal, byte(field), boolByte(neg))
		ac.journal = appendU256(ac.journal, amt)
		ac.addField(a, field, amt, neg)
	}
	ac.markAccount(addr)
	return ac.set(accountKey(addr), a.encode())
}

// acctRaw changes an amount without journaling (undo, and derived pendingRedemptions).
func (ac *applyContext) acctRaw(addr common.Address, field int, amt *uint256.Int, neg bool) error {
	if addr == (common.Address{}) || amt.IsZero() {
		return nil
	}
	a, _, err := ac.loadAccount(addr)
	if err != nil {
		return err
	}
	ac.addField(a, field, amt, neg)
	ac.markAccount(addr)
	return ac.set(accountKey(addr), a.encode())
}

func (ac *applyContext) untouchAcct(o *journalOp) error {
	a, ok, err := ac.loadAccount(o.addr)
	if err != nil || !ok {
		return err
	}
	ac.markAccount(o.addr)
	if o.created {
		// Delete what the event created, unless a later event (reverted out of order) still
		// holds amounts there.
		if a.zero() {
			return ac.del(accountKey(o.addr))
		}
		return nil
	}
	a.first, a.last = o.prevFirst, o.prevLast
	return ac.set(accountKey(o.addr), a.encode())
}
