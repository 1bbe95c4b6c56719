package fund

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"paimon/chainlog"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// Typed, read-only views of the primary records, for the PostgreSQL sync: it writes typed
// columns without knowing the binary encoding (and keeps the encoded value beside them, which
// is what a restore writes back). Every value is what the API renders for the record:
// addresses and hashes as lower-case hex, enums as their API strings, times in unix seconds
// (except the command times FundRecord.UpdatedAt and AuditRecord.Time, in unix nanoseconds,
// as stored), and amounts as *big.Int with the API's sign: balances and totals that wrap
// around below zero (a uint256 with the top bit set, rendered "-5") are negative, while
// prices, share prices, redemption amounts, ratios and allocations are rendered and returned
// unsigned (a uint256 always fits NUMERIC(78,0)).

// FundRecord is the fund singleton (key S). Its absence means the initial state, which
// DecodeRecord returns for a nil value (an outbox tombstone of S).
type FundRecord struct {
	SharePrice                                                            *big.Int // unsigned
	TotalAssets, TotalSupply, TotalLockedShares, TotalRedemptionLiability *big.Int
	FeeManagement, FeePerformance, FeeRedemption                          *big.Int
	EmergencyMode                                                         bool
	HolderCount                                                           int64
	Tiers                                                                 [3]TierBand // L1, L2, L3
	LastBlock                                                             uint64
	LatestBlockTime                                                       int64 // unix s
	UpdatedAt                                                             int64 // unix ns (command time); 0 before any change

	// The books (EVENTS.md "The fund's books"), once they started (Books; see fund DESIGN.md
	// "The books"): TotalAssets is then the books' (grossAssets − liability − redemption
	// fees), before it v0.1.0's sum of flows, and the fields below are nil. Signed amounts;
	// TierRatios in basis points; ComputedSharePrice and NavDriftBps nil when not computable.
	Books                  bool
	Cash, GrossAssets      *big.Int
	TierValues, TierRatios [3]*big.Int
	ComputedSharePrice     *big.Int
	NavDriftBps            *big.Int
}

// TierBand is a tier's configured ratios in basis points (unsigned, as the API renders them).
type TierBand struct {
	TargetRatio, MinRatio, MaxRatio *big.Int
}

// AccountRecord is a share holder (key A). FirstSeen and LastActivity are 0 when unknown.
type AccountRecord struct {
	Address                                                                  string
	Shares, LockedShares, Deposited, Withdrawn, Redeemed, PendingRedemptions *big.Int
	FirstSeen, LastActivity                                                  int64
}

// RedemptionRecord is a redemption request with its timeline (key R). Owner and Receiver are
// "" when unknown; SettlementTime is 0 when unset or beyond year 9999 and RequestedAt 0 when
// RedemptionRequested was not seen (the API's nulls). Amounts are unsigned.
type RedemptionRecord struct {
	RequestID                                                       string // decimal
	Owner, Receiver                                                 string
	Shares, LockedAmount, EstimatedFee, GrossAmount, Fee, NetAmount *big.Int
	Channel, Status                                                 string
	RequiresApproval                                                bool
	SettlementTime                                                  int64
	WindowID                                                        string // decimal
	RequestedAt                                                     int64
	TxHash                                                          string
	Timeline                                                        []TimelineStep
}

// TimelineStep is one event in a redemption's history.
type TimelineStep struct {
	Status      string
	Time        int64 // block time, unix s
	TxHash      string
	BlockNumber uint64
}

// AssetRecord is one holding of the asset controller (key X); Holding is signed.
type AssetRecord struct {
	Token            string
	Tier             string // "L1", "L2", "L3" (or "L<n>" for a tier the event named)
	Active           bool
	TargetAllocation *big.Int // basis points, unsigned
	Holding          *big.Int
}

// PriceRecord is an asset's current price (key P).
type PriceRecord struct {
	Asset    string
	Price    *big.Int // 1e18-scaled USD, unsigned
	Source   string   // "oracle" or "api"
	SourceID *uint8   // the oracle's source id; nil for "api"
	Time     int64
}

// PricePointRecord is a price history point (key H). Origin tells points of the same second
// apart: 0 bn(8) li(8) for an oracle event, 1 raftIndex(8) ordinal(8) for an operator push.
type PricePointRecord struct {
	Asset    string
	Time     int64
	Origin   []byte // 17 bytes
	Price    *big.Int
	Source   string
	SourceID *uint8
}

