package rebalance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/holiman/uint256"
)

// Tolerance is how far, in basis points, an estimated post-state tier ratio may be from its
// target: a plan whose estimate is further away is not produced (ErrInfeasible).
const Tolerance = 50

// Tiers: 0 L1 (cash and cash-like assets), 1 L2, 2 L3 (EVENTS.md, "Asset controller").
const NumTiers = 3

// TierNames are the API's names of the tiers.
var TierNames = [NumTiers]string{"L1", "L2", "L3"}

// MaxSlippageBps bounds an asset's slippage bound (100 %).
const MaxSlippageBps = 10_000

// MaxDecimals is the largest asset decimals the planner values (10^77 < 2^256).
const MaxDecimals = 77

// ErrInfeasible is wrapped by every *InfeasibleError.
var ErrInfeasible = errors.New("rebalance: infeasible")

// InfeasibleError says why no plan reaches the targets: a reason code, a message an operator
// can act on, and the figures involved (amounts as decimal strings, ratios in basis points).
type InfeasibleError struct {
	Reason  string // RESERVED_CASH, NO_ASSET, GRANULARITY, BAD_TARGETS, BAD_BOOKS, TARGET_OUTSIDE_BAND
	Message string
	Details map[string]any
}

// Error implements error.
func (e *InfeasibleError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInfeasible) true.
func (e *InfeasibleError) Unwrap() error { return ErrInfeasible }

// Reasons of an InfeasibleError.
const (
	ReasonBadTargets    = "BAD_TARGETS"
	ReasonOutsideBand   = "TARGET_OUTSIDE_BAND"
	ReasonBadBooks      = "BAD_BOOKS"
	ReasonNoAsset       = "NO_ASSET"
	ReasonReservedCash  = "RESERVED_CASH"
	ReasonGranularity   = "GRANULARITY"
	ReasonNothingToPlan = "NOTHING_TO_PLAN"
)

func infeasible(reason string, details map[string]any, format string, args ...any) *InfeasibleError {
	if details == nil {
		details = map[string]any{}
	}
	details["reason"] = reason
	return &InfeasibleError{Reason: reason, Message: fmt.Sprintf(format, args...), Details: details}
}

// Asset is one asset as the books hold it (fund.AssetBooks) and how it may be traded.
type Asset struct {
	Token      [20]byte
	Tier       uint8
	Active     bool
	Allocation uint64 // target allocation within its tier, basis points
	Holding    uint256.Int
	HasPrice   bool
	Price      uint256.Int // 1e18-scaled USD per whole token
	Decimals   uint8
	// SlippageBps bounds how much less than estimated a trade of this asset may receive.
	SlippageBps uint64
}

// Band is a tier's configured band (basis points); Max 0 is no band (not checked).
type Band struct {
	Target, Min, Max uint64
}

// Input is everything a plan is computed from: the books (cash, the assets with their prices
// and decimals), the target ratios, the bands they must lie in, and the cash reserved for the
// redemptions due within the liquidity horizon, which the plan may not spend.
type Input struct {
	Cash     uint256.Int // two's complement as in the books: a negative cash is BAD_BOOKS
	Assets   []Asset     // any order; planned in ascending token order
	Targets  [NumTiers]uint64
	Bands    [NumTiers]Band
	Reserved uint256.Int
}

// ActionType is what an action does on the asset controller.
type ActionType uint8

// The action types (stored; never renumber).
const (
	Purchase ActionType = 1 // purchaseAsset(token, amount, minReceived tokens)
	Redeem   ActionType = 2 // redeemAsset(token, tokens, minReceived USDT)
)

// String returns the API name.
func (t ActionType) String() string {
	switch t {
	case Purchase:
		return "PURCHASE"
	case Redeem:
		return "REDEEM"
	}
	return ""
}

// Action is one trade of a plan.
type Action struct {
	Type  ActionType
	Tier  uint8
	Asset [20]byte
	// Amount is the stablecoin the trade moves: spent (PURCHASE) or expected (REDEEM).
	Amount uint256.Int
	// Tokens is the tokens expected (PURCHASE) or sold (REDEEM, the exact amount sent).
	Tokens uint256.Int
	// MinReceived is what the trade must receive at least (tokens for a PURCHASE, stablecoin
	// for a REDEEM): the estimate less MaxSlippageBps, passed to the contract.
	MinReceived    uint256.Int
	MaxSlippageBps uint64
}

// TierState is one tier's value and share of the gross assets.
type TierState struct {
	Value uint256.Int
	Ratio uint64 // basis points, value × 10000 / gross, truncated
}

// State is the fund's allocation: cash, gross assets (L1 + L2 + L3) and the tiers.
type State struct {
	Cash  uint256.Int
	Gross uint256.Int
	Tiers [NumTiers]TierState
}

