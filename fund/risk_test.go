package fund

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
)

// riskRecords decodes every risk event of the store, in key order.
func riskRecords(t *testing.T, e *env) []*RiskEventRecord {
	t.Helper()
	var out []*RiskEventRecord
	err := e.st.Scan([]byte{pRisk}, []byte{pRisk + 1}, false, func(k, v []byte) bool {
		rec, ok, err := DecodeRecord(k, v)
		if err != nil || !ok {
			t.Fatalf("risk record %x: ok %v, %v", k, ok, err)
		}
		out = append(out, rec.(*RiskEventRecord))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChainRiskEvents(t *testing.T) {
	evs := []chainlog.Event{
		mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10)),
		mk("CriticalLiquidityAlert", 11, 6, testNow, 400, 500, e18(1)),
		mk("EmergencyModeChanged", 12, 0, testNow+12, true),
		mk("AssetPurchased", 12, 1, testNow+12, addr(52), 2, u(6), u(3)),
		mk("WaterfallLiquidation", 12, 2, testNow+12, 2, addr(52), u(2), u(2)),
	}
	want := []struct{ sev, typ, msg string }{
		{"warning", "LowLiquidityAlert", "liquidity ratio 900 bps is below the threshold of 1000 bps (available 1000000000000000000 of 10000000000000000000)"},
		{"critical", "CriticalLiquidityAlert", "liquidity ratio 400 bps is below the critical threshold of 500 bps (available 1000000000000000000)"},
		{"critical", "EmergencyModeChanged", "emergency mode enabled"},
		{"high", "WaterfallLiquidation", "waterfall liquidation of tier 2: 2 of " + chainlog.HexAddress(addr(52)) + " sold for 2"},
	}
	e := newEnv(t)
	e.logs(evs...)
	got := riskRecords(t, e)
	if len(got) != len(want) {
		t.Fatalf("%d risk events, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Source != "CHAIN" || r.Severity != w.sev || r.Event != w.typ || r.Message != w.msg || r.Index != 0 || r.Resolved {
			t.Errorf("event %d: %+v, want %+v", i, r, w)
		}
		var det struct {
			Contract    string         `json:"contract"`
			TxHash      string         `json:"txHash"`
			LogIndex    uint64         `json:"logIndex"`
			BlockNumber uint64         `json:"blockNumber"`
			Args        map[string]any `json:"args"`
		}
		if err := json.Unmarshal(r.Details, &det); err != nil || det.TxHash != r.TxHash || det.LogIndex != r.LogIndex || det.BlockNumber != r.BlockNumber || len(det.Args) == 0 {
			t.Errorf("event %d: details %s (%v)", i, r.Details, err)
		}
		k, ok := RiskEventKey(r.ID)
		if !ok || RiskEventID(k) != r.ID || len(k) != riskChainKeyLen {
			t.Errorf("event %d: id %q does not name its key", i, r.ID)
		}
	}
	if c := e.obs.got[len(e.obs.got)-1]; !c.Classes[ClassRisk] {
		t.Errorf("changes: risk class not marked")
	}
	// Reverting the entries deletes their events.
	e.logs(removed(evs[4]), removed(evs[0]))
	if got := riskRecords(t, e); len(got) != 2 || got[0].Event != "CriticalLiquidityAlert" || got[1].Event != "EmergencyModeChanged" {
		t.Fatalf("after reverts: %+v", got)
	}
}

// TestChainRiskEventsV1: v0.1.0's commands (version-1 CmdLogs and CmdIngest) write the record
// v0.1.0 wrote, byte for byte, and it reads as a CHAIN event without message or index.
func TestChainRiskEventsV1(t *testing.T) {
	ev := mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10))
	wantV1 := []byte{1, 1, chainlog.LowLiquidityAlert}
	wantV1 = binary.AppendVarint(wantV1, testNow)
	wantV1 = append(wantV1, chainlogtest.RedemptionManagerAddress[:]...)
	pos := makeLedgerPos(11, 5, ev.TxHash)
	for name, cmd := range map[string][]byte{
		"logs v1":   EncodeLogs(&LogsCommand{Version: 1, Time: testNow * 1e9, Events: []chainlog.Event{ev}}),
		"ingest v1": EncodeIngest(&IngestCommand{Version: 1, Time: testNow * 1e9, Events: []chainlog.Event{ev}, Head: BlockRef{Number: 11}, Window: 10}),
	} {
		e := newEnv(t)
		e.apply(cmd)
		v, err := e.st.Get(key(pRisk, pos[:]))
		if err != nil || !bytes.Equal(v, wantV1) {
			t.Fatalf("%s: stored %x (%v), want v0.1.0's %x", name, v, err, wantV1)
		}
		got := riskRecords(t, e)
		if len(got) != 1 || got[0].Source != "CHAIN" || got[0].Severity != "warning" || got[0].Event != "LowLiquidityAlert" || got[0].Message != "" || got[0].Details != nil {
			t.Fatalf("%s: %+v", name, got)
		}
	}
	// CmdIngest version 2 writes the whole event.
	e := newEnv(t)
	e.apply(EncodeIngest(&IngestCommand{Time: testNow * 1e9, Events: []chainlog.Event{ev}, Head: BlockRef{Number: 11}, Window: 10}))
	if got := riskRecords(t, e); len(got) != 1 || got[0].Message == "" || got[0].Details == nil {
		t.Fatalf("ingest v2: %+v", got)
	}
}

