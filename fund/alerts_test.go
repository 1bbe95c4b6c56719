package fund

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/kv"
	"paimon/version"
)

func alertEnv(t *testing.T) *env { return newEnv(t) }

func (e *env) alerts() []Alert {
	e.t.Helper()
	as, err := ReadAlerts(e.st, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func (e *env) outcome(t int64, os ...AlertOutcome) *AlertOutcomeResult {
	e.t.Helper()
	res := e.apply(EncodeAlertOutcome(&AlertOutcomeCommand{Time: t, Outcomes: os}))
	r, ok := res.(*AlertOutcomeResult)
	if !ok {
		e.t.Fatalf("apply outcome: result %T %v", res, res)
	}
	return r
}

// Every CHAIN risk event raises one alert, with the severity OPERATIONS.md maps it to, a Seq
// from the command's index, and its log in the details; the batch's Changes say so.
func TestAlertsRaisedFromChainEvents(t *testing.T) {
	e := alertEnv(t)
	e.logs(mk("Transfer", 10, 0, testNow, addr(1), addr(2), e18(1)))
	if len(e.alerts()) != 0 {
		t.Fatal("a transfer raised an alert")
	}
	e.logs(
		mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10)),
		mk("CriticalLiquidityAlert", 11, 6, testNow, 500, 1000, e18(1)),
		mk("EmergencyModeChanged", 12, 0, testNow, true),
	)
	got := e.alerts()
	want := []struct{ typ, sev string }{{"LowLiquidityAlert", "WARNING"}, {"CriticalLiquidityAlert", "CRITICAL"}, {"EmergencyModeChanged", "CRITICAL"}}
	if len(got) != len(want) {
		t.Fatalf("%d alerts, want %d: %+v", len(got), len(want), got)
	}
	for i, a := range got {
		if a.Type != want[i].typ || a.Severity != want[i].sev || a.Source != "CHAIN" || a.Seq != alertSeq(e.index, uint64(i)) ||
			a.Raised != testNow*1e9 || a.Time != testNow*1e9 || a.ID == "" {
			t.Errorf("alert %d = %+v", i, a)
		}
		var d map[string]any
		if err := json.Unmarshal(a.Details, &d); err != nil || d["blockNumber"] == nil || d["args"] == nil {
			t.Errorf("alert %d details %s: %v", i, a.Details, err)
		}
	}
	last := e.obs.got[len(e.obs.got)-1]
	if last.Alerts != 3 || !last.Classes[ClassAlerts] {
		t.Errorf("changes: %d alerts, class %v", last.Alerts, last.Classes[ClassAlerts])
	}
}

// A version-1 CmdLogs (what is proposed while a v0.1.0 member may remain) writes what v0.1.0
// writes: its risk event, and no alert.
func TestAlertsNotFromVersion1(t *testing.T) {
	e := alertEnv(t)
	ev := mk("CriticalLiquidityAlert", 11, 6, testNow, 500, 1000, e18(1))
	e.apply(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{ev}, Version: 1}))
	if n := len(e.alerts()); n != 0 {
		t.Fatalf("%d alerts from a version-1 command", n)
	}
	e.logs(mk("CriticalLiquidityAlert", 12, 0, testNow, 500, 1000, e18(1)))
	if n := len(e.alerts()); n != 1 {
		t.Fatalf("%d alerts from a version-2 command, want 1", n)
	}
}

// An alert is raised once per risk event: the log re-applied (an earlier log made room for
// itself) or removed and re-added raises no second one; a reorg removing the log keeps the
// alert (a delivered alert cannot be unsent).
func TestAlertOncePerRiskEvent(t *testing.T) {
	e := alertEnv(t)
	crit := mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1))
	e.logs(crit)
	e.logs(mk("LowLiquidityAlert", 19, 0, testNow, 900, 1000, e18(1), e18(10))) // before it: it is re-applied
	e.logs(removed(crit))
	if n := len(e.alerts()); n != 2 {
		t.Fatalf("%d alerts after the removal, want 2 (kept)", n)
	}
	e.logs(crit)
	got := e.alerts()
	if len(got) != 2 || got[0].Type != "CriticalLiquidityAlert" || got[1].Type != "LowLiquidityAlert" {
		t.Fatalf("alerts %+v", got)
	}
}

