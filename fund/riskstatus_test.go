package fund

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"paimon/chainlog"
	"paimon/kv"
	"paimon/risk"
	"paimon/version"
)

func TestRiskThresholdsCodec(t *testing.T) {
	th := risk.DefaultThresholds()
	th[risk.NavDriftBps] = risk.Threshold{Warn: 7, Critical: 300, Hysteresis: 2}
	th[risk.L1Ratio] = risk.Threshold{Warn: 1200, Critical: 600, Hysteresis: 25}
	c := &RiskThresholdsCommand{Time: 123456789, Thresholds: th}
	cmd := EncodeRiskThresholds(c)
	got, err := DecodeRiskThresholds(cmd)
	if err != nil || *got != *c {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if v := CommandVersion(cmd); v != version.Cluster {
		t.Fatalf("CommandVersion = %s, want %s: an older member would stop on it", v, version.Cluster)
	}
	for n := range len(cmd) {
		if _, err := DecodeRiskThresholds(cmd[:n]); !errors.Is(err, ErrBadCommand) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
	if _, err := DecodeRiskThresholds(append(cmd, 0)); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("trailing byte: %v", err)
	}
	future := append([]byte(nil), cmd...)
	future[1] = codecVersion + 1
	if _, err := DecodeRiskThresholds(future); !errors.Is(err, ErrFutureFormat) {
		t.Fatalf("newer version: %v", err)
	}
}

// riskEnv is an env whose books are started (a version-2 command) with thresholds th and
// redemption coverage off (the tests hold no cash).
func riskEnv(t *testing.T, th risk.Thresholds) *env {
	t.Helper()
	th[risk.RedemptionCoverage] = risk.Threshold{}
	e := newEnv(t)
	if r, ok := e.apply(EncodeRiskThresholds(&RiskThresholdsCommand{Time: 1, Thresholds: th})).(*RiskThresholdsResult); !ok || !r.Changed {
		t.Fatalf("thresholds: %+v", r)
	}
	return e
}

// ruleEvents lists the RULE risk events in the store: "type from->to severity".
func ruleEvents(t testing.TB, r kv.Reader) []string {
	t.Helper()
	var out []string
	err := r.Scan([]byte{pRisk}, []byte{pRisk + 1}, false, func(k, v []byte) bool {
		var rec riskRec
		if err := rec.decode(v); err != nil {
			t.Fatal(err)
		}
		if rec.source == SourceRule {
			var d struct{ From, To string }
			if err := json.Unmarshal(rec.details, &d); err != nil {
				t.Fatalf("details %s: %v", rec.details, err)
			}
			out = append(out, fmt.Sprintf("%s %s->%s %s", rec.typ, d.From, d.To, rec.severity))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func request(bn uint64, id int, approval bool, settle int64) chainlog.Event {
	h := addr(id % 7)
	return mk("RedemptionRequested", bn, 0, testNow+int64(bn), id, h, h, e18(2), e18(2), u(5), 0, approval, settle, 9)
}

// TestRiskCrossingOnce: an indicator raises one RULE event per crossing, not one per command,
// and one more (INFO) when it comes back past the threshold by the hysteresis.
func TestRiskCrossingOnce(t *testing.T) {
	th := risk.DefaultThresholds()
	th[risk.PendingApprovals] = risk.Threshold{Warn: 1, Critical: 3, Hysteresis: 1}
	e := riskEnv(t, th)
	far := testNow + 365*day
	e.logs(request(10, 1, true, far))
	if got := ruleEvents(t, e.st); len(got) != 0 {
		t.Fatalf("one pending approval (warn above 1): %v", got)
	}
	e.logs(request(11, 2, true, far))
	want := []string{"pendingApprovals NORMAL->WARNING WARNING"}
	mustEqual(t, "after the second approval request", ruleEvents(t, e.st), want)
	// More commands that leave the indicator where it is raise nothing.
	for bn := uint64(12); bn < 20; bn++ {
		e.logs(request(bn, int(bn), false, far))
	}
	mustEqual(t, "while it stays", ruleEvents(t, e.st), want)
	// Back to 1 is not past warn - hysteresis (0): still WARNING.
	e.logs(mk("RedemptionApproved", 30, 0, testNow+30, 1, addr(9), far))
	mustEqual(t, "inside the hysteresis", ruleEvents(t, e.st), want)
	// Up again to 2, then 4: straight to CRITICAL once.
	e.logs(request(31, 31, true, far))
	e.logs(request(32, 32, true, far), request(33, 33, true, far))
	want = append(want, "pendingApprovals WARNING->CRITICAL CRITICAL")
	mustEqual(t, "critical", ruleEvents(t, e.st), want)
	// All approved: back to NORMAL, reported once as INFO.
	for i, id := range []int{2, 31, 32, 33} {
		e.logs(mk("RedemptionApproved", uint64(40+i), 0, testNow+40, id, addr(9), far))
	}
	want = append(want, "pendingApprovals CRITICAL->WARNING INFO", "pendingApprovals WARNING->NORMAL INFO")
	mustEqual(t, "cleared", ruleEvents(t, e.st), want)
	st := e.view(ViewRisk)
	if st["level"] != "NORMAL" || st["updatedAt"] == nil {
		t.Fatalf("status view: %v", st)
	}

	// A restart (Load) keeps the statuses: nothing fires again.
	m := NewMachine(testInfo, NewViews(testInfo), nil)
	if err := m.Load(e.st); err != nil {
		t.Fatal(err)
	}
	e.m = m
	e.logs(request(50, 50, false, far))
	mustEqual(t, "after a reload", ruleEvents(t, e.st), want)
}

// TestRiskOverdueAndStaleness: the time-based indicators follow the latest block time, not a
// clock.
func TestRiskOverdueAndStaleness(t *testing.T) {
	th := risk.DefaultThresholds()
	e := riskEnv(t, th)
	e.logs(request(10, 1, false, testNow+100), request(11, 2, false, testNow+100_000))
	e.logs(mk("AssetAdded", 12, 0, testNow+12, addr(50), 1, 4000), mk("PriceSet", 12, 1, testNow+12, addr(50), oneE18, testNow, 2))
	s, err := ReadRiskStatus(e.st)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Evaluated || s.Values.V[risk.OverdueRedemptions] != 0 || s.Values.V[risk.OracleStalenessSeconds] != 12 {
		t.Fatalf("at block time %d: %+v", testNow+12, s.Values)
	}
	// A block 200 s later: the first redemption is overdue, the price 200 s old.
	e.logs(mk("Transfer", 13, 0, testNow+212, addr(1), addr(2), e18(1)))
	s, _ = ReadRiskStatus(e.st)
	if s.Values.V[risk.OverdueRedemptions] != 1 || s.Values.V[risk.OracleStalenessSeconds] != 212 || s.Status[risk.OverdueRedemptions] != risk.Warning {
		t.Fatalf("later block: %+v %v", s.Values, s.Status)
	}
	mustEqual(t, "events", ruleEvents(t, e.st), []string{"overdueRedemptions NORMAL->WARNING WARNING"})
	// Settled: no longer overdue.
	e.logs(mk("RedemptionSettled", 14, 0, testNow+300, 1, addr(1), addr(1), e18(2), u(5), e18(1), 0))
	s, _ = ReadRiskStatus(e.st)
	if s.Values.V[risk.OverdueRedemptions] != 0 || s.Status[risk.OverdueRedemptions] != risk.Normal {
		t.Fatalf("settled: %+v %v", s.Values, s.Status)
	}
}

// TestRiskThresholdsRefused: thresholds that make no sense are a user error naming the key,
// and change nothing.
func TestRiskThresholdsRefused(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeSyncMark(0, 1)) // the first batch renders the views
	before := fullDump(e.st)
	th := risk.DefaultThresholds()
	th[risk.NavDriftBps].Warn = 900
	res := e.apply(EncodeRiskThresholds(&RiskThresholdsCommand{Time: 1, Thresholds: th}))
	verr, ok := res.(*ValidationError)
	if !ok || !strings.Contains(verr.Message, "nav_drift_bps_warn") {
		t.Fatalf("result %v", res)
	}
	if fullDump(e.st) != before {
		t.Fatal("a refused command changed the store")
	}
	// The same thresholds twice: the second changes nothing.
	e.apply(EncodeRiskThresholds(&RiskThresholdsCommand{Time: 1, Thresholds: risk.DefaultThresholds()}))
	if r := e.apply(EncodeRiskThresholds(&RiskThresholdsCommand{Time: 2, Thresholds: risk.DefaultThresholds()})).(*RiskThresholdsResult); r.Changed {
		t.Fatal("the same thresholds changed something")
	}
	got, replicated, err := RiskThresholds(e.st)
	if err != nil || !replicated || got != risk.DefaultThresholds() {
		t.Fatalf("RiskThresholds = %v %v %v", got, replicated, err)
	}
}

// TestRiskIndependentOfBatching: the indicators are evaluated per command, so the statuses and
// the RULE events do not depend on how Raft batched the commands (tight thresholds make them
// cross often).
func TestRiskIndependentOfBatching(t *testing.T) {
	th := risk.DefaultThresholds()
	th[risk.PendingApprovals] = risk.Threshold{Warn: 0, Critical: 1, Hysteresis: 0}
	th[risk.OverdueRedemptions] = risk.Threshold{Warn: 0, Critical: 2, Hysteresis: 0}
	th[risk.MaxAssetConcentration] = risk.Threshold{Warn: 100, Critical: 5000, Hysteresis: 50}
	th[risk.OracleStalenessSeconds] = risk.Threshold{Warn: 10, Critical: 1000, Hysteresis: 5}
	set := EncodeRiskThresholds(&RiskThresholdsCommand{Time: 1, Thresholds: th})
	events := 0
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cmds := append([][]byte{set}, randomCommands(rand.New(rand.NewPCG(seed, 11)), 80)...)
			one, many := newOutboxEnv(t), newOutboxEnv(t)
			resOne := applyBatches(t, one, rand.New(rand.NewPCG(seed, 1)), cmds, 1)
			resMany := applyBatches(t, many, rand.New(rand.NewPCG(seed, 2)), cmds, 12)
			if fmt.Sprint(resOne) != fmt.Sprint(resMany) {
				t.Fatal("results differ between batchings")
			}
			if a, b := fullDump(one.st), fullDump(many.st); a != b {
				t.Fatalf("stores differ:\n%s", diffDumps(a, b))
			}
			events += len(ruleEvents(t, one.st))
		})
	}
	if events == 0 {
		t.Fatal("no RULE event in any run: the test exercises nothing")
	}
}

func TestRiskStateCodec(t *testing.T) {
	s := newRiskState()
	s.custom, s.evaluated = true, true
	s.values.Set(risk.NavDriftBps, -42)
	s.status[risk.NavDriftBps] = risk.Critical
	s.level, s.score, s.updatedAt = risk.LevelCritical, 50, 1e18
	s.limits = s.thresholds.Resolve(risk.Bands{L1Min: 800})
	var got riskState
	if err := got.decode(s.encode()); err != nil || got != s {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	enc := s.encode()
	for n := range len(enc) {
		if err := got.decode(enc[:n]); err == nil {
			t.Fatalf("truncated at %d decoded", n)
		}
	}
	bad := append([]byte(nil), enc...)
	bad[0] = riskStateVersion + 1
	if err := got.decode(bad); !errors.Is(err, ErrFutureFormat) {
		t.Fatalf("newer version: %v", err)
	}
}

// TestRiskStatusView: the JSON of GET /v1/risk/status before and after the first evaluation.
func TestRiskStatusView(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeSyncMark(0, 1)) // a batch renders every view
	b, err := e.m.RenderView(e.st, ViewRisk)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Level      string
		Score      int
		Indicators []struct {
			Name           string
			Value          *int64
			Warn, Critical int64
			Status         string
		}
		UpdatedAt *string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if v.Level != "NORMAL" || v.UpdatedAt != nil || len(v.Indicators) != int(risk.NumIndicators) || v.Indicators[0].Name != "l1Ratio" || v.Indicators[0].Value != nil {
		t.Fatalf("before any evaluation: %s", b)
	}
	if v.Indicators[risk.NavDriftBps].Warn != 50 || v.Indicators[risk.NavDriftBps].Critical != 200 {
		t.Fatalf("default drift thresholds: %s", b)
	}
	th := risk.DefaultThresholds()
	th[risk.PendingApprovals] = risk.Threshold{}
	th[risk.RedemptionCoverage] = risk.Threshold{}
	e.apply(EncodeRiskThresholds(&RiskThresholdsCommand{Time: 1, Thresholds: th}))
	e.logs(request(10, 1, true, testNow+day), mk("LayerConfigUpdated", 10, 1, testNow+10, 0, 2000, 1000, 3000))
	b, _ = e.st.Get(viewKey(ViewRisk))
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	p := v.Indicators[risk.PendingApprovals]
	if v.Level != "CRITICAL" || v.Score != 50 || v.UpdatedAt == nil || p.Value == nil || *p.Value != 1 || p.Status != "CRITICAL" {
		t.Fatalf("after a pending approval over critical 0: %s", b)
	}
	if l1 := v.Indicators[risk.L1Ratio]; l1.Warn != 1000 || l1.Critical != 500 {
		t.Fatalf("l1Ratio thresholds from the band: %s", b)
	}
}

// TestRiskEvaluationAllocatesNothing: an evaluation after a command that changed no asset or
// price (the books' assets, the open redemptions and the 24 h redemptions kept) allocates
// nothing.
func TestRiskEvaluationAllocatesNothing(t *testing.T) {
	e := riskEnv(t, risk.DefaultThresholds())
	e.logs(request(10, 1, true, testNow+day), mk("AssetAdded", 10, 1, testNow+10, addr(50), 1, 4000),
		mk("PriceSet", 10, 2, testNow+10, addr(50), oneE18, testNow, 2), mk("AssetPurchased", 10, 3, testNow+10, addr(50), 1, e18(5), e18(5)))
	e.logs(mk("Deposit", 11, 0, testNow+11, addr(1), addr(1), e18(10), e18(10)))
	ac := &applyContext{Machine: e.m, store: e.st, index: e.index, cmdTime: testNow * 1e9}
	if err := ac.evaluateRisk(true); err != nil {
		t.Fatal(err)
	}
	if !ac.riskAssets || !ac.riskOpen.known || !ac.riskFlows.valid {
		t.Fatal("the inputs are not kept")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ac.evaluateRisk(true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("an evaluation allocates %v times", allocs)
	}
}

// TestPendingApprovalsCountsOpenTickets: pendingApprovals counts the approval tickets waiting
// for decisions (PENDING, PARTIALLY_APPROVED), evaluated in the command that changes one: a
// ticket that reached its quorum leaves the count in its decision's command, while its
// redemption is still PENDING_APPROVAL until the chain approves it; an expired one leaves it in
// the tick; a machine loaded afterwards counts the same from the state.
func TestPendingApprovalsCountsOpenTickets(t *testing.T) {
	th := risk.DefaultThresholds()
	th[risk.PendingApprovals] = risk.Threshold{Warn: 5, Critical: 10, Hysteresis: 1}
	e := riskEnv(t, th)
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()})) // quorum 2, deadline 300 s
	pending := func() int64 {
		t.Helper()
		var v struct{ Indicators []struct{ Value *int64 } }
		b, err := e.st.Get(viewKey(ViewRisk))
		if err != nil || json.Unmarshal(b, &v) != nil || v.Indicators[risk.PendingApprovals].Value == nil {
			t.Fatalf("risk view %s (%v)", b, err)
		}
		return *v.Indicators[risk.PendingApprovals].Value
	}
	e.logs(request(10, 1, true, testNow+day), request(11, 2, true, testNow+day), request(12, 3, false, testNow+day))
	mustEqual(t, "two tickets", pending(), 2)
	bt := testNow + 10
	e.decide(bt+1, "alice", "approver", "redemption-1", DecisionApprove, "")
	mustEqual(t, "partially approved", pending(), 2)
	e.decide(bt+2, "bob", "approver", "redemption-1", DecisionApprove, "")
	mustEqual(t, "approved, the redemption still PENDING_APPROVAL", pending(), 1)
	e.apply(EncodeTick(&TickCommand{Time: (bt + 1000) * 1e9}))
	mustEqual(t, "the other expired", pending(), 0)
	e.logs(request(20, 4, true, testNow+day))
	mustEqual(t, "a new one", pending(), 1)

	m := NewMachine(testInfo, NewViews(testInfo), nil)
	if err := m.Load(e.st); err != nil {
		t.Fatal(err)
	}
	e.m = m
	e.decide(testNow+21, "alice", "approver", "redemption-4", DecisionReject, "no")
	mustEqual(t, "rejected after a reload", pending(), 0)
}
