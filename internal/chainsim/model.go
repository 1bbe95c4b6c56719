package chainsim

import (
	"fmt"
	"math"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/fund/fundtest"
)

// model is what the generator knows of the fund, as the contracts would see it, so that every
// event it emits is plausible: shares are only moved, locked or burned when the holder has
// them, redemptions are approved, settled, cancelled or rejected only while open, assets are
// sold only from a holding. It is a plain value with no pointers into shared data except the
// holders and open redemptions, which clone copies: a snapshot per block lets a reorg rewind
// the generator exactly to the fork point.
type model struct {
	now     int64 // the block time of the transactions being generated (unix s)
	nav     uint256.Int
	navF    float64 // nav as a float, the random walk's state
	hwm     uint256.Int
	supply  uint256.Int
	assets  uint256.Int // the fund's total assets (USDT base units)
	cash    uint256.Int // subscriptions not invested yet
	fees    uint256.Int // redemption fees accrued and not yet reduced
	holders []holder
	tokens  [4]token
	open    []redemption // by request id
	nextID  uint64
	// emergency is the vault's emergency mode.
	emergency bool
	// script is the position in the opening script (see script in generator.go).
	script int
	// lastMgmtFee is when the management fee was last collected.
	lastMgmtFee int64
	// txs counts the transactions generated so far; redemptions settle some transactions after
	// their request.
	txs uint64
}

type holder struct {
	addr        common.Address
	bal, locked uint256.Int
}

func (h *holder) free() *uint256.Int { return new(uint256.Int).Sub(&h.bal, &h.locked) }

// token is one of the fund's four assets.
type token struct {
	addr    common.Address
	tier    uint8
	alloc   uint64 // target allocation within the tier, bps
	split   uint64 // share of new subscriptions it receives, bps
	active  bool
	holding uint256.Int
	price   float64 // USD per whole token
}

type redemption struct {
	id               uint64
	owner            int // index in holders
	shares, locked   uint256.Int
	fee              uint256.Int
	channel          uint8
	requiresApproval bool
	approved         bool
	settlementTime   int64
	requestedAt      uint64 // model.txs when requested
}

// settleable reports whether the redemption can settle: approved when it needs approval.
func (r *redemption) settleable() bool { return !r.requiresApproval || r.approved }

func newModel(seed int64) *model {
	m := &model{navF: 1, nextID: 1}
	m.nav.Set(oneE18)
	m.hwm.Set(oneE18)
	label := func(s string) common.Address { return fundtest.Addr(fmt.Sprintf("chainsim %d: %s", seed, s)) }
	m.tokens = [4]token{
		{addr: common.HexToAddress("0x55d398326f99059ff775485246999027b3197955"), tier: fundtest.TierL1, alloc: 10000, split: 2000, price: 1}, // BSC-USD
		{addr: label("L2 money-market fund token"), tier: fundtest.TierL2, alloc: 10000, split: 3000, price: 1.02},
		{addr: label("L3 treasury bill token"), tier: fundtest.TierL3, alloc: 6000, split: 3000, price: 1.05},
		{addr: label("L3 private credit token"), tier: fundtest.TierL3, alloc: 4000, split: 2000, price: 1},
	}
	return m
}

// clone returns a deep copy.
func (m *model) clone() *model {
	c := *m
	c.holders = append([]holder(nil), m.holders...)
	c.open = append([]redemption(nil), m.open...)
	return &c
}

// findOpen returns the index in open of the first redemption pred accepts, or -1.
func (m *model) findOpen(pred func(*redemption) bool) int {
	for i := range m.open {
		if pred(&m.open[i]) {
			return i
		}
	}
	return -1
}

func (m *model) closeRedemption(i int) { m.open = append(m.open[:i], m.open[i+1:]...) }

// liquidity returns the value of the L1 holdings and of all holdings, in USDT base units.
func (m *model) liquidity() (l1, total *uint256.Int) {
	l1, total = new(uint256.Int), new(uint256.Int)
	for i := range m.tokens {
		t := &m.tokens[i]
		v := mulDiv(&t.holding, fromFloat(t.price, 6), oneE18)
		total.Add(total, v)
		if t.tier == fundtest.TierL1 {
			l1.Add(l1, v)
		}
	}
	total.Add(total, &m.cash)
	l1.Add(l1, &m.cash)
	return l1, total
}

var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

// mulDiv returns a × b / c (c must not be zero).
func mulDiv(a, b, c *uint256.Int) *uint256.Int {
	z, _ := new(uint256.Int).MulDivOverflow(a, b, c)
	return z
}

// bps returns a × n / 10000.
func bps(a *uint256.Int, n uint64) *uint256.Int {
	return mulDiv(a, uint256.NewInt(n), uint256.NewInt(10_000))
}

// fromFloat returns f (≥ 0) rounded to dec decimals, as 18-decimal base units.
func fromFloat(f float64, dec int) *uint256.Int {
	v := uint256.NewInt(uint64(math.Round(max(f, 0) * math.Pow10(dec))))
	return v.Mul(v, new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(uint64(18-dec))))
}