// NavPointRecord is one NavUpdated (key N): the share price (unsigned) and the fund's totals.
type NavPointRecord struct {
	Time                     int64
	BlockNumber, LogIndex    uint64
	SharePrice               *big.Int
	TotalAssets, TotalSupply *big.Int
}

// FlowBucketRecord sums one hour of block time (key F); Hour is the hour's first second.
type FlowBucketRecord struct {
	Hour                       int64
	Subscriptions, Redemptions *big.Int
}

// RiskEventRecord is a risk event (key K). BlockNumber is the block of a CHAIN event, or the
// fund's last block when a RULE or SYSTEM event was raised; LogIndex and TxHash are a CHAIN
// event's (0 and "" otherwise). Severity is lower-case ("info", "warning", "high", "critical",
// as the risk_events table has always held it); Event is the type. A version-1 record (v0.1.0's)
// has no Message, Details or Index.
type RiskEventRecord struct {
	BlockNumber, LogIndex uint64
	TxHash                string
	Severity              string
	Event                 string
	BlockTime             int64 // unix s: the block time (CHAIN) or the raising command's time
	Contract              string

	ID         string // RiskEventID
	Source     string // CHAIN, RULE, SYSTEM
	Message    string
	Details    json.RawMessage // a JSON object, nil when the record has none
	Resolved   bool
	ResolvedBy string
	ResolvedAt int64 // unix ns, 0 when unresolved
	Note       string
	Index      uint64 // the Raft index that raised it; 0 for a version-1 record and a CHAIN event
	Version    byte   // the record's version: 1 (v0.1.0's, CHAIN only) or 2
}

// LedgerRecord is a ledger entry (key L), as GET /v1/transactions renders it.
type LedgerRecord struct {
	TxHash                string
	LogIndex, BlockNumber uint64
	BlockHash             string
	BlockTime             int64
	Contract, Event       string
	Args                  json.RawMessage
}

// AuditRecord is an audit entry (key U), as GET /v1/audit renders it; ID is "<index>-<ord>".
type AuditRecord struct {
	ID                                           string
	Index                                        uint64
	Ord                                          uint32
	Time                                         int64 // unix ns (command time)
	Actor, Role, IP, UserAgent, Action, Resource string
	Before, After                                json.RawMessage // JSON; null when empty
}

// RoleRecord is a wallet's role (key Y), granted through POST /v1/admin/roles.
type RoleRecord struct {
	Address   string
	Role      string // viewer, operator, approver or admin
	UpdatedAt int64  // unix ns (command time)
	Index     uint64 // the Raft index that set it
}

// AssetMetaRecord is an asset's metadata (key D), set by CmdAssetMeta.
type AssetMetaRecord struct {
	Token        string
	Decimals     uint8
	Symbol, Name string // "" when unknown
}