// Plan is a computed plan: the state before, the targets' state, the estimated state after
// the actions (at the oracle's prices), the actions in execution order (every REDEEM before
// every PURCHASE, each group in token order) and the stablecoin they move in total.
type Plan struct {
	Pre, Target, Post State
	Actions           []Action
	TotalAmount       uint256.Int
}

var (
	tenThousand = uint256.NewInt(10_000)
	pow10       = func() [MaxDecimals + 1]uint256.Int {
		var p [MaxDecimals + 1]uint256.Int
		p[0].SetOne()
		for i := 1; i < len(p); i++ {
			p[i].Mul(&p[i-1], uint256.NewInt(10))
		}
		return p
	}()
)

// mulDiv is a × b / d truncated; false on overflow or d = 0.
func mulDiv(a, b, d *uint256.Int) (uint256.Int, bool) {
	var z uint256.Int
	if d.IsZero() {
		return z, false
	}
	_, over := z.MulDivOverflow(a, b, d)
	return z, !over
}

// Value is holding × price / 10^decimals, truncated (the books' asset value).
func Value(holding, price *uint256.Int, decimals uint8) (uint256.Int, bool) {
	if decimals > MaxDecimals {
		return uint256.Int{}, false
	}
	return mulDiv(holding, price, &pow10[decimals])
}

// tradable reports whether the planner may trade a: active in L2 or L3, priced.
func (a *Asset) tradable() bool {
	return a.Active && a.Tier >= 1 && a.Tier < NumTiers && a.HasPrice && !a.Price.IsZero()
}

// counted reports whether a's value counts in its tier (the books: active, tier 0..2).
func (a *Asset) counted() bool { return a.Active && a.Tier < NumTiers }

// StateOf computes the allocation of cash and assets as the books do: L1 = cash + the active
// L1 assets' values, L2 and L3 the active assets' values (an asset without a price counts 0).
func StateOf(cash *uint256.Int, assets []Asset) (State, error) {
	var s State
	if cash.Sign() < 0 {
		return s, infeasible(ReasonBadBooks, map[string]any{"cash": signed(cash)}, "cash is negative (%s): the books do not describe a fund to rebalance", signed(cash))
	}
	s.Cash = *cash
	s.Tiers[0].Value = *cash
	for i := range assets {
		a := &assets[i]
		if !a.counted() || !a.HasPrice {
			continue
		}
		if a.Holding.Sign() < 0 {
			return s, infeasible(ReasonBadBooks, map[string]any{"asset": hexAddr(a.Token)}, "asset %s has a negative holding", hexAddr(a.Token))
		}
		v, ok := Value(&a.Holding, &a.Price, a.Decimals)
		if !ok {
			return s, infeasible(ReasonBadBooks, map[string]any{"asset": hexAddr(a.Token)}, "asset %s's value does not fit 256 bits", hexAddr(a.Token))
		}
		if _, over := s.Tiers[a.Tier].Value.AddOverflow(&s.Tiers[a.Tier].Value, &v); over {
			return s, infeasible(ReasonBadBooks, nil, "tier %s's value does not fit 256 bits", TierNames[a.Tier])
		}
	}
	for t := range s.Tiers {
		if _, over := s.Gross.AddOverflow(&s.Gross, &s.Tiers[t].Value); over || s.Gross.Sign() < 0 {
			return s, infeasible(ReasonBadBooks, nil, "gross assets do not fit 255 bits")
		}
	}
	s.setRatios()
	return s, nil
}

func (s *State) setRatios() {
	for t := range s.Tiers {
		s.Tiers[t].Ratio = 0
		if !s.Gross.IsZero() {
			r, _ := mulDiv(&s.Tiers[t].Value, tenThousand, &s.Gross) // value ≤ gross < 2^255: no overflow
			s.Tiers[t].Ratio = r.Uint64()
		}
	}
}

// Deviation is ratio − target in basis points.
func Deviation(ratio, target uint64) int64 { return int64(ratio) - int64(target) }

// MaxDeviation is the largest |ratio − target| over the tiers of s, in basis points.
func MaxDeviation(s *State, targets [NumTiers]uint64) uint64 {
	var m uint64
	for t := range s.Tiers {
		m = max(m, absDev(s.Tiers[t].Ratio, targets[t]))
	}
	return m
}

func absDev(ratio, target uint64) uint64 {
	if ratio > target {
		return ratio - target
	}
	return target - ratio
}

