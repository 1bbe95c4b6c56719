package fund

import (
	"encoding/binary"

	"github.com/holiman/uint256"
)

// uint256 fields of the fund singleton (journal field ids; never renumber).
const (
	fSharePrice = iota
	fTotalAssets
	fTotalSupply
	fTotalLocked
	fLiability
	fFeeManagement
	fFeePerformance
	fFeeRedemption
	numFundU256
)

// int fields of the fund singleton (journal field ids; never renumber).
const (
	fLastBlock = iota
	fLatestTime
	fUpdatedAt
	numFundInt
)

// band is a tier's configured target/min/max ratio in basis points.
type band struct{ target, min, max uint256.Int }

// fundState is the singleton kept decoded in memory by the Machine.
type fundState struct {
	amounts   [numFundU256]uint256.Int // share price, totals, fees (the f* uint256 fields)
	ints      [numFundInt]int64        // lastBlock (as int64 of a uint64), latest block time (s), updatedAt (ns)
	emergency bool
	holders   int64
	tiers     [3]band
}

// oneE18 is the share price of a fund that has seen no NavUpdated yet (1.0).
var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

// initialFund is the encoding of newFundState(), which is never stored.
var initialFund = func() []byte { f := newFundState(); return f.encode() }()

func newFundState() fundState {
	var f fundState
	f.amounts[fSharePrice] = *oneE18
	return f
}

func (f *fundState) encode() []byte {
	b := make([]byte, 0, 512)
	b = append(b, recVersion)
	for i := range f.amounts {
		b = appendU256(b, &f.amounts[i])
	}
	for _, v := range f.ints {
		b = binary.AppendVarint(b, v)
	}
	b = append(b, boolByte(f.emergency))
	b = binary.AppendVarint(b, f.holders)
	for t := range f.tiers {
		b = appendU256(b, &f.tiers[t].target)
		b = appendU256(b, &f.tiers[t].min)
		b = appendU256(b, &f.tiers[t].max)
	}
	return b
}

func (f *fundState) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	for i := range f.amounts {
		d.u256(&f.amounts[i])
	}
	for i := range f.ints {
		f.ints[i] = d.varint()
	}
	f.emergency = d.bool()
	f.holders = d.varint()
	for t := range f.tiers {
		d.u256(&f.tiers[t].target)
		d.u256(&f.tiers[t].min)
		d.u256(&f.tiers[t].max)
	}
	return d.finish()
}
