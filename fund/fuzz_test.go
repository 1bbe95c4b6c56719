package fund

import (
	"encoding/json"
	"errors"
	"fmt"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/rebalance"
	"paimon/risk"
	"testing"
	"time"
)

func fuzzLogBodies(f *testing.F) {
	var logs []chainlog.RawLog
	for _, ev := range chainlogtest.AllEvents(testNow) {
		logs = append(logs, chainlogtest.EncodeLog(f, ev))
	}
	for i := 0; i < len(logs); i += 5 {
		b, _ := json.Marshal(map[string]any{"logs": logs[i:min(i+5, len(logs))]})
		f.Add(b)
	}
	f.Add([]byte(`{"logs":[{"address":"0x8505c32631034a7ce8800239c08547e0434edad9","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"],"data":"0x","blockNumber":"0x1","blockHash":"0x","transactionHash":"0x","logIndex":"0x0"}]}`))
	f.Add([]byte(`{"logs":[]}`))
	f.Add([]byte(`{"logs":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
}

// FuzzDecode feeds the logs of request bodies through chainlog.Registry.Decode: a log either
// decodes into an event that Apply accepts and the codec round-trips, or is a *chainlog.SkipError.
func FuzzDecode(f *testing.F) {
	fuzzLogBodies(f)
	r := chainlogtest.Registry()
	f.Fuzz(func(t *testing.T, body []byte) {
		var loose struct{ Logs []chainlog.RawLog }
		_ = json.Unmarshal(body, &loose) // also logs the webhook's strict parser refuses
		logs := loose.Logs
		for i := range logs {
			ev, err := r.Decode(&logs[i])
			if err != nil {
				var se *chainlog.SkipError
				if !errors.As(err, &se) || se.Reason == "" {
					t.Fatalf("error %v is not a chainlog.SkipError", err)
				}
				continue
			}
			if _, verr := eventSpec(&ev); verr != nil {
				err := verr
				t.Fatalf("decoded event fails its spec: %v", err)
			}
			c, err := DecodeLogs(EncodeLogs(&LogsCommand{Events: []chainlog.Event{ev}}))
			if err != nil || len(c.Events) != 1 {
				t.Fatalf("codec round trip: %v", err)
			}
		}
	})
}

// FuzzApply runs arbitrary bytes as a command: an error (undecodable) or a result, never a
// panic; a rejected command changes nothing, and the aggregates stay consistent.
func FuzzApply(f *testing.F) {
	evs := chainlogtest.AllEvents(testNow)
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: evs}))
	f.Add(EncodeLogs(&LogsCommand{Time: 1, Actor: Actor{Name: "ops"}, Events: []chainlog.Event{removed(evs[0]), evs[10], evs[11]}, Skipped: 2}))
	f.Add(EncodePrices(&PricesCommand{Time: 1, Actor: Actor{Name: "ops"}, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow}}}))
	f.Add(EncodePrices(&PricesCommand{Time: 1, Prices: []PriceUpdate{{Asset: "bad", Price: *u(5), Time: testNow}}}))
	f.Add(EncodeAudit(&AuditCommand{Time: 1, Actor: Actor{Name: "ops"}, Action: "cluster.join", After: []byte(`{"id":"n2"}`)}))
	f.Add(EncodeSyncMark(1, 1))
	f.Add(EncodeRebalancePlan(&RebalancePlanCommand{Time: 1, Actor: Actor{Name: "ops"}, Targets: [3]uint64{4000, 3000, 3000},
		Plan: rebalance.Plan{Actions: []rebalance.Action{{Type: rebalance.Purchase, Tier: 1, Asset: addr(50), Amount: *u(5), Tokens: *u(5)}}, TotalAmount: *u(5)}}))
	f.Add(EncodeRebalanceExecute(&RebalanceExecuteCommand{Time: 1, Actor: Actor{Name: "ops"}, PlanID: 1}))
	f.Add(EncodeRebalanceCancel(&RebalanceCancelCommand{Time: 1, Actor: Actor{Name: "ops"}, PlanID: 1, Reason: "superseded"}))
	f.Add(EncodeRiskEvent(&RiskEventCommand{Time: 1, Type: "INGEST_HALTED", Severity: SeverityCritical, Message: "m", Details: []byte(`{"a":1}`)}))
	f.Add(EncodeRiskEvent(&RiskEventCommand{Time: 1, Type: "INGEST_HALTED", Clear: true}))
	f.Add(EncodeRiskResolve(&RiskResolveCommand{Time: 1, Actor: Actor{Name: "ops"}, ID: "11-5-" + chainlog.HexHash(chainlogtest.TxHash(11, 5)), Note: "checked"}))
	f.Add(EncodeRiskResolve(&RiskResolveCommand{Time: 1, Actor: Actor{Name: "ops"}, ID: "0-i1-0"}))
	f.Add(EncodeSyncMark(98, testNow*1e9))
	f.Add(EncodeSyncMark(99, 1)) // the command's own index: refused
	f.Add(EncodeSyncMark(1, -1))
	f.Add([]byte{CmdSyncMark, 1, 0x80})
	f.Add(EncodeIngest(&IngestCommand{Time: 1, Events: evs[12:14], Head: BlockRef{Number: 1 << 40}, Window: 16}))
	f.Add(EncodeIngest(&IngestCommand{Time: 1, Reorg: true, Ancestor: 1, Prev: BlockRef{Number: 5}, Head: BlockRef{Number: 7}, Window: 1}))
	n := testNonce(testNow*1e9+60e9, 1)
	f.Add(EncodeNonce(&NonceCommand{Time: testNow * 1e9, Address: addr(1), Nonce: n}))
	f.Add(EncodeLogin(&LoginCommand{Time: testNow * 1e9, Actor: Actor{Name: "wallet"}, Address: addr(1), Nonce: n, TokenHash: [32]byte{1}, Expires: testNow*1e9 + 1800e9}))
	f.Add(EncodeTouch(&TouchCommand{Time: testNow * 1e9, Touches: []Touch{{TokenHash: [32]byte{1}, Expires: testNow*1e9 + 3600e9}}}))
	f.Add(EncodeLogout(&LogoutCommand{Time: testNow * 1e9, Actor: Actor{Name: "wallet"}, TokenHash: [32]byte{1}}))
	f.Add(EncodeRole(&RoleCommand{Time: 1, Actor: Actor{Name: "root"}, Address: addr(2), Role: "admin"}))
	f.Add(EncodeRole(&RoleCommand{Time: 1, Actor: Actor{Name: "root"}, Address: addr(2), Role: "god"}))
	// Issue 18: out of ledger order (a tail to revert and apply again), a removal on another
	// fork, removals in ascending order, the reorder window and the price skew the command
	// carries (version 2), a price far ahead of its command, price deletions.
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{evs[13], evs[1], evs[0], evs[12], evs[1]}}))
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, ReorderWindow: 256, Events: []chainlog.Event{evs[13], evs[1], evs[0], evs[12], evs[1]}}))
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, ReorderWindow: 1, Events: []chainlog.Event{evs[12], removed(evs[2]), evs[0]}}))
	wrongFork := removed(evs[3])
	wrongFork.BlockHash[0] ^= 1
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{wrongFork, removed(evs[2]), evs[2]}}))
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: removedAll(evs[6:12])}))
	f.Add(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Version: 1, Events: []chainlog.Event{evs[13], evs[1], wrongFork, removed(evs[2])}})) // v0.1.0's rules
	f.Add(EncodePrices(&PricesCommand{Time: 1, Version: 1, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow + 10*365*day}}}))
	f.Add(EncodePrices(&PricesCommand{Time: testNow * 1e9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow + 10*365*day}}}))
	f.Add(EncodePrices(&PricesCommand{Time: testNow * 1e9, MaxFutureSkew: 5 * time.Minute, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow + 10*365*day}}}))
	f.Add(EncodePrices(&PricesCommand{Time: testNow * 1e9, MaxFutureSkew: 1<<63 - 1, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(5), Time: testNow + 300}}}))
	f.Add([]byte{CmdPrices, OrderedVersion, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}) // a skew beyond int64
	f.Add(EncodePriceDelete(&PriceDeleteCommand{Time: testNow * 1e9, Actor: Actor{Name: "ops"}, Asset: addr(50), PointTime: testNow}))
	f.Add(EncodePriceDelete(&PriceDeleteCommand{Time: testNow * 1e9, Asset: addr(51), PointTime: 0}))
	// The risk thresholds (riskstatus.go): tight ones that make indicators cross, ones that make
	// no sense (refused), a truncated command.
	tight := risk.DefaultThresholds()
	tight[risk.PendingApprovals] = risk.Threshold{}
	tight[risk.OverdueRedemptions] = risk.Threshold{}
	tight[risk.MaxAssetConcentration] = risk.Threshold{Warn: 1, Critical: 2, Hysteresis: 1}
	f.Add(EncodeRiskThresholds(&RiskThresholdsCommand{Time: testNow * 1e9, Thresholds: tight}))
	bad := risk.DefaultThresholds()
	bad[risk.NavDriftBps].Warn = -1
	f.Add(EncodeRiskThresholds(&RiskThresholdsCommand{Time: testNow * 1e9, Thresholds: bad}))
	f.Add([]byte{CmdRiskThresholds, 1, 2, 0})
	f.Add(EncodeTxIntent(&TxIntentCommand{Time: testNow * 1e9, Purpose: "APPROVE", Reference: "t-1", Nonce: 3, Hash: [32]byte{1}, Raw: []byte{2, 1}}))
	f.Add(EncodeTxUpdate(&TxUpdateCommand{Time: testNow * 1e9, Seq: 1 << 16, State: TxSent}))
	f.Add(EncodeTicketRetry(&TicketRetryCommand{Time: testNow * 1e9, Actor: Actor{Name: "ops", Role: "operator"}, Ticket: "redemption-1"}))
	f.Add([]byte{CmdLogs, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		// The same command on a machine without and with the outbox: the results and every
		// key but the outbox's must be the same.
		e, o := newEnv(t), newOutboxEnv(t)
		e.logs(evs[:12]...)
		o.logs(evs[:12]...)
		before := e.dump()
		res, err := e.m.Apply(e.st, 99, cmd)
		ores, oerr := o.m.Apply(o.st, 99, cmd)
		if fmt.Sprintf("%+v %v", res, err) != fmt.Sprintf("%+v %v", ores, oerr) {
			t.Fatalf("outbox changed the result: %+v %v / %+v %v", res, err, ores, oerr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("fatal error that is not ErrBadCommand: %v", err)
			}
			return
		}
		switch r := res.(type) {
		case *ValidationError:
			if e.dump() != before {
				t.Fatal("a rejected command changed the state")
			}
		case *LogsResult:
			if r.Accepted+r.Duplicates+r.Reverted+r.NotFound != len(r.Outcomes) {
				t.Fatalf("outcome counts %+v", r)
			}
		case *PricesResult, *PriceDeleteResult, *AuditResult, *SyncMarkResult, *IngestResult, *SessionResult, *RoleResult,
			*RiskEventResult, *RiskResolveResult, *RiskThresholdsResult, *TxIntentResult, *TxUpdateResult, *RebalancePlanResult:
		default:
			t.Fatalf("result %T", res)
		}
		for _, x := range []*env{e, o} {
			if err := x.m.EndBatch(x.st, 99); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, x)
		}
		entries := readOutbox(t, o.st, 98)
		for _, en := range entries {
			if en.Index != 99 || !IsPrimaryRecord(en.Key) {
				t.Fatalf("outbox entry %d for %x", en.Index, en.Key)
			}
		}
		// The observer gets exactly those entries, and every value renders (push).
		if e.m.changes.Records != nil {
			t.Fatalf("%d records with the outbox off", len(e.m.changes.Records))
		}
		sameRecords(t, "records", o.m.changes.Records, entries)
		for _, r := range entries {
			if _, ok, err := RecordJSON(r.Key, r.Value); ok && (err != nil) != (r.Value == nil) {
				t.Fatalf("RecordJSON(%x): %v", r.Key, err)
			}
		}
		if err := o.st.DeleteRange([]byte{pOutbox}, []byte{pOutbox + 1}); err != nil {
			t.Fatal(err)
		}
		if a, b := e.dump(), o.dump(); a != b {
			t.Fatalf("outbox changed other state:\n%s", diffDumps(a, b))
		}
	})
}
