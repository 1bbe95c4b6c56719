package chainsim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// genTx is one generated transaction: the logs of one contract call, in order.
type genTx struct {
	to    common.Address // the contract called; zero: the first log's
	logs  []Log
	names []string // the event name of each log
}

// target returns the contract the transaction calls.
func (tx *genTx) target() common.Address {
	if tx.to != (common.Address{}) {
		return tx.to
	}
	return tx.logs[0].Address
}

// generator drives the fund's lifecycle. It opens with a script that sets the fund up and
// then shows every event of EVENTS.md once (tier bands, assets, prices, deposits, a redemption
// approved and settled, one cancelled, one rejected, fees, liquidity alerts, emergency mode on
// and off, ...), and continues with operations drawn at random with fixed weights, each only
// when the model allows it (a deposit otherwise). Given the same model and random state it
// generates the same transactions; the random state is deliberately not part of the model, so
// that the branch a reorg mines differs from the one it orphans.
type generator struct {
	seed     int64
	rng      *rand.Rand
	m        *model
	holders  int // the most distinct holders
	approver common.Address
}

func newGenerator(seed int64, holders int) *generator {
	return &generator{
		seed:     seed,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0xc4a1)),
		m:        newModel(seed),
		holders:  holders,
		approver: fundtest.Addr(fmt.Sprintf("chainsim %d: approver", seed)),
	}
}

// op is one kind of transaction; it returns false (having changed nothing) when the model
// does not allow it now.
type op func(g *generator, tx *genTx) bool

// script is the opening sequence, one transaction each.
var script = []op{
	func(g *generator, tx *genTx) bool { return g.layerConfig(tx, fundtest.TierL1, 2000, 1000, 3000) },
	func(g *generator, tx *genTx) bool { return g.layerConfig(tx, fundtest.TierL2, 3000, 2000, 4000) },
	func(g *generator, tx *genTx) bool { return g.layerConfig(tx, fundtest.TierL3, 5000, 4000, 6000) },
	func(g *generator, tx *genTx) bool { return g.addAsset(tx, 0) },
	func(g *generator, tx *genTx) bool { return g.addAsset(tx, 1) },
	func(g *generator, tx *genTx) bool { return g.addAsset(tx, 2) },
	func(g *generator, tx *genTx) bool { return g.addAsset(tx, 3) },
	func(g *generator, tx *genTx) bool { return g.setPrice(tx, 0) },
	func(g *generator, tx *genTx) bool { return g.setPrice(tx, 1) },
	func(g *generator, tx *genTx) bool { return g.setPrice(tx, 2) },
	func(g *generator, tx *genTx) bool { return g.setPrice(tx, 3) },
	(*generator).deposit, (*generator).deposit, (*generator).deposit, (*generator).deposit, (*generator).deposit,
	(*generator).navUpdate,
	(*generator).purchase,
	(*generator).transfer,
	func(g *generator, tx *genTx) bool { return g.request(tx, true) },
	(*generator).approve,
	func(g *generator, tx *genTx) bool { return g.settle(tx, true) },
	func(g *generator, tx *genTx) bool { return g.request(tx, false) },
	(*generator).cancel,
	func(g *generator, tx *genTx) bool { return g.request(tx, true) },
	(*generator).reject,
	(*generator).withdraw,
	(*generator).reduceFees,
	(*generator).managementFee,
	func(g *generator, tx *genTx) bool { return g.navUpdateBy(tx, 1e-3) },
	(*generator).performanceFee,
	(*generator).redeemAsset,
	(*generator).waterfall,
	(*generator).rebalance,
	(*generator).removeAsset,
	(*generator).readdAsset,
	(*generator).lowLiquidity,
	(*generator).criticalLiquidity,
	(*generator).emergency,
	(*generator).emergency,
}

