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
	// books is set once the fund keeps its books (books.go): cash is tracked and the figures
	// follow EVENTS.md "The fund's books". A state written by v0.1.0, or by this release while
	// the cluster version is 0.1, has none, and its singleton keeps v0.1.0's layout (version 1)
	// byte for byte; with books it is version 2 (cash appended).
	books bool
	cash  uint256.Int // the vault's stablecoin (signed, wrap-around), only with books
	// figures are the books' derived figures after the last command (books.go,
	// refreshFigures), stored so that the singleton's record (PostgreSQL's fund_state, the
	// outbox) carries them; only with books.
	figures bookFigures
}

// bookFigures are the derived figures of the books kept in the singleton (Books has them all).
type bookFigures struct {
	gross, total           uint256.Int
	tierValue, tierRatio   [3]uint256.Int
	computedPrice, driftBp uint256.Int
	hasComputed, hasDrift  bool
}

// fundRecVersion is the newest version of the fund singleton: 2 adds cash (books).
const fundRecVersion byte = 2

// oneE18 is the share price of a fund that has seen no NavUpdated yet (1.0).
var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

// initialFund is the encoding of newFundState(), which is never stored.
var initialFund = func() []byte { f := newFundState(); return f.encode() }()

// initialBooksFund is the encoding of the initial state with books started (and nothing in
// them), which is not stored either.
var initialBooksFund = func() []byte { f := newFundState(); f.books = true; return f.encode() }()

func newFundState() fundState {
	var f fundState
	f.amounts[fSharePrice] = *oneE18
	return f
}

func (f *fundState) encode() []byte {
	b := make([]byte, 0, 512)
	if f.books {
		b = append(b, fundRecVersion)
	} else {
		b = append(b, 1) // v0.1.0's layout, byte for byte
	}
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
	if f.books {
		b = appendU256(b, &f.cash)
		g := &f.figures
		b = appendU256(b, &g.gross)
		b = appendU256(b, &g.total)
		for t := range g.tierValue {
			b = appendU256(b, &g.tierValue[t])
			b = appendU256(b, &g.tierRatio[t])
		}
		b = append(b, boolByte(g.hasComputed), boolByte(g.hasDrift))
		b = appendU256(b, &g.computedPrice)
		b = appendU256(b, &g.driftBp)
	}
	return b
}

func (f *fundState) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersionUpTo(fundRecVersion)
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
	f.books = d.ver >= 2
	if f.books {
		d.u256(&f.cash)
		g := &f.figures
		d.u256(&g.gross)
		d.u256(&g.total)
		for t := range g.tierValue {
			d.u256(&g.tierValue[t])
			d.u256(&g.tierRatio[t])
		}
		g.hasComputed, g.hasDrift = d.bool(), d.bool()
		d.u256(&g.computedPrice)
		d.u256(&g.driftBp)
	}
	return d.finish()
}
