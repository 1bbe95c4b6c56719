package fundtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/config"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/kv"
	"paimon/readmodel"
)

func TestContractsMatchDefaultConfig(t *testing.T) {
	got := fundtest.Contracts()
	want := config.Default().Ingest.Contracts
	if len(got) != len(want) {
		t.Fatalf("%d contracts, config has %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Kind != want[i].Kind || got[i].Address != want[i].Address {
			t.Errorf("contract %d = %+v, config has %+v", i, got[i], want[i])
		}
	}
	if _, err := chainlog.NewRegistry(got); err != nil {
		t.Fatal(err)
	}
}

func TestAmount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"1", "1000000000000000000"}, {"1.0234", "1023400000000000000"},
		{"20041.938", "20041938000000000000000"}, {"0.000000000000000001", "1"},
	} {
		if got := fundtest.Amount(tc.in).Dec(); got != tc.want {
			t.Errorf("Amount(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestEncodeDecodeRoundTrip encodes every kind of event with go-ethereum and checks that the
// fund's own decoder gives back exactly the events.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	evs := fundtest.RandomEvents(3, 600)
	logs, err := fundtest.EncodeAll(evs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fundtest.Decode(fundtest.Registry(), logs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if !reflect.DeepEqual(back[i], evs[i]) {
			t.Fatalf("event %d (%s): decoded %+v, want %+v", i, evs[i].Name, back[i], evs[i])
		}
	}
}

func TestRandomEventsCoverEveryEventAndApply(t *testing.T) {
	evs := fundtest.RandomEvents(1, 2000)
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.Name] = true
	}
	for _, name := range chainlog.EventNames() {
		if !seen[name] {
			t.Errorf("no %s", name)
		}
	}
	checkChainOrder(t, evs)
	if !reflect.DeepEqual(evs, fundtest.RandomEvents(1, 2000)) {
		t.Fatal("RandomEvents is not deterministic")
	}
	info := fund.Info{FundID: "f"}
	st, m := kv.NewMem(), fund.NewMachine(info, readmodel.NewViews(info), nil)
	res := applyAll(t, st, m, evs, evs[len(evs)-1].BlockTime)
	if res.Accepted != len(evs) {
		t.Fatalf("accepted %d of %d (%d duplicates)", res.Accepted, len(evs), res.Duplicates)
	}
}

// TestDefaultDatasetDecodes generates the benchmark's data set and decodes it through the
// default contracts with no skip.
func TestDefaultDatasetDecodes(t *testing.T) {
	if testing.Short() {
		t.Skip("generates ~30,000 logs")
	}
	spec := fundtest.DefaultSpec()
	logs := fundtest.Dataset(spec.Seed, spec.Holders, spec.NavHours, spec.Redemptions)
	evs, err := fundtest.Decode(fundtest.Registry(), logs)
	if err != nil {
		t.Fatal(err)
	}
	checkChainOrder(t, evs)
	navs := 0
	for _, e := range evs {
		if e.Name == "NavUpdated" {
			navs++
		}
	}
	if navs != spec.NavHours {
		t.Fatalf("%d NavUpdated, want %d", navs, spec.NavHours)
	}
	bodies, err := fundtest.RequestBodies(logs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range bodies {
		if len(b) > 1<<20 {
			t.Fatalf("body of %d bytes", len(b))
		}
		var req struct{ Logs []chainlog.RawLog }
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		for i := range req.Logs {
			if err := chainlog.CheckRawLog(&req.Logs[i]); err != nil {
				t.Fatal(err)
			}
		}
		total += len(req.Logs)
	}
	if total != len(logs) {
		t.Fatalf("bodies hold %d logs of %d", total, len(logs))
	}
	t.Logf("%d logs, %d bodies", len(logs), len(bodies))
}

// TestDatasetApplies applies a smaller data set to a machine and reads the counts back through
// the fund's read functions.
func TestDatasetApplies(t *testing.T) {
	spec := fundtest.Spec{Seed: 7, Holders: 300, NavHours: 24 * 45, Redemptions: 80}
	d := fundtest.Generate(spec)
	stats := d.Stats
	if stats.Holders != spec.Holders || stats.NavPoints != spec.NavHours || stats.Redemptions != spec.Redemptions {
		t.Fatalf("stats %+v do not match spec %+v", stats, spec)
	}
	if stats.Settled == 0 || stats.Cancelled == 0 || stats.Rejected == 0 || stats.Open == 0 || stats.Transfers == 0 {
		t.Fatalf("a lifecycle is missing: %+v", stats)
	}
	evs, err := fundtest.Decode(fundtest.Registry(), d.Logs())
	if err != nil {
		t.Fatal(err)
	}
	info := fund.Info{FundID: "paimon-prime", ChainID: 56}
	st, m := kv.NewMem(), fund.NewMachine(info, readmodel.NewViews(info), nil)
	if res := applyAll(t, st, m, evs, stats.End); res.Accepted != len(evs) {
		t.Fatalf("accepted %d of %d", res.Accepted, len(evs))
	}

	var ov struct {
		HolderCount              int    `json:"holderCount"`
		SharePrice               string `json:"sharePrice"`
		TotalRedemptionLiability string `json:"totalRedemptionLiability"`
		TotalLockedShares        string `json:"totalLockedShares"`
	}
	readJSON(t, &ov)(readmodel.ReadView(st, readmodel.ViewOverview))
	if ov.HolderCount != spec.Holders {
		t.Errorf("holderCount %d, want %d", ov.HolderCount, spec.Holders)
	}
	if ov.SharePrice != stats.FinalNav {
		t.Errorf("sharePrice %s, want %s", ov.SharePrice, stats.FinalNav)
	}
	if ov.TotalLockedShares == "0" || ov.TotalRedemptionLiability == "0" {
		t.Errorf("open redemptions lock nothing: %+v", ov)
	}

	if n := countNavPoints(t, st, stats.Start, stats.End); n != spec.NavHours {
		t.Errorf("%d NAV points, want %d", n, spec.NavHours)
	}
	byStatus := map[string]int{}
	for _, it := range listAll(t, func(p readmodel.Page) ([]byte, error) {
		return readmodel.Redemptions(st, readmodel.RedemptionFilter{}, p)
	}) {
		byStatus[it["status"].(string)]++
	}
	want := map[string]int{"SETTLED": stats.Settled, "CANCELLED": stats.Cancelled, "REJECTED": stats.Rejected}
	open := byStatus["PENDING"] + byStatus["PENDING_APPROVAL"] + byStatus["APPROVED"]
	for s, n := range want {
		if byStatus[s] != n {
			t.Errorf("%d %s redemptions, want %d (all: %v)", byStatus[s], s, n, byStatus)
		}
	}
	if open != stats.Open {
		t.Errorf("%d open redemptions, want %d (all: %v)", open, stats.Open, byStatus)
	}

	// Every holder has an account with shares.
	for _, h := range d.Holders {
		var acct struct{ Shares string }
		readJSON(t, &acct)(readmodel.Account(st, h))
		if v, err := uint256.FromDecimal(acct.Shares); err != nil || v.IsZero() {
			t.Fatalf("holder %s has shares %q", h.Hex(), acct.Shares)
		}
	}
}

// applyAll applies events in commands of 500 at the given time (unix s), one batch each.
func applyAll(t *testing.T, st *kv.Mem, m *fund.Machine, evs []chainlog.Event, now int64) fund.LogsResult {
	t.Helper()
	var total fund.LogsResult
	for i, idx := 0, uint64(1); i < len(evs); i, idx = i+500, idx+1 {
		cmd := fund.EncodeLogs(&fund.LogsCommand{Time: now * 1e9, Events: evs[i:min(i+500, len(evs))]})
		res, err := m.Apply(st, idx, cmd)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		lr, ok := res.(*fund.LogsResult)
		if !ok {
			t.Fatalf("apply: result %T %v", res, res)
		}
		if err := m.EndBatch(st, idx); err != nil {
			t.Fatal(err)
		}
		m.Committed()
		total.Accepted += lr.Accepted
		total.Duplicates += lr.Duplicates
	}
	return total
}

// checkChainOrder checks that events are in chain order with unique positions and block
// times that never go back.
func checkChainOrder(t *testing.T, evs []chainlog.Event) {
	t.Helper()
	seen := map[string]bool{}
	for i := 1; i < len(evs); i++ {
		a, b := &evs[i-1], &evs[i]
		if b.BlockNumber < a.BlockNumber || b.BlockNumber == a.BlockNumber && b.LogIndex <= a.LogIndex {
			t.Fatalf("event %d at %d/%d after %d/%d", i, b.BlockNumber, b.LogIndex, a.BlockNumber, a.LogIndex)
		}
		if b.BlockTime < a.BlockTime || b.BlockNumber == a.BlockNumber && (b.BlockTime != a.BlockTime || b.BlockHash != a.BlockHash) {
			t.Fatalf("event %d: block %d time %d after %d", i, b.BlockNumber, b.BlockTime, a.BlockTime)
		}
		k := fmt.Sprint(b.TxHash, b.LogIndex)
		if seen[k] {
			t.Fatalf("event %d: duplicate position", i)
		}
		seen[k] = true
	}
}

func countNavPoints(t *testing.T, st kv.Reader, from, to int64) int {
	t.Helper()
	n := 0
	const window = 900 * 3600 // under the 1,000-item limit for hourly points
	for lo := from; lo <= to; lo += window {
		var body struct{ Items []any }
		q := readmodel.NavQuery{From: lo, To: min(lo+window-1, to), HasFrom: true, HasTo: true, Interval: readmodel.IntervalRaw, Limit: readmodel.MaxLimit}
		readJSON(t, &body)(readmodel.NavHistory(st, q))
		n += len(body.Items)
	}
	return n
}

func listAll(t *testing.T, list func(readmodel.Page) ([]byte, error)) []map[string]any {
	t.Helper()
	var all []map[string]any
	p := readmodel.Page{Limit: readmodel.MaxLimit}
	for {
		var body struct {
			Items      []map[string]any
			NextCursor string
		}
		readJSON(t, &body)(list(p))
		all = append(all, body.Items...)
		if body.NextCursor == "" {
			return all
		}
		c, err := base64.RawURLEncoding.DecodeString(body.NextCursor)
		if err != nil {
			t.Fatal(err)
		}
		p.Cursor = c
	}
}

func readJSON(t *testing.T, v any) func([]byte, error) {
	return func(b []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
}

// TestChainTypedMethods drives every typed method through encode, decode and apply, and checks
// their effects through the read functions.
func TestChainTypedMethods(t *testing.T) {
	c := fundtest.NewChain(fundtest.ChainConfig{Seed: 5})
	alice, bob, ops := fundtest.Addr("alice"), fundtest.Addr("bob"), fundtest.Addr("ops")
	cash, rwa := fundtest.Addr("cash"), fundtest.Addr("rwa")
	c.LayerConfig(fundtest.TierL1, 2000, 1000, 3000)
	c.AssetAdded(cash, fundtest.TierL1, 10000)
	c.AssetAdded(rwa, fundtest.TierL3, 10000)
	c.PriceSet(rwa, fundtest.Amount("1.05"), 1)
	c.Advance(time.Hour)
	c.Deposit(alice, fundtest.E18(1000), fundtest.E18(1000))
	c.Deposit(bob, fundtest.E18(500), fundtest.E18(500))
	c.AssetPurchased(rwa, fundtest.TierL3, fundtest.E18(105), fundtest.E18(100))
	c.AssetRedeemed(rwa, fundtest.TierL3, fundtest.E18(10), fundtest.Amount("10.5"))
	c.WaterfallLiquidation(fundtest.TierL3, rwa, fundtest.E18(5), fundtest.Amount("5.25"))
	c.AssetAllocationUpdated(rwa, 10000, 9000)
	c.AssetRemoved(cash)
	c.Transfer(alice, bob, fundtest.E18(100))
	c.Withdraw(bob, bob, fundtest.E18(50), fundtest.E18(50))
	c.LockShares(alice, fundtest.E18(10))
	c.UnlockShares(alice, fundtest.E18(10))
	c.NextBlock()
	c.NavUpdated(fundtest.Amount("1.01"))
	settled := c.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: alice, Shares: fundtest.E18(100), RequiresApproval: true}, fundtest.Settle, ops, time.Hour)
	rejected := c.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: bob, Shares: fundtest.E18(10), RequiresApproval: true}, fundtest.Reject, ops, time.Hour)
	cancelled := c.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: bob, Shares: fundtest.E18(10), Channel: fundtest.ChannelEmergency}, fundtest.Cancel, ops, time.Minute)
	open := c.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: alice, Shares: fundtest.E18(20), Channel: fundtest.ChannelScheduled}, fundtest.Leave, ops, time.Minute)
	c.LockShares(bob, fundtest.E18(5))
	c.BurnShares(bob, fundtest.E18(5))
	c.ManagementFee(fundtest.E18(1), fundtest.E18(1450), 86400)
	c.PerformanceFee(fundtest.E18(2), fundtest.E18(20), fundtest.Amount("1.01"))
	c.RedemptionFeeAdded(fundtest.E18(3))
	c.RedemptionFeeReduced(fundtest.E18(1))
	c.LowLiquidityAlert(900, 1000, fundtest.E18(90), fundtest.E18(1000))
	c.CriticalLiquidityAlert(400, 500, fundtest.E18(40))
	c.EmergencyMode(true)

	evs := c.Events()
	checkChainOrder(t, evs)
	back, err := fundtest.Decode(fundtest.Registry(), c.Logs())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, evs) {
		t.Fatal("decoded events differ from the emitted ones")
	}
	info := fund.Info{FundID: "f"}
	st, m := kv.NewMem(), fund.NewMachine(info, readmodel.NewViews(info), nil)
	if res := applyAll(t, st, m, evs, c.Now()); res.Accepted != len(evs) {
		t.Fatalf("accepted %d of %d", res.Accepted, len(evs))
	}
	var ov struct {
		EmergencyMode bool `json:"emergencyMode"`
		HolderCount   int  `json:"holderCount"`
		Nav           string
		TotalSupply   string `json:"totalSupply"`
		Fees          struct{ Management, Performance, Redemption string }
	}
	readJSON(t, &ov)(readmodel.ReadView(st, readmodel.ViewOverview))
	// 1500 minted − 50 withdrawn − 100 settled − 5 burned.
	if !ov.EmergencyMode || ov.HolderCount != 2 || ov.Nav != "1.01" || ov.TotalSupply != fundtest.E18(1345).Dec() ||
		ov.Fees.Management != fundtest.E18(1).Dec() || ov.Fees.Performance != fundtest.E18(2).Dec() || ov.Fees.Redemption != fundtest.E18(2).Dec() {
		t.Errorf("overview: %+v", ov)
	}
	for id, want := range map[uint64]string{settled: "SETTLED", rejected: "REJECTED", cancelled: "CANCELLED", open: "PENDING"} {
		var r struct {
			Status   string
			Timeline []any
		}
		readJSON(t, &r)(readmodel.Redemption(st, fmt.Sprint(id)))
		if r.Status != want {
			t.Errorf("redemption %d is %s, want %s", id, r.Status, want)
		}
	}
	var acct struct{ Shares, LockedShares string }
	readJSON(t, &acct)(readmodel.Account(st, alice))
	if acct.Shares != fundtest.E18(800).Dec() || acct.LockedShares != fundtest.E18(20).Dec() {
		t.Errorf("alice: %+v", acct)
	}
}