// Outcomes: the first per (alert, webhook) is stored; repeats, other ids and pruned or unknown
// alerts change nothing; a malformed outcome is a user error.
func TestAlertOutcomes(t *testing.T) {
	e := alertEnv(t)
	e.logs(mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1)))
	a := e.alerts()[0]
	ok := AlertOutcome{Seq: a.Seq, AlertID: a.ID, Webhook: "slack", State: AlertDelivered, Status: 200, Attempts: 2, Time: 5}
	if r := e.outcome(testNow*1e9, ok); r.Recorded != 1 || r.Ignored != 0 {
		t.Fatalf("first: %+v", r)
	}
	fail := AlertOutcome{Seq: a.Seq, AlertID: a.ID, Webhook: "ops", State: AlertFailed, Status: 400, Reason: "HTTP 400", Attempts: 1, Time: 6}
	again := ok
	again.State = AlertFailed
	wrongID := fail
	wrongID.AlertID, wrongID.Webhook = "other", "x"
	gone := ok
	gone.Seq += 99
	if r := e.outcome(testNow*1e9, again, fail, wrongID, gone); r.Recorded != 1 || r.Ignored != 3 {
		t.Fatalf("second: %+v", r)
	}
	got := e.alerts()[0].Outcomes
	if len(got) != 2 || got[0].Webhook != "slack" || got[0].State != AlertDelivered || got[0].Attempts != 2 ||
		got[1].Webhook != "ops" || got[1].Reason != "HTTP 400" || got[1].Status != 400 {
		t.Fatalf("outcomes %+v", got)
	}
	before := e.dump()
	for _, bad := range []AlertOutcome{
		{Seq: a.Seq, AlertID: a.ID, Webhook: "y", State: "SENT"},
		{Seq: a.Seq, AlertID: a.ID, Webhook: "", State: AlertFailed},
		{Seq: a.Seq, AlertID: a.ID, Webhook: "y", State: AlertFailed, Reason: string(make([]byte, MaxAlertReasonLen+1))},
	} {
		if res := e.apply(EncodeAlertOutcome(&AlertOutcomeCommand{Time: 1, Outcomes: []AlertOutcome{ok, bad}})); !isValidation(res) {
			t.Errorf("%+v: %T %v", bad, res, res)
		}
	}
	if e.dump() != before {
		t.Fatal("a refused outcome command changed the state")
	}
}

// Alerts older than AlertRetention (by the time of the command that raised them) are pruned by
// later commands, oldest first, so the outbox stays bounded; an outcome for one is ignored.
func TestAlertsPruned(t *testing.T) {
	e := alertEnv(t)
	t0 := testNow * 1e9
	e.apply(EncodeLogs(&LogsCommand{Time: t0, Events: []chainlog.Event{mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1))}}))
	e.apply(EncodeLogs(&LogsCommand{Time: t0 + int64(time.Hour), Events: []chainlog.Event{mk("LowLiquidityAlert", 21, 0, testNow, 900, 1000, e18(1), e18(10))}}))
	old := e.alerts()
	if len(old) != 2 {
		t.Fatalf("%d alerts", len(old))
	}
	later := t0 + int64(AlertRetention) + int64(time.Minute)
	if r := e.outcome(later, AlertOutcome{Seq: old[0].Seq, AlertID: old[0].ID, Webhook: "a", State: AlertDelivered}); r.Recorded != 1 {
		t.Fatalf("outcome before the prune: %+v", r)
	}
	got := e.alerts()
	if len(got) != 1 || got[0].Seq != old[1].Seq {
		t.Fatalf("after the prune: %+v", got)
	}
	if r := e.outcome(later, AlertOutcome{Seq: old[0].Seq, AlertID: old[0].ID, Webhook: "b", State: AlertDelivered}); r.Ignored != 1 {
		t.Fatalf("outcome of a pruned alert: %+v", r)
	}
	// The id index went with it: no dangling keys.
	if _, err := e.st.Get(alertIDKey(old[0].ID)); err == nil {
		t.Fatal("the pruned alert's id key is left")
	}
}

