package fund

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/rebalance"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// recordsEnv holds every kind of primary record: the walkthrough with its prices, one event
// of every kind, a holder gone "negative", and an audit entry with before/after values.
func recordsEnv(t testing.TB) *env {
	logs, prices := sampleCommands(t)
	e := newOutboxEnv(t)
	e.apply(logs)
	e.apply(prices)
	e.logs(chainlogtest.AllEvents(testNow)...)
	e.logs(mk("Transfer", 14, 0, testNow, addr(9), addr(1), e18(3))) // addr(9) never received any
	e.apply(EncodeAudit(&AuditCommand{Time: testNow*1e9 + 123, Actor: Actor{Name: "root", Role: "admin", IP: "10.0.0.1", UserAgent: "curl"},
		Action: "cluster.join", Resource: "cluster/n2", Before: []byte(`{"voters":1}`), After: []byte(`{"voters":2}`)}))
	e.apply(EncodeIngest(&IngestCommand{Time: testNow * 1e9, Head: BlockRef{Number: 99, Hash: common.Hash{9, 9}},
		Blocks: []BlockRef{{Number: 98, Hash: common.Hash{9, 8}}}, Window: 8}))
	e.apply(EncodeRole(&RoleCommand{Time: testNow*1e9 + 7, Actor: Actor{Name: "root", Role: "admin"}, Address: addr(4), Role: "operator"}))
	e.apply(EncodeAssetMeta(&AssetMetaCommand{Time: testNow * 1e9, Assets: []AssetMeta{{Token: usdt, Decimals: 18, Symbol: "USDT", Name: "Tether USD"}}}))
	// An approval ticket that passes its SLA (approval records).
	e.logs(request(15, 77, true, testNow+day))
	e.apply(EncodeTick(&TickCommand{Time: (testNow + 30*day) * 1e9}))
	// An executor's intent, sent, then replaced at its nonce (one intent with two attempts).
	it := e.apply(EncodeTxIntent(&TxIntentCommand{Time: testNow * 1e9, Purpose: "SETTLE", Reference: "redemption-77",
		From: addr(5), To: addr(6), Nonce: 3, Hash: [32]byte{7}, Raw: []byte{0x02, 1, 2, 3}})).(*TxIntentResult)
	e.apply(EncodeTxUpdate(&TxUpdateCommand{Time: testNow*1e9 + 1, Seq: it.Intent.Seq, State: TxSent}))
	e.apply(EncodeTxUpdate(&TxUpdateCommand{Time: testNow*1e9 + 2, Seq: it.Intent.Seq, Replacement: TxAttempt{Hash: [32]byte{8}, Raw: []byte{0x02, 4, 5}}}))
	// A rebalance plan pending its approval (a REBALANCE ticket, version 3).
	b, err := ReadBooks(e.st)
	if err != nil {
		t.Fatal(err)
	}
	var pre rebalance.State
	for i := range pre.Tiers {
		pre.Tiers[i].Ratio = uint64(max(b.RatioBps(i), 0))
	}
	plan := rebalance.Plan{Pre: pre, Actions: []rebalance.Action{{Type: rebalance.Purchase, Tier: 1, Asset: addr(50), Amount: *e18(1), Tokens: *e18(1)}}, TotalAmount: *e18(1)}
	e.apply(EncodeRebalancePlan(&RebalancePlanCommand{Time: (testNow + 30*day) * 1e9, Actor: Actor{Name: "token:ops", Role: "operator"}, Targets: [3]uint64{4000, 3000, 3000}, Plan: plan}))
	if r, ok := e.apply(EncodeRebalanceExecute(&RebalanceExecuteCommand{Time: (testNow + 30*day) * 1e9, Actor: Actor{Name: "token:ops", Role: "operator"}, PlanID: e.index})).(*RebalancePlanResult); !ok || r.Plan.Status != PlanPendingApproval {
		t.Fatalf("rebalance plan: %+v", r)
	}
	return e
}

func bigStr(b *big.Int) string { return b.String() }

// optUnix renders unix seconds as the API does for optional times (nil when 0).
func optUnix(s int64) any {
	if s == 0 {
		return nil
	}
	return fmtUnix(s)
}

func optStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %s: %v", what, want, err)
	}
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// TestDecodeRecordMatchesAPI decodes every primary record of a state and checks each value
// against what the API renders for the same state.
func TestDecodeRecordMatchesAPI(t *testing.T) {
	e := recordsEnv(t)
	audit := map[string]map[string]any{}
	for _, it := range e.pages(100, func(p Page) ([]byte, error) { return Audit(e.st, AuditFilter{}, p) }) {
		audit[it.(map[string]any)["id"].(string)] = it.(map[string]any)
	}
	assets := map[string]map[string]any{}
	for _, it := range e.view(ViewAssets)["items"].([]any) {
		assets[it.(map[string]any)["token"].(string)] = it.(map[string]any)
	}
	seen := map[byte]int{}
	negative := 0
	var subs, reds big.Int
	var fund *FundRecord
	var buckets []*FlowBucketRecord
	for k, v := range primaries(t, e.st) {
		key, value := []byte(k), []byte(v)
		rec, ok, err := DecodeRecord(key, value)
		if err != nil || !ok {
			t.Fatalf("%x: %v %v", key, ok, err)
		}
		seen[key[0]]++
		switch r := rec.(type) {
		case *FundRecord:
			fund = r
			o := e.view(ViewOverview)
			want := expect{
				"sharePrice": bigStr(r.SharePrice), "totalAssets": bigStr(r.TotalAssets), "totalSupply": bigStr(r.TotalSupply),
				"totalLockedShares": bigStr(r.TotalLockedShares), "totalRedemptionLiability": bigStr(r.TotalRedemptionLiability),
				"fees.management": bigStr(r.FeeManagement), "fees.performance": bigStr(r.FeePerformance), "fees.redemption": bigStr(r.FeeRedemption),
				"emergencyMode": r.EmergencyMode, "holderCount": r.HolderCount, "lastBlock": r.LastBlock, "updatedAt": fmtUnixNano(r.UpdatedAt),
			}
			for i, b := range r.Tiers {
				tier := tierName(uint8(i))
				want["tiers."+tier+".targetRatio"], want["tiers."+tier+".minRatio"], want["tiers."+tier+".maxRatio"] = b.TargetRatio, b.MinRatio, b.MaxRatio
			}
			if !r.Books {
				t.Fatal("the sample state has no books")
			}
			want["cash"], want["grossAssets"] = bigStr(r.Cash), bigStr(r.GrossAssets)
			for i := range r.TierValues {
				tier := tierName(uint8(i))
				want["tiers."+tier+".value"], want["tiers."+tier+".ratio"] = bigStr(r.TierValues[i]), r.TierRatios[i]
			}
			if r.ComputedSharePrice != nil {
				want["computedSharePrice"] = bigStr(r.ComputedSharePrice)
			}
			if r.NavDriftBps != nil {
				want["navDriftBps"] = r.NavDriftBps
			}
			e.check("fund", o, want)
			mustEqual(t, "latest block time", r.LatestBlockTime, e.m.fund.ints[fLatestTime])
		case *AccountRecord:
			if r.Shares.Sign() < 0 {
				negative++
			}
			e.check("account "+r.Address, e.account(common.HexToAddress(r.Address)), expect{
				"address": r.Address, "shares": bigStr(r.Shares), "lockedShares": bigStr(r.LockedShares), "deposited": bigStr(r.Deposited),
				"withdrawn": bigStr(r.Withdrawn), "redeemed": bigStr(r.Redeemed), "pendingRedemptions": bigStr(r.PendingRedemptions),
				"firstSeen": optUnix(r.FirstSeen), "lastActivity": optUnix(r.LastActivity),
			})
		case *RedemptionRecord:
			want := expect{
				"requestId": r.RequestID, "owner": optStr(r.Owner), "receiver": optStr(r.Receiver), "shares": bigStr(r.Shares),
				"lockedAmount": bigStr(r.LockedAmount), "estimatedFee": bigStr(r.EstimatedFee), "grossAmount": bigStr(r.GrossAmount),
				"fee": bigStr(r.Fee), "netAmount": bigStr(r.NetAmount), "channel": r.Channel, "status": r.Status,
				"requiresApproval": r.RequiresApproval, "settlementTime": optUnix(r.SettlementTime), "windowId": r.WindowID,
				"requestedAt": optUnix(r.RequestedAt), "txHash": r.TxHash, "timelineLen": len(r.Timeline),
			}
			for i, s := range r.Timeline {
				p := fmt.Sprintf("timeline.%d.", i)
				want[p+"status"], want[p+"time"], want[p+"txHash"], want[p+"blockNumber"] = s.Status, fmtUnix(s.Time), s.TxHash, s.BlockNumber
			}
			got := e.redemption(r.RequestID)
			got["timelineLen"] = len(got["timeline"].([]any))
			e.check("redemption "+r.RequestID, got, want)
		case *AssetRecord:
			a := assets[r.Token]
			if a == nil {
				t.Fatalf("asset %s not in the assets view", r.Token)
			}
			e.check("asset "+r.Token, a, expect{"tier": r.Tier, "active": r.Active, "targetAllocation": bigStr(r.TargetAllocation), "holding": bigStr(r.Holding)})
		case *PriceRecord:
			want := expect{"asset": r.Asset, "price": bigStr(r.Price), "source": r.Source, "time": fmtUnix(r.Time), "sourceId": nil}
			if r.SourceID != nil {
				want["sourceId"] = *r.SourceID
			}
			e.check("price "+r.Asset, e.json(Price(e.st, r.Asset, PriceQuery{})), want)
		case *PricePointRecord:
			p := e.json(Price(e.st, r.Asset, PriceQuery{History: true, Limit: MaxLimit}))
			found := false
			for _, it := range p["items"].([]any) {
				m := it.(map[string]any)
				id, _ := m["sourceId"].(float64)
				found = found || m["time"] == fmtUnix(r.Time) && m["price"] == bigStr(r.Price) && m["source"] == r.Source &&
					(r.SourceID == nil) == (m["sourceId"] == nil) && (r.SourceID == nil || uint8(id) == *r.SourceID)
			}
			if !found || len(r.Origin) != 17 {
				t.Errorf("price point %+v not in the history of %s", r, r.Asset)
			}
		case *NavPointRecord:
			n := e.json(NavHistory(e.st, NavQuery{Interval: IntervalRaw, HasFrom: true, Limit: MaxLimit}))
			found := 0
			for _, it := range n["items"].([]any) {
				m := it.(map[string]any)
				if m["time"] == fmtUnix(r.Time) {
					found++
					e.check("nav point", m, expect{"sharePrice": bigStr(r.SharePrice), "totalAssets": bigStr(r.TotalAssets), "totalSupply": bigStr(r.TotalSupply)})
				}
			}
			mustEqual(t, "nav points at "+fmtUnix(r.Time), found, 1)
		case *FlowBucketRecord:
			buckets = append(buckets, r)
		case *RiskEventRecord:
			if r.Source == "RULE" || r.Source == "SYSTEM" { // an indicator's crossing (riskstatus.go), an SLA (approvals.go): no ledger entry
				mustEqual(t, r.Source+" event index", r.Index > 0 && r.TxHash == "", true)
				break
			}
			l := e.json(LedgerEntry(e.st, common.HexToHash(r.TxHash), r.LogIndex))
			e.check("risk event", l, expect{"blockNumber": r.BlockNumber, "blockTime": fmtUnix(r.BlockTime), "contract": r.Contract, "event": r.Event})
			want := map[string]string{"EmergencyModeChanged": "critical", "WaterfallLiquidation": "high", "LowLiquidityAlert": "warning", "CriticalLiquidityAlert": "critical"}[r.Event]
			mustEqual(t, "severity of "+r.Event, r.Severity, want)
		case *LedgerRecord:
			body, err := LedgerEntry(e.st, common.HexToHash(r.TxHash), r.LogIndex)
			if err != nil {
				t.Fatal(err)
			}
			l := e.json(body, nil)
			e.check("ledger", l, expect{"txHash": r.TxHash, "logIndex": r.LogIndex, "blockNumber": r.BlockNumber, "blockHash": r.BlockHash,
				"blockTime": fmtUnix(r.BlockTime), "contract": r.Contract, "event": r.Event})
			args, _ := json.Marshal(l["args"])
			sameJSON(t, "args of "+r.Event, r.Args, args)
		case *AuditRecord:
			a := audit[r.ID]
			if a == nil {
				t.Fatalf("audit %s not listed", r.ID)
			}
			e.check("audit "+r.ID, a, expect{"time": fmtUnixNano(r.Time), "actor": r.Actor, "role": r.Role, "ip": r.IP, "userAgent": r.UserAgent,
				"action": r.Action, "resource": r.Resource, "index": r.Index})
			before, _ := json.Marshal(a["before"])
			after, _ := json.Marshal(a["after"])
			sameJSON(t, "audit before", r.Before, before)
			sameJSON(t, "audit after", r.After, after)
			mustEqual(t, "audit id", r.ID, fmt.Sprintf("%d-%d", r.Index, r.Ord))
		case *RoleRecord:
			list, err := Roles(e.st)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"items": list})
			items := e.json(body, nil)["items"].([]any)
			mustEqual(t, "roles", len(items), 1)
			e.check("role", items[0].(map[string]any), expect{"address": r.Address, "role": r.Role, "updatedAt": fmtUnixNano(r.UpdatedAt), "index": r.Index})
		case *AssetMetaRecord:
			found := false
			for _, it := range e.view(ViewAssets)["items"].([]any) {
				if field(it, "token") == r.Token {
					found = true
					e.check("asset "+r.Token, it.(map[string]any), expect{"decimals": int(r.Decimals), "symbol": optStr(r.Symbol), "name": optStr(r.Name)})
				}
			}
			if !found {
				t.Fatalf("asset metadata of %s: no such asset", r.Token)
			}
		case *DaySnapshotRecord:
			if r.Day%86400 != 0 || r.BlockTime >= r.Day+86400 {
				t.Errorf("daily snapshot of %d at block time %d", r.Day, r.BlockTime)
			}
			sum := new(big.Int)
			for _, v := range r.TierValues {
				sum.Add(sum, v)
			}
			if sum.Cmp(r.GrossAssets) != 0 || new(big.Int).Sub(new(big.Int).Sub(r.GrossAssets, r.TotalRedemptionLiability), r.FeeRedemption).Cmp(r.TotalAssets) != 0 {
				t.Errorf("daily snapshot %d does not add up: %+v", r.Day, r)
			}
		case *TicketRecord:
			// The approval tickets' API rendering is readmodel's (its tests); here the record
			// must name itself as its key does.
			if k, ok := TicketKey(r.ID); !ok || !bytes.Equal(k, key) || r.Status.String() == "" {
				t.Errorf("ticket %x decoded as %+v", key, r)
			}
		case *ApprovalRecord:
			if k, ok := TicketKey(r.TicketID); !ok || !bytes.Equal(TicketTrailPrefix(k), key[:34]) || r.Decision.String() == "" {
				t.Errorf("approval record %x decoded as %+v", key, r)
			}
		case *TxIntent:
			// GET /v1/executor/transactions renders intents (readmodel's tests); here the record
			// must be the one the commands made.
			if r.Seq != be64get(key[1:]) || r.Purpose != "SETTLE" || r.Reference != "redemption-77" || r.Nonce != 3 ||
				r.State != TxSent || len(r.Attempts) != 2 || r.Attempts[0].State != TxReplaced || r.Attempts[1].Hash != [32]byte{8} {
				t.Errorf("tx intent %x decoded as %+v", key, r)
			}
		case *PlanRecord:
			if !bytes.Equal(PlanKey(r.ID), key) || r.Status != PlanPendingApproval || r.Ticket == "" || len(r.Actions) != 1 {
				t.Errorf("plan %x decoded as %+v", key, r)
			}
		case *IngestCheckpoint:
			if r.Block.Number != 99 || len(r.Window) != 2 || r.Window[0].Number != 98 || r.Window[1] != r.Block {
				t.Errorf("ingest checkpoint %+v", r)
			}
		default:
			t.Fatalf("%x decoded to %T", key, rec)
		}
	}
	for p := range primaryPrefixes {
		if primaryPrefixes[p] && seen[byte(p)] == 0 {
			t.Errorf("no %c record in the test state", p)
		}
	}
	if negative == 0 {
		t.Error("no negative balance in the test state")
	}
	// The flow buckets sum to the 7-day flows (every bucket is in the window here).
	end := fund.LatestBlockTime - fund.LatestBlockTime%3600
	for _, b := range buckets {
		if b.Hour > end || b.Hour < end-167*3600 || b.Hour%3600 != 0 {
			t.Fatalf("bucket %d outside the 7-day window ending %d", b.Hour, end)
		}
		subs.Add(&subs, b.Subscriptions)
		reds.Add(&reds, b.Redemptions)
	}
	e.check("flows", e.view(ViewFlows), expect{"subscriptions7d": subs.String(), "redemptions7d": reds.String()})
	if len(audit) != seen[pAudit] {
		t.Fatalf("%d audit entries listed, %d records", len(audit), seen[pAudit])
	}
	// The outbox's values decode too (the sync decodes those).
	for _, en := range readOutbox(t, e.st, 0) {
		if _, ok, err := DecodeRecord(en.Key, en.Value); !ok || err != nil {
			t.Fatalf("outbox entry %d-%d: %v %v", en.Index, en.Ord, ok, err)
		}
	}
}

