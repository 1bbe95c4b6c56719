package node

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/config"
	"paimon/fund"
	"paimon/ingest"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
)

// TestRebalanceExecutedOnChain: three nodes on the simulated chain with the fund's contracts.
// 500,000 of cash against bands of 20/30/50 %: a preview through a follower plans two purchases
// (400,000, over the approval amount: a REBALANCE ticket needing two approvers); approved by
// two approvers, the leader's executor sends purchaseAsset for each action in order, the
// AssetPurchased events are ingested and the plan is COMPLETED on every node with its realised
// state within 50 bps of every target and equal to the estimate; the ticket is EXECUTED and the
// asset controller holds the tokens. A second plan, its L2 asset's price raised 1 % on the
// oracle after the preview (beyond its 50 bps slippage bound), reverts in simulation: the plan
// is FAILED with the contract's reason.
func TestRebalanceExecutedOnChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 13), fundchain.DerivedKey("executor", 13), fundchain.DerivedKey("user", 13)
	sim, client := startFundSim(t, ctx, 13, admin, exec, user)
	f, keyFile := deployFund(t, ctx, client, admin, exec)

	c := newCluster(t, 3)
	for i, cfg := range c.cfgs {
		cfg.Ingest.ChainID, cfg.Ingest.RPCURLs, cfg.Ingest.Confirmations = chainsim.ChainID, []string{sim.URL()}, 2
		cfg.Ingest.PollInterval, cfg.Ingest.StartBlock = 20*time.Millisecond, 0
		cfg.Ingest.Contracts = nil
		for _, ct := range f.ContractConfigs() {
			cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: ct.Name, Kind: ct.Kind, Address: ct.Address})
		}
		cfg.Executor.KeyFile = keyFile
		cfg.Approvals.DefaultRequired, cfg.Approvals.LargeRequired, cfg.Approvals.LargeAmount = 1, 2, "300000000000000000000000"
		cfg.Auth.Tokens = append(cfg.Auth.Tokens,
			config.Token{Name: "ops", Role: "operator", SHA256: tokenSum(rebalanceOpsToken)},
			config.Token{Name: "ann", Role: "approver", SHA256: tokenSum(annToken)},
			config.Token{Name: "ben", Role: "approver", SHA256: tokenSum(benToken)})
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	c.waitClusterVersion(l)
	checkFor(t, 20*time.Second, func() error { // the leader's [approvals] rules, replicated
		v, err := c.nodes[l].Store().Read()
		if err != nil {
			return err
		}
		defer v.Close()
		rules, replicated, err := fund.ReadApprovalRules(v)
		if err != nil || !replicated || rules.LargeRequired != 2 {
			return fmt.Errorf("rules %+v replicated %v: %v", rules, replicated, err)
		}
		return nil
	})
	if err := f.Faucet(ctx, user, fundchain.E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, user, fundchain.E18(500_000)); err != nil {
		t.Fatal(err)
	}
	c.sameOnEvery("/v1/rebalance/status", viewerToken, 0, func(m map[string]any) error {
		if m["needsRebalance"] != true || m["grossAssets"] != "500000000000000000000000" {
			return fmt.Errorf("status %v", m)
		}
		return nil
	})
	f1, f2 := (l+1)%3, (l+2)%3
	r := c.do(f1, "POST", "/v1/rebalance/preview", rebalanceOpsToken, nil)
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	plan := r.json(t)
	id := plan["planId"].(string)
	if len(plan["actions"].([]any)) != 2 || plan["totalAmount"] != "400000000000000000000000" || plan["requiresApproval"] != true {
		t.Fatalf("plan %s", r.body)
	}
	r = c.do(f2, "POST", "/v1/rebalance/execute", rebalanceOpsToken, []byte(`{"planId":"`+id+`"}`))
	if r.status != 200 || r.json(t)["status"] != "PENDING_APPROVAL" || r.json(t)["ticketId"] != "rebalance-"+id {
		t.Fatalf("execute: %d %s", r.status, r.body)
	}
	ticket := "/v1/approvals/rebalance-" + id
	if r := c.do(f1, "POST", ticket+"/approve", annToken, nil); r.status != 200 || r.json(t)["status"] != "PARTIALLY_APPROVED" {
		t.Fatalf("ann: %d %s", r.status, r.body)
	}
	if r := c.do(f2, "POST", ticket+"/approve", benToken, nil); r.status != 200 || r.json(t)["status"] != "APPROVED" {
		t.Fatalf("ben: %d %s", r.status, r.body)
	}
	done := waitCompleted(t, ctx, c, f1, client, f)
	c.sameOnEvery(ticket, adminToken, 0, func(m map[string]any) error {
		if m["status"] != "EXECUTED" {
			return fmt.Errorf("ticket %v", m)
		}
		return nil
	})
	c.sameOnEvery("/v1/rebalance/history?limit=1", viewerToken, 0, func(m map[string]any) error {
		if it := m["items"].([]any); len(it) != 1 || it[0].(map[string]any)["status"] != "COMPLETED" {
			return fmt.Errorf("history %v", m)
		}
		return nil
	})
	checkRebalanceMetrics(t, c, 1, 0, done)

	// A second plan whose L2 trade reverts: the price moved beyond its slippage bound.
	if _, err := f.Deposit(ctx, user, fundchain.E18(100_000)); err != nil {
		t.Fatal(err)
	}
	var second map[string]any
	checkFor(t, 30*time.Second, func() error {
		r := c.do(f1, "POST", "/v1/rebalance/preview", rebalanceOpsToken, nil)
		if r.status != 200 || len(r.json(t)["actions"].([]any)) != 2 {
			return fmt.Errorf("preview: %d %s", r.status, r.body)
		}
		second = r.json(t)
		return nil
	})
	mmf := f.Addr.Assets[1]
	if _, err := f.Exec(ctx, admin, fundchain.Oracle, "setPrice", mmf, new(big.Int).Div(fundchain.E18(10302), big.NewInt(10000)), uint8(1)); err != nil {
		t.Fatal(err)
	}
	id2 := second["planId"].(string)
	checkFor(t, 30*time.Second, func() error {
		r := c.do(f2, "GET", "/v1/prices/"+strings.ToLower(mmf.Hex()), viewerToken, nil)
		if r.json(t)["price"] != "1030200000000000000" {
			return fmt.Errorf("price %s", r.body)
		}
		return nil
	})
	if r := c.do(f2, "POST", "/v1/rebalance/execute", rebalanceOpsToken, []byte(`{"planId":"`+id2+`"}`)); r.status != 200 || r.json(t)["status"] != "EXECUTING" {
		t.Fatalf("execute the second: %d %s", r.status, r.body)
	}
	c.sameOnEvery("/v1/rebalance/history?limit=1", viewerToken, 0, func(m map[string]any) error {
		p := m["items"].([]any)[0].(map[string]any)
		if p["planId"] != id2 || p["status"] != "FAILED" || !strings.Contains(fmt.Sprint(p["reason"]), "slippage") {
			return fmt.Errorf("second plan %v", p)
		}
		second = p
		return nil
	})
	checkRebalanceMetrics(t, c, 1, 1, second)
}