// weighted are the operations after the script, with their relative weights.
var weighted = []struct {
	w  float64
	op op
}{
	{20, (*generator).deposit},
	{12, (*generator).transfer},
	{12, (*generator).price},
	{10, (*generator).navUpdate},
	{8, (*generator).purchase},
	{8, func(g *generator, tx *genTx) bool { return g.request(tx, false) }},
	{8, (*generator).approve},
	{10, func(g *generator, tx *genTx) bool { return g.settle(tx, false) }},
	{2, (*generator).cancel},
	{1.5, (*generator).reject},
	{2, (*generator).withdraw},
	{2, (*generator).redeemAsset},
	{1, (*generator).managementFee},
	{1, (*generator).performanceFee},
	{1, (*generator).reduceFees},
	{0.8, (*generator).lowLiquidity},
	{0.3, (*generator).criticalLiquidity},
	{0.3, (*generator).waterfall},
	{0.5, (*generator).rebalance},
	{0.3, (*generator).tierBand},
	{0.2, (*generator).removeAsset},
	{1, (*generator).readdAsset},
	{0.2, (*generator).emergencyOn},
	{5, (*generator).emergencyOff},
}

var weightSum = func() float64 {
	s := 0.0
	for _, w := range weighted {
		s += w.w
	}
	return s
}()

// next generates the next transaction.
func (g *generator) next() genTx {
	var tx genTx
	ok := false
	if g.m.script < len(script) {
		ok = script[g.m.script](g, &tx)
		g.m.script++
	} else {
		// An operation the model does not allow now is drawn again, a few times.
		for try := 0; try < 4 && !ok; try++ {
			u := g.rng.Float64() * weightSum
			for _, w := range weighted {
				if u -= w.w; u < 0 {
					ok = w.op(g, &tx)
					break
				}
			}
		}
	}
	if !ok {
		tx = genTx{}
		g.deposit(&tx)
	}
	g.m.txs++
	return tx
}

// emit appends one event to tx, built and ABI-encoded by fundtest. A failure is a bug in the
// generator (an argument that does not fit the event's declaration).
func (g *generator) emit(tx *genTx, name string, args ...any) {
	ev, err := fundtest.NewEvent(name, args...)
	if err != nil {
		panic("chainsim: " + err.Error())
	}
	l, err := LogOf(ev)
	if err != nil {
		panic("chainsim: " + err.Error())
	}
	tx.logs = append(tx.logs, l)
	tx.names = append(tx.names, name)
}

// LogOf ABI-encodes a fund event (fundtest.NewEvent) as a Log of its contract, for EmitTx.
func LogOf(ev chainlog.Event) (Log, error) {
	raw, err := fundtest.Encode(ev)
	if err != nil {
		return Log{}, err
	}
	l := Log{Address: ev.Contract, Topics: make([]common.Hash, len(raw.Topics))}
	for i, t := range raw.Topics {
		l.Topics[i] = common.HexToHash(t)
	}
	if l.Data, err = hexutil.Decode(raw.Data); err != nil {
		return Log{}, err
	}
	return l, nil
}

// pct returns a uniform fraction in [lo, hi) in bps, for a share of a balance.
func (g *generator) pct(lo, hi uint64) uint64 { return lo + g.rng.Uint64N(hi-lo) }

// holderWithFree picks a holder with free shares, or -1.
func (g *generator) holderWithFree() int {
	n := len(g.m.holders)
	if n == 0 {
		return -1
	}
	start := g.rng.IntN(n)
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if g.m.holders[i].free().Sign() > 0 {
			return i
		}
	}
	return -1
}

func (g *generator) layerConfig(tx *genTx, tier uint8, target, lo, hi uint64) bool {
	g.emit(tx, "LayerConfigUpdated", tier, target, lo, hi)
	return true
}

// tierBand moves a tier's band by up to ±5 points.
func (g *generator) tierBand(tx *genTx) bool {
	tier := uint8(g.rng.IntN(3))
	target := []uint64{2000, 3000, 5000}[tier] + g.rng.Uint64N(1001) - 500
	return g.layerConfig(tx, tier, target, target-1000, target+1000)
}

func (g *generator) addAsset(tx *genTx, i int) bool {
	t := &g.m.tokens[i]
	g.emit(tx, "AssetAdded", t.addr, t.tier, t.alloc)
	t.active = true
	return true
}

// setPrice moves an asset's oracle price along its own random walk: cash stays near 1, the
// money-market token and the treasury bills accrue, private credit is noisier.
func (g *generator) setPrice(tx *genTx, i int) bool {
	t := &g.m.tokens[i]
	switch i {
	case 0:
		t.price = 1 + g.rng.NormFloat64()*2e-4
	case 1:
		t.price *= 1 + 1e-5
	case 2:
		t.price *= 1 + 5e-6 + g.rng.NormFloat64()*2e-5
	default:
		t.price *= 1 + g.rng.NormFloat64()*2e-3
	}
	g.emit(tx, "PriceSet", t.addr, fromFloat(t.price, 6), uint64(g.m.now), uint8(1+i/3))
	return true
}