func TestDecodeRecordRefuses(t *testing.T) {
	e := recordsEnv(t)
	acct := accountKey(addr(1))
	acctVal, _ := e.st.Get(acct)
	tests := []struct {
		name     string
		key, val []byte
		wantOK   bool
		wantErr  bool
	}{
		{"view", viewKey(ViewOverview), []byte("{}"), false, false},
		{"ledger tx index", txKey(common.Hash{}, 0), be64(1), false, false},
		{"address index", key(pLedgerAddr, make([]byte, 68)), nil, false, false},
		{"outbox", outboxKey(1, 0), []byte{1}, false, false},
		{"sync mark", syncMarkKey(), encodeSyncMark(1, 1), false, false},
		{"raftstore", []byte("m/applied"), be64(1), false, false},
		{"empty key", nil, nil, false, false},
		{"singleton with a suffix", []byte("SS"), nil, false, false},
		{"short account key", acct[:20], acctVal, true, true},
		{"long account key", append(bytes.Clone(acct), 0), acctVal, true, true},
		{"account truncated", acct, acctVal[:len(acctVal)-1], true, true},
		{"account trailing byte", acct, append(bytes.Clone(acctVal), 0), true, true},
		{"account version", acct, append([]byte{9}, acctVal[1:]...), true, true},
		{"account without a value", acct, nil, true, true},
		{"risk event severity", key(pRisk, make([]byte, ledgerPosLen)), (&riskRec{severity: 9, spec: 8}).encode(), true, true},
		{"risk event spec", key(pRisk, make([]byte, ledgerPosLen)), (&riskRec{severity: 1, spec: 200}).encode(), true, true},
		{"fund garbage", []byte{pFund}, []byte{1, 2, 3}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, ok, err := DecodeRecord(tc.key, tc.val)
			if ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Fatalf("ok %v err %v, want ok %v err %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrInvariant) || rec != nil) {
				t.Fatalf("error %v with %v", err, rec)
			}
			if mustBePrimary := tc.wantOK; IsPrimaryRecord(tc.key) != mustBePrimary {
				t.Fatalf("IsPrimaryRecord = %v", !mustBePrimary)
			}
		})
	}
}

