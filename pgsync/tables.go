package pgsync

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/readmodel"
)

// table is one synced table: its typed columns (the trailing raft_index, pk, rec included), the
// conflict target of its upserts, and the column it is partitioned by month on, if any.
type table struct {
	name       string
	cols       []string
	key        []string
	partBy     string // a timestamptz column partitioned by month; "" for none
	appendOnly bool   // rows are inserted once and never updated or deleted
	since      int64  // the schema version that created the table (0: v0.1.0's schema)
}

var (
	tFund       = &table{name: "fund_state", key: []string{"id"}, cols: cols("id", "share_price", "total_assets", "total_supply", "total_locked_shares", "total_redemption_liability", "fee_management", "fee_performance", "fee_redemption", "emergency_mode", "holder_count", "tiers", "last_block", "latest_block_time", "updated_at")}
	tAccount    = &table{name: "accounts", key: []string{"address"}, cols: cols("address", "shares", "locked_shares", "deposited", "withdrawn", "redeemed", "pending_redemptions", "first_seen", "last_activity")}
	tRedemption = &table{name: "redemptions", key: []string{"request_id"}, cols: cols("request_id", "owner", "receiver", "shares", "locked_amount", "estimated_fee", "gross_amount", "fee", "net_amount", "channel", "status", "requires_approval", "settlement_time", "window_id", "requested_at", "tx_hash")}
	tAsset      = &table{name: "assets", key: []string{"token"}, cols: cols("token", "tier", "active", "target_allocation", "holding")}
	tPrice      = &table{name: "prices", key: []string{"asset"}, cols: cols("asset", "price", "source", "source_id", "time")}
	tPricePoint = &table{name: "price_history", key: []string{"asset", "time", "origin"}, partBy: "time", cols: cols("asset", "time", "origin", "price", "source", "source_id")}
	tNavPoint   = &table{name: "nav_history", key: []string{"time", "block_number", "log_index"}, partBy: "time", cols: cols("time", "block_number", "log_index", "share_price", "total_assets", "total_supply")}
	tFlowBucket = &table{name: "flows_hourly", key: []string{"hour"}, cols: cols("hour", "subscriptions", "redemptions")}
	tRiskEvent  = &table{name: "risk_events", key: []string{"block_number", "log_index", "tx_hash"}, cols: cols("block_number", "log_index", "tx_hash", "severity", "event", "block_time", "contract")}
	tLedger     = &table{name: "ledger", key: []string{"tx_hash", "log_index", "block_time"}, partBy: "block_time", cols: cols("tx_hash", "log_index", "block_number", "block_hash", "block_time", "contract", "event", "args")}
	tAudit      = &table{name: "audit_log", key: []string{"id", "time"}, partBy: "time", appendOnly: true, cols: cols("id", "time", "actor", "role", "action", "resource", "ip", "user_agent", "before", "after")}
	tIngest     = &table{name: "ingest_checkpoint", key: []string{"id"}, cols: cols("id", "block_number", "block_hash", "recent", "updated_at")}
	tRole       = &table{name: "wallet_roles", key: []string{"address"}, cols: cols("address", "role", "updated_at")}
	tTimeline   = &table{name: "redemption_timeline", cols: []string{"request_id", "step", "status", "time", "tx_hash", "block_number", "raft_index"}}
	tAssetMeta  = &table{name: "asset_metadata", key: []string{"token"}, since: 5, cols: cols("token", "decimals", "symbol", "name")}
	// tRiskDetail is derived from a risk event of record version 2 (no rec: risk_events' is it).
	tRiskDetail = &table{name: "risk_event_details", key: []string{"id"}, since: 6, cols: []string{"id", "time", "source", "severity", "type", "message", "details", "block_number", "resolved", "resolved_by", "resolved_at", "note", "event_index", "raft_index", "pk"}}
	tDaySnap    = &table{name: "daily_snapshots", key: []string{"day"}, since: 5, cols: cols("day", "block_time", "last_block", "cash", "gross_assets", "total_assets", "l1_value", "l2_value", "l3_value", "l1_ratio", "l2_ratio", "l3_ratio", "total_redemption_liability", "fee_redemption", "fee_management", "fee_performance", "total_supply", "total_locked_shares", "share_price", "computed_share_price", "nav_drift_bps", "emergency_mode", "holder_count")}
	tTicket     = &table{name: "approval_tickets", key: []string{"id"}, since: 7, cols: cols("id", "type", "reference_id", "status", "channel", "amount", "requester", "required_approvals", "approvals", "created_at", "sla_warn_at", "sla_escalate_at", "sla_deadline", "closed_at", "exec_tx_hash", "exec_outcome")}
	tApproval   = &table{name: "approval_records", key: []string{"ticket_id", "seq"}, since: 7, appendOnly: true, cols: cols("ticket_id", "seq", "decision", "actor", "role", "reason", "time", "status_after")}
	tTxIntent   = &table{name: "executor_transactions", key: []string{"seq"}, since: 8, cols: cols("seq", "purpose", "reference", "from_address", "to_address", "nonce", "state", "failure", "block_number", "tx_hash", "attempts", "created_at", "updated_at")}
	tPlan       = &table{name: "rebalance_plans", key: []string{"id"}, since: 9, cols: cols("id", "status", "total_amount", "requires_approval", "ticket_id", "created_by", "created_at", "executed_by", "executed_at", "finished_at", "reason", "plan")}
	// tBooks is derived from the fund singleton once its books started (no rec: fund_state's is it).
	tBooks       = &table{name: "fund_books", key: []string{"id"}, since: 5, cols: []string{"id", "cash", "gross_assets", "total_assets", "l1_value", "l2_value", "l3_value", "l1_ratio", "l2_ratio", "l3_ratio", "computed_share_price", "nav_drift_bps", "raft_index", "pk"}}
	tSnapshot    = &table{name: "fund_snapshots", cols: []string{"raft_index", "updated_at", "share_price", "total_assets", "total_supply", "total_locked_shares", "total_redemption_liability", "holder_count", "last_block"}}
	recordTables = map[string]*table{
		fund.RecFund: tFund, fund.RecAccount: tAccount, fund.RecRedemption: tRedemption, fund.RecAsset: tAsset,
		fund.RecPrice: tPrice, fund.RecPricePoint: tPricePoint, fund.RecNavPoint: tNavPoint, fund.RecFlowBucket: tFlowBucket,
		fund.RecRiskEvent: tRiskEvent, fund.RecLedger: tLedger, fund.RecAudit: tAudit, fund.RecIngest: tIngest,
		fund.RecRole: tRole, fund.RecAssetMeta: tAssetMeta, fund.RecDaySnap: tDaySnap,
		fund.RecTicket: tTicket, fund.RecApproval: tApproval, fund.RecTxIntent: tTxIntent, fund.RecPlan: tPlan,
	}
	// syncedTables is the order of writes in a transaction: redemptions before their timeline.
	syncedTables = []*table{tFund, tAccount, tRedemption, tAsset, tPrice, tPricePoint, tNavPoint, tFlowBucket, tRiskEvent, tLedger, tAudit, tIngest, tRole, tAssetMeta, tDaySnap, tTicket, tApproval, tTxIntent, tPlan}
	// prunedTables are the tables whose rows a deleted record removes (by pk): the synced ones
	// that are not append-only, and fund_books with its singleton.
	prunedTables = []*table{tFund, tAccount, tRedemption, tAsset, tPrice, tPricePoint, tNavPoint, tFlowBucket, tRiskEvent, tLedger, tIngest, tRole, tAssetMeta, tDaySnap, tBooks, tRiskDetail, tTicket, tTxIntent, tPlan}
)