// DecodeRecord decodes a primary record. The result is one of the *XxxRecord types; ok is
// false (and err nil) for a key that is not a primary record (index keys, views, the outbox,
// raftstore's m/ keys). A primary key of the wrong length or a value that does not decode is
// an error wrapping ErrInvariant. DecodeRecord never panics, whatever the bytes.
func DecodeRecord(key, value []byte) (rec any, ok bool, err error) {
	if !IsPrimaryRecord(key) {
		return nil, false, nil
	}
	if n := primaryKeyLen[key[0]]; len(key) != n && !isRiskKey(key) {
		return nil, true, corrupt("record key", fmt.Errorf("%x has %d bytes, want %d", key, len(key), n))
	}
	switch key[0] {
	case pFund:
		rec, err = fundRecord(value)
	case pAccount:
		rec, err = accountRecord(key, value)
	case pRedemption:
		rec, err = redemptionRecord(value)
	case pAsset:
		rec, err = assetRecord(key, value)
	case pPrice:
		rec, err = priceRecord(key, value)
	case pPriceHist:
		rec, err = pricePointRecord(key, value)
	case pNav:
		rec, err = navPointRecord(key, value)
	case pFlow:
		rec, err = flowBucketRecord(key, value)
	case pRisk:
		rec, err = riskEventRecord(key, value)
	case pLedger:
		rec, err = ledgerRecordOf(key, value)
	case pAudit:
		rec, err = auditRecord(value)
	case pIngest:
		var cp IngestCheckpoint
		if cp, err = decodeIngestCheckpoint(value); err == nil {
			rec = &cp
		}
	case pAssetMeta:
		var m assetMeta
		if err = m.decode(value); err == nil {
			rec = &AssetMetaRecord{Token: chainlog.HexAddress(common.Address(key[1:])), Decimals: m.decimals, Symbol: m.symbol, Name: m.name}
		} else {
			err = corrupt("asset metadata", err)
		}
	case pDaySnap:
		rec, err = daySnapshotRecord(key, value)
	case pTicket:
		var t TicketRecord
		if t, err = DecodeTicket(value); err == nil {
			rec = &t
		}
	case pTicketRec:
		var a ApprovalRecord
		if a, err = DecodeApprovalRecord(key, value); err == nil {
			rec = &a
		}
	case pTxIntent:
		var t TxIntent
		if t, err = decodeTxIntent(key, value); err == nil {
			rec = &t
		}
	case pPlan:
		var p PlanRecord
		if p, err = decodePlan(key, value); err == nil {
			rec = &p
		}
	case pRole:
		var r roleRec
		if r, err = decodeRole(value); err == nil {
			rec = &RoleRecord{Address: chainlog.HexAddress(common.Address(key[1:])), Role: r.role, UpdatedAt: r.updated, Index: r.index}
		} else {
			err = corrupt("role", err)
		}
	}
	if err != nil {
		return nil, true, err
	}
	return rec, true, nil
}

// primaryKeyLen is the key length of each primary record kind.
var primaryKeyLen = [256]int{
	pFund: 1, pIngest: 1, pAccount: 1 + 20, pRedemption: 1 + 32, pAsset: 1 + 20, pPrice: 1 + 20,
	pPriceHist: 1 + 20 + 8 + 17, pNav: 1 + 8 + 8 + 8, pFlow: 1 + 8, pRisk: 1 + ledgerPosLen,
	pLedger: 1 + ledgerPosLen, pAudit: 1 + 12, pRole: 1 + 20, pAssetMeta: 1 + 20, pDaySnap: 1 + 8,
	pTicket: 1 + 1 + 32, pTicketRec: 1 + 1 + 32 + 4, pTxIntent: 1 + 8, pPlan: planKeyLen,
}

func unsignedBig(u *uint256.Int) *big.Int { return u.ToBig() }

func fundRecord(v []byte) (*FundRecord, error) {
	f := newFundState()
	if v != nil {
		if err := f.decode(v); err != nil {
			return nil, corrupt("fund singleton", err)
		}
	}
	r := &FundRecord{
		SharePrice:               unsignedBig(&f.amounts[fSharePrice]),
		TotalAssets:              signedBig(&f.amounts[fTotalAssets]),
		TotalSupply:              signedBig(&f.amounts[fTotalSupply]),
		TotalLockedShares:        signedBig(&f.amounts[fTotalLocked]),
		TotalRedemptionLiability: signedBig(&f.amounts[fLiability]),
		FeeManagement:            signedBig(&f.amounts[fFeeManagement]),
		FeePerformance:           signedBig(&f.amounts[fFeePerformance]),
		FeeRedemption:            signedBig(&f.amounts[fFeeRedemption]),
		EmergencyMode:            f.emergency,
		HolderCount:              f.holders,
		LastBlock:                uint64(f.ints[fLastBlock]),
		LatestBlockTime:          f.ints[fLatestTime],
		UpdatedAt:                f.ints[fUpdatedAt],
	}
	for t := range f.tiers {
		b := &f.tiers[t]
		r.Tiers[t] = TierBand{TargetRatio: unsignedBig(&b.target), MinRatio: unsignedBig(&b.min), MaxRatio: unsignedBig(&b.max)}
	}
	if f.books {
		g := &f.figures
		r.Books, r.TotalAssets = true, signedBig(&g.total)
		r.Cash, r.GrossAssets = signedBig(&f.cash), signedBig(&g.gross)
		for t := range g.tierValue {
			r.TierValues[t], r.TierRatios[t] = signedBig(&g.tierValue[t]), signedBig(&g.tierRatio[t])
		}
		if g.hasComputed {
			r.ComputedSharePrice = signedBig(&g.computedPrice)
		}
		if g.hasDrift {
			r.NavDriftBps = signedBig(&g.driftBp)
		}
	}
	return r, nil
}