func (g *generator) price(tx *genTx) bool { return g.setPrice(tx, g.rng.IntN(len(g.m.tokens))) }

// HolderAddr is the address of the n-th holder (from 0) the generator of seed creates: a load
// tool that watches the holders' accounts (bench/seedplan's WebSocket clients) knows them
// before they appear on the chain.
func HolderAddr(seed int64, n int) common.Address {
	return fundtest.Addr(fmt.Sprintf("chainsim %d: holder %d", seed, n))
}

// deposit subscribes 100 to 1,000,000 USDT (skewed to small tickets) at the current NAV, from
// a new holder while there is room for one half of the time, else from a known one.
func (g *generator) deposit(tx *genTx) bool {
	m := g.m
	if n := len(m.holders); n < g.holders && (n == 0 || g.rng.IntN(2) == 0) {
		m.holders = append(m.holders, holder{addr: HolderAddr(g.seed, n)})
	}
	h := &m.holders[g.rng.IntN(len(m.holders))]
	assets := fromFloat(math.Pow(10, 2+4*math.Pow(g.rng.Float64(), 1.5)), 2)
	shares := mulDiv(assets, oneE18, &m.nav)
	g.emit(tx, "Transfer", common.Address{}, h.addr, shares)
	g.emit(tx, "Deposit", h.addr, h.addr, assets, shares)
	h.bal.Add(&h.bal, shares)
	m.supply.Add(&m.supply, shares)
	m.assets.Add(&m.assets, assets)
	m.cash.Add(&m.cash, assets)
	return true
}

// transfer moves 5–30 % of a holder's free shares to another holder.
func (g *generator) transfer(tx *genTx) bool {
	i := g.holderWithFree()
	if i < 0 || len(g.m.holders) < 2 {
		return false
	}
	j := g.rng.IntN(len(g.m.holders) - 1)
	if j >= i {
		j++
	}
	from, to := &g.m.holders[i], &g.m.holders[j]
	v := bps(from.free(), g.pct(500, 3000))
	if v.IsZero() {
		return false
	}
	g.emit(tx, "Transfer", from.addr, to.addr, v)
	from.bal.Sub(&from.bal, v)
	to.bal.Add(&to.bal, v)
	return true
}

// withdraw is an ERC-4626 withdrawal of 10–50 % of a holder's free shares at the NAV.
func (g *generator) withdraw(tx *genTx) bool {
	i := g.holderWithFree()
	if i < 0 {
		return false
	}
	h := &g.m.holders[i]
	shares := bps(h.free(), g.pct(1000, 5000))
	assets := mulDiv(shares, &g.m.nav, oneE18)
	if shares.IsZero() || assets.Gt(&g.m.assets) {
		return false
	}
	g.emit(tx, "Transfer", h.addr, common.Address{}, shares)
	g.emit(tx, "Withdraw", h.addr, h.addr, h.addr, assets, shares)
	h.bal.Sub(&h.bal, shares)
	g.m.supply.Sub(&g.m.supply, shares)
	g.m.assets.Sub(&g.m.assets, assets)
	return true
}

// navUpdate moves the NAV by about +1 bp per update with 1.5 bp of noise, rounded to 8
// decimals as an oracle would publish it.
func (g *generator) navUpdate(tx *genTx) bool {
	return g.navUpdateBy(tx, 1e-4+g.rng.NormFloat64()*1.5e-4)
}

func (g *generator) navUpdateBy(tx *genTx, r float64) bool {
	m := g.m
	m.navF *= 1 + r
	nav := fromFloat(m.navF, 8)
	g.emit(tx, "NavUpdated", &m.nav, nav, uint64(m.now))
	m.nav.Set(nav)
	return true
}

