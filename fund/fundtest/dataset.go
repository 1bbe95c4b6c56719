package fundtest

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
)

// Spec sizes a data set for Generate.
type Spec struct {
	Seed        int64
	Holders     int // distinct depositors, one deposit each
	NavHours    int // hourly NavUpdated points (8760 = a year); the data set spans this many hours (at least a day)
	Redemptions int // redemption requests; none without holders
}

// DefaultSpec is the read-path benchmark's data set: 5,000 holders, a year of hourly NAV
// points and 500 redemptions.
func DefaultSpec() Spec { return Spec{Seed: 1, Holders: 5000, NavHours: 8760, Redemptions: 500} }

// Stats counts what a data set contains.
type Stats struct {
	Events      int
	Holders     int // accounts with shares at the end (= Spec.Holders)
	NavPoints   int
	Redemptions int
	Settled     int
	Cancelled   int
	Rejected    int
	Open        int // still PENDING, PENDING_APPROVAL or APPROVED at the end
	Transfers   int // holder-to-holder transfers
	Prices      int
	Purchases   int
	Fees        int
	Start, End  int64 // block times of the first and last events (unix s)
	FinalNav    string
}

// Data is a generated data set.
type Data struct {
	Events  []chainlog.Event
	Holders []common.Address // depositors, in deposit order
	Assets  []common.Address // the fund's assets: L1 cash, L2 money market, two L3 RWA tokens
	Stats   Stats
}

// Logs returns the data set as eth_getLogs objects, in chain order.
func (d *Data) Logs() []chainlog.RawLog {
	logs, err := EncodeAll(d.Events)
	if err != nil {
		panic(err)
	}
	return logs
}

// Dataset returns a realistic data set in chain order (see Generate).
func Dataset(seed int64, holders, navHours, redemptions int) []chainlog.RawLog {
	return Generate(Spec{Seed: seed, Holders: holders, NavHours: navHours, Redemptions: redemptions}).Logs()
}

// holder is the generator's view of one depositor, to keep every move plausible: transfers and
// locks take a fraction of the free (unlocked) shares, so no balance ever goes negative and
// every holder keeps shares.
type holder struct {
	addr        common.Address
	bal, locked uint256.Int
	deposited   bool
}

func (h *holder) free() *uint256.Int { return new(uint256.Int).Sub(&h.bal, &h.locked) }

// action is one scheduled step of the generator.
type action struct {
	at  int64
	seq int
	run func()
}

// actionQueue orders actions by time, then by scheduling order.
type actionQueue []action