// waitCompleted waits until node i's history has one COMPLETED plan and returns it, checked:
// its realised state equal to the estimate and within 50 bps of every target, its actions'
// tokens held by the asset controller (checkActionsHeld).
func waitCompleted(t *testing.T, ctx context.Context, c *testCluster, i int, client *ethclient.Client, f *fundchain.Fund) map[string]any {
	t.Helper()
	var done map[string]any
	checkFor(t, 60*time.Second, func() error {
		items, _ := c.do(i, "GET", "/v1/rebalance/history?status=COMPLETED", viewerToken, nil).json(t)["items"].([]any)
		if len(items) != 1 {
			return fmt.Errorf("not completed; transactions %s", c.do(i, "GET", "/v1/executor/transactions", adminToken, nil).body)
		}
		done = items[0].(map[string]any)
		return nil
	})
	for name, cmp := range done["comparison"].(map[string]any) {
		m := cmp.(map[string]any)
		if d := m["deviationBps"].(float64); d > 50 || d < -50 || m["differenceBps"] != 0.0 {
			t.Errorf("tier %s realised %v", name, m)
		}
	}
	checkActionsHeld(t, ctx, client, f, done)
	return done
}

// checkActionsHeld checks that every action of plan (as GET /v1/rebalance/history renders it,
// purchases of distinct tokens) is DONE with the tokens the planner expected, which the asset
// controller holds on chain.
func checkActionsHeld(t *testing.T, ctx context.Context, client *ethclient.Client, f *fundchain.Fund, plan map[string]any) {
	t.Helper()
	for i, a := range plan["actions"].([]any) {
		a := a.(map[string]any)
		tok := common.HexToAddress(a["asset"].(string))
		data, _ := fundchain.Pack(fundchain.USDT, "balanceOf", f.Addr.Of(fundchain.AssetController))
		out, err := client.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
		var v []any
		if err == nil {
			v, err = fundchain.ABI(fundchain.USDT).Unpack("balanceOf", out)
		}
		if err != nil || a["status"] != "DONE" || v[0].(*big.Int).String() != a["realisedTokens"] || a["realisedTokens"] != a["expectedTokens"] {
			t.Errorf("action %d: %v; the controller holds %v (%v)", i, a, v, err)
		}
	}
}