// purchase invests 30–100 % of the uninvested cash in one active asset, weighted by the
// subscription split.
func (g *generator) purchase(tx *genTx) bool {
	m := g.m
	if m.cash.IsZero() {
		return false
	}
	i := g.pickToken(func(t *token) uint64 {
		if t.active {
			return t.split
		}
		return 0
	})
	if i < 0 {
		return false
	}
	t := &m.tokens[i]
	usdt := bps(&m.cash, g.pct(3000, 10001))
	if usdt.IsZero() {
		return false
	}
	got := mulDiv(usdt, oneE18, fromFloat(t.price, 6))
	g.emit(tx, "AssetPurchased", t.addr, t.tier, usdt, got)
	m.cash.Sub(&m.cash, usdt)
	t.holding.Add(&t.holding, got)
	return true
}

// pickToken picks an asset with probability proportional to weight, or -1 when all are 0.
func (g *generator) pickToken(weight func(*token) uint64) int {
	var sum uint64
	for i := range g.m.tokens {
		sum += weight(&g.m.tokens[i])
	}
	if sum == 0 {
		return -1
	}
	u := g.rng.Uint64N(sum)
	for i := range g.m.tokens {
		w := weight(&g.m.tokens[i])
		if u < w {
			return i
		}
		u -= w
	}
	return -1
}

func holdingWeight(t *token) uint64 {
	if t.holding.IsZero() {
		return 0
	}
	return 1
}

// redeemAsset sells 5–20 % of a holding back to cash at the oracle price.
func (g *generator) redeemAsset(tx *genTx) bool {
	i := g.pickToken(holdingWeight)
	if i < 0 {
		return false
	}
	t := &g.m.tokens[i]
	amount := bps(&t.holding, g.pct(500, 2000))
	if amount.IsZero() {
		return false
	}
	usdt := mulDiv(amount, fromFloat(t.price, 6), oneE18)
	g.emit(tx, "AssetRedeemed", t.addr, t.tier, amount, usdt)
	t.holding.Sub(&t.holding, amount)
	g.m.cash.Add(&g.m.cash, usdt)
	return true
}

// waterfall liquidates 10–30 % of an L2 or L3 holding at a 1–3 % discount.
func (g *generator) waterfall(tx *genTx) bool {
	i := g.pickToken(func(t *token) uint64 {
		if t.tier == fundtest.TierL1 {
			return 0
		}
		return holdingWeight(t)
	})
	if i < 0 {
		return false
	}
	t := &g.m.tokens[i]
	amount := bps(&t.holding, g.pct(1000, 3000))
	if amount.IsZero() {
		return false
	}
	usdt := bps(mulDiv(amount, fromFloat(t.price, 6), oneE18), g.pct(9700, 9900))
	g.emit(tx, "WaterfallLiquidation", t.tier, t.addr, amount, usdt)
	t.holding.Sub(&t.holding, amount)
	g.m.cash.Add(&g.m.cash, usdt)
	return true
}

// rebalance moves 1–5 points of target allocation between the two L3 assets, in one call.
func (g *generator) rebalance(tx *genTx) bool {
	a, b := &g.m.tokens[2], &g.m.tokens[3]
	if g.rng.IntN(2) == 0 {
		a, b = b, a
	}
	d := 100 * (1 + g.rng.Uint64N(5))
	if b.alloc < d+1000 {
		return false
	}
	g.emit(tx, "AssetAllocationUpdated", a.addr, a.alloc, a.alloc+d)
	g.emit(tx, "AssetAllocationUpdated", b.addr, b.alloc, b.alloc-d)
	a.alloc += d
	b.alloc -= d
	return true
}

// removeAsset deactivates an L3 asset while the other stays active.
func (g *generator) removeAsset(tx *genTx) bool {
	i := 2 + g.rng.IntN(2)
	if !g.m.tokens[i].active || !g.m.tokens[5-i].active {
		return false
	}
	g.emit(tx, "AssetRemoved", g.m.tokens[i].addr)
	g.m.tokens[i].active = false
	return true
}

// readdAsset re-activates a removed asset (keeping its holding).
func (g *generator) readdAsset(tx *genTx) bool {
	for i := range g.m.tokens {
		if !g.m.tokens[i].active {
			return g.addAsset(tx, i)
		}
	}
	return false
}

// emergency toggles the vault's emergency mode.
func (g *generator) emergency(tx *genTx) bool {
	g.m.emergency = !g.m.emergency
	g.emit(tx, "EmergencyModeChanged", g.m.emergency)
	return true
}

