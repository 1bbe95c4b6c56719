package rebalance_test

import (
	"errors"
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/holiman/uint256"

	"paimon/fund"
	"paimon/rebalance"
)

var (
	propN    = flag.Int("rebalance.n", 3000, "random books per property test")
	propSeed = flag.Uint64("rebalance.seed", 1, "seed of the random books")
)

// gen draws random books. feasible draws books whose targets the planner must reach: prices
// and holdings where one token's granularity is far below 50 bps of the gross, the reserve
// below what L1's target leaves in cash.
type gen struct {
	r *rand.Rand
}

func (g gen) u(lo, hi uint64) uint64 { return lo + g.r.Uint64N(hi-lo+1) }

// big returns a random amount of about 10^lo..10^hi base units.
func (g gen) big(lo, hi int) uint256.Int {
	var z uint256.Int
	z.SetUint64(g.u(1, 1e9))
	e := int(g.u(uint64(lo), uint64(hi)))
	for range e - 9 {
		z.Mul(&z, uint256.NewInt(10))
	}
	return z
}

func (g gen) targets() [3]uint64 {
	a := g.u(0, 10_000)
	b := g.u(0, 10_000-a)
	t := [3]uint64{a, b, 10_000 - a - b}
	g.r.Shuffle(3, func(i, j int) { t[i], t[j] = t[j], t[i] })
	return t
}

func (g gen) input(feasible bool) rebalance.Input {
	in := rebalance.Input{Cash: g.big(18, 26), Targets: g.targets()}
	n := int(g.u(0, 7))
	if feasible {
		n = int(g.u(2, 7))
	}
	for i := range n {
		a := rebalance.Asset{Tier: uint8(g.u(0, 2)), Active: g.r.IntN(6) != 0, Allocation: g.u(0, 10_000),
			HasPrice: g.r.IntN(8) != 0, Decimals: []uint8{6, 8, 18}[g.r.IntN(3)], SlippageBps: g.u(0, 300)}
		a.Token[0], a.Token[19] = byte(g.r.IntN(256)), byte(i)
		a.Price = g.big(15, 21)
		a.Holding = g.big(int(a.Decimals), int(a.Decimals)+8)
		if g.r.IntN(5) == 0 {
			a.Holding.Clear()
		}
		if feasible {
			a.Active, a.HasPrice = true, true
			if i < 2 {
				a.Tier = uint8(i + 1) // L2 and L3 each have a tradable asset
			}
		}
		in.Assets = append(in.Assets, a)
	}
	if g.r.IntN(3) != 0 {
		in.Reserved = g.big(15, 26)
	}
	if feasible {
		in.Reserved.Clear()
		pre, err := rebalance.StateOf(&in.Cash, in.Assets)
		if err != nil {
			panic(err)
		}
		// The reserve: up to 90 % of the cash L1's target leaves, so that it can hold.
		var l1, l1Assets uint256.Int
		l1.MulDivOverflow(&pre.Gross, uint256.NewInt(in.Targets[0]), uint256.NewInt(10_000))
		l1Assets.Sub(&pre.Tiers[0].Value, &pre.Cash)
		l1Assets.MulDivOverflow(&l1Assets, uint256.NewInt(10_000), uint256.NewInt(10_000))
		if in.Targets[0] < 100 || l1.Cmp(&l1Assets) <= 0 { // L1 assets are not traded: L1 must hold them
			in.Targets = [3]uint64{10_000 - in.Targets[2] - 3000, 3000, in.Targets[2]}
			if in.Targets[2] > 7000-1 {
				in.Targets = [3]uint64{4000, 3000, 3000}
			}
			for i := range in.Assets {
				if in.Assets[i].Tier == 0 {
					in.Assets[i].Holding.Clear()
				}
			}
		}
		var free uint256.Int
		l1.MulDivOverflow(&pre.Gross, uint256.NewInt(in.Targets[0]), uint256.NewInt(10_000))
		free.Sub(&l1, &l1Assets)
		if free.Sign() > 0 {
			in.Reserved.MulDivOverflow(&free, uint256.NewInt(g.u(0, 9)), uint256.NewInt(10))
		}
	}
	return in
}

// books is an independent valuation: fund's own (fund.AssetValue, the books' tier rule).
type books struct {
	cash    uint256.Int
	holding map[[20]byte]uint256.Int
}