func accountRecord(k, v []byte) (*AccountRecord, error) {
	var a account
	if err := a.decode(v); err != nil {
		return nil, corrupt("account", err)
	}
	return &AccountRecord{
		Address: chainlog.HexAddress([20]byte(k[1:])),
		Shares:  signedBig(&a.amt[aShares]), LockedShares: signedBig(&a.amt[aLocked]),
		Deposited: signedBig(&a.amt[aDeposited]), Withdrawn: signedBig(&a.amt[aWithdrawn]),
		Redeemed: signedBig(&a.amt[aRedeemed]), PendingRedemptions: signedBig(&a.amt[aPending]),
		FirstSeen: a.first, LastActivity: a.last,
	}, nil
}

func optAddr(a [20]byte) string {
	if a == ([20]byte{}) {
		return ""
	}
	return chainlog.HexAddress(a)
}

func redemptionRecord(v []byte) (*RedemptionRecord, error) {
	var r redemption
	if err := r.decode(v); err != nil {
		return nil, corrupt("redemption", err)
	}
	out := &RedemptionRecord{
		RequestID: r.id.Dec(), Owner: optAddr(r.owner), Receiver: optAddr(r.receiver),
		Shares: unsignedBig(&r.shares), LockedAmount: unsignedBig(&r.locked), EstimatedFee: unsignedBig(&r.estFee),
		GrossAmount: unsignedBig(&r.gross), Fee: unsignedBig(&r.fee), NetAmount: unsignedBig(&r.net),
		Channel: channelName(r.channel), Status: statusNames[r.status], RequiresApproval: r.requiresApproval,
		WindowID: r.windowID.Dec(), RequestedAt: r.requestedAt, TxHash: chainlog.HexHash(r.tx),
		Timeline: make([]TimelineStep, len(r.timeline)),
	}
	if st := &r.settlementTime; st.IsUint64() && st.Uint64() <= chainlog.MaxUnixSeconds {
		out.SettlementTime = int64(st.Uint64())
	}
	for i, t := range r.timeline {
		out.Timeline[i] = TimelineStep{Status: statusNames[t.status%numStatuses], Time: t.time, TxHash: chainlog.HexHash(t.tx), BlockNumber: t.bn}
	}
	return out, nil
}

func assetRecord(k, v []byte) (*AssetRecord, error) {
	var a asset
	if err := a.decode(v); err != nil {
		return nil, corrupt("asset", err)
	}
	return &AssetRecord{
		Token: chainlog.HexAddress([20]byte(k[1:])), Tier: tierName(a.tier), Active: a.active,
		TargetAllocation: unsignedBig(&a.alloc), Holding: signedBig(&a.holding),
	}, nil
}

// priceSource returns the API's source name and, for the oracle, its source id.
func priceSource(p *priceRec) (string, *uint8) {
	if p.source == srcOracle {
		id := p.sourceID
		return "oracle", &id
	}
	return "api", nil
}

func priceRecord(k, v []byte) (*PriceRecord, error) {
	var p priceRec
	if err := p.decode(v); err != nil {
		return nil, corrupt("price", err)
	}
	src, id := priceSource(&p)
	return &PriceRecord{Asset: chainlog.HexAddress([20]byte(k[1:])), Price: unsignedBig(&p.price), Source: src, SourceID: id, Time: p.time}, nil
}

func pricePointRecord(k, v []byte) (*PricePointRecord, error) {
	var p priceRec
	if err := p.decode(v); err != nil {
		return nil, corrupt("price point", err)
	}
	src, id := priceSource(&p)
	return &PricePointRecord{
		Asset: chainlog.HexAddress([20]byte(k[1:21])), Time: int64(binary.BigEndian.Uint64(k[21:])), Origin: append([]byte(nil), k[29:]...),
		Price: unsignedBig(&p.price), Source: src, SourceID: id,
	}, nil
}

