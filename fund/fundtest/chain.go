package fundtest

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"paimon/chainlog"
)

// Defaults of ChainConfig.
const (
	DefaultStart      = int64(1_736_121_600) // 2025-01-06T00:00:00Z, as the sample logs
	DefaultFirstBlock = uint64(45_500_000)
	DefaultBlockTime  = 3 * time.Second // BNB Smart Chain
)

// The redemption channels (EVENTS.md).
const (
	ChannelStandard  uint8 = 0
	ChannelEmergency uint8 = 1
	ChannelScheduled uint8 = 2
)

// The liquidity tiers.
const (
	TierL1 uint8 = 0
	TierL2 uint8 = 1
	TierL3 uint8 = 2
)

// ChainConfig places a Chain: a zero field takes its default.
type ChainConfig struct {
	// Seed makes transaction and block hashes unique to a data set.
	Seed int64
	// Start is the unix time (s) of the first block (DefaultStart).
	Start int64
	// FirstBlock is the number of the first block (DefaultFirstBlock).
	FirstBlock uint64
	// BlockTime is the block interval used to number blocks as time advances (DefaultBlockTime).
	BlockTime time.Duration
}

// Chain builds a deterministic sequence of chain events in chain order. Transactions land in
// the current block; Advance moves the clock and opens a new block whose number follows the
// block interval. Transaction hashes, block hashes and log indexes (per block, as on Ethereum)
// derive from the seed and counters only, so the same calls give the same logs.
//
// The typed methods emit one transaction each with the events a real contract call emits
// (Deposit: the mint Transfer and Deposit). NewTx and Emit build any other transaction. Emit
// and the typed methods panic on arguments that do not fit the event's declaration, a bug in
// the caller. A Chain is not safe for concurrent use.
type Chain struct {
	cfg      ChainConfig
	block    uint64
	now      int64
	blockH   common.Hash
	logIndex uint64
	txs      uint64
	tx       common.Hash
	inTx     bool
	events   []chainlog.Event
	nav      uint256.Int
	nextID   uint64
	reds     map[uint64]*redemption
}

// redemption is what the chain remembers of a request to emit its later events.
type redemption struct {
	owner, receiver        common.Address
	shares, locked, estFee uint256.Int
	channel                uint8
	settle                 int64 // settlement time (unix s)
}

// NewChain returns an empty chain at its first block.
func NewChain(cfg ChainConfig) *Chain {
	if cfg.Start == 0 {
		cfg.Start = DefaultStart
	}
	if cfg.FirstBlock == 0 {
		cfg.FirstBlock = DefaultFirstBlock
	}
	if cfg.BlockTime <= 0 {
		cfg.BlockTime = DefaultBlockTime
	}
	c := &Chain{cfg: cfg, block: cfg.FirstBlock, now: cfg.Start, nextID: 1, reds: map[uint64]*redemption{}}
	c.nav.Set(oneE18)
	c.blockH = c.hash("block", c.block)
	return c
}

func (c *Chain) hash(what string, n uint64) common.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(c.cfg.Seed))
	binary.BigEndian.PutUint64(b[8:], n)
	return crypto.Keccak256Hash([]byte("fundtest "+what), b[:])
}

// Now returns the current block time (unix s).
func (c *Chain) Now() int64 { return c.now }

// Block returns the current block number.
func (c *Chain) Block() uint64 { return c.block }

// Nav returns the share price of the last NavUpdated (1e18 before any).
func (c *Chain) Nav() *uint256.Int { return new(uint256.Int).Set(&c.nav) }

// Len returns the number of events emitted so far.
func (c *Chain) Len() int { return len(c.events) }

// Events returns the events emitted so far, in chain order.
func (c *Chain) Events() []chainlog.Event { return append([]chainlog.Event(nil), c.events...) }

// Logs returns the events emitted so far as eth_getLogs objects, in chain order.
func (c *Chain) Logs() []chainlog.RawLog {
	logs, err := EncodeAll(c.events)
	if err != nil {
		panic(err) // every event was validated when emitted
	}
	return logs
}

// Advance moves the clock forward by d (whole seconds); see AdvanceTo.
func (c *Chain) Advance(d time.Duration) { c.AdvanceTo(c.now + int64(d/time.Second)) }

