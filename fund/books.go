package fund

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/kv"
	"paimon/version"
)

// The fund's books (EVENTS.md, "The fund's books"; DESIGN.md "The books"): cash is tracked as
// the events move it, everything else is derived from the state when asked (Books).
//
// Cash is a function of the ledger: the sum of the cash effects (cashEffect) of the entries in
// the ledger. Apply keeps it so: an entry added adds its effect, an entry reverted subtracts
// it, both computed from the event itself (not from the entry's undo journal), so that an entry
// applied before the books started (a v0.1.0 state, whose journals hold no cash) is reverted
// exactly too. The books start at the first command this release's cluster version allows
// (startBooks): cash is then the sum over the ledger at that moment, scanned once.

// cashEffect returns the amount an event moves the vault's cash by and whether it is an
// outflow; nil for an event that moves no cash.
func cashEffect(ev *chainlog.Event, s *chainlog.Spec) (*uint256.Int, bool) {
	a := ev.Args
	switch s.ID {
	case chainlog.Deposit:
		return &a[2].Uint, false // assets
	case chainlog.Withdraw:
		return &a[3].Uint, true // assets
	case chainlog.RedemptionSettled:
		return &a[5].Uint, true // netAmount: the fee stays in the vault
	case chainlog.RedemptionFeeReduced, chainlog.ManagementFeeCollected, chainlog.PerformanceFeeCollected:
		return &a[0].Uint, true // fee withdrawn or collected
	case chainlog.AssetPurchased:
		return &a[2].Uint, true // usdtAmount
	case chainlog.AssetRedeemed, chainlog.WaterfallLiquidation:
		return &a[3].Uint, false // usdtReceived
	}
	return nil, false
}

// booksEvent moves cash by an event added to the ledger (revert false) or taken out of it
// (revert true), when the books are kept.
func (m *Machine) booksEvent(ev *chainlog.Event, s *chainlog.Spec, revert bool) {
	if !m.fund.books {
		return
	}
	amt, out := cashEffect(ev, s)
	if amt == nil || amt.IsZero() {
		return
	}
	addSigned(&m.fund.cash, amt, out != revert)
	m.markBooks()
}

// markBooks marks what a change of cash or of the books makes stale.
func (m *Machine) markBooks() {
	m.fundDirty = true
	m.mark(ClassOverview, ClassTiers)
}

// BooksStartVersion is the cluster version whose first command starts the books.
const BooksStartVersion = version.Cluster

// startBooksIfDue starts the books before a command that needs this release's cluster
// version: every member then runs a release that keeps them, and a state that never had
// them (v0.1.0's, or this release's while the cluster version was 0.1) gets them from its
// ledger. It is a pure function of the state and the command, like everything in Apply.
func (ac *applyContext) startBooksIfDue(cmd []byte) error {
	if ac.fund.books || CommandVersion(cmd) == version.Base {
		return nil
	}
	return ac.startBooks()
}