func (q actionQueue) Len() int { return len(q) }
func (q actionQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q actionQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *actionQueue) Push(x any)   { *q = append(*q, x.(action)) }
func (q *actionQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// generator holds the state Generate simulates so that every event is plausible.
type generator struct {
	c          *Chain
	rng        *rand.Rand
	start, end int64 // end is exclusive
	q          actionQueue
	seq        int
	d          *Data
	approver   common.Address
	deposited  []*holder // in deposit order
	// fund totals as the contracts would see them
	totalAssets, supply, uninvested uint256.Int
}

// at schedules f at time t; steps due at or after the end are dropped (a redemption whose
// settlement is not due stays open). Actions may schedule later actions.
func (g *generator) at(t int64, f func()) {
	if t < g.end {
		heap.Push(&g.q, action{t, g.seq, f})
		g.seq++
	}
}

// Generate builds a data set from spec, deterministic in spec.Seed. Starting at DefaultStart:
// the tier bands, four assets and their daily oracle prices; one deposit per holder spread over
// the span; holder-to-holder transfers (one per five holders); an hourly NAV rising about 5 %
// a year with noise; each day's subscriptions invested across the tiers the next day; monthly
// management and quarterly performance fees; a mid-span allocation change; and redemptions
// (80 % standard T+7, 10 % emergency, 10 % scheduled; large ones need approval; some cancelled
// or rejected; those not due by the end stay open).
func Generate(spec Spec) *Data {
	c := NewChain(ChainConfig{Seed: spec.Seed})
	span := max(int64(spec.NavHours), 24) * hour
	g := &generator{
		c: c, rng: rand.New(rand.NewPCG(uint64(spec.Seed), 0x9a1b0c)), start: c.Now(), end: c.Now() + span,
		d: &Data{}, approver: Addr(fmt.Sprintf("fundtest %d: approver", spec.Seed)),
	}
	rng, start, d, st := g.rng, g.start, g.d, &g.d.Stats

	usdt := common.HexToAddress("0x55d398326f99059ff775485246999027b3197955") // BSC-USD
	mmf := Addr(fmt.Sprintf("fundtest %d: L2 money-market fund token", spec.Seed))
	tbill := Addr(fmt.Sprintf("fundtest %d: L3 treasury bill token", spec.Seed))
	credit := Addr(fmt.Sprintf("fundtest %d: L3 private credit token", spec.Seed))
	d.Assets = []common.Address{usdt, mmf, tbill, credit}
	tiers := []uint8{TierL1, TierL2, TierL3, TierL3}
	split := []uint64{2000, 3000, 3000, 2000} // share of each day's subscriptions, bps
	prices := []float64{1, 1.02, 1.05, 1}

	g.at(start, func() {
		c.LayerConfig(TierL1, 2000, 1000, 3000)
		c.LayerConfig(TierL2, 3000, 2000, 4000)
		c.LayerConfig(TierL3, 5000, 4000, 6000)
		for i, a := range d.Assets {
			c.AssetAdded(a, tiers[i], []uint64{10000, 10000, 6000, 4000}[i])
		}
	})
	// Hourly NAV: a drift of ~5 %/year with noise, rounded to 8 decimals as an oracle would.
	nav := 1.0
	for h := 0; h < spec.NavHours; h++ {
		g.at(start+int64(h)*hour, func() {
			if h > 0 {
				nav *= 1 + 0.05/8760 + rng.NormFloat64()*2e-5
			}
			c.NavUpdated(fromFloat(nav, 8))
			st.NavPoints++
		})
	}
	hwm := c.Nav()
	for day0 := start; day0 < g.end; day0 += day {
		n := (day0 - start) / day
		g.at(day0+300, func() { // daily oracle prices
			if n > 0 {
				prices[1] *= 1 + 0.045/365
				prices[2] *= 1 + 0.05/365 + rng.NormFloat64()*2e-4
				prices[3] *= 1 + rng.NormFloat64()*5e-3
			}
			for i, a := range d.Assets {
				c.PriceSet(a, fromFloat(prices[i], 6), uint8(1+i/3))
				st.Prices++
			}
		})
		g.at(day0+hour/2, func() { // invest the subscriptions not yet invested
			if g.uninvested.IsZero() {
				return
			}
			for i, a := range d.Assets {
				amt := bps(&g.uninvested, split[i])
				c.AssetPurchased(a, tiers[i], amt, mulDiv(amt, oneE18, fromFloat(prices[i], 6)))
				st.Purchases++
			}
			g.uninvested.Clear()
		})
		if n > 0 && n%30 == 0 {
			g.at(day0+1200, func() { // management fee, 1 %/year of the fund's assets
				c.ManagementFee(mulDiv(&g.totalAssets, uint256.NewInt(30), uint256.NewInt(36500)), &g.totalAssets, uint64(30*day))
				st.Fees++
			})
		}
		if n > 0 && n%90 == 0 {
			g.at(day0+1500, func() { // performance fee, 10 % of the gain over the high-water mark
				cur := c.Nav()
				if !cur.Gt(hwm) {
					return
				}
				profit := mulDiv(new(uint256.Int).Sub(cur, hwm), &g.supply, oneE18)
				c.PerformanceFee(bps(profit, 1000), profit, cur)
				hwm = cur
				st.Fees++
			})
		}
	}
	g.at(start+span/2, func() {
		c.AssetAllocationUpdated(tbill, 6000, 5500)
		c.AssetAllocationUpdated(credit, 4000, 4500)
	})

	// Deposits: holder 0 an hour in, the rest spread over the span.
	holders := make([]*holder, spec.Holders)
	for i := range holders {
		h := &holder{addr: Addr(fmt.Sprintf("fundtest %d: holder %d", spec.Seed, i))}
		holders[i] = h
		d.Holders = append(d.Holders, h.addr)
		slot := max((span-hour)/int64(len(holders)), 1)
		t := start + hour + int64(i)*(span-hour)/int64(len(holders))
		if i > 0 {
			t += rng.Int64N(slot)
		}
		g.at(t, func() { g.deposit(h) })
	}
	for i := 0; i < spec.Holders/5; i++ {
		g.at(start+2*hour+rng.Int64N(span-2*hour), g.transfer)
	}
	// Redemptions, spread over the span after holder 0's deposit.
	if spec.Holders > 0 && spec.Redemptions > 0 {
		gap := (span - 2*hour) / int64(spec.Redemptions)
		for j := 0; j < spec.Redemptions; j++ {
			g.at(start+2*hour+int64(j)*gap+rng.Int64N(max(gap, 1)), g.redeem)
		}
	}

	for g.q.Len() > 0 {
		a := heap.Pop(&g.q).(action)
		c.AdvanceTo(a.at)
		a.run()
	}
	d.Events = c.events
	st.Events = len(d.Events)
	for _, h := range holders {
		if h.deposited && h.bal.Sign() > 0 {
			st.Holders++
		}
	}
	st.Open = st.Redemptions - st.Settled - st.Cancelled - st.Rejected
	if len(d.Events) > 0 {
		st.Start, st.End = d.Events[0].BlockTime, d.Events[len(d.Events)-1].BlockTime
	}
	st.FinalNav = c.Nav().Dec()
	return d
}

// deposit subscribes 100 to 1,000,000 USDT (skewed to small tickets) at the current NAV.
func (g *generator) deposit(h *holder) {
	assets := fromFloat(math.Pow(10, 2+4*math.Pow(g.rng.Float64(), 1.5)), 2)
	shares := mulDiv(assets, oneE18, g.c.Nav())
	g.c.Deposit(h.addr, assets, shares)
	h.bal.Add(&h.bal, shares)
	h.deposited = true
	g.deposited = append(g.deposited, h)
	g.totalAssets.Add(&g.totalAssets, assets)
	g.supply.Add(&g.supply, shares)
	g.uninvested.Add(&g.uninvested, assets)
}

// transfer moves 5–30 % of a holder's free shares to another holder.
func (g *generator) transfer() {
	if len(g.deposited) < 2 {
		return
	}
	from := g.deposited[g.rng.IntN(len(g.deposited))]
	to := g.deposited[g.rng.IntN(len(g.deposited))]
	if from == to {
		return
	}
	v := bps(from.free(), 500+g.rng.Uint64N(2500))
	g.c.Transfer(from.addr, to.addr, v)
	from.bal.Sub(&from.bal, v)
	to.bal.Add(&to.bal, v)
	g.d.Stats.Transfers++
}

// redeem requests the redemption of 10–60 % of a holder's free shares and schedules the rest
// of its lifecycle.
func (g *generator) redeem() {
	c, rng, st := g.c, g.rng, &g.d.Stats
	t := c.Now()
	channel, feeBps := ChannelStandard, uint64(10)
	switch u := rng.Float64(); {
	case u < 0.1:
		channel, feeBps = ChannelEmergency, 100
	case u < 0.2:
		channel, feeBps = ChannelScheduled, 5
	}
	owner := g.deposited[rng.IntN(len(g.deposited))]
	shares := bps(owner.free(), 1000+rng.Uint64N(5000))
	locked := mulDiv(shares, c.Nav(), oneE18)
	needsApproval := locked.Cmp(E18(100_000)) >= 0 || rng.Float64() < 0.15
	id := c.RequestRedemption(RedemptionRequest{
		Owner: owner.addr, Shares: shares, LockedAmount: locked, EstimatedFee: bps(locked, feeBps),
		Channel: channel, RequiresApproval: needsApproval,
	})
	owner.locked.Add(&owner.locked, shares)
	st.Redemptions++
	settle := max(c.redemption(id).settle, t+hour)
	unlock := func() { owner.locked.Sub(&owner.locked, shares) }
	switch fate := rng.Float64(); {
	case fate < 0.08:
		g.at(t+min(day, (settle-t)/2), func() { c.CancelRedemption(id); unlock(); st.Cancelled++ })
	case needsApproval && fate < 0.2:
		g.at(t+1800, func() { c.RejectRedemption(id, g.approver, "compliance review"); unlock(); st.Rejected++ })
	default:
		if needsApproval {
			g.at(t+1800, func() { c.ApproveRedemption(id, g.approver, 0) })
		}
		g.at(settle, func() {
			net := c.SettleRedemption(id, nil)
			unlock()
			owner.bal.Sub(&owner.bal, shares)
			g.totalAssets.Sub(&g.totalAssets, net)
			g.supply.Sub(&g.supply, shares)
			st.Settled++
		})
	}
}