// The outbox does not depend on how the commands were grouped into batches: a batch that
// raises and prunes in one go writes what one-command batches write.
func TestAlertsBatchIndependent(t *testing.T) {
	t0 := testNow * 1e9
	cmds := [][]byte{
		EncodeLogs(&LogsCommand{Time: t0, Events: []chainlog.Event{mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1))}}),
		EncodeLogs(&LogsCommand{Time: t0 + 1, Events: []chainlog.Event{mk("LowLiquidityAlert", 21, 0, testNow, 900, 1000, e18(1), e18(10))}}),
		EncodeLogs(&LogsCommand{Time: t0 + int64(AlertRetention) + 10, Events: []chainlog.Event{mk("EmergencyModeChanged", 22, 0, testNow, true)}}),
	}
	one, batched := alertEnv(t), alertEnv(t)
	for _, c := range cmds {
		one.apply(c)
	}
	for _, c := range cmds {
		batched.index++
		if _, err := batched.m.Apply(batched.st, batched.index, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := batched.m.EndBatch(batched.st, batched.index); err != nil {
		t.Fatal(err)
	}
	batched.m.Committed()
	if a, b := one.dump(), batched.dump(); a != b {
		t.Fatalf("batched state differs:\n%s", diffDumps(a, b))
	}
	if n := len(one.alerts()); n != 1 {
		t.Fatalf("%d alerts after the prune, want 1", n)
	}
}

func TestAlertOutcomeCodec(t *testing.T) {
	c := &AlertOutcomeCommand{Time: 42, Outcomes: []AlertOutcome{
		{Seq: 1 << 20, AlertID: "chain-1", Webhook: "slack", State: AlertDelivered, Status: 200, Attempts: 3, Time: -1},
		{Seq: 7, AlertID: "x", Webhook: "pd", State: AlertFailed, Status: 400, Reason: "HTTP 400: no", Attempts: 1, Time: 9},
	}}
	b := EncodeAlertOutcome(c)
	got, err := DecodeAlertOutcome(b)
	if err != nil || len(got.Outcomes) != 2 || got.Time != 42 || got.Outcomes[0] != c.Outcomes[0] || got.Outcomes[1] != c.Outcomes[1] {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for n := range b {
		if _, err := DecodeAlertOutcome(b[:n]); err == nil {
			t.Fatalf("truncated at %d decoded", n)
		}
	}
	if CommandVersion(b) != version.Cluster {
		t.Fatalf("CommandVersion = %s", CommandVersion(b))
	}
}

// A CHAIN event's alert is its risk event: the same id, message and details.
func TestChainAlertIsTheRiskEvent(t *testing.T) {
	e := alertEnv(t)
	e.logs(mk("CriticalLiquidityAlert", 20, 0, testNow, 500, 1000, e18(1)))
	a := e.alerts()[0]
	mustEqual(t, "message", a.Message, "liquidity ratio 500 bps is below the critical threshold of 1000 bps (available 1000000000000000000)")
	mustEqual(t, "id", a.ID, "20-0-"+chainlog.HexHash(chainlogtest.TxHash(20, 0)))
	pos := makeLedgerPos(20, 0, chainlogtest.TxHash(20, 0))
	mustEqual(t, "risk event id", RiskEventID(key(pRisk, pos[:])), a.ID)
}

// A SYSTEM risk event the leader proposes (CmdRiskEvent) raises its alert like any other: one
// per event, none while the condition stays in force, another once it was cleared and comes back.
func TestSystemRiskEventAlert(t *testing.T) {
	e := alertEnv(t)
	raise := func(clear bool) {
		t.Helper()
		res := e.apply(EncodeRiskEvent(&RiskEventCommand{Time: testNow * 1e9, Clear: clear, Type: "INGEST_HALTED", Severity: SeverityHigh,
			Message: "ingest halted: a reorg deeper than the window", Details: []byte(`{"block":7}`)}))
		if _, ok := res.(*RiskEventResult); !ok {
			t.Fatalf("risk event: %T %v", res, res)
		}
	}
	raise(false)
	raise(false) // still in force: no event, no alert
	as := e.alerts()
	if len(as) != 1 {
		t.Fatalf("%d alerts, want 1", len(as))
	}
	a := as[0]
	mustEqual(t, "alert", []any{a.Source, a.Severity, a.Type, a.Message, string(a.Details), a.Time},
		[]any{"SYSTEM", "HIGH", "INGEST_HALTED", "ingest halted: a reorg deeper than the window", `{"block":7}`, testNow * 1e9})
	raise(true)
	raise(false)
	if as := e.alerts(); len(as) != 2 || as[1].ID == a.ID {
		t.Fatalf("alerts after clear and raise: %+v", as)
	}
}

// BenchmarkRiskEventAlert: Apply + EndBatch of a one-event CmdLogs carrying a
// CriticalLiquidityAlert, version 2 (the whole risk event and its alert) against version 1
// (v0.1.0's risk record, no alert), on kv.Mem reset every 512 commands.
func BenchmarkRiskEventAlert(b *testing.B) {
	const perStore = 512
	for _, v := range []byte{1, 2} {
		b.Run(fmt.Sprintf("version%d", v), func(b *testing.B) {
			cmds := make([][]byte, perStore)
			for i := range cmds {
				ev := mk("CriticalLiquidityAlert", uint64(i+1), 0, testNow, 500, 1000, e18(1))
				cmds[i] = EncodeLogs(&LogsCommand{Time: testNow * 1e9, Version: v, Events: []chainlog.Event{ev}})
			}
			var st *kv.Mem
			var m *Machine
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%perStore == 0 {
					b.StopTimer()
					st, m = kv.NewMem(), NewMachine(testInfo, NewViews(testInfo), nil)
					b.StartTimer()
				}
				idx := uint64(i%perStore + 1)
				if _, err := m.Apply(st, idx, cmds[i%perStore]); err != nil {
					b.Fatal(err)
				}
				if err := m.EndBatch(st, idx); err != nil {
					b.Fatal(err)
				}
				m.Committed()
			}
		})
	}
}