// checkRebalanceMetrics waits until every node's /metrics counts the completed and failed
// executions, none cancelled, and shows the deviations of plan last (as GET
// /v1/rebalance/history renders it): the largest |ratio − target| of its pre, estimated post
// and realised states, computed here from the JSON.
func checkRebalanceMetrics(t *testing.T, c *testCluster, completed, failed int, last map[string]any) {
	t.Helper()
	targets := last["targetRatios"].(map[string]any)
	maxDev := func(state string) string {
		var m float64
		for tier, v := range last[state].(map[string]any)["tiers"].(map[string]any) {
			m = max(m, math.Abs(v.(map[string]any)["ratio"].(float64)-targets[tier].(float64)))
		}
		return fmt.Sprint(m)
	}
	want := map[string]string{
		`paimon_rebalance_executions_total{status="COMPLETED"}`: fmt.Sprint(completed),
		`paimon_rebalance_executions_total{status="FAILED"}`:    fmt.Sprint(failed),
		`paimon_rebalance_executions_total{status="CANCELLED"}`: "0",
		`paimon_rebalance_deviation_bps{stage="pre"}`:           maxDev("preState"),
		`paimon_rebalance_deviation_bps{stage="estimated"}`:     maxDev("postState"),
		`paimon_rebalance_deviation_bps{stage="realised"}`:      maxDev("realisedState"),
	}
	if want[`paimon_rebalance_deviation_bps{stage="estimated"}`] == want[`paimon_rebalance_deviation_bps{stage="pre"}`] {
		t.Fatalf("plan %v: the estimate does not move the deviation", last["planId"])
	}
	for i := range c.nodes {
		checkFor(t, 10*time.Second, func() error {
			got := map[string]string{}
			for _, line := range strings.Split(string(c.do(i, "GET", "/metrics", "", nil).body), "\n") {
				if name, v, ok := strings.Cut(line, " "); ok && want[name] != "" {
					got[name] = v
				}
			}
			for name, v := range want {
				if got[name] != v {
					return fmt.Errorf("node %d: %s = %q, want %s (plan %v)", i, name, got[name], v, last["planId"])
				}
			}
			return nil
		})
	}
}

// TestRebalanceTokensOfOtherDecimals: the fund's L2 token has 6 decimals and its L3 token 8.
// The node learns them from the tokens (decimals() by eth_call, replicated by CmdAssetMeta),
// plans with them, and the asset controller trades with them: the plan completes with the
// tokens the planner expected (the controller's balances), its realised state equal to the
// estimate and within 50 bps of every target, and the node's totalAssets equal to the vault's.
func TestRebalanceTokensOfOtherDecimals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 14), fundchain.DerivedKey("executor", 14), fundchain.DerivedKey("user", 14)
	sim, client := startFundSim(t, ctx, 14, admin, exec, user)
	p := fundchain.DefaultParams()
	p.Assets[1].Decimals, p.Assets[2].Decimals = 6, 8
	f, keyFile := deployFundWith(t, ctx, client, admin, exec, p)

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	cfg.Ingest.ChainID, cfg.Ingest.RPCURLs, cfg.Ingest.Confirmations = chainsim.ChainID, []string{sim.URL()}, 2
	cfg.Ingest.PollInterval, cfg.Ingest.StartBlock, cfg.Ingest.Contracts = 20*time.Millisecond, 0, nil
	for _, ct := range f.ContractConfigs() {
		cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: ct.Name, Kind: ct.Kind, Address: ct.Address})
	}
	cfg.Executor.KeyFile = keyFile
	cfg.Rebalance.ApprovalAmount = fundchain.E18(10_000_000).String() // no ticket
	cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.Token{Name: "ops", Role: "operator", SHA256: tokenSum(rebalanceOpsToken)})
	c.start(0)
	c.waitLeader(20 * time.Second)
	c.waitClusterVersion(0)
	if err := f.Faucet(ctx, user, fundchain.E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, user, fundchain.E18(500_000)); err != nil {
		t.Fatal(err)
	}
	decimals := map[string]float64{}
	for i, a := range p.Assets {
		decimals[strings.ToLower(f.Addr.Assets[i].Hex())] = float64(a.TokenDecimals())
	}
	checkFor(t, 30*time.Second, func() error {
		ov := c.do(0, "GET", "/v1/fund/overview", "", nil).json(t)
		if ov["cash"] != "500000000000000000000000" {
			return fmt.Errorf("overview %v", ov)
		}
		for _, it := range c.do(0, "GET", "/v1/fund/assets", "", nil).json(t)["items"].([]any) {
			a := it.(map[string]any)
			if a["decimals"] != decimals[a["token"].(string)] {
				return fmt.Errorf("asset %v: decimals %v, want %v", a["token"], a["decimals"], decimals[a["token"].(string)])
			}
		}
		return nil
	})

	r := c.do(0, "POST", "/v1/rebalance/preview", rebalanceOpsToken, nil)
	if r.status != 200 || len(r.json(t)["actions"].([]any)) != 2 || r.json(t)["requiresApproval"] != false {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	id := r.json(t)["planId"].(string)
	if r := c.do(0, "POST", "/v1/rebalance/execute", rebalanceOpsToken, []byte(`{"planId":"`+id+`"}`)); r.status != 200 || r.json(t)["status"] != "EXECUTING" {
		t.Fatalf("execute: %d %s", r.status, r.body)
	}
	waitCompleted(t, ctx, c, 0, client, f)
	want, err := f.Uint(ctx, fundchain.Vault, "totalAssets")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.do(0, "GET", "/v1/fund/overview", "", nil).json(t)["totalAssets"]; got != want.String() {
		t.Errorf("the node's totalAssets %v, the vault's %s", got, want)
	}
}