// FuzzDecodeRecord decodes arbitrary keys and values: a record of the key's kind, an error,
// or not a primary record; never a panic.
func FuzzDecodeRecord(f *testing.F) {
	e := newEnv(f)
	e.logs(chainlogtest.AllEvents(testNow)...)
	e.apply(EncodePrices(&PricesCommand{Time: 1, Actor: Actor{Name: "ops"}, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow}}}))
	e.st.Dump(func(k, v []byte) { f.Add(bytes.Clone(k), bytes.Clone(v)) })
	f.Add([]byte{pFund}, []byte(nil))
	f.Add([]byte{pRedemption}, []byte{1})
	rule := riskRec{source: SourceRule, severity: SeverityHigh, index: 10, typ: "l1Ratio", message: "m", details: []byte(`{"a":1}`), resolved: true, resolvedBy: "ops", resolvedAt: 5, note: "n"}
	f.Add(riskCmdKey(11, 10, 0), rule.encode())
	v1 := riskRec{severity: SeverityCritical, spec: chainlog.EmergencyModeChanged, time: testNow}
	f.Add(key(pRisk, make([]byte, ledgerPosLen)), v1.encodeV1())
	f.Fuzz(func(t *testing.T, key, value []byte) {
		rec, ok, err := DecodeRecord(key, value)
		if ok != IsPrimaryRecord(key) {
			t.Fatalf("ok %v for %x", ok, key)
		}
		if !ok || err != nil {
			if rec != nil || (err != nil && !errors.Is(err, ErrInvariant)) {
				t.Fatalf("%v %v", rec, err)
			}
			return
		}
		want := map[byte]string{pFund: "*fund.FundRecord", pAccount: "*fund.AccountRecord", pRedemption: "*fund.RedemptionRecord",
			pAsset: "*fund.AssetRecord", pPrice: "*fund.PriceRecord", pPriceHist: "*fund.PricePointRecord", pNav: "*fund.NavPointRecord",
			pFlow: "*fund.FlowBucketRecord", pRisk: "*fund.RiskEventRecord", pLedger: "*fund.LedgerRecord", pAudit: "*fund.AuditRecord",
			pIngest: "*fund.IngestCheckpoint", pRole: "*fund.RoleRecord", pAssetMeta: "*fund.AssetMetaRecord", pDaySnap: "*fund.DaySnapshotRecord",
			pTicket: "*fund.TicketRecord", pTicketRec: "*fund.ApprovalRecord"}[key[0]]
		if got := fmt.Sprintf("%T", rec); got != want {
			t.Fatalf("%x decoded to %s, want %s", key, got, want)
		}
		if l, ok := rec.(*LedgerRecord); ok && !json.Valid(l.Args) {
			t.Fatalf("ledger args %s", l.Args)
		}
		if a, ok := rec.(*AuditRecord); ok && (!json.Valid(a.Before) || !json.Valid(a.After)) {
			t.Fatalf("audit before/after %s %s", a.Before, a.After)
		}
	})
}