// AdvanceTo moves the clock to t (unix s) and opens a new block numbered by the block interval
// (at least the next one). A t at or before the clock changes nothing: later transactions
// share the current block, and blocks never go back in time.
func (c *Chain) AdvanceTo(t int64) {
	if t <= c.now {
		return
	}
	bn := c.cfg.FirstBlock + uint64((t-c.cfg.Start)/int64(c.cfg.BlockTime/time.Second))
	c.openBlock(max(bn, c.block+1), t)
}

// NextBlock opens the next block, one block interval later.
func (c *Chain) NextBlock() { c.openBlock(c.block+1, c.now+int64(c.cfg.BlockTime/time.Second)) }

func (c *Chain) openBlock(bn uint64, t int64) {
	c.block, c.now, c.blockH, c.logIndex, c.inTx = bn, t, c.hash("block", bn), 0, false
}

// NewTx starts a new transaction in the current block; the following Emits belong to it.
func (c *Chain) NewTx() {
	c.txs++
	c.tx, c.inTx = c.hash("tx", c.txs), true
}

// Emit appends an event to the current transaction (starting one if none) and returns it.
// args are the event's arguments in declaration order (see NewEvent).
func (c *Chain) Emit(name string, args ...any) chainlog.Event {
	ev, err := NewEvent(name, args...)
	if err != nil {
		panic(err)
	}
	return c.Append(ev)
}

// Append places a prepared event (NewEvent, or one with another contract address) in the
// current transaction and returns it with its position filled in.
func (c *Chain) Append(ev chainlog.Event) chainlog.Event {
	if !c.inTx {
		c.NewTx()
	}
	ev.TxHash, ev.LogIndex, ev.BlockNumber, ev.BlockHash, ev.BlockTime = c.tx, c.logIndex, c.block, c.blockH, c.now
	c.logIndex++
	c.events = append(c.events, ev)
	return ev
}

// emitTx starts a transaction and emits the given events into it, each as name followed by args.
func (c *Chain) emitTx(evs ...[]any) {
	c.NewTx()
	for _, e := range evs {
		c.Emit(e[0].(string), e[1:]...)
	}
}

func ev(name string, args ...any) []any { return append([]any{name}, args...) }

var zeroAddr common.Address

// --- vault ---

// Deposit emits an ERC-4626 deposit by owner: the mint Transfer and Deposit.
func (c *Chain) Deposit(owner common.Address, assets, shares *uint256.Int) {
	c.emitTx(ev("Transfer", zeroAddr, owner, shares), ev("Deposit", owner, owner, assets, shares))
}

// Withdraw emits an ERC-4626 withdrawal: the burn Transfer and Withdraw (sender = owner).
func (c *Chain) Withdraw(owner, receiver common.Address, assets, shares *uint256.Int) {
	c.emitTx(ev("Transfer", owner, zeroAddr, shares), ev("Withdraw", owner, receiver, owner, assets, shares))
}

// Transfer emits a share transfer (from or to the zero address mints or burns).
func (c *Chain) Transfer(from, to common.Address, value *uint256.Int) {
	c.emitTx(ev("Transfer", from, to, value))
}

// LockShares emits SharesLocked.
func (c *Chain) LockShares(owner common.Address, shares *uint256.Int) {
	c.emitTx(ev("SharesLocked", owner, shares))
}

// UnlockShares emits SharesUnlocked.
func (c *Chain) UnlockShares(owner common.Address, shares *uint256.Int) {
	c.emitTx(ev("SharesUnlocked", owner, shares))
}

// BurnShares emits SharesBurned and the burn Transfer of locked shares.
func (c *Chain) BurnShares(owner common.Address, shares *uint256.Int) {
	c.emitTx(ev("SharesBurned", owner, shares), ev("Transfer", owner, zeroAddr, shares))
}

// NavUpdated emits NavUpdated from the previous share price to newNav, stamped with the block
// time.
func (c *Chain) NavUpdated(newNav *uint256.Int) {
	c.emitTx(ev("NavUpdated", new(uint256.Int).Set(&c.nav), newNav, uint64(c.now)))
	c.nav.Set(newNav)
}

// EmergencyMode emits EmergencyModeChanged.
func (c *Chain) EmergencyMode(enabled bool) { c.emitTx(ev("EmergencyModeChanged", enabled)) }

// RedemptionFeeAdded emits RedemptionFeeAdded.
func (c *Chain) RedemptionFeeAdded(fee *uint256.Int) { c.emitTx(ev("RedemptionFeeAdded", fee)) }