func value(in *rebalance.Input, b *books) (tiers [3]uint256.Int, gross uint256.Int, ratios [3]int64) {
	tiers[0] = b.cash
	for _, a := range in.Assets {
		if !a.Active || !a.HasPrice {
			continue
		}
		h := b.holding[a.Token]
		v := fund.AssetValue(&h, &a.Price, a.Decimals)
		tiers[a.Tier].Add(&tiers[a.Tier], &v)
	}
	for t := range tiers {
		gross.Add(&gross, &tiers[t])
	}
	for t := range tiers {
		var r uint256.Int
		if !gross.IsZero() {
			r.MulDivOverflow(&tiers[t], uint256.NewInt(10_000), &gross)
		}
		ratios[t] = int64(r.Uint64())
	}
	return
}

// check verifies a plan against the books without the planner's code: it applies the actions
// in order, tokens at 10^decimals / price as the books value them.
func check(t *testing.T, in *rebalance.Input, p *rebalance.Plan) {
	t.Helper()
	b := &books{cash: in.Cash, holding: map[[20]byte]uint256.Int{}}
	byToken := map[[20]byte]rebalance.Asset{}
	for _, a := range in.Assets {
		b.holding[a.Token] = a.Holding
		byToken[a.Token] = a
	}
	_, gross0, ratios0 := value(in, b)
	if p.Pre.Gross != gross0 {
		t.Fatalf("pre gross %s, books %s", p.Pre.Gross.Dec(), gross0.Dec())
	}
	for tier := range ratios0 {
		if int64(p.Pre.Tiers[tier].Ratio) != ratios0[tier] {
			t.Fatalf("pre ratio %s %d, books %d", rebalance.TierNames[tier], p.Pre.Tiers[tier].Ratio, ratios0[tier])
		}
	}
	var total uint256.Int
	purchasing := false
	for i, act := range p.Actions {
		a, ok := byToken[act.Asset]
		if !ok || !a.Active || !a.HasPrice || a.Tier == 0 || act.Tier != a.Tier {
			t.Fatalf("action %d trades %x (tier %d), not a tradable L2/L3 asset", i, act.Asset, act.Tier)
		}
		if act.Tokens.IsZero() || act.MaxSlippageBps != a.SlippageBps {
			t.Fatalf("action %d: tokens %s, slippage %d (asset's %d)", i, act.Tokens.Dec(), act.MaxSlippageBps, a.SlippageBps)
		}
		h := b.holding[act.Asset]
		switch act.Type {
		case rebalance.Redeem:
			if purchasing {
				t.Fatalf("action %d: a REDEEM after a PURCHASE", i)
			}
			if act.Tokens.Gt(&h) {
				t.Fatalf("action %d sells %s tokens of a holding of %s", i, act.Tokens.Dec(), h.Dec())
			}
			got := fund.AssetValue(&act.Tokens, &a.Price, a.Decimals)
			if got != act.Amount {
				t.Fatalf("action %d: amount %s, tokens are worth %s", i, act.Amount.Dec(), got.Dec())
			}
			h.Sub(&h, &act.Tokens)
			b.cash.Add(&b.cash, &got)
			var min uint256.Int
			min.MulDivOverflow(&got, uint256.NewInt(10_000-act.MaxSlippageBps), uint256.NewInt(10_000))
			if min != act.MinReceived {
				t.Fatalf("action %d: minReceived %s, want %s", i, act.MinReceived.Dec(), min.Dec())
			}
		case rebalance.Purchase:
			purchasing = true
			var tokens uint256.Int
			tokens.MulDivOverflow(&act.Amount, new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(uint64(a.Decimals))), &a.Price)
			if tokens != act.Tokens {
				t.Fatalf("action %d: %s tokens for %s, want %s", i, act.Tokens.Dec(), act.Amount.Dec(), tokens.Dec())
			}
			h.Add(&h, &tokens)
			if b.cash.Lt(&act.Amount) {
				t.Fatalf("action %d spends %s of %s cash", i, act.Amount.Dec(), b.cash.Dec())
			}
			b.cash.Sub(&b.cash, &act.Amount)
			if b.cash.Lt(&in.Reserved) {
				t.Fatalf("action %d leaves %s cash, below the %s reserved", i, b.cash.Dec(), in.Reserved.Dec())
			}
		default:
			t.Fatalf("action %d: type %d", i, act.Type)
		}
		b.holding[act.Asset] = h
		total.Add(&total, &act.Amount)
	}
	if total != p.TotalAmount {
		t.Fatalf("totalAmount %s, actions sum to %s", p.TotalAmount.Dec(), total.Dec())
	}
	if b.cash.Lt(&in.Reserved) {
		t.Fatalf("post cash %s below the reserve %s", b.cash.Dec(), in.Reserved.Dec())
	}
	tiers, gross, ratios := value(in, b)
	if p.Post.Gross != gross || p.Post.Cash != b.cash {
		t.Fatalf("post gross %s cash %s, books %s %s", p.Post.Gross.Dec(), p.Post.Cash.Dec(), gross.Dec(), b.cash.Dec())
	}
	for tier := range tiers {
		if p.Post.Tiers[tier].Value != tiers[tier] || int64(p.Post.Tiers[tier].Ratio) != ratios[tier] {
			t.Fatalf("post %s: %s %d bps, books %s %d", rebalance.TierNames[tier], p.Post.Tiers[tier].Value.Dec(), p.Post.Tiers[tier].Ratio, tiers[tier].Dec(), ratios[tier])
		}
		if d := ratios[tier] - int64(in.Targets[tier]); d > rebalance.Tolerance || d < -rebalance.Tolerance {
			t.Fatalf("post %s at %d bps, target %d", rebalance.TierNames[tier], ratios[tier], in.Targets[tier])
		}
	}
}

