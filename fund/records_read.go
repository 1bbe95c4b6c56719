package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/kv"
)

// The read-only accessors of the state for the read model (package readmodel, which renders
// the API's JSON and which fund does not import): the key prefixes it scans, key builders
// whose layout is fund's business, and decoders that copy a stored record into a struct of
// exported fields. Amounts stay uint256 as stored, wrapping around below zero (a value with
// the top bit set is a "negative" balance, see DESIGN.md); DecodeRecord is the *big.Int form
// for the PostgreSQL sync. A record that does not decode is an error wrapping ErrInvariant.

// Key prefixes of the records and indexes the read model reads (DESIGN.md, "State and key
// layout").
const (
	PrefixLedger            = pLedger     // L bn8 li8 tx32 → ledger entry
	PrefixLedgerByAddress   = pLedgerAddr // a addr20 bn8 li8 tx32 → ∅
	PrefixLedgerByEvent     = pLedgerEv   // e specId1 bn8 li8 tx32 → ∅
	PrefixLedgerByContract  = pLedgerCon  // c contract20 bn8 li8 tx32 → ∅
	PrefixAccount           = pAccount    // A addr20 → account
	PrefixRedemption        = pRedemption // R id32 → redemption
	PrefixRedemptionByOwner = pRedOwner   // o owner20 id32 → ∅
	PrefixAsset             = pAsset      // X token20 → asset
	PrefixPrice             = pPrice      // P asset20 → current price
	PrefixPriceHistory      = pPriceHist  // H asset20 time8 origin17 → price point
	PrefixNav               = pNav        // N time8 bn8 li8 → NAV point
	PrefixFlow              = pFlow       // F hour8 → flow bucket
	PrefixAudit             = pAudit      // U index8 ord4 → audit entry
)

// Lengths of the positions that follow a list's prefix in its keys (a list's cursor is one).
const (
	LedgerPosLen = ledgerPosLen // bn8 li8 tx32
	AuditPosLen  = 12           // index8 ord4
)

// LedgerTxKey is the key of the ledger entry lookup by (txHash, logIndex): its value is the
// entry's block number (8 bytes, big-endian).
func LedgerTxKey(tx common.Hash, logIndex uint64) []byte { return txKey(tx, logIndex) }

// LedgerKey is the key of the ledger entry at (blockNumber, logIndex, txHash).
func LedgerKey(blockNumber, logIndex uint64, tx common.Hash) []byte {
	pos := makeLedgerPos(blockNumber, logIndex, tx)
	return key(pLedger, pos[:])
}

// AuditActorPrefix and AuditActionPrefix are the prefixes of the audit index by exact actor
// and action; the index hashes the string, so readers filter the records exactly.
func AuditActorPrefix(actor string) []byte { return key(pAuditIdx, []byte{'a'}, hash8(actor)) }

// AuditActionPrefix: see AuditActorPrefix.
func AuditActionPrefix(action string) []byte { return key(pAuditIdx, []byte{'x'}, hash8(action)) }

// RedemptionStatuses and RedemptionChannels return the API names of the redemption statuses
// and channels, in stored order.
func RedemptionStatuses() []string { return append([]string(nil), statusNames[:]...) }

// RedemptionChannels: see RedemptionStatuses.
func RedemptionChannels() []string { return append([]string(nil), channelNames[:]...) }

// RedemptionStatusPrefix is the prefix of the redemptions index of the status named status;
// false for a name that is not a status.
func RedemptionStatusPrefix(status string) ([]byte, bool) {
	for i, n := range statusNames {
		if n == status {
			return key(pRedStatus, []byte{byte(i)}), true
		}
	}
	return nil, false
}

// PrimaryKeyLen is the key length of the primary record kind key[0]; 0 for a key that is no
// primary record kind.
func PrimaryKeyLen(key []byte) int {
	if len(key) == 0 {
		return 0
	}
	if isRiskKey(key) {
		return len(key) // a risk event's key has two shapes (risk.go)
	}
	return primaryKeyLen[key[0]]
}

// ValidateEvent checks ev against its declaration as Apply does before applying anything; the
// error is a *ValidationError.
func ValidateEvent(ev *chainlog.Event) error {
	if _, verr := eventSpec(ev); verr != nil {
		return verr
	}
	return nil
}

// StoredTierBand is a tier's configured target, min and max ratio in basis points.
type StoredTierBand struct{ Target, Min, Max uint256.Int }