// RedemptionFeeReduced emits RedemptionFeeReduced.
func (c *Chain) RedemptionFeeReduced(fee *uint256.Int) { c.emitTx(ev("RedemptionFeeReduced", fee)) }

// --- redemption manager ---

// RedemptionRequest describes a redemption request; zero fields take defaults.
type RedemptionRequest struct {
	Owner            common.Address
	Receiver         common.Address // zero: Owner
	Shares           *uint256.Int
	LockedAmount     *uint256.Int // nil: Shares at the current NAV
	EstimatedFee     *uint256.Int // nil: 0.1 % of LockedAmount
	Channel          uint8
	RequiresApproval bool
	SettlementTime   int64  // 0: by channel (STANDARD T+7, EMERGENCY +1 h, SCHEDULED end of WindowID's week)
	WindowID         uint64 // SCHEDULED only; 0: the current week since the chain's start
}

// RequestRedemption emits SharesLocked and RedemptionRequested in one transaction and returns
// the new request id (1, 2, … in request order).
func (c *Chain) RequestRedemption(r RedemptionRequest) uint64 {
	if r.Shares == nil {
		panic("fundtest: RequestRedemption without Shares")
	}
	if r.Receiver == zeroAddr {
		r.Receiver = r.Owner
	}
	locked := r.LockedAmount
	if locked == nil {
		locked = mulDiv(r.Shares, &c.nav, oneE18)
	}
	fee := r.EstimatedFee
	if fee == nil {
		fee = mulDiv(locked, uint256.NewInt(10), uint256.NewInt(10_000))
	}
	window := r.WindowID
	if r.Channel == ChannelScheduled && window == 0 {
		window = uint64((c.now-c.cfg.Start)/week) + 1
	}
	settle := r.SettlementTime
	if settle == 0 {
		switch r.Channel {
		case ChannelEmergency:
			settle = c.now + 3600
		case ChannelScheduled:
			settle = c.cfg.Start + int64(window+1)*week
		default:
			settle = c.now + week
		}
	}
	id := c.nextID
	c.nextID++
	red := &redemption{owner: r.Owner, receiver: r.Receiver, channel: r.Channel, settle: settle}
	red.shares.Set(r.Shares)
	red.locked.Set(locked)
	red.estFee.Set(fee)
	c.reds[id] = red
	c.emitTx(ev("SharesLocked", r.Owner, r.Shares),
		ev("RedemptionRequested", id, r.Owner, r.Receiver, r.Shares, locked, fee, r.Channel, r.RequiresApproval, uint64(settle), window))
	return id
}

func (c *Chain) redemption(id uint64) *redemption {
	r := c.reds[id]
	if r == nil {
		panic(fmt.Sprintf("fundtest: unknown redemption %d", id))
	}
	return r
}

// ApproveRedemption emits RedemptionApproved with settlementTime (0: the request's).
func (c *Chain) ApproveRedemption(id uint64, approver common.Address, settlementTime int64) {
	r := c.redemption(id)
	if settlementTime > 0 {
		r.settle = settlementTime
	}
	c.emitTx(ev("RedemptionApproved", id, approver, uint64(r.settle)))
}

// RejectRedemption emits RedemptionRejected and the owner's SharesUnlocked.
func (c *Chain) RejectRedemption(id uint64, rejector common.Address, reason string) {
	r := c.redemption(id)
	c.emitTx(ev("RedemptionRejected", id, rejector, reason), ev("SharesUnlocked", r.owner, &r.shares))
}

// CancelRedemption emits RedemptionCancelled by the owner and SharesUnlocked.
func (c *Chain) CancelRedemption(id uint64) {
	r := c.redemption(id)
	c.emitTx(ev("RedemptionCancelled", id, r.owner), ev("SharesUnlocked", r.owner, &r.shares))
}

// SettleRedemption emits RedemptionSettled (gross = the locked amount, net = gross − fee; a nil
// fee takes the estimated fee), SharesBurned and the burn Transfer. It returns the net amount.
func (c *Chain) SettleRedemption(id uint64, fee *uint256.Int) *uint256.Int {
	r := c.redemption(id)
	if fee == nil {
		fee = &r.estFee
	}
	net := new(uint256.Int).Sub(&r.locked, fee)
	c.emitTx(ev("RedemptionSettled", id, r.owner, r.receiver, &r.locked, fee, net, r.channel),
		ev("SharesBurned", r.owner, &r.shares), ev("Transfer", r.owner, zeroAddr, &r.shares))
	return net
}