// TestPlanProperties: on random books, a plan is either correct (checked independently: the
// post-state within ±50 bps of every target, no sale above a holding, no purchase into the
// reserved cash, redemptions first, the estimates the books' own valuation) or an
// *InfeasibleError whose reason holds; and on books drawn feasible, always a plan.
func TestPlanProperties(t *testing.T) {
	g := gen{r: rand.New(rand.NewPCG(*propSeed, 13))}
	reasons := map[string]int{}
	for i := range *propN {
		feasible := i%2 == 0
		in := g.input(feasible)
		p, err := rebalance.Compute(&in)
		if err != nil {
			var ie *rebalance.InfeasibleError
			if !errors.As(err, &ie) || !errors.Is(err, rebalance.ErrInfeasible) || ie.Message == "" || ie.Details["reason"] != ie.Reason {
				t.Fatalf("case %d: error %v is not an InfeasibleError", i, err)
			}
			if feasible {
				t.Fatalf("case %d (feasible books): %v %v", i, err, ie.Details)
			}
			reasons[ie.Reason]++
			checkReason(t, &in, ie)
			continue
		}
		reasons["OK"]++
		check(t, &in, p)
		// Deterministic: the same input gives the same plan, whatever the assets' order.
		rev := in
		rev.Assets = append([]rebalance.Asset(nil), in.Assets...)
		for l, r := 0, len(rev.Assets)-1; l < r; l, r = l+1, r-1 {
			rev.Assets[l], rev.Assets[r] = rev.Assets[r], rev.Assets[l]
		}
		if q, err := rebalance.Compute(&rev); err != nil || !samePlan(p, q) {
			t.Fatalf("case %d: the assets' order changed the plan (%v)", i, err)
		}
	}
	t.Logf("outcomes over %d books (seed %d): %v", *propN, *propSeed, reasons)
	if reasons["OK"] < *propN/2 {
		t.Fatalf("only %d plans out of %d", reasons["OK"], *propN)
	}
}

// checkReason confirms an infeasibility from the books, without the planner.
func checkReason(t *testing.T, in *rebalance.Input, ie *rebalance.InfeasibleError) {
	t.Helper()
	b := &books{cash: in.Cash, holding: map[[20]byte]uint256.Int{}}
	for _, a := range in.Assets {
		b.holding[a.Token] = a.Holding
	}
	tiers, gross, _ := value(in, b)
	switch ie.Reason {
	case rebalance.ReasonReservedCash:
		// L1's target less its (untraded) assets is below the reserve, within the rounding of
		// the trades (one base unit per action).
		var l1, l1Assets, room uint256.Int
		l1.MulDivOverflow(&gross, uint256.NewInt(10_000-in.Targets[1]-in.Targets[2]), uint256.NewInt(10_000))
		l1Assets.Sub(&tiers[0], &in.Cash)
		room.Sub(&l1, &l1Assets)
		room.Sub(&room, uint256.NewInt(uint64(3*len(in.Assets)+3)))
		if room.Sign() >= 0 && !room.Lt(&in.Reserved) {
			t.Fatalf("RESERVED_CASH, but L1's target leaves %s of cash for a reserve of %s", room.Dec(), in.Reserved.Dec())
		}
	case rebalance.ReasonNoAsset:
		tier := map[string]uint8{"L2": 1, "L3": 2}[ie.Details["tier"].(string)]
		for _, a := range in.Assets {
			if a.Tier == tier && a.Active && a.HasPrice && !a.Price.IsZero() {
				t.Fatalf("NO_ASSET for %s, which has %x", ie.Details["tier"], a.Token)
			}
		}
	case rebalance.ReasonGranularity:
		// One token of some asset must be worth more than a basis point of the gross.
		coarse := false
		for _, a := range in.Assets {
			one := fund.AssetValue(uint256.NewInt(1), &a.Price, a.Decimals)
			var bp uint256.Int
			bp.Div(&gross, uint256.NewInt(10_000))
			coarse = coarse || !one.Lt(&bp)
		}
		if !coarse {
			t.Fatalf("GRANULARITY with fine-grained assets: %v", ie.Details)
		}
	case rebalance.ReasonNothingToPlan:
		if !gross.IsZero() {
			t.Fatalf("NOTHING_TO_PLAN with gross %s", gross.Dec())
		}
	default:
		t.Fatalf("unexpected reason %s: %s", ie.Reason, ie.Message)
	}
}