// TestRaiseRiskEvent raises RULE and SYSTEM events directly, as the risk engine does inside
// apply: keys at the last block after that block's chain events, ids, index, ordinals; bad
// details are replaced by {}, long text cut.
func TestRaiseRiskEvent(t *testing.T) {
	e := newEnv(t)
	e.logs(mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10)))
	raise := func(index uint64, evs ...RiskEvent) {
		t.Helper()
		e.m.savepoint() // opens the overlay's command, as Apply does
		ac := &applyContext{Machine: e.m, store: e.st, index: index, cmdTime: (testNow + 60) * 1e9}
		for i := range evs {
			if err := ac.raiseRiskEvent(&evs[i], nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.m.EndBatch(e.st, index); err != nil {
			t.Fatal(err)
		}
		e.m.Committed()
	}
	long := string(bytes.Repeat([]byte("x"), 2000))
	raise(10,
		RiskEvent{Source: SourceRule, Severity: SeverityHigh, Type: "l1Ratio", Message: "L1 ratio 900 bps crossed its warning threshold", Details: []byte(`{"value":900}`)},
		RiskEvent{Source: SourceSystem, Severity: SeverityInfo, Type: "INGEST_HALTED", Message: long, Details: []byte(`[1]`)})
	got := riskRecords(t, e)
	if len(got) != 3 {
		t.Fatalf("%d events", len(got))
	}
	r, s := got[1], got[2]
	if r.Source != "RULE" || r.Severity != "high" || r.Event != "l1Ratio" || r.Index != 10 || r.BlockNumber != 11 || r.BlockTime != testNow+60 ||
		string(r.Details) != `{"value":900}` || r.ID != "11-i10-0" || r.TxHash != "" {
		t.Errorf("rule event: %+v", r)
	}
	if s.Source != "SYSTEM" || s.Severity != "info" || s.ID != "11-i10-1" || len(s.Message) != maxRiskMessage || s.Details != nil {
		t.Errorf("system event: %+v", s)
	}
	if k, ok := RiskEventKey("11-i10-1"); !ok || !bytes.Equal(k, riskCmdKey(11, 10, 1)) {
		t.Errorf("RiskEventKey: %x %v", k, ok)
	}
}

func TestRiskEventKeyRefuses(t *testing.T) {
	for _, id := range []string{"", "1", "1-2", "01-2-3", "1-i02-3", "1-i2-", "1-2-0xzz", "1-2-3-4", "x-i1-1", "1-i1-4294967296",
		"1-2-0x" + string(bytes.Repeat([]byte("A"), 64))} {
		if _, ok := RiskEventKey(id); ok {
			t.Errorf("RiskEventKey(%q) accepted", id)
		}
	}
}

// FuzzRiskEventKey: an id either names a risk key whose id it is, or is refused; never a panic.
func FuzzRiskEventKey(f *testing.F) {
	f.Add("11-i10-0")
	f.Add("11-5-" + chainlog.HexHash(chainlogtest.TxHash(11, 5)))
	f.Add("18446744073709551615-i18446744073709551615-4294967295")
	f.Add("1-i1-4294967296")
	f.Add("-i-")
	f.Fuzz(func(t *testing.T, id string) {
		k, ok := RiskEventKey(id)
		if !ok {
			return
		}
		if !isRiskKey(k) || RiskEventID(k) != id {
			t.Fatalf("%q gives key %x, whose id is %q", id, k, RiskEventID(k))
		}
	})
}

func TestSystemRiskEvents(t *testing.T) {
	e := newEnv(t)
	e.logs(mk("Transfer", 40, 0, testNow, addr(1), addr(2), e18(1)))
	raise := func(c RiskEventCommand) any {
		c.Time = (testNow + 5) * 1e9
		return e.apply(EncodeRiskEvent(&c))
	}
	halted := RiskEventCommand{Type: "INGEST_HALTED", Severity: SeverityCritical, Message: "ingest halted", Details: []byte(`{"reason":"deep fork"}`)}
	r1 := raise(halted).(*RiskEventResult)
	if r1.ID != "40-i2-0" {
		t.Fatalf("first raise: %+v", r1)
	}
	// The condition persists: the leader raising it again (each poll, a new leader) changes nothing.
	before := e.dump()
	for i := 0; i < 3; i++ {
		if r := raise(halted).(*RiskEventResult); r.ID != "" || r.Cleared {
			t.Fatalf("raise while in force: %+v", r)
		}
	}
	if e.dump() != before {
		t.Fatal("a raise while the condition is in force changed the state")
	}
	// Another condition is independent.
	if r := raise(RiskEventCommand{Type: "PG_SYNC_LAG", Severity: SeverityWarning}).(*RiskEventResult); r.ID == "" {
		t.Fatal("another condition was not raised")
	}
	if r := raise(RiskEventCommand{Type: "INGEST_HALTED", Clear: true}).(*RiskEventResult); !r.Cleared {
		t.Fatal("clear: not cleared")
	}
	if r := raise(RiskEventCommand{Type: "INGEST_HALTED", Clear: true}).(*RiskEventResult); r.Cleared {
		t.Fatal("second clear cleared something")
	}
	if r := raise(halted).(*RiskEventResult); r.ID == "" || r.ID == r1.ID {
		t.Fatalf("raise after clear: %+v", r)
	}
	got := riskRecords(t, e)
	if len(got) != 3 || got[0].Source != "SYSTEM" || got[0].Event != "INGEST_HALTED" || got[0].Severity != "critical" ||
		string(got[0].Details) != `{"reason":"deep fork"}` || got[0].BlockTime != testNow+5 || got[0].Index != 2 {
		t.Fatalf("events: %+v", got)
	}
	for name, c := range map[string]RiskEventCommand{
		"type":     {Type: "", Severity: SeverityInfo},
		"type2":    {Type: "a b", Severity: SeverityInfo},
		"severity": {Type: "X", Severity: 9},
		"details":  {Type: "X", Severity: SeverityInfo, Details: []byte(`[1]`)},
		"message":  {Type: "X", Severity: SeverityInfo, Message: string(bytes.Repeat([]byte("m"), maxRiskMessage+1))},
		"utf8":     {Type: "X", Severity: SeverityInfo, Message: "bad \xff"},
		"details2": {Type: "X", Severity: SeverityInfo, Details: []byte("{\"a\":\"\xff\"}")},
	} {
		before := e.dump()
		if res := raise(c); !isValidation(res) {
			t.Errorf("%s: %v, want a validation error", name, res)
		}
		if e.dump() != before {
			t.Errorf("%s: a refused command changed the state", name)
		}
	}
}

func TestResolveRiskEvent(t *testing.T) {
	e := newEnv(t)
	ev := mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10))
	e.apply(EncodeLogs(&LogsCommand{Version: 1, Time: testNow * 1e9, Events: []chainlog.Event{ev}})) // a v0.1.0 record
	id := riskRecords(t, e)[0].ID
	ops := Actor{Name: "ops", Role: "operator", IP: "127.0.0.1"}
	resolve := func(id, note string) any {
		return e.apply(EncodeRiskResolve(&RiskResolveCommand{Time: (testNow + 30) * 1e9, Actor: ops, ID: id, Note: note}))
	}
	res, ok := resolve(id, "liquidity topped up").(*RiskResolveResult)
	if !ok {
		t.Fatalf("resolve: %v", res)
	}
	r := res.Event
	if !r.Resolved || r.ResolvedBy != "ops" || r.ResolvedAt != (testNow+30)*1e9 || r.Note != "liquidity topped up" || r.ID != id ||
		r.Message == "" || r.Details == nil || r.Source != "CHAIN" {
		t.Fatalf("resolved: %+v", r)
	}
	if got := riskRecords(t, e); len(got) != 1 || !got[0].Resolved {
		t.Fatalf("stored: %+v", got)
	}
	body, err := Audit(e.st, AuditFilter{Action: "risk.resolve"}, Page{Limit: 10})
	if err != nil || !bytes.Contains(body, []byte(`"resource":"risk/events/`+id+`"`)) || !bytes.Contains(body, []byte(`liquidity topped up`)) {
		t.Fatalf("audit: %s %v", body, err)
	}
	// Twice: CONFLICT naming the first resolution, nothing changed.
	before := e.dump()
	if verr, ok := resolve(id, "again").(*ValidationError); !ok || verr.Code != CodeConflict || verr.Details["resolvedBy"] != "ops" {
		t.Fatalf("second resolve: %v", verr)
	}
	if e.dump() != before {
		t.Fatal("a refused resolve changed the state")
	}
	if verr, ok := resolve("11-i99-0", "").(*ValidationError); !ok || verr.Code != CodeNotFound {
		t.Fatalf("unknown id: %v", verr)
	}
	if verr, ok := resolve("nope", "").(*ValidationError); !ok || verr.Code != "" {
		t.Fatalf("bad id: %v", verr)
	}
	if verr, ok := resolve(id, string(bytes.Repeat([]byte("n"), maxRiskNote+1))).(*ValidationError); !ok || verr.Code != "" {
		t.Fatalf("long note: %v", verr)
	}
}