func cols(typed ...string) []string { return append(typed, "raft_index", "pk", "rec") }

// row is one outbox entry turned into a table row (or a deletion).
type row struct {
	t        *table
	index    uint64
	pk, rec  []byte
	deleted  bool
	vals     []any     // values of t.cols, raft_index, pk and rec included; nil when deleted
	part     time.Time // the partition column's value, for partitioned tables
	timeline [][]any   // redemption_timeline rows of a redemption
	snapshot []any     // the fund_snapshots row of a fund change
	books    []any     // the fund_books row of a fund change once the books started
	risk     []any     // the risk_event_details row of a risk event of record version 2
}

// toRow converts an outbox entry (or a primary record of a full copy) into a row.
func toRow(index uint64, key, value []byte) (row, error) {
	typ := fund.RecordType(key)
	t := recordTables[typ]
	if t == nil {
		return row{}, fmt.Errorf("outbox entry %d: key %q is not a synced record", index, key)
	}
	r := row{t: t, index: index, pk: key, rec: value}
	if value == nil {
		r.deleted = true
		return r, nil
	}
	rec, _, err := fund.DecodeRecord(key, value)
	if err != nil {
		return row{}, fmt.Errorf("outbox entry %d: %w", index, err)
	}
	tail := []any{int64(index), key, value}
	switch x := rec.(type) {
	case *fund.FundRecord:
		tiers := map[string]map[string]string{}
		for i, b := range x.Tiers {
			tiers[fmt.Sprintf("L%d", i+1)] = map[string]string{"targetRatio": b.TargetRatio.String(), "minRatio": b.MinRatio.String(), "maxRatio": b.MaxRatio.String()}
		}
		tj, _ := json.Marshal(tiers)
		updated := tsNano(x.UpdatedAt)
		r.vals = append([]any{true, num(x.SharePrice), num(x.TotalAssets), num(x.TotalSupply), num(x.TotalLockedShares),
			num(x.TotalRedemptionLiability), num(x.FeeManagement), num(x.FeePerformance), num(x.FeeRedemption),
			x.EmergencyMode, x.HolderCount, tj, int64(x.LastBlock), ts(x.LatestBlockTime), updated}, tail...)
		r.snapshot = []any{int64(index), updated, num(x.SharePrice), num(x.TotalAssets), num(x.TotalSupply), num(x.TotalLockedShares),
			num(x.TotalRedemptionLiability), x.HolderCount, int64(x.LastBlock)}
		if x.Books {
			r.books = []any{true, num(x.Cash), num(x.GrossAssets), num(x.TotalAssets), num(x.TierValues[0]), num(x.TierValues[1]), num(x.TierValues[2]),
				num(x.TierRatios[0]), num(x.TierRatios[1]), num(x.TierRatios[2]), num(x.ComputedSharePrice), num(x.NavDriftBps), int64(index), key}
		}
	case *fund.AccountRecord:
		r.vals = append([]any{x.Address, num(x.Shares), num(x.LockedShares), num(x.Deposited), num(x.Withdrawn), num(x.Redeemed),
			num(x.PendingRedemptions), ts(x.FirstSeen), ts(x.LastActivity)}, tail...)
	case *fund.RedemptionRecord:
		id, err := decimal(x.RequestID)
		if err != nil {
			return row{}, err
		}
		window, err := decimal(x.WindowID)
		if err != nil {
			return row{}, err
		}
		r.vals = append([]any{id, x.Owner, x.Receiver, num(x.Shares), num(x.LockedAmount), num(x.EstimatedFee), num(x.GrossAmount),
			num(x.Fee), num(x.NetAmount), x.Channel, x.Status, x.RequiresApproval, ts(x.SettlementTime), window, ts(x.RequestedAt), str(x.TxHash)}, tail...)
		for i, st := range x.Timeline {
			r.timeline = append(r.timeline, []any{id, int32(i), st.Status, ts(st.Time), str(st.TxHash), int64(st.BlockNumber), int64(index)})
		}
	case *fund.AssetRecord:
		r.vals = append([]any{x.Token, x.Tier, x.Active, num(x.TargetAllocation), num(x.Holding)}, tail...)
	case *fund.PriceRecord:
		r.vals = append([]any{x.Asset, num(x.Price), x.Source, sourceID(x.SourceID), ts(x.Time)}, tail...)
	case *fund.PricePointRecord:
		r.part = time.Unix(x.Time, 0).UTC()
		r.vals = append([]any{x.Asset, r.part, x.Origin, num(x.Price), x.Source, sourceID(x.SourceID)}, tail...)
	case *fund.NavPointRecord:
		r.part = time.Unix(x.Time, 0).UTC()
		r.vals = append([]any{r.part, int64(x.BlockNumber), int64(x.LogIndex), num(x.SharePrice), num(x.TotalAssets), num(x.TotalSupply)}, tail...)
	case *fund.FlowBucketRecord:
		r.vals = append([]any{time.Unix(x.Hour, 0).UTC(), num(x.Subscriptions), num(x.Redemptions)}, tail...)
	case *fund.RiskEventRecord:
		li, tx := int64(x.LogIndex), x.TxHash
		if x.Source != "CHAIN" {
			// A RULE or SYSTEM event has no log: its row is keyed by its id in tx_hash (log_index
			// -1), unique like the key; the whole record is in rec.
			li, tx = -1, x.ID
		}
		r.vals = append([]any{int64(x.BlockNumber), li, tx, x.Severity, x.Event, ts(x.BlockTime), x.Contract}, tail...)
		if x.Version >= 2 {
			var idx any
			if x.Index != 0 {
				idx = int64(x.Index)
			}
			r.risk = []any{x.ID, ts(x.BlockTime), x.Source, strings.ToUpper(x.Severity), x.Event, x.Message, jsonOrNil(x.Details), int64(x.BlockNumber),
				x.Resolved, str(x.ResolvedBy), tsNano(x.ResolvedAt), str(x.Note), idx, int64(index), key}
		}
	case *fund.LedgerRecord:
		r.part = time.Unix(x.BlockTime, 0).UTC()
		r.vals = append([]any{x.TxHash, int64(x.LogIndex), int64(x.BlockNumber), x.BlockHash, r.part, x.Contract, x.Event, []byte(x.Args)}, tail...)
	case *fund.AuditRecord:
		r.part = time.Unix(0, x.Time).UTC()
		r.vals = append([]any{x.ID, r.part, x.Actor, x.Role, x.Action, x.Resource, x.IP, x.UserAgent, jsonOrNil(x.Before), jsonOrNil(x.After)}, tail...)
	case *fund.IngestCheckpoint:
		recent := make([]map[string]any, len(x.Window))
		for i, b := range x.Window {
			recent[i] = map[string]any{"number": b.Number, "hash": b.Hash.Hex(), "parentHash": b.ParentHash.Hex()}
		}
		rj, _ := json.Marshal(recent)
		r.vals = append([]any{true, int64(x.Block.Number), x.Block.Hash.Hex(), rj, tsNano(x.Updated)}, tail...)
	case *fund.RoleRecord:
		r.vals = append([]any{x.Address, x.Role, tsNano(x.UpdatedAt)}, tail...)
	case *fund.AssetMetaRecord:
		r.vals = append([]any{x.Token, int16(x.Decimals), str(x.Symbol), str(x.Name)}, tail...)
	case *fund.DaySnapshotRecord:
		r.vals = append([]any{time.Unix(x.Day, 0).UTC(), ts(x.BlockTime), int64(x.LastBlock), num(x.Cash), num(x.GrossAssets), num(x.TotalAssets),
			num(x.TierValues[0]), num(x.TierValues[1]), num(x.TierValues[2]), num(x.TierRatios[0]), num(x.TierRatios[1]), num(x.TierRatios[2]),
			num(x.TotalRedemptionLiability), num(x.FeeRedemption), num(x.FeeManagement), num(x.FeePerformance),
			num(x.TotalSupply), num(x.TotalLockedShares), num(x.SharePrice), num(x.ComputedSharePrice), num(x.NavDriftBps),
			x.EmergencyMode, x.HolderCount}, tail...)
	case *fund.TicketRecord:
		ref, err := decimal(x.ReferenceID)
		if err != nil {
			return row{}, err
		}
		r.vals = append([]any{x.ID, x.Type.String(), ref, x.Status.String(), x.Channel, num(x.Amount.ToBig()), x.Requester,
			int16(x.Required), int16(x.Approved()), ts(x.CreatedAt), ts(x.WarnAt), ts(x.EscalateAt), ts(x.DueAt), tsNano(x.ClosedAt),
			str(x.ExecTx), str(x.ExecOutcome)}, tail...)
	case *fund.ApprovalRecord:
		r.vals = append([]any{x.TicketID, int32(x.Seq), x.Decision.String(), str(x.Actor), str(x.Role), str(x.Reason),
			time.Unix(0, x.Time).UTC(), x.StatusAfter.String()}, tail...)
	case *fund.TxIntent:
		attempts := make([]map[string]any, len(x.Attempts))
		for i, a := range x.Attempts {
			attempts[i] = map[string]any{"hash": chainlog.HexHash(a.Hash), "state": a.State, "time": time.Unix(0, a.Time).UTC()}
		}
		aj, _ := json.Marshal(attempts)
		var block, hash any
		if x.Block != 0 {
			block = int64(x.Block)
		}
		if x.MinedHash != ([32]byte{}) {
			hash = chainlog.HexHash(x.MinedHash)
		} else if n := len(x.Attempts); n > 0 {
			hash = chainlog.HexHash(x.Attempts[n-1].Hash)
		}
		r.vals = append([]any{int64(x.Seq), x.Purpose, x.Reference, chainlog.HexAddress(x.From), chainlog.HexAddress(x.To), int64(x.Nonce),
			x.State, str(x.Reason), block, hash, aj, time.Unix(0, x.Created).UTC(), time.Unix(0, x.Updated).UTC()}, tail...)
	case *fund.PlanRecord:
		plan, err := readmodel.PlanJSON(x, nil)
		if err != nil {
			return row{}, err
		}
		r.vals = append([]any{int64(x.ID), x.Status.String(), num(x.TotalAmount.ToBig()), x.RequiresApproval, str(x.Ticket), x.CreatedBy,
			tsNano(x.CreatedAt), str(x.ExecutedBy), tsNano(x.ExecutedAt), tsNano(x.FinishedAt), str(x.Reason), plan}, tail...)
	default:
		return row{}, fmt.Errorf("outbox entry %d: unexpected record %T", index, rec)
	}
	if len(r.vals) != len(t.cols) {
		return row{}, fmt.Errorf("internal: %s row has %d values for %d columns", t.name, len(r.vals), len(t.cols))
	}
	return r, nil
}