// StoredFund is the fund singleton (S) as stored.
type StoredFund struct {
	SharePrice                                                            uint256.Int // 1e18-scaled
	TotalAssets, TotalSupply, TotalLockedShares, TotalRedemptionLiability uint256.Int
	FeeManagement, FeePerformance, FeeRedemption                          uint256.Int
	EmergencyMode                                                         bool
	HolderCount                                                           int64
	Tiers                                                                 [3]StoredTierBand // L1, L2, L3
	LastBlock                                                             uint64
	LatestBlockTime                                                       int64 // unix s
	UpdatedAt                                                             int64 // unix ns (command time); 0 before any change
	// Books is set once the fund keeps its books (DESIGN.md "The books"); Cash is then the
	// vault's stablecoin (two's complement). BooksOf derives the other figures.
	Books bool
	Cash  uint256.Int
}

// LoadFund reads the fund singleton from r: the initial state while none is stored.
func LoadFund(r kv.Reader) (StoredFund, error) {
	f, err := loadFund(r)
	if err != nil {
		return StoredFund{}, err
	}
	s := StoredFund{
		SharePrice: f.amounts[fSharePrice], TotalAssets: f.amounts[fTotalAssets], TotalSupply: f.amounts[fTotalSupply],
		TotalLockedShares: f.amounts[fTotalLocked], TotalRedemptionLiability: f.amounts[fLiability],
		FeeManagement: f.amounts[fFeeManagement], FeePerformance: f.amounts[fFeePerformance], FeeRedemption: f.amounts[fFeeRedemption],
		EmergencyMode: f.emergency, HolderCount: f.holders,
		LastBlock: uint64(f.ints[fLastBlock]), LatestBlockTime: f.ints[fLatestTime], UpdatedAt: f.ints[fUpdatedAt],
		Books: f.books, Cash: f.cash,
	}
	for t, b := range f.tiers {
		s.Tiers[t] = StoredTierBand{Target: b.target, Min: b.min, Max: b.max}
	}
	return s, nil
}

// StoredAccount is a share holder's account (A) as stored. FirstSeen and LastActivity are the
// block times (unix s) of the first and last event that touched it, both 0 when unknown.
type StoredAccount struct {
	Shares, LockedShares, Deposited, Withdrawn, Redeemed, PendingRedemptions uint256.Int
	FirstSeen, LastActivity                                                  int64
}

// DecodeAccount decodes an account record.
func DecodeAccount(v []byte) (StoredAccount, error) {
	var a account
	if err := a.decode(v); err != nil {
		return StoredAccount{}, corrupt("account", err)
	}
	return StoredAccount{
		Shares: a.amt[aShares], LockedShares: a.amt[aLocked], Deposited: a.amt[aDeposited],
		Withdrawn: a.amt[aWithdrawn], Redeemed: a.amt[aRedeemed], PendingRedemptions: a.amt[aPending],
		FirstSeen: a.first, LastActivity: a.last,
	}, nil
}

// StoredAsset is one holding of the asset controller (X) as stored: its tier (0 is L1), the
// target allocation in basis points and the holding.
type StoredAsset struct {
	Tier                uint8
	Active              bool
	Allocation, Holding uint256.Int
}

// DecodeAsset decodes an asset record.
func DecodeAsset(v []byte) (StoredAsset, error) {
	var a asset
	if err := a.decode(v); err != nil {
		return StoredAsset{}, corrupt("asset", err)
	}
	return StoredAsset{Tier: a.tier, Active: a.active, Allocation: a.alloc, Holding: a.holding}, nil
}

// StoredPrice is a current price (P) or a price history point (H) as stored: Source is
// "oracle" (SourceID is the oracle's source id) or "api" (an operator price).
type StoredPrice struct {
	Price    uint256.Int // 1e18-scaled USD
	Time     int64       // unix s
	Source   string
	SourceID uint8
}

// DecodePrice decodes a current price (P).
func DecodePrice(v []byte) (StoredPrice, error) { return decodePriceAs(v, "price") }

// DecodePricePoint decodes a price history point (H).
func DecodePricePoint(v []byte) (StoredPrice, error) { return decodePriceAs(v, "price point") }

func decodePriceAs(v []byte, what string) (StoredPrice, error) {
	var p priceRec
	if err := p.decode(v); err != nil {
		return StoredPrice{}, corrupt(what, err)
	}
	s := StoredPrice{Price: p.price, Time: p.time, Source: "api"}
	if p.source == srcOracle {
		s.Source, s.SourceID = "oracle", p.sourceID
	}
	return s, nil
}