// TestResolvedChainEventSurvivesReorder: a late log before a resolved CHAIN event re-applies its
// entry; the event stays resolved and the state equals the in-order replay.
func TestResolvedChainEventSurvivesReorder(t *testing.T) {
	alert := mk("EmergencyModeChanged", 20, 0, testNow, true)
	late := mk("Transfer", 10, 0, testNow, addr(1), addr(2), e18(1))
	resolve := func(e *env) {
		id := riskRecords(t, e)[0].ID
		if _, ok := e.apply(EncodeRiskResolve(&RiskResolveCommand{Time: 7, Actor: Actor{Name: "ops"}, ID: id})).(*RiskResolveResult); !ok {
			t.Fatal("resolve refused")
		}
	}
	inOrder := newEnv(t)
	inOrder.logs(late)
	inOrder.logs(alert)
	resolve(inOrder)
	shuffled := newEnv(t)
	shuffled.logs(alert)
	resolve(shuffled)
	shuffled.logs(late)
	if got := riskRecords(t, shuffled); len(got) != 1 || !got[0].Resolved {
		t.Fatalf("after the late log: %+v", got)
	}
	// The risk record is byte for byte the in-order replay's (the audit entries' indexes differ
	// with the command order, so the whole stores cannot be compared).
	pos := makeLedgerPos(20, 0, alert.TxHash)
	va, err1 := inOrder.st.Get(key(pRisk, pos[:]))
	vb, err2 := shuffled.st.Get(key(pRisk, pos[:]))
	if err1 != nil || err2 != nil || !bytes.Equal(va, vb) {
		t.Fatalf("risk records differ: %x (%v) and %x (%v)", va, err1, vb, err2)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"€€", 4, "€"}, {"a\xffb", 10, "a\uFFFDb"},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