// num is a NUMERIC(78,0) value; nil big.Int is NULL.
func num(v *big.Int) pgtype.Numeric {
	if v == nil {
		return pgtype.Numeric{}
	}
	return pgtype.Numeric{Int: v, Exp: 0, Valid: true}
}

// decimal parses a decimal id; "" is NULL.
func decimal(s string) (pgtype.Numeric, error) {
	if s == "" {
		return pgtype.Numeric{}, nil
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return pgtype.Numeric{}, fmt.Errorf("not a decimal number: %q", s)
	}
	return num(v), nil
}

// ts is a timestamptz from unix seconds; 0 (unknown) is NULL.
func ts(sec int64) any {
	if sec == 0 {
		return nil
	}
	return time.Unix(sec, 0).UTC()
}

func tsNano(ns int64) any {
	if ns == 0 {
		return nil
	}
	return time.Unix(0, ns).UTC()
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func sourceID(p *uint8) any {
	if p == nil {
		return nil
	}
	return int16(*p)
}

func jsonOrNil(b json.RawMessage) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return []byte(b)
}

// monthOf returns the first instant of t's month, the lower bound of its partition.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// partitionName is the name of a table's partition for the month starting at m.
func partitionName(t *table, m time.Time) string {
	return fmt.Sprintf("%s_y%04dm%02d", t.name, m.Year(), int(m.Month()))
}

// upsertSQL moves a staging table into its target: newer rows replace older ones (by Raft
// index), so a replayed batch changes nothing.
func upsertSQL(t *table, stage string) string {
	cl := strings.Join(t.cols, ", ")
	if t.appendOnly {
		return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO NOTHING", t.name, cl, cl, stage, strings.Join(t.key, ", "))
	}
	var set []string
	for _, c := range t.cols {
		if !contains(t.key, c) {
			set = append(set, c+" = excluded."+c)
		}
	}
	return fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM %s ON CONFLICT (%s) DO UPDATE SET %s WHERE t.raft_index < excluded.raft_index",
		t.name, cl, cl, stage, strings.Join(t.key, ", "), strings.Join(set, ", "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inSchema reports whether table t exists at schema version schema.
func (t *table) inSchema(schema int64) bool { return t.since <= schema }