// Outcome is how RedemptionLifecycle ends a redemption.
type Outcome uint8

// The outcomes of a redemption lifecycle.
const (
	Settle Outcome = iota // approved if needed, then settled at its settlement time
	Cancel                // cancelled by the owner
	Reject                // rejected by the approver (requires approval)
	Leave                 // left open (approved if needed)
)

// RedemptionLifecycle runs a whole redemption, advancing the clock: the request, after step the
// approval (or rejection) when it requires one, then the outcome (a settlement at the
// settlement time at the earliest). It returns the request id.
func (c *Chain) RedemptionLifecycle(r RedemptionRequest, out Outcome, approver common.Address, step time.Duration) uint64 {
	id := c.RequestRedemption(r)
	c.Advance(step)
	if out == Reject {
		c.RejectRedemption(id, approver, "compliance review")
		return id
	}
	if r.RequiresApproval {
		c.ApproveRedemption(id, approver, 0)
		c.Advance(step)
	}
	switch out {
	case Cancel:
		c.CancelRedemption(id)
	case Settle:
		c.AdvanceTo(c.redemption(id).settle)
		c.SettleRedemption(id, nil)
	}
	return id
}

// LowLiquidityAlert emits LowLiquidityAlert.
func (c *Chain) LowLiquidityAlert(currentRatio, threshold uint64, available, total *uint256.Int) {
	c.emitTx(ev("LowLiquidityAlert", currentRatio, threshold, available, total))
}

// CriticalLiquidityAlert emits CriticalLiquidityAlert.
func (c *Chain) CriticalLiquidityAlert(currentRatio, threshold uint64, available *uint256.Int) {
	c.emitTx(ev("CriticalLiquidityAlert", currentRatio, threshold, available))
}

// --- asset controller ---

// LayerConfig emits LayerConfigUpdated: a tier's target, min and max ratios (bps).
func (c *Chain) LayerConfig(tier uint8, target, minRatio, maxRatio uint64) {
	c.emitTx(ev("LayerConfigUpdated", tier, target, minRatio, maxRatio))
}

// AssetAdded emits AssetAdded with a target allocation (bps).
func (c *Chain) AssetAdded(token common.Address, tier uint8, allocation uint64) {
	c.emitTx(ev("AssetAdded", token, tier, allocation))
}

// AssetRemoved emits AssetRemoved.
func (c *Chain) AssetRemoved(token common.Address) { c.emitTx(ev("AssetRemoved", token)) }

// AssetAllocationUpdated emits AssetAllocationUpdated.
func (c *Chain) AssetAllocationUpdated(token common.Address, oldAllocation, newAllocation uint64) {
	c.emitTx(ev("AssetAllocationUpdated", token, oldAllocation, newAllocation))
}

// AssetPurchased emits AssetPurchased.
func (c *Chain) AssetPurchased(token common.Address, tier uint8, usdtAmount, tokensReceived *uint256.Int) {
	c.emitTx(ev("AssetPurchased", token, tier, usdtAmount, tokensReceived))
}

// AssetRedeemed emits AssetRedeemed.
func (c *Chain) AssetRedeemed(token common.Address, tier uint8, tokenAmount, usdtReceived *uint256.Int) {
	c.emitTx(ev("AssetRedeemed", token, tier, tokenAmount, usdtReceived))
}

// WaterfallLiquidation emits WaterfallLiquidation.
func (c *Chain) WaterfallLiquidation(tier uint8, token common.Address, amountLiquidated, usdtReceived *uint256.Int) {
	c.emitTx(ev("WaterfallLiquidation", tier, token, amountLiquidated, usdtReceived))
}

// ManagementFee emits ManagementFeeCollected for a period in seconds.
func (c *Chain) ManagementFee(feeAmount, totalAssets *uint256.Int, period uint64) {
	c.emitTx(ev("ManagementFeeCollected", feeAmount, totalAssets, period))
}

// PerformanceFee emits PerformanceFeeCollected.
func (c *Chain) PerformanceFee(feeAmount, profit, newHighWaterMark *uint256.Int) {
	c.emitTx(ev("PerformanceFeeCollected", feeAmount, profit, newHighWaterMark))
}

// --- oracle ---

// PriceSet emits the oracle's PriceSet for asset, stamped with the block time.
func (c *Chain) PriceSet(asset common.Address, price *uint256.Int, source uint8) {
	c.emitTx(ev("PriceSet", asset, price, uint64(c.now), source))
}