func navPointRecord(k, v []byte) (*NavPointRecord, error) {
	var n navPoint
	if err := n.decode(v); err != nil {
		return nil, corrupt("nav point", err)
	}
	return &NavPointRecord{
		Time: int64(binary.BigEndian.Uint64(k[1:])), BlockNumber: binary.BigEndian.Uint64(k[9:]), LogIndex: binary.BigEndian.Uint64(k[17:]),
		SharePrice: unsignedBig(&n.sharePrice), TotalAssets: signedBig(&n.totalAssets), TotalSupply: signedBig(&n.totalSupply),
	}, nil
}

func flowBucketRecord(k, v []byte) (*FlowBucketRecord, error) {
	var f flowBucket
	if err := f.decode(v); err != nil {
		return nil, corrupt("flow bucket", err)
	}
	return &FlowBucketRecord{Hour: int64(binary.BigEndian.Uint64(k[1:])), Subscriptions: signedBig(&f.v[flowSubs]), Redemptions: signedBig(&f.v[flowReds])}, nil
}

func riskEventRecord(k, v []byte) (*RiskEventRecord, error) {
	var r riskRec
	if err := r.decode(v); err != nil {
		return nil, corrupt("risk event", err)
	}
	if (len(k) == riskChainKeyLen) != (r.source == SourceChain) {
		return nil, corrupt("risk event", fmt.Errorf("a %s event under a key of %d bytes", r.source, len(k)))
	}
	rec := &RiskEventRecord{
		BlockNumber: binary.BigEndian.Uint64(k[1:]), Severity: strings.ToLower(r.severity.String()), Event: r.typ, BlockTime: r.time,
		ID: RiskEventID(k), Source: r.source.String(), Message: r.message, Resolved: r.resolved, ResolvedBy: r.resolvedBy,
		ResolvedAt: r.resolvedAt, Note: r.note, Index: r.index, Version: r.ver,
	}
	if r.details != nil {
		rec.Details = json.RawMessage(r.details)
	}
	if r.source == SourceChain {
		rec.LogIndex, rec.TxHash, rec.Contract = binary.BigEndian.Uint64(k[9:]), chainlog.HexHash([32]byte(k[17:])), chainlog.HexAddress(r.contract)
	}
	return rec, nil
}

func ledgerRecordOf(k, v []byte) (*LedgerRecord, error) {
	rec, err := decodeLedger(v)
	if err != nil {
		return nil, corrupt("ledger entry", err)
	}
	ev := &rec.ev
	s := chainlog.SpecByName(ev.Name)
	if s == nil || len(ev.Args) != len(s.Args) {
		return nil, corrupt("ledger entry", fmt.Errorf("unknown event %q", ev.Name))
	}
	return &LedgerRecord{
		TxHash: chainlog.HexHash(ev.TxHash), LogIndex: ev.LogIndex, BlockNumber: ev.BlockNumber, BlockHash: chainlog.HexHash(ev.BlockHash),
		BlockTime: ev.BlockTime, Contract: chainlog.HexAddress(ev.Contract), Event: ev.Name, Args: chainlog.AppendArgsJSON(nil, s, ev.Args),
	}, nil
}

func auditRecord(v []byte) (*AuditRecord, error) {
	var a auditRec
	if err := a.decode(v); err != nil {
		return nil, corrupt("audit entry", err)
	}
	return &AuditRecord{
		ID: strconv.FormatUint(a.index, 10) + "-" + strconv.FormatUint(uint64(a.ord), 10), Index: a.index, Ord: a.ord, Time: a.time,
		Actor: a.actor.Name, Role: a.actor.Role, IP: a.actor.IP, UserAgent: a.actor.UserAgent, Action: a.action, Resource: a.resource,
		Before: rawOrNull(a.before), After: rawOrNull(a.after),
	}, nil
}

// signedBig is u with the API's sign: a uint256 with the top bit set (a balance that wrapped
// below zero) is negative.
func signedBig(u *uint256.Int) *big.Int {
	if u.Sign() < 0 {
		return new(big.Int).Neg(new(uint256.Int).Neg(u).ToBig())
	}
	return u.ToBig()
}

// tierName is the API name of a tier: 0 is "L1".
func tierName(t uint8) string { return "L" + strconv.Itoa(int(t)+1) }

// channelName is the API name of a redemption channel; one outside the known ones is its
// number.
func channelName(c uint8) string {
	if int(c) < len(channelNames) {
		return channelNames[c]
	}
	return strconv.Itoa(int(c))
}

// rawOrNull is an audit entry's before or after value as JSON: null when empty or invalid.
func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}