// startBooks sums the cash effects of every ledger entry (the store's merged with the
// batch's overlay) and starts the books with that cash.
func (ac *applyContext) startBooks() error {
	var cash uint256.Int
	err := ac.scanMerged([]byte{pLedger}, []byte{pLedger + 1}, func(_, v []byte) error {
		rec, err := decodeLedger(v)
		if err != nil {
			return corrupt("ledger entry", err)
		}
		s, verr := eventSpec(&rec.ev)
		if verr != nil {
			return corrupt("ledger entry", verr)
		}
		if amt, out := cashEffect(&rec.ev, s); amt != nil {
			addSigned(&cash, amt, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ac.fund.books, ac.fund.cash = true, cash
	ac.markBooks()
	return nil
}

// scanMerged calls fn for every present key in [lo, hi) as the machine sees it now: the
// batch's overlay entries, then the store's keys the overlay does not hold. The order is not
// the key order: only for order-independent uses (sums, sets).
func (ac *applyContext) scanMerged(lo, hi []byte, fn func(k, v []byte) error) error {
	for i := range ac.overlay.entries {
		e := &ac.overlay.entries[i]
		if e.ok && bytes.Compare(e.key, lo) >= 0 && bytes.Compare(e.key, hi) < 0 {
			if err := fn(e.key, e.v); err != nil {
				return err
			}
		}
	}
	var ferr error
	err := ac.store.Scan(lo, hi, false, func(k, v []byte) bool {
		if _, ok := ac.overlay.idx[string(k)]; ok {
			return true // the overlay's value (or deletion) counts
		}
		ferr = fn(k, v)
		return ferr == nil
	})
	if err != nil {
		return fmt.Errorf("fund: scan: %w", err)
	}
	return ferr
}

// ---- the asset tokens the books value ----

// assetTokens returns every asset token the state may hold (a superset: a token whose record
// a reverted event deleted may stay listed, and is skipped when its record is absent), in
// ascending order. It is scanned once after NewMachine or Load and kept up to date by
// noteAsset.
func (ac *applyContext) assetTokens() ([]bookToken, error) {
	if !ac.tokensKnown {
		var tokens []common.Address
		err := ac.scanMerged([]byte{pAsset}, []byte{pAsset + 1}, func(k, _ []byte) error {
			if len(k) == 21 {
				tokens = append(tokens, common.Address(k[1:21]))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(tokens, func(a, b common.Address) int { return bytes.Compare(a[:], b[:]) })
		tokens = slices.Compact(tokens)
		ac.tokens = make([]bookToken, len(tokens))
		for i, t := range tokens {
			ac.tokens[i] = newBookToken(t)
		}
		ac.tokensKnown = true
	}
	return ac.tokens, nil
}

// bookToken is a token the books value, with its record keys built once (the overlay keeps the
// keys it is given: these are never modified).
type bookToken struct {
	addr                  common.Address
	assetK, priceK, metaK []byte
}

func newBookToken(t common.Address) bookToken {
	return bookToken{addr: t, assetK: assetKey(t), priceK: priceKey(t), metaK: assetMetaKey(t)}
}

// noteAsset adds a token whose record is being created to the known tokens.
func (m *Machine) noteAsset(token common.Address) {
	if !m.tokensKnown {
		return // scanned at the next use
	}
	i, found := slices.BinarySearchFunc(m.tokens, token, func(a bookToken, b common.Address) int { return bytes.Compare(a.addr[:], b[:]) })
	if !found {
		m.tokens = slices.Insert(m.tokens, i, newBookToken(token))
	}
}

// ---- Books ----

// Books are the fund's figures as EVENTS.md "The fund's books" defines them, derived from the
// state (ReadBooks from a reader, Machine.books inside Apply). Amounts are base units held as
// uint256 in two's complement: a figure may be negative (ingest may start mid-history, and
// totalAssets is what the vault holds less what it owes), which Signed, Int64 and the
// renderers read as such. Every division truncates toward zero.
//
// Before the books started (Started false: a state written by v0.1.0, or by this release
// while the cluster version is 0.1, see DESIGN.md "The books") Cash is unknown and zero, the
// tier values hold the assets only, TotalAssets is v0.1.0's (summed from flows) and
// ComputedSharePrice and NavDriftBps are unknown: exactly what v0.1.0 showed.
type Books struct {
	Started bool

	Cash        uint256.Int
	Tiers       [3]TierBooks // L1, L2, L3
	GrossAssets uint256.Int  // L1 + L2 + L3
	Liability   uint256.Int  // totalRedemptionLiability
	// Fees: RedemptionFees are the withdrawable redemption fees (fees.redemption), which
	// totalAssets excludes; ManagementFees and PerformanceFees the totals collected.
	RedemptionFees, ManagementFees, PerformanceFees uint256.Int
	TotalAssets                                     uint256.Int // grossAssets − liability − redemption fees
	TotalSupply, LockedShares                       uint256.Int
	SharePrice                                      uint256.Int // the chain's published NAV (1e18 = 1.0)
	// ComputedSharePrice = totalAssets × 1e18 / (totalSupply − lockedShares), valid when
	// HasComputedSharePrice (that supply is not 0).
	ComputedSharePrice    uint256.Int
	HasComputedSharePrice bool
	// NavDriftBps = (sharePrice − computedSharePrice) × 10000 / computedSharePrice, valid when
	// HasNavDrift: how far the published NAV is from the books.
	NavDriftBps   uint256.Int
	HasNavDrift   bool
	EmergencyMode bool
	HolderCount   int64
	LastBlock     uint64
	BlockTime     int64 // the latest block time applied (unix s)

	// Assets are every asset record in ascending token order with its price and value; the
	// tier values sum those that are active in a tier 0..2 (DESIGN.md "Assets").
	Assets []AssetBooks
}

// TierBooks is one tier's value, its share of grossAssets and its configured band.
type TierBooks struct {
	Value uint256.Int
	// Ratio = value × 10000 / grossAssets in basis points (0 when grossAssets ≤ 0).
	Ratio                           uint256.Int
	TargetRatio, MinRatio, MaxRatio uint256.Int
}

// AssetBooks is one asset as the books value it.
type AssetBooks struct {
	Token      common.Address
	Tier       uint8
	Active     bool
	Allocation uint256.Int
	Holding    uint256.Int
	HasPrice   bool
	Price      uint256.Int // 1e18-scaled USD per whole token
	PriceTime  int64
	Decimals   uint8       // 18 unless the asset's metadata says otherwise (CmdAssetMeta)
	Value      uint256.Int // holding × price / 10^decimals; 0 without a price
}

// Int64 returns a two's complement figure (a ratio, a drift) as an int64, saturated at the
// int64 range.
func Int64(u *uint256.Int) int64 {
	if u.Sign() < 0 {
		var n uint256.Int
		n.Neg(u)
		if !n.IsUint64() || n.Uint64() > 1<<63 {
			return math.MinInt64
		}
		return -int64(n.Uint64()) // n ≤ 2^63: -2^63 wraps to itself
	}
	if !u.IsUint64() || u.Uint64() > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u.Uint64())
}

// RatioBps returns tier t's ratio in basis points (saturated to int64).
func (b *Books) RatioBps(t int) int64 { return Int64(&b.Tiers[t].Ratio) }

// AllocationBps returns asset i's share of its tier in basis points: its value × 10000 / the
// tier's value (cash included in L1), truncated toward zero, saturated to int64; false when the
// asset does not count in a tier (inactive) or the tier's value is not positive.
func (b *Books) AllocationBps(i int) (int64, bool) {
	a := &b.Assets[i]
	if !a.Active || a.Tier >= 3 || b.Tiers[a.Tier].Value.Sign() <= 0 {
		return 0, false
	}
	var r uint256.Int
	if !mulQuo(&r, &a.Value, u256TenThousand, &b.Tiers[a.Tier].Value) {
		return 0, false
	}
	return Int64(&r), true
}

// DriftBps returns navDriftBps, false when it is unknown.
func (b *Books) DriftBps() (int64, bool) { return Int64(&b.NavDriftBps), b.HasNavDrift }

var (
	u256TenThousand = uint256.NewInt(10_000)
	// pow10 holds 10^0 … 10^77, the powers a decimals value may name (10^78 > 2^256).
	pow10 = func() [78]uint256.Int {
		var p [78]uint256.Int
		p[0].SetOne()
		for i := 1; i < len(p); i++ {
			p[i].Mul(&p[i-1], uint256.NewInt(10))
		}
		return p
	}()
)

// MaxDecimals is the largest asset decimals the books accept (10^77 is the largest power of
// ten below 2^256).
const MaxDecimals = 77

// mulQuo sets z = a × m / d truncated toward zero, a and d two's complement, m unsigned, with
// a 512-bit intermediate; false when d is 0 or the quotient does not fit a signed 256-bit
// value.
func mulQuo(z, a, m, d *uint256.Int) bool {
	if d.IsZero() {
		return false
	}
	var x, y uint256.Int
	neg := false
	x.Set(a)
	if x.Sign() < 0 {
		x.Neg(&x)
		neg = true
	}
	y.Set(d)
	if y.Sign() < 0 {
		y.Neg(&y)
		neg = !neg
	}
	if _, overflow := z.MulDivOverflow(&x, m, &y); overflow || z.Sign() < 0 {
		z.Clear()
		return false
	}
	if neg {
		z.Neg(z)
	}
	return true
}

// assetValueDec is holding × price / 10^decimals, truncated toward zero; a "negative" holding
// gives a negative value. A product beyond 256 bits keeps its low bits, as v0.1.0's did.
func assetValueDec(holding, price *uint256.Int, decimals uint8) uint256.Int {
	if decimals > MaxDecimals {
		decimals = MaxDecimals
	}
	h := *holding
	neg := h.Sign() < 0
	if neg {
		h.Neg(&h)
	}
	var v uint256.Int
	v.MulDivOverflow(&h, price, &pow10[decimals])
	if neg {
		v.Neg(&v)
	}
	return v
}

// computeBooks derives the figures from the singleton and b.Assets (filled, with each asset's
// value computed). It allocates nothing.
func computeBooks(f *fundState, b *Books) {
	b.Started = f.books
	b.Cash = f.cash
	b.Liability = f.amounts[fLiability]
	b.RedemptionFees = f.amounts[fFeeRedemption]
	b.ManagementFees = f.amounts[fFeeManagement]
	b.PerformanceFees = f.amounts[fFeePerformance]
	b.TotalSupply = f.amounts[fTotalSupply]
	b.LockedShares = f.amounts[fTotalLocked]
	b.SharePrice = f.amounts[fSharePrice]
	b.EmergencyMode = f.emergency
	b.HolderCount = f.holders
	b.LastBlock = uint64(f.ints[fLastBlock])
	b.BlockTime = f.ints[fLatestTime]
	for t := range b.Tiers {
		tb := &b.Tiers[t]
		tb.Value.Clear()
		tb.TargetRatio, tb.MinRatio, tb.MaxRatio = f.tiers[t].target, f.tiers[t].min, f.tiers[t].max
	}
	if f.books {
		b.Tiers[0].Value = f.cash
	}
	for i := range b.Assets {
		a := &b.Assets[i]
		if a.Active && a.Tier < 3 {
			b.Tiers[a.Tier].Value.Add(&b.Tiers[a.Tier].Value, &a.Value)
		}
	}
	b.GrossAssets.Clear()
	for t := range b.Tiers {
		b.GrossAssets.Add(&b.GrossAssets, &b.Tiers[t].Value)
	}
	positive := b.GrossAssets.Sign() > 0
	for t := range b.Tiers {
		r := &b.Tiers[t].Ratio
		r.Clear()
		if positive {
			mulQuo(r, &b.Tiers[t].Value, u256TenThousand, &b.GrossAssets)
		}
	}
	b.HasComputedSharePrice, b.HasNavDrift = false, false
	b.ComputedSharePrice.Clear()
	b.NavDriftBps.Clear()
	if !f.books {
		b.TotalAssets = f.amounts[fTotalAssets] // v0.1.0's figure, summed from flows
		return
	}
	b.TotalAssets.Sub(&b.GrossAssets, &b.Liability)
	b.TotalAssets.Sub(&b.TotalAssets, &b.RedemptionFees)
	var free uint256.Int
	free.Sub(&b.TotalSupply, &b.LockedShares)
	b.HasComputedSharePrice = mulQuo(&b.ComputedSharePrice, &b.TotalAssets, oneE18, &free)
	if b.HasComputedSharePrice {
		var diff uint256.Int
		diff.Sub(&b.SharePrice, &b.ComputedSharePrice)
		b.HasNavDrift = mulQuo(&b.NavDriftBps, &diff, u256TenThousand, &b.ComputedSharePrice)
	}
}

// fillAsset sets an AssetBooks from its records (price and meta may be nil).
func fillAsset(a *AssetBooks, token common.Address, x *asset, price *priceRec, decimals uint8) {
	*a = AssetBooks{Token: token, Tier: x.tier, Active: x.active, Allocation: x.alloc, Holding: x.holding, Decimals: decimals}
	if price != nil {
		a.HasPrice, a.Price, a.PriceTime = true, price.price, price.time
		a.Value = assetValueDec(&x.holding, &price.price, decimals)
	}
}

// books computes the Books of the state being applied (through the batch's overlay) into b,
// reusing b.Assets. Cheap enough to call once per batch or per NAV point: a few reads per
// asset, no allocation once b.Assets has room.
func (ac *applyContext) books(b *Books) error {
	tokens, err := ac.assetTokens()
	if err != nil {
		return err
	}
	b.Assets = b.Assets[:0]
	for i := range tokens {
		tk := &tokens[i]
		v, ok, err := ac.get(tk.assetK)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var x asset
		if err := x.decode(v); err != nil {
			return corrupt("asset", err)
		}
		var price *priceRec
		var p priceRec
		if pv, ok, err := ac.get(tk.priceK); err != nil {
			return err
		} else if ok {
			if err := p.decode(pv); err != nil {
				return corrupt("price", err)
			}
			price = &p
		}
		decimals := uint8(18)
		if mv, ok, err := ac.get(tk.metaK); err != nil {
			return err
		} else if ok {
			if decimals, err = metaDecimals(mv); err != nil {
				return corrupt("asset metadata", err)
			}
		}
		b.Assets = append(b.Assets, AssetBooks{})
		fillAsset(&b.Assets[len(b.Assets)-1], tk.addr, &x, price, decimals)
	}
	computeBooks(&ac.fund, b)
	return nil
}

// ReadBooks computes the Books of the state in r (a read view or a snapshot).
func ReadBooks(r kv.Reader) (*Books, error) {
	f, err := loadFund(r)
	if err != nil {
		return nil, err
	}
	b := &Books{}
	if err := readBookAssets(r, b); err != nil {
		return nil, err
	}
	computeBooks(&f, b)
	return b, nil
}

// readBookAssets fills b.Assets from r: every asset in ascending order with its current price
// and decimals.
func readBookAssets(r kv.Reader, b *Books) error {
	type row struct {
		token common.Address
		x     asset
	}
	var rows []row
	err := scan(r, []byte{pAsset}, []byte{pAsset + 1}, false, func(k, v []byte) (bool, error) {
		rw := row{token: [20]byte(k[1:21])}
		if err := rw.x.decode(v); err != nil {
			return false, corrupt("asset", err)
		}
		rows = append(rows, rw)
		return true, nil
	})
	if err != nil {
		return err
	}
	b.Assets = make([]AssetBooks, len(rows))
	for i := range rows {
		var price *priceRec
		if v, ok, err := readOpt(r, priceKey(rows[i].token)); err != nil {
			return err
		} else if ok {
			price = &priceRec{}
			if err := price.decode(v); err != nil {
				return corrupt("price", err)
			}
		}
		decimals := uint8(18)
		if v, ok, err := readOpt(r, assetMetaKey(rows[i].token)); err != nil {
			return err
		} else if ok {
			var meta assetMeta
			if err := meta.decode(v); err != nil {
				return corrupt("asset metadata", err)
			}
			decimals = meta.decimals
		}
		fillAsset(&b.Assets[i], rows[i].token, &rows[i].x, price, decimals)
	}
	return nil
}

// recordVersionUpTo reads a record's leading version byte and accepts 1..newest (for a record
// kind whose format grew past recVersion).
func (d *dec) recordVersionUpTo(newest byte) {
	v := d.u8()
	if d.err != nil {
		return
	}
	if err := checkVersion("record", v, newest); err != nil {
		d.err, d.b = err, nil
		return
	}
	d.ver = v
}

// newestRecordVersion is the newest version of a primary record kind (by key prefix) this
// release reads: recVersion unless the kind's format grew.
func newestRecordVersion(prefix byte) byte {
	switch prefix {
	case pFund:
		return fundRecVersion
	case pRisk:
		return riskVersion
	case pTicket:
		return ticketVersion
	}
	return recVersion
}

// booksClass marks the classes whose change may change the books' figures.
var booksClass = [NumClasses]bool{ClassOverview: true, ClassTiers: true, ClassAssets: true, ClassPrices: true}

// refreshFigures recomputes the singleton's derived figures at the end of a command that
// changed what they derive from, so that they are a function of the state after each command
// (never of how commands were batched).
func (ac *applyContext) refreshFigures() error {
	stale := ac.figuresStale
	ac.figuresStale = false
	if !stale || !ac.fund.books {
		return nil
	}
	b := &ac.booksBuf
	if err := ac.books(b); err != nil {
		return err
	}
	g := bookFigures{gross: b.GrossAssets, total: b.TotalAssets, computedPrice: b.ComputedSharePrice, driftBp: b.NavDriftBps,
		hasComputed: b.HasComputedSharePrice, hasDrift: b.HasNavDrift}
	for t := range b.Tiers {
		g.tierValue[t], g.tierRatio[t] = b.Tiers[t].Value, b.Tiers[t].Ratio
	}
	if g != ac.fund.figures {
		ac.fund.figures = g
		ac.fundDirty = true
	}
	return nil
}

// ---- for the read model ----

// BooksOf computes the Books of a stored singleton (LoadFund) and its assets (each with its
// Value computed by AssetValue; ascending by token), which b keeps as its Assets.
func BooksOf(f *StoredFund, assets []AssetBooks) *Books {
	st := newFundState()
	st.amounts[fSharePrice], st.amounts[fTotalAssets], st.amounts[fTotalSupply] = f.SharePrice, f.TotalAssets, f.TotalSupply
	st.amounts[fTotalLocked], st.amounts[fLiability] = f.TotalLockedShares, f.TotalRedemptionLiability
	st.amounts[fFeeManagement], st.amounts[fFeePerformance], st.amounts[fFeeRedemption] = f.FeeManagement, f.FeePerformance, f.FeeRedemption
	st.emergency, st.holders = f.EmergencyMode, f.HolderCount
	st.ints[fLastBlock], st.ints[fLatestTime], st.ints[fUpdatedAt] = int64(f.LastBlock), f.LatestBlockTime, f.UpdatedAt
	for t := range st.tiers {
		st.tiers[t] = band{target: f.Tiers[t].Target, min: f.Tiers[t].Min, max: f.Tiers[t].Max}
	}
	st.books, st.cash = f.Books, f.Cash
	b := &Books{Assets: assets}
	computeBooks(&st, b)
	return b
}

// AssetValue is an asset's value in the books: holding (two's complement) × price /
// 10^decimals, truncated toward zero.
func AssetValue(holding, price *uint256.Int, decimals uint8) uint256.Int {
	return assetValueDec(holding, price, decimals)
}

// StoredAssetMeta is an asset's metadata (D) as stored.
type StoredAssetMeta struct {
	Decimals     uint8
	Symbol, Name string
}

// AssetMetaKey is the key of a token's metadata record.
func AssetMetaKey(token common.Address) []byte { return assetMetaKey(token) }

// DecodeAssetMetaRecord decodes an asset metadata record.
func DecodeAssetMetaRecord(v []byte) (StoredAssetMeta, error) {
	var m assetMeta
	if err := m.decode(v); err != nil {
		return StoredAssetMeta{}, corrupt("asset metadata", err)
	}
	return StoredAssetMeta{Decimals: m.decimals, Symbol: m.symbol, Name: m.name}, nil
}

// readOpt reads k from r: (nil, false, nil) when absent.
func readOpt(r kv.Reader, k []byte) ([]byte, bool, error) {
	v, err := r.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("fund: get: %w", err)
	}
	return v, true, nil
}

// Int256String renders a two's complement figure as a signed decimal ("-5").
func Int256String(u *uint256.Int) string {
	if u.Sign() < 0 {
		return "-" + new(uint256.Int).Neg(u).Dec()
	}
	return u.Dec()
}