// CheckTargets reports targets that are not three ratios summing to 10000 basis points, or
// (for a tier with a band) outside the band.
func CheckTargets(targets [NumTiers]uint64, bands [NumTiers]Band) error {
	var sum uint64
	for t, v := range targets {
		if v > 10_000 {
			return infeasible(ReasonBadTargets, map[string]any{"tier": TierNames[t], "targetRatio": v}, "target ratio of %s is %d bps, over 10000", TierNames[t], v)
		}
		sum += v
	}
	if sum != 10_000 {
		return infeasible(ReasonBadTargets, map[string]any{"sum": sum}, "target ratios sum to %d bps, not 10000", sum)
	}
	for t, b := range bands {
		if b.Max != 0 && (targets[t] < b.Min || targets[t] > b.Max) {
			return infeasible(ReasonOutsideBand, map[string]any{"tier": TierNames[t], "targetRatio": targets[t], "minRatio": b.Min, "maxRatio": b.Max},
				"target ratio of %s (%d bps) is outside its band [%d, %d]", TierNames[t], targets[t], b.Min, b.Max)
		}
	}
	return nil
}

// Compute computes the plan that moves the fund to in.Targets (see DESIGN.md, "The planner"):
// the L2 and L3 tiers reach their target values through their tradable assets, each asset its
// allocation's share of its tier; L1 is what remains, cash and its assets, which the planner
// does not trade. It is a pure function of in. An input no plan satisfies (the post-state
// outside ±Tolerance of a target, reserved cash spent, targets that are not ratios, books that
// cannot be valued) is an *InfeasibleError naming the reason and the figures.
func Compute(in *Input) (*Plan, error) {
	if err := CheckTargets(in.Targets, in.Bands); err != nil {
		return nil, err
	}
	for i := range in.Assets {
		a := &in.Assets[i]
		if a.SlippageBps > MaxSlippageBps || a.Decimals > MaxDecimals {
			return nil, infeasible(ReasonBadBooks, map[string]any{"asset": hexAddr(a.Token)}, "asset %s: slippage %d bps or decimals %d out of range", hexAddr(a.Token), a.SlippageBps, a.Decimals)
		}
	}
	if in.Reserved.Sign() < 0 {
		return nil, infeasible(ReasonBadBooks, nil, "reserved cash is negative")
	}
	assets := slices.Clone(in.Assets)
	slices.SortStableFunc(assets, func(a, b Asset) int { return bytes.Compare(a.Token[:], b.Token[:]) })
	for i := 1; i < len(assets); i++ {
		if assets[i].Token == assets[i-1].Token {
			return nil, infeasible(ReasonBadBooks, map[string]any{"asset": hexAddr(assets[i].Token)}, "asset %s is listed twice", hexAddr(assets[i].Token))
		}
	}
	pre, err := StateOf(&in.Cash, assets)
	if err != nil {
		return nil, err
	}
	if pre.Gross.IsZero() {
		return nil, infeasible(ReasonNothingToPlan, nil, "the fund holds nothing: gross assets are 0")
	}
	p := &Plan{Pre: pre}

	// The targets' values: L2 and L3 their share of the gross assets, L1 the rest (so they sum
	// to the gross exactly).
	tgt := &p.Target
	tgt.Gross = pre.Gross
	tgt.Tiers[0].Value = pre.Gross
	for t := 1; t < NumTiers; t++ {
		v, _ := mulDiv(&pre.Gross, uint256.NewInt(in.Targets[t]), tenThousand)
		tgt.Tiers[t].Value = v
		tgt.Tiers[0].Value.Sub(&tgt.Tiers[0].Value, &v)
	}
	tgt.setRatios()
	var l1Assets uint256.Int
	l1Assets.Sub(&pre.Tiers[0].Value, &pre.Cash)
	if tgt.Tiers[0].Value.Cmp(&l1Assets) >= 0 {
		tgt.Cash.Sub(&tgt.Tiers[0].Value, &l1Assets)
	}

	// Each tradable asset's target value within its tier.
	targetOf := make([]uint256.Int, len(assets))
	for t := 1; t < NumTiers; t++ {
		var idx []int
		var weights uint64
		for i := range assets {
			if assets[i].Tier == uint8(t) && assets[i].tradable() {
				idx = append(idx, i)
				weights += assets[i].Allocation
			}
		}
		if len(idx) == 0 {
			if !tgt.Tiers[t].Value.IsZero() || !pre.Tiers[t].Value.IsZero() {
				return nil, infeasible(ReasonNoAsset, map[string]any{"tier": TierNames[t]},
					"tier %s has no active asset with a price to trade", TierNames[t])
			}
			continue
		}
		equal := weights == 0 // no allocation set: equal shares
		if equal {
			weights = uint64(len(idx))
		}
		var left uint256.Int
		left.Set(&tgt.Tiers[t].Value)
		for n, i := range idx {
			if n == len(idx)-1 {
				targetOf[i] = left // the last takes the remainder: the tier sums exactly
				break
			}
			w := assets[i].Allocation
			if equal {
				w = 1
			}
			v, _ := mulDiv(&tgt.Tiers[t].Value, uint256.NewInt(w), uint256.NewInt(weights))
			targetOf[i] = v
			left.Sub(&left, &v)
		}
	}

	// The trades, and the state after them at the oracle's prices.
	var redeems, purchases []Action
	postAssets := slices.Clone(assets)
	cash := pre.Cash
	for i := range assets {
		a := &assets[i]
		if !a.tradable() {
			continue
		}
		cur, _ := Value(&a.Holding, &a.Price, a.Decimals) // valued in StateOf already
		act := Action{Tier: a.Tier, Asset: a.Token, MaxSlippageBps: a.SlippageBps}
		switch targetOf[i].Cmp(&cur) {
		case 1: // buy
			act.Type = Purchase
			act.Amount.Sub(&targetOf[i], &cur)
			tokens, ok := mulDiv(&act.Amount, &pow10[a.Decimals], &a.Price)
			if !ok {
				return nil, infeasible(ReasonBadBooks, map[string]any{"asset": hexAddr(a.Token)}, "asset %s: the purchase's tokens do not fit 256 bits", hexAddr(a.Token))
			}
			if tokens.IsZero() {
				continue // less than one base unit of the token: nothing to buy
			}
			act.Tokens = tokens
			act.MinReceived = lessSlippage(&tokens, a.SlippageBps)
			postAssets[i].Holding.Add(&postAssets[i].Holding, &tokens)
			cash.Sub(&cash, &act.Amount)
			purchases = append(purchases, act)
		case -1: // sell
			act.Type = Redeem
			var want uint256.Int
			want.Sub(&cur, &targetOf[i])
			tokens, _ := mulDiv(&want, &pow10[a.Decimals], &a.Price) // ≤ holding: want ≤ value
			if tokens.Gt(&a.Holding) {
				tokens = a.Holding
			}
			if tokens.IsZero() {
				continue
			}
			got, _ := Value(&tokens, &a.Price, a.Decimals)
			act.Tokens, act.Amount = tokens, got
			act.MinReceived = lessSlippage(&got, a.SlippageBps)
			postAssets[i].Holding.Sub(&postAssets[i].Holding, &tokens)
			cash.Add(&cash, &got)
			redeems = append(redeems, act)
		}
	}
	p.Actions = append(redeems, purchases...)
	for i := range p.Actions {
		p.TotalAmount.Add(&p.TotalAmount, &p.Actions[i].Amount)
	}

	// Cash after the redemptions and before the purchases is the highest it gets; the
	// purchases bring it down to its final value, which must keep the reserve.
	if cash.Sign() < 0 || cash.Lt(&in.Reserved) {
		post := signed(&cash)
		var need uint256.Int // the L1 ratio that would keep the reserve
		need.Add(&in.Reserved, &l1Assets)
		minL1, _ := mulDiv(&need, tenThousand, &pre.Gross)
		return nil, infeasible(ReasonReservedCash, map[string]any{"reservedCash": in.Reserved.Dec(), "postCash": post,
			"targetRatio": in.Targets[0], "minL1Ratio": minL1.Uint64() + 1},
			"the plan would leave %s of cash, below the %s reserved for redemptions due within the liquidity horizon: raise the L1 target to at least %d bps",
			post, in.Reserved.Dec(), minL1.Uint64()+1)
	}
	post, err := StateOf(&cash, postAssets)
	if err != nil {
		return nil, err
	}
	p.Post = post
	for t := range post.Tiers {
		if absDev(post.Tiers[t].Ratio, in.Targets[t]) > Tolerance {
			return nil, infeasible(ReasonGranularity, map[string]any{"tier": TierNames[t], "targetRatio": in.Targets[t], "postRatio": post.Tiers[t].Ratio},
				"tier %s would end at %d bps, more than %d bps from its target %d: the assets' prices and decimals do not allow finer trades",
				TierNames[t], post.Tiers[t].Ratio, Tolerance, in.Targets[t])
		}
	}
	return p, nil
}

// lessSlippage is v × (10000 − bps) / 10000, truncated.
func lessSlippage(v *uint256.Int, bps uint64) uint256.Int {
	z, _ := mulDiv(v, uint256.NewInt(10_000-min(bps, 10_000)), tenThousand)
	return z
}

// NeedsRebalance reports whether a tier's ratio is outside its band (a tier without a band,
// Max 0, never is).
func NeedsRebalance(s *State, bands [NumTiers]Band) bool {
	for t, b := range bands {
		if b.Max != 0 && (s.Tiers[t].Ratio < b.Min || s.Tiers[t].Ratio > b.Max) {
			return true
		}
	}
	return false
}

func signed(u *uint256.Int) string {
	if u.Sign() < 0 {
		return "-" + new(uint256.Int).Neg(u).Dec()
	}
	return u.Dec()
}

func hexAddr(a [20]byte) string { return fmt.Sprintf("0x%x", a[:]) }