// emergencyOn and emergencyOff are emergency drawn at random: off is drawn 25 times as often
// as on, so that emergency mode does not last.
func (g *generator) emergencyOn(tx *genTx) bool  { return !g.m.emergency && g.emergency(tx) }
func (g *generator) emergencyOff(tx *genTx) bool { return g.m.emergency && g.emergency(tx) }

// request asks to redeem 10–60 % of a holder's free shares: the redemption manager locks them
// in the vault (SharesLocked) and records the request, in one transaction. 80 % go through the
// standard channel (T+7), 10 % emergency (+1 h, 1 % fee), 10 % scheduled (the end of next week's
// window); large ones, and 15 % of the others, need approval. During emergency mode every
// request is an emergency one.
func (g *generator) request(tx *genTx, needsApproval bool) bool {
	m := g.m
	i := g.holderWithFree()
	if i < 0 || len(m.open) >= 64 {
		return false
	}
	h := &m.holders[i]
	shares := bps(h.free(), g.pct(1000, 6000))
	if shares.IsZero() {
		return false
	}
	locked := mulDiv(shares, &m.nav, oneE18)
	channel, feeBps, settle, window := fundtest.ChannelStandard, uint64(10), m.now+7*86400, uint64(0)
	switch u := g.rng.Float64(); {
	case m.emergency || u < 0.1:
		channel, feeBps, settle = fundtest.ChannelEmergency, 100, m.now+3600
	case u < 0.2:
		window = uint64(m.now/(7*86400)) + 1
		channel, feeBps, settle = fundtest.ChannelScheduled, 5, int64(window+1)*7*86400
	}
	needsApproval = needsApproval || locked.Cmp(fundtest.E18(100_000)) >= 0 || g.rng.Float64() < 0.15
	r := redemption{id: m.nextID, owner: i, channel: channel, requiresApproval: needsApproval, settlementTime: settle, requestedAt: m.txs}
	r.shares.Set(shares)
	r.locked.Set(locked)
	r.fee.Set(bps(locked, feeBps))
	tx.to = fundtest.RedemptionManagerAddress // which calls the vault
	g.emit(tx, "SharesLocked", h.addr, shares)
	g.emit(tx, "RedemptionRequested", r.id, h.addr, h.addr, shares, locked, &r.fee, channel, needsApproval, uint64(settle), window)
	h.locked.Add(&h.locked, shares)
	m.open = append(m.open, r)
	m.nextID++
	return true
}

func (g *generator) approve(tx *genTx) bool {
	i := g.m.findOpen(func(r *redemption) bool { return r.requiresApproval && !r.approved })
	if i < 0 {
		return false
	}
	r := &g.m.open[i]
	g.emit(tx, "RedemptionApproved", r.id, g.approver, uint64(r.settlementTime))
	r.approved = true
	return true
}

// settle settles the oldest redemption that can settle and was requested at least 20
// transactions ago (any age with anyAge): the redemption manager records the settlement, the
// vault burns the locked shares and books the fee. Settlement times are not waited for: the
// simulator compresses a redemption's life into a few blocks.
func (g *generator) settle(tx *genTx, anyAge bool) bool {
	m := g.m
	i := m.findOpen(func(r *redemption) bool { return r.settleable() && (anyAge || m.txs >= r.requestedAt+20) })
	if i < 0 {
		return false
	}
	r := &m.open[i]
	h := &m.holders[r.owner]
	net := new(uint256.Int).Sub(&r.locked, &r.fee)
	if net.Gt(&m.assets) {
		return false
	}
	tx.to = fundtest.RedemptionManagerAddress
	g.emit(tx, "RedemptionSettled", r.id, h.addr, h.addr, &r.locked, &r.fee, net, r.channel)
	g.emit(tx, "SharesBurned", h.addr, &r.shares)
	g.emit(tx, "Transfer", h.addr, common.Address{}, &r.shares)
	if !r.fee.IsZero() {
		g.emit(tx, "RedemptionFeeAdded", &r.fee)
		m.fees.Add(&m.fees, &r.fee)
	}
	h.locked.Sub(&h.locked, &r.shares)
	h.bal.Sub(&h.bal, &r.shares)
	m.supply.Sub(&m.supply, &r.shares)
	m.assets.Sub(&m.assets, net)
	m.closeRedemption(i)
	return true
}