// StoredNavPoint is one NavUpdated (N) as stored; its time, block number and log index are in
// its key.
type StoredNavPoint struct {
	SharePrice, TotalAssets, TotalSupply uint256.Int
}

// DecodeNavPoint decodes a NAV point.
func DecodeNavPoint(v []byte) (StoredNavPoint, error) {
	var n navPoint
	if err := n.decode(v); err != nil {
		return StoredNavPoint{}, corrupt("nav point", err)
	}
	return StoredNavPoint{SharePrice: n.sharePrice, TotalAssets: n.totalAssets, TotalSupply: n.totalSupply}, nil
}

// StoredFlowBucket sums the subscriptions and redemptions of one hour of block time (F).
type StoredFlowBucket struct {
	Subscriptions, Redemptions uint256.Int
}

// DecodeFlowBucket decodes a flow bucket.
func DecodeFlowBucket(v []byte) (StoredFlowBucket, error) {
	var f flowBucket
	if err := f.decode(v); err != nil {
		return StoredFlowBucket{}, corrupt("flow bucket", err)
	}
	return StoredFlowBucket{Subscriptions: f.v[flowSubs], Redemptions: f.v[flowReds]}, nil
}

// StoredRedemption is a redemption request with its timeline (R) as stored. Status and
// Channel are the API names (a channel outside the known ones as its number); Owner and
// Receiver are zero when unknown, RequestedAt 0 when RedemptionRequested was not seen.
type StoredRedemption struct {
	ID                                                              uint256.Int
	Owner, Receiver                                                 common.Address
	Shares, LockedAmount, EstimatedFee, GrossAmount, Fee, NetAmount uint256.Int
	Channel, Status                                                 string
	RequiresApproval                                                bool
	SettlementTime, WindowID                                        uint256.Int
	RequestedAt                                                     int64 // block time, unix s
	TxHash                                                          common.Hash
	Timeline                                                        []StoredTimelineStep
}

// StoredTimelineStep is one event in a redemption's history.
type StoredTimelineStep struct {
	Status      string
	Time        int64 // block time, unix s
	TxHash      common.Hash
	BlockNumber uint64
}

// DecodeRedemption decodes a redemption record.
func DecodeRedemption(v []byte) (*StoredRedemption, error) {
	var r redemption
	if err := r.decode(v); err != nil {
		return nil, corrupt("redemption", err)
	}
	s := &StoredRedemption{
		ID: r.id, Owner: r.owner, Receiver: r.receiver,
		Shares: r.shares, LockedAmount: r.locked, EstimatedFee: r.estFee, GrossAmount: r.gross, Fee: r.fee, NetAmount: r.net,
		Channel: channelName(r.channel), Status: statusNames[r.status], RequiresApproval: r.requiresApproval,
		SettlementTime: r.settlementTime, WindowID: r.windowID, RequestedAt: r.requestedAt, TxHash: r.tx,
		Timeline: make([]StoredTimelineStep, len(r.timeline)),
	}
	for i, t := range r.timeline {
		s.Timeline[i] = StoredTimelineStep{Status: statusNames[t.status%numStatuses], Time: t.time, TxHash: t.tx, BlockNumber: t.bn}
	}
	return s, nil
}

// DecodeLedgerEvent decodes the event of a ledger entry (L), with its effective block time.
func DecodeLedgerEvent(v []byte) (*chainlog.Event, error) {
	// decodeLedger without copying the undo journal, which no reader of the event needs (the
	// open day's report decodes every entry of the day on each build).
	d := &dec{b: v}
	d.recordVersion()
	ev := &chainlog.Event{}
	d.event(ev)
	d.raw()
	if err := d.finish(); err != nil {
		return nil, corrupt("ledger entry", err)
	}
	return ev, nil
}

// StoredAuditEntry is an audit entry (U) as stored; Before and After are small JSON values
// (empty when none).
type StoredAuditEntry struct {
	Index            uint64 // the command's Raft index
	Ord              uint32 // its ordinal within the command
	Time             int64  // unix ns (command time)
	Actor            Actor
	Action, Resource string
	Before, After    []byte
}

// DecodeAuditEntry decodes an audit entry.
func DecodeAuditEntry(v []byte) (StoredAuditEntry, error) {
	var a auditRec
	if err := a.decode(v); err != nil {
		return StoredAuditEntry{}, corrupt("audit entry", err)
	}
	return StoredAuditEntry{
		Index: a.index, Ord: a.ord, Time: a.time, Actor: a.actor,
		Action: a.action, Resource: a.resource, Before: a.before, After: a.after,
	}, nil
}
