package fund

import (
	"encoding/binary"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

const recVersion byte = 1

// Account amount fields.
const (
	aShares = iota
	aLocked
	aDeposited
	aWithdrawn
	aRedeemed
	aPending
	numAcctFields
)

// account is a share holder. Amounts wrap around (see DESIGN.md, "negative" balances).
type account struct {
	amt         [numAcctFields]uint256.Int
	first, last int64 // block times (unix s) of the first and last event touching it
}

func (a *account) encode() []byte {
	b := make([]byte, 0, 1+numAcctFields*9+12)
	b = append(b, recVersion)
	for i := range a.amt {
		b = appendU256(b, &a.amt[i])
	}
	b = binary.AppendVarint(b, a.first)
	return binary.AppendVarint(b, a.last)
}

func (a *account) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	for i := range a.amt {
		d.u256(&a.amt[i])
	}
	a.first, a.last = d.varint(), d.varint()
	return d.finish()
}

func (a *account) zero() bool {
	for i := range a.amt {
		if !a.amt[i].IsZero() {
			return false
		}
	}
	return true
}

// asset is one holding of the asset controller.
type asset struct {
	tier    uint8
	active  bool
	alloc   uint256.Int
	holding uint256.Int
}

func (a *asset) encode() []byte {
	b := make([]byte, 0, 70)
	b = append(b, recVersion, a.tier, boolByte(a.active))
	b = appendU256(b, &a.alloc)
	return appendU256(b, &a.holding)
}

func (a *asset) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	a.tier = d.u8()
	a.active = d.bool()
	d.u256(&a.alloc)
	d.u256(&a.holding)
	return d.finish()
}

// Price sources.
const (
	srcOracle byte = 0
	srcAPI    byte = 1
)

// priceRec is a current price or a price history point.
type priceRec struct {
	price    uint256.Int
	time     int64
	source   byte
	sourceID uint8
}

func (p *priceRec) encode() []byte {
	b := make([]byte, 0, 48)
	b = append(b, recVersion, p.source, p.sourceID)
	b = appendU256(b, &p.price)
	return binary.AppendVarint(b, p.time)
}

func (p *priceRec) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	p.source, p.sourceID = d.u8(), d.u8()
	d.u256(&p.price)
	p.time = d.varint()
	return d.finish()
}

// navPoint is one NavUpdated: share price and the fund's totals at that moment.
type navPoint struct {
	sharePrice, totalAssets, totalSupply uint256.Int
}

func (n *navPoint) encode() []byte {
	b := make([]byte, 1, 1+3*33)
	b[0] = recVersion
	b = appendU256(b, &n.sharePrice)
	b = appendU256(b, &n.totalAssets)
	return appendU256(b, &n.totalSupply)
}

func (n *navPoint) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	d.u256(&n.sharePrice)
	d.u256(&n.totalAssets)
	d.u256(&n.totalSupply)
	return d.finish()
}

// flowBucket sums subscriptions and redemptions of one hour of block time.
type flowBucket struct{ v [2]uint256.Int }

const (
	flowSubs = 0
	flowReds = 1
)

func (f *flowBucket) encode() []byte {
	b := make([]byte, 1, 1+2*33)
	b[0] = recVersion
	b = appendU256(b, &f.v[0])
	return appendU256(b, &f.v[1])
}

func (f *flowBucket) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	d.u256(&f.v[0])
	d.u256(&f.v[1])
	return d.finish()
}

// Redemption statuses (stored; never renumber).
const (
	stPending uint8 = iota
	stPendingApproval
	stApproved
	stRejected
	stCancelled
	stSettled
	numStatuses
)

var statusNames = [numStatuses]string{"PENDING", "PENDING_APPROVAL", "APPROVED", "REJECTED", "CANCELLED", "SETTLED"}

func statusOpen(s uint8) bool { return s <= stApproved }

var channelNames = [...]string{"STANDARD", "EMERGENCY", "SCHEDULED"}

type timelineEntry struct {
	status uint8
	time   int64
	tx     common.Hash
	bn     uint64
}

// redemption is one redemption request and its history.
type redemption struct {
	id                                      uint256.Int
	owner, receiver                         common.Address
	shares, locked, estFee, gross, fee, net uint256.Int
	channel, status                         uint8
	requiresApproval                        bool
	settlementTime, windowID                uint256.Int
	requestedAt                             int64 // block time of RedemptionRequested, 0 unknown
	tx                                      common.Hash
	timeline                                []timelineEntry
}

// contribution is the amount the redemption adds to the liability and to its owner's
// pendingRedemptions: lockedAmount while open, else zero.
func (r *redemption) contribution() *uint256.Int {
	if r == nil || !statusOpen(r.status) {
		return new(uint256.Int)
	}
	return &r.locked
}

func (r *redemption) encode() []byte {
	b := make([]byte, 0, 256+len(r.timeline)*48)
	b = append(b, recVersion)
	b = appendU256(b, &r.id)
	b = append(b, r.owner[:]...)
	b = append(b, r.receiver[:]...)
	for _, u := range []*uint256.Int{&r.shares, &r.locked, &r.estFee, &r.gross, &r.fee, &r.net, &r.settlementTime, &r.windowID} {
		b = appendU256(b, u)
	}
	b = append(b, r.channel, r.status, boolByte(r.requiresApproval))
	b = binary.AppendVarint(b, r.requestedAt)
	b = append(b, r.tx[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.timeline)))
	for _, t := range r.timeline {
		b = append(b, t.status)
		b = binary.AppendVarint(b, t.time)
		b = append(b, t.tx[:]...)
		b = binary.AppendUvarint(b, t.bn)
	}
	return b
}

func (r *redemption) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	d.u256(&r.id)
	r.owner = [20]byte(d.fixed(20))
	r.receiver = [20]byte(d.fixed(20))
	for _, u := range []*uint256.Int{&r.shares, &r.locked, &r.estFee, &r.gross, &r.fee, &r.net, &r.settlementTime, &r.windowID} {
		d.u256(u)
	}
	r.channel, r.status, r.requiresApproval = d.u8(), d.u8(), d.bool()
	if r.status >= numStatuses {
		d.fail("bad status")
	}
	r.requestedAt = d.varint()
	r.tx = [32]byte(d.fixed(32))
	n := d.count(35)
	r.timeline = make([]timelineEntry, n)
	for i := 0; i < n && d.err == nil; i++ {
		t := &r.timeline[i]
		t.status = d.u8()
		t.time = d.varint()
		t.tx = [32]byte(d.fixed(32))
		t.bn = d.uvarint()
	}
	return d.finish()
}

func (r *redemption) clone() *redemption {
	c := *r
	c.timeline = append([]timelineEntry(nil), r.timeline...)
	return &c
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (d *dec) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}