// cancel cancels an open redemption by its owner; the vault unlocks the shares.
func (g *generator) cancel(tx *genTx) bool {
	if len(g.m.open) == 0 {
		return false
	}
	i := g.rng.IntN(len(g.m.open))
	r := &g.m.open[i]
	h := &g.m.holders[r.owner]
	tx.to = fundtest.RedemptionManagerAddress
	g.emit(tx, "RedemptionCancelled", r.id, h.addr)
	g.emit(tx, "SharesUnlocked", h.addr, &r.shares)
	h.locked.Sub(&h.locked, &r.shares)
	g.m.closeRedemption(i)
	return true
}

var rejectReasons = []string{"compliance review", "insufficient liquidity in the requested channel", "KYC documents expired"}

// reject rejects a redemption waiting for approval; the vault unlocks the shares.
func (g *generator) reject(tx *genTx) bool {
	i := g.m.findOpen(func(r *redemption) bool { return r.requiresApproval && !r.approved })
	if i < 0 {
		return false
	}
	r := &g.m.open[i]
	h := &g.m.holders[r.owner]
	tx.to = fundtest.RedemptionManagerAddress
	g.emit(tx, "RedemptionRejected", r.id, g.approver, rejectReasons[g.rng.IntN(len(rejectReasons))])
	g.emit(tx, "SharesUnlocked", h.addr, &r.shares)
	h.locked.Sub(&h.locked, &r.shares)
	g.m.closeRedemption(i)
	return true
}

// reduceFees takes 10–100 % of the accrued redemption fees out of the vault.
func (g *generator) reduceFees(tx *genTx) bool {
	if g.m.fees.IsZero() {
		return false
	}
	fee := bps(&g.m.fees, g.pct(1000, 10001))
	if fee.IsZero() {
		return false
	}
	g.emit(tx, "RedemptionFeeReduced", fee)
	g.m.fees.Sub(&g.m.fees, fee)
	return true
}

// managementFee collects 1 %/year of the fund's assets for the time since the last collection
// (at least an hour).
func (g *generator) managementFee(tx *genTx) bool {
	m := g.m
	period := m.now - m.lastMgmtFee
	if m.lastMgmtFee == 0 || period < 3600 {
		period = 3600
	}
	fee := mulDiv(&m.assets, uint256.NewInt(uint64(period)), uint256.NewInt(100*365*86400))
	g.emit(tx, "ManagementFeeCollected", fee, &m.assets, uint64(period))
	m.lastMgmtFee = m.now
	return true
}

// performanceFee collects 10 % of the gain over the high-water mark, when there is one.
func (g *generator) performanceFee(tx *genTx) bool {
	m := g.m
	if !m.nav.Gt(&m.hwm) {
		return false
	}
	profit := mulDiv(new(uint256.Int).Sub(&m.nav, &m.hwm), &m.supply, oneE18)
	g.emit(tx, "PerformanceFeeCollected", bps(profit, 1000), profit, &m.nav)
	m.hwm.Set(&m.nav)
	return true
}

// lowLiquidity raises a low-liquidity alert against a 15 % threshold: the ratio reported is
// the L1 ratio when it is below the threshold, else a dip drawn below it (the contract checks
// against balances the model does not follow, such as pending settlements).
func (g *generator) lowLiquidity(tx *genTx) bool {
	ratio, available, total := g.liquidityDip(1500)
	g.emit(tx, "LowLiquidityAlert", ratio, uint64(1500), available, total)
	return true
}

// criticalLiquidity is lowLiquidity against a 5 % threshold.
func (g *generator) criticalLiquidity(tx *genTx) bool {
	ratio, available, _ := g.liquidityDip(500)
	g.emit(tx, "CriticalLiquidityAlert", ratio, uint64(500), available)
	return true
}

func (g *generator) liquidityDip(threshold uint64) (ratio uint64, available, total *uint256.Int) {
	l1, total := g.m.liquidity()
	ratio = threshold * g.pct(5000, 9500) / 10_000
	if !total.IsZero() {
		if r := mulDiv(l1, uint256.NewInt(10_000), total).Uint64(); r < threshold {
			ratio = r
		}
	}
	return ratio, bps(total, ratio), total
}
