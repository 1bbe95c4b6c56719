package fund

import (
	"encoding/binary"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// The undo journal. Every state change an event makes goes through one of the primitives
// below, which performs it and appends an op to m.j. The journal is stored in the event's
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

type jop struct {
	op       byte
	addr     common.Address
	field    uint8
	neg      bool
	amt      uint256.Int
	created  bool // also "existed" for opRedemption and opKeySet
	i1, i2   int64
	tier     uint8
	active   bool
	band     band
	key, val []byte
}

func parseJournal(b []byte) ([]jop, error) {
	d := &dec{b: b}
	var ops []jop
	for len(d.b) > 0 && d.err == nil {
		o := jop{op: d.u8()}
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
			o.i1, o.i2 = d.varint(), d.varint()
		case opFundAdd:
			o.field, o.neg = d.u8(), d.bool()
			d.u256(&o.amt)
		case opFundSetU256:
			o.field = d.u8()
			d.u256(&o.amt)
		case opFundSetInt:
			o.field = d.u8()
			o.i1 = d.varint()
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
			o.i1 = d.varint()
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
func (m *Machine) undo(o *jop) error {
	switch o.op {
	case opAcctAdd:
		if int(o.field) >= numAcctFields {
			return corrupt("journal", errBadField)
		}
		return m.acctRaw(o.addr, int(o.field), &o.amt, !o.neg)
	case opAcctTouch:
		return m.untouchAcct(o)
	case opFundAdd:
		if int(o.field) >= numFundU256 {
			return corrupt("journal", errBadField)
		}
		m.fundAddRaw(int(o.field), &o.amt, !o.neg)
	case opFundSetU256:
		if int(o.field) >= numFundU256 {
			return corrupt("journal", errBadField)
		}
		m.fund.u[o.field] = o.amt
		m.markFundU256(int(o.field))
	case opFundSetInt:
		if int(o.field) >= numFundInt {
			return corrupt("journal", errBadField)
		}
		m.fund.i[o.field] = o.i1
		m.markFundInt(int(o.field))
	case opEmergency:
		m.fund.emergency = o.active
		m.fundDirty = true
		m.mark(ClassOverview)
	case opBand:
		m.fund.tiers[o.tier] = o.band
		m.fundDirty = true
		m.mark(ClassTiers, ClassOverview)
	case opRedemption:
		return m.undoRedemption(o)
	case opAssetSet:
		return m.undoAssetSet(o)
	case opAssetAdd:
		return m.assetHoldRaw(o.addr, &o.amt, !o.neg)
	case opKeySet:
		if o.created {
			if err := m.set(o.key, o.val); err != nil {
				return err
			}
		} else if err := m.del(o.key); err != nil {
			return err
		}
		m.markKey(o.key)
	case opFlowAdd:
		if o.field > flowReds {
			return corrupt("journal", errBadField)
		}
		return m.flowRaw(o.i1, int(o.field), &o.amt, !o.neg)
	}
	return nil
}

var errBadField = errorString("field out of range")

type errorString string

func (e errorString) Error() string { return string(e) }

func (m *Machine) jAmount(op byte, field int, neg bool, amt *uint256.Int) {
	m.j = append(m.j, op, byte(field), boolByte(neg))
	m.j = appendU256(m.j, amt)
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
	addSigned(&m.fund.u[field], amt, neg)
	m.markFundU256(field)
}

// fundAdd adds (or subtracts) amt to an additive fund field.
func (m *Machine) fundAdd(field int, amt *uint256.Int, neg bool) {
	if amt.IsZero() {
		return
	}
	m.jAmount(opFundAdd, field, neg, amt)
	m.fundAddRaw(field, amt, neg)
}

// fundSetU256 sets a "set" fund field, journaling its prior value.
func (m *Machine) fundSetU256(field int, v *uint256.Int) {
	if m.fund.u[field].Eq(v) {
		return
	}
	m.j = append(m.j, opFundSetU256, byte(field))
	m.j = appendU256(m.j, &m.fund.u[field])
	m.fund.u[field] = *v
	m.markFundU256(field)
}

func (m *Machine) fundSetInt(field int, v int64) {
	if m.fund.i[field] == v {
		return
	}
	m.j = append(m.j, opFundSetInt, byte(field))
	m.j = binary.AppendVarint(m.j, m.fund.i[field])
	m.fund.i[field] = v
	m.markFundInt(field)
}

func (m *Machine) setEmergency(v bool) {
	if m.fund.emergency == v {
		return
	}
	m.j = append(m.j, opEmergency, boolByte(m.fund.emergency))
	m.fund.emergency = v
	m.fundDirty = true
	m.mark(ClassOverview)
}

func (m *Machine) setBand(tier uint8, b *band) {
	old := &m.fund.tiers[tier]
	if old.target.Eq(&b.target) && old.min.Eq(&b.min) && old.max.Eq(&b.max) {
		return
	}
	m.j = append(m.j, opBand, tier)
	m.j = appendU256(m.j, &old.target)
	m.j = appendU256(m.j, &old.min)
	m.j = appendU256(m.j, &old.max)
	*old = *b
	m.fundDirty = true
	m.mark(ClassTiers, ClassOverview)
}

// ---- generic keys (prices, history, NAV points, risk events) ----

// setKey stores v at k, journaling the prior value (or its absence).
func (m *Machine) setKey(k, v []byte) error {
	prev, existed, err := m.get(k)
	if err != nil {
		return err
	}
	m.j = append(m.j, opKeySet)
	m.j = appendString(m.j, string(k))
	m.j = append(m.j, boolByte(existed))
	if existed {
		m.j = appendString(m.j, string(prev))
	}
	if err := m.set(k, v); err != nil {
		return err
	}
	m.markKey(k)
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
	}
}

// ---- flows ----

func (m *Machine) flowAdd(t int64, which int, amt *uint256.Int, neg bool) error {
	if amt.IsZero() {
		return nil
	}
	hour := t - t%3600
	m.j = append(m.j, opFlowAdd)
	m.j = binary.AppendVarint(m.j, hour)
	m.j = append(m.j, byte(which), boolByte(neg))
	m.j = appendU256(m.j, amt)
	return m.flowRaw(hour, which, amt, neg)
}

// flowRaw changes an hourly bucket; a bucket that sums to zero is deleted, so that reverting
// restores the absence of the key.
func (m *Machine) flowRaw(hour int64, which int, amt *uint256.Int, neg bool) error {
	k := flowKey(hour)
	v, ok, err := m.get(k)
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
	m.mark(ClassFlows)
	if f.v[0].IsZero() && f.v[1].IsZero() {
		return m.del(k)
	}
	return m.set(k, f.encode())
}

// ---- accounts ----

func positive(u *uint256.Int) bool { return u.Sign() > 0 }

func (m *Machine) loadAccount(addr common.Address) (*account, bool, error) {
	v, ok, err := m.get(accountKey(addr))
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
func (m *Machine) acctChange(addr common.Address, field int, amt *uint256.Int, neg bool) error {
	if addr == (common.Address{}) {
		return nil
	}
	a, ok, err := m.loadAccount(addr)
	if err != nil {
		return err
	}
	pf, pl := a.first, a.last
	if !ok {
		a.first, a.last = m.t, m.t
	} else {
		a.first, a.last = min(a.first, m.t), max(a.last, m.t)
	}
	if !ok || a.first != pf || a.last != pl {
		m.j = append(m.j, opAcctTouch)
		m.j = append(m.j, addr[:]...)
		m.j = append(m.j, boolByte(!ok))
		m.j = binary.AppendVarint(m.j, pf)
		m.j = binary.AppendVarint(m.j, pl)
	}
	if field >= 0 && !amt.IsZero() {
		m.j = append(m.j, opAcctAdd)
		m.j = append(m.j, addr[:]...)
		m.j = append(m.j, byte(field), boolByte(neg))
		m.j = appendU256(m.j, amt)
		m.addField(a, field, amt, neg)
	}
	m.markAccount(addr)
	return m.set(accountKey(addr), a.encode())
}

// acctRaw changes an amount without journaling (undo, and derived pendingRedemptions).
func (m *Machine) acctRaw(addr common.Address, field int, amt *uint256.Int, neg bool) error {
	if addr == (common.Address{}) || amt.IsZero() {
		return nil
	}
	a, _, err := m.loadAccount(addr)
	if err != nil {
		return err
	}
	m.addField(a, field, amt, neg)
	m.markAccount(addr)
	return m.set(accountKey(addr), a.encode())
}

func (m *Machine) untouchAcct(o *jop) error {
	a, ok, err := m.loadAccount(o.addr)
	if err != nil || !ok {
		return err
	}
	m.markAccount(o.addr)
	if o.created {
		// Delete what the event created, unless a later event (reverted out of order) still
		// holds amounts there.
		if a.zero() {
			return m.del(accountKey(o.addr))
		}
		return nil
	}
	a.first, a.last = o.i1, o.i2
	return m.set(accountKey(o.addr), a.encode())
}