func samePlan(a, b *rebalance.Plan) bool {
	if a.Pre != b.Pre || a.Post != b.Post || a.Target != b.Target || a.TotalAmount != b.TotalAmount || len(a.Actions) != len(b.Actions) {
		return false
	}
	for i := range a.Actions {
		if a.Actions[i] != b.Actions[i] {
			return false
		}
	}
	return true
}

// TestPlanExample is one plan worked by hand: 100 cash, L2 and L3 at 0, targets 40/30/30 with
// two L3 assets at 1:3 allocation.
func TestPlanExample(t *testing.T) {
	e18 := uint256.NewInt(1e18)
	amt := func(n uint64) uint256.Int { var z uint256.Int; z.Mul(uint256.NewInt(n), e18); return z }
	in := rebalance.Input{Cash: amt(100), Targets: [3]uint64{4000, 3000, 3000}, Reserved: amt(10)}
	in.Assets = []rebalance.Asset{
		{Token: [20]byte{1}, Tier: 1, Active: true, Allocation: 10_000, HasPrice: true, Price: *e18, Decimals: 18, SlippageBps: 50},
		{Token: [20]byte{2}, Tier: 2, Active: true, Allocation: 2500, HasPrice: true, Price: amt(2), Decimals: 18, SlippageBps: 100},
		{Token: [20]byte{3}, Tier: 2, Active: true, Allocation: 7500, HasPrice: true, Price: *e18, Decimals: 6, SlippageBps: 0},
	}
	p, err := rebalance.Compute(&in)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 3 {
		t.Fatalf("%d actions", len(p.Actions))
	}
	want := []struct {
		token  byte
		amount uint256.Int
		tokens string
		min    string
	}{
		{1, amt(30), "30000000000000000000", "29850000000000000000"},
		{2, func() uint256.Int { var z uint256.Int; z.SetFromDecimal("7500000000000000000"); return z }(), "3750000000000000000", "3712500000000000000"},
		{3, func() uint256.Int { var z uint256.Int; z.SetFromDecimal("22500000000000000000"); return z }(), "22500000", "22500000"},
	}
	for i, w := range want {
		a := p.Actions[i]
		if a.Type != rebalance.Purchase || a.Asset[0] != w.token || a.Amount != w.amount || a.Tokens.Dec() != w.tokens || a.MinReceived.Dec() != w.min {
			t.Fatalf("action %d: %+v", i, a)
		}
	}
	if p.TotalAmount != amt(60) || p.Post.Cash != amt(40) || p.Post.Tiers[2].Ratio != 3000 {
		t.Fatalf("total %s, post cash %s, L3 %d", p.TotalAmount.Dec(), p.Post.Cash.Dec(), p.Post.Tiers[2].Ratio)
	}
	// A reserve of 50 cannot be kept with L1 at 40 %.
	in.Reserved = amt(50)
	_, err = rebalance.Compute(&in)
	var ie *rebalance.InfeasibleError
	if !errors.As(err, &ie) || ie.Reason != rebalance.ReasonReservedCash || ie.Details["minL1Ratio"] != uint64(5001) {
		t.Fatalf("reserve 50: %v %v", err, ie)
	}
	// Targets outside a band are refused.
	in.Reserved.Clear()
	in.Bands[1] = rebalance.Band{Target: 2000, Min: 1000, Max: 2500}
	if _, err := rebalance.Compute(&in); !errors.As(err, &ie) || ie.Reason != rebalance.ReasonOutsideBand {
		t.Fatalf("outside band: %v", err)
	}
}
