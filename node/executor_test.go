package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/config"
	"paimon/executor"
	"paimon/ingest"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
)

// deployFund deploys the fund's contracts from admin, gives exec the executor role and writes
// exec's key file (returned) for [executor] key_file.
func deployFund(t *testing.T, ctx context.Context, client *ethclient.Client, admin, exec *ecdsa.PrivateKey) (*fundchain.Fund, string) {
	t.Helper()
	return deployFundWith(t, ctx, client, admin, exec, fundchain.DefaultParams())
}

// deployFundWith is deployFund with the deployment's parameters.
func deployFundWith(t *testing.T, ctx context.Context, client *ethclient.Client, admin, exec *ecdsa.PrivateKey, p fundchain.Params) (*fundchain.Fund, string) {
	t.Helper()
	f, err := fundchain.Deploy(ctx, &fundchain.Chain{Backend: client}, admin, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.GrantExecutor(ctx, admin, crypto.PubkeyToAddress(exec.PublicKey)); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "executor.key")
	if err := crypto.SaveECDSA(keyFile, exec); err != nil {
		t.Fatal(err)
	}
	return f, keyFile
}

// requestRedemptions gives user 1,000,000 USDT, deposits 500,000 and requests a STANDARD
// redemption of each number of shares (whole units), returning the request ids.
func requestRedemptions(t *testing.T, ctx context.Context, f *fundchain.Fund, user *ecdsa.PrivateKey, shares ...int64) []*big.Int {
	t.Helper()
	if err := f.Faucet(ctx, user, fundchain.E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, user, fundchain.E18(500_000)); err != nil {
		t.Fatal(err)
	}
	var ids []*big.Int
	for _, n := range shares {
		id, _, err := f.RequestRedemption(ctx, user, fundchain.E18(n), fundchain.ChannelStandard)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// fundNodeConfig points a node at the fund's contracts on the chain at rpc (2 confirmations,
// 20 ms polls) with the executor's key file.
func fundNodeConfig(cfg *config.Config, f *fundchain.Fund, rpc, keyFile string) {
	cfg.Ingest.ChainID, cfg.Ingest.RPCURLs, cfg.Ingest.Confirmations = chainsim.ChainID, []string{rpc}, 2
	cfg.Ingest.PollInterval, cfg.Ingest.StartBlock = 20*time.Millisecond, 0
	cfg.Ingest.Contracts = nil
	for _, ct := range f.ContractConfigs() {
		cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: ct.Name, Kind: ct.Kind, Address: ct.Address})
	}
	cfg.Executor.KeyFile = keyFile
}

// TestExecutorApprovesOnChain runs a node with [executor] against the fund's contracts on the
// simulated chain: a decision to approve a redemption waiting for approval is recorded in Raft,
// sent once, mined and confirmed; the redemption turns APPROVED from the ingested event; GET
// /v1/executor/transactions shows it CONFIRMED; the key appears in no answer.
func TestExecutorApprovesOnChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 5), fundchain.DerivedKey("executor", 5), fundchain.DerivedKey("user", 5)
	sim, client := startFundSim(t, ctx, 5, admin, exec, user)
	f, keyFile := deployFund(t, ctx, client, admin, exec)

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	fundNodeConfig(cfg, f, sim.URL(), keyFile)
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)

	id := requestRedemptions(t, ctx, f, user, 150_000)[0]
	e := c.nodes[0].Executor()
	d := executor.Decision{Purpose: executor.PurposeApprove, Reference: "ticket-1", RedemptionID: id}
	var it executor.Intent
	checkFor(t, 10*time.Second, func() (err error) {
		it, err = e.Submit(ctx, d)
		return err
	})
	checkFor(t, 30*time.Second, func() error {
		r := c.do(0, "GET", "/v1/executor/transactions", adminToken, nil)
		var page struct {
			Items []struct {
				ID        uint64 `json:"id"`
				Purpose   string `json:"purpose"`
				Reference string `json:"reference"`
				State     string `json:"state"`
				Hash      string `json:"hash"`
				Attempts  []struct {
					Hash string `json:"hash"`
				} `json:"attempts"`
			} `json:"items"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
			return fmt.Errorf("GET /v1/executor/transactions: %d %s", r.status, r.body)
		}
		if len(page.Items) != 1 || page.Items[0].State != "CONFIRMED" || page.Items[0].Hash != it.Attempts[0].Hash.Hex() ||
			page.Items[0].Purpose != "APPROVE" || page.Items[0].Reference != "ticket-1" {
			return fmt.Errorf("transactions %s", r.body)
		}
		return nil
	})
	checkFor(t, 20*time.Second, func() error {
		r := c.do(0, "GET", "/v1/redemptions/"+id.String(), viewerToken, nil)
		if !strings.Contains(string(r.body), `"status":"APPROVED"`) {
			return fmt.Errorf("redemption %s: %s", id, r.body)
		}
		return nil
	})
	// Submitted again (a retried ticket, a new leader): the same intent, nothing signed.
	if again, err := e.Submit(ctx, d); err != nil || again.Seq != it.Seq || len(again.Attempts) != 1 {
		t.Fatalf("submitted again: %+v, %v", again, err)
	}
	ev := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"]
	logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{f.Addr.Of(fundchain.RedemptionManager)},
		Topics: [][]common.Hash{{ev.ID}, {common.BigToHash(id)}}})
	if err != nil || len(logs) != 1 {
		t.Fatalf("%d RedemptionApproved logs (%v), want 1", len(logs), err)
	}
	// An operator's settlement of a request not due yet (T+7): 202 with the intent, then
	// FAILED with the simulation's reason, nothing sent; asked again, the same intent.
	settle := func() map[string]any {
		t.Helper()
		r := c.do(0, "POST", "/v1/redemptions/"+id.String()+"/settle", adminToken, nil)
		if r.status != 202 {
			t.Fatalf("settle: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	first := settle()
	if first["purpose"] != "SETTLE" || first["reference"] != "redemption-"+id.String() {
		t.Fatalf("settle: %v", first)
	}
	checkFor(t, 20*time.Second, func() error {
		r := c.do(0, "GET", "/v1/executor/transactions?purpose=settle", adminToken, nil)
		if !strings.Contains(string(r.body), `"state":"FAILED"`) || !strings.Contains(string(r.body), "revert") {
			return fmt.Errorf("settle transaction: %s", r.body)
		}
		return nil
	})
	if again := settle(); again["id"] != first["id"] || again["state"] != "FAILED" {
		t.Fatalf("settle again: %v, first %v", again, first)
	}
	// Both requests are audited, by the operator, with the intent they got.
	r := c.do(0, "GET", "/v1/audit?action=redemption.settle", adminToken, nil)
	var audit struct {
		Items []struct {
			Actor    string         `json:"actor"`
			Resource string         `json:"resource"`
			After    map[string]any `json:"after"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.body, &audit); err != nil || len(audit.Items) != 2 {
		t.Fatalf("audit of the settlements: %s (%v)", r.body, err)
	}
	for _, a := range audit.Items {
		if a.Actor != "root" || a.Resource != "redemptions/"+id.String() || a.After["id"] != first["id"] || a.After["purpose"] != "SETTLE" {
			t.Fatalf("audit of a settlement: %s", r.body)
		}
	}
	// The executor in the health (the leader's, every RPC up, nothing stuck) and the metrics.
	if r := c.do(0, "GET", "/v1/system/health", "", nil); !strings.Contains(string(r.body), `"executor":{"status":"ok"`) {
		t.Fatalf("health: %s", r.body)
	}
	if r := c.do(0, "GET", "/metrics", "", nil); !strings.Contains(string(r.body), `paimon_executor_transactions_total{state="CONFIRMED"} 1`) ||
		!strings.Contains(string(r.body), "paimon_executor_intent_to_mined_seconds_count 1") {
		t.Fatalf("metrics: %s", r.body)
	}
	keyHex := fmt.Sprintf("%x", crypto.FromECDSA(exec))
	for _, path := range []string{"/v1/system/config", "/v1/executor/transactions", "/v1/cluster/status"} {
		if r := c.do(0, "GET", path, adminToken, nil); strings.Contains(strings.ToLower(string(r.body)), keyHex) {
			t.Fatalf("%s shows the executor's key", path)
		}
	}
}

// TestTicketsExecutedOnChain is issue 12's path on a three-node cluster and the real contracts:
// a redemption over the threshold opens a ticket on every node; two approvers decide it through
// two followers; the leader's executor sends approveRedemption once; the redemption turns
// APPROVED from the ingested event and the ticket EXECUTED. A second ticket is rejected (its
// reason on chain) and the leader is stopped right after the rejection: the new leader finishes
// it, and each request has exactly one decision log on chain.
func TestTicketsExecutedOnChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 6), fundchain.DerivedKey("executor", 6), fundchain.DerivedKey("user", 6)
	sim, client := startFundSim(t, ctx, 6, admin, exec, user)
	f, keyFile := deployFund(t, ctx, client, admin, exec)

	c := newCluster(t, 3)
	for i, cfg := range c.cfgs {
		fundNodeConfig(cfg, f, sim.URL(), keyFile)
		cfg.Approvals.DefaultRequired, cfg.Approvals.LargeRequired = 2, 2
		cfg.Approvals.TickInterval = 100 * time.Millisecond
		cfg.Auth.Tokens = append(cfg.Auth.Tokens,
			config.Token{Name: "ann", Role: "approver", SHA256: tokenSum(annToken)},
			config.Token{Name: "ben", Role: "approver", SHA256: tokenSum(benToken)})
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	c.waitClusterVersion(l)

	ids := requestRedemptions(t, ctx, f, user, 150_000, 120_000)
	approveID, rejectID := ids[0], ids[1]
	ticket := func(id fmt.Stringer) string { return "/v1/approvals/redemption-" + id.String() }
	for _, id := range []fmt.Stringer{approveID, rejectID} {
		c.sameOnEvery(ticket(id), adminToken, 0, func(m map[string]any) error {
			if m["status"] != "PENDING" {
				return fmt.Errorf("ticket %v", m)
			}
			return nil
		})
	}
	decide := func(node int, id fmt.Stringer, token, verb, body, want string) {
		t.Helper()
		checkFor(t, 10*time.Second, func() error {
			r := c.do(node, "POST", ticket(id)+"/"+verb, token, []byte(body))
			if r.status != 200 || r.json(t)["status"] != want {
				return fmt.Errorf("%s %s through node%d: %d %s", verb, id, node+1, r.status, r.body)
			}
			return nil
		})
	}
	f1, f2 := (l+1)%3, (l+2)%3
	decide(f1, approveID, annToken, "approve", `{"reason":"checked"}`, "PARTIALLY_APPROVED")
	decide(f2, approveID, benToken, "approve", `{}`, "APPROVED")
	closed := func(id fmt.Stringer, outcome string) {
		t.Helper()
		c.sameOnEvery(ticket(id), adminToken, 0, func(m map[string]any) error {
			if m["status"] != "EXECUTED" || !strings.Contains(fmt.Sprint(m), outcome) {
				return fmt.Errorf("ticket %v", m)
			}
			return nil
		})
	}
	closed(approveID, "APPROVED")

	// The rejection, then the leader goes away at once: before or after its broadcast.
	decide(f1, rejectID, annToken, "reject", `{"reason":"source of funds unclear"}`, "REJECTED")
	c.stop(l)
	checkFor(t, 30*time.Second, func() error {
		if c.leader() < 0 {
			return fmt.Errorf("no new leader")
		}
		return nil
	})
	for _, i := range []int{f1, f2} {
		checkFor(t, 30*time.Second, func() error {
			r := c.do(i, "GET", ticket(rejectID), adminToken, nil)
			if !strings.Contains(string(r.body), `"EXECUTED"`) {
				return fmt.Errorf("node%d: %s", i+1, r.body)
			}
			return nil
		})
	}
	rm := f.Addr.Of(fundchain.RedemptionManager)
	abi := fundchain.ABI(fundchain.RedemptionManager)
	for _, x := range []struct {
		event string
		id    fmt.Stringer
	}{{"RedemptionApproved", approveID}, {"RedemptionRejected", rejectID}, {"RedemptionApproved", rejectID}, {"RedemptionRejected", approveID}} {
		logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{rm},
			Topics: [][]common.Hash{{abi.Events[x.event].ID}, {common.BigToHash(x.id.(*big.Int))}}})
		want := 1
		if (x.event == "RedemptionApproved") != (x.id == fmt.Stringer(approveID)) {
			want = 0
		}
		if err != nil || len(logs) != want {
			t.Fatalf("%s for %s: %d logs (%v), want %d", x.event, x.id, len(logs), err, want)
		}
	}
	r := c.do(f1, "GET", "/v1/executor/transactions", adminToken, nil)
	if n := strings.Count(string(r.body), `"state":"CONFIRMED"`) + strings.Count(string(r.body), `"state":"MINED"`); n < 2 || !strings.Contains(string(r.body), `"reference":"redemption-`) {
		t.Fatalf("executor transactions: %s", r.body)
	}

	// The stopped node comes back; a third ticket reaches its quorum and the leader is cut off
	// from the others at once (its Raft connections dropped, as a kill -9 looks to them; it
	// still reaches the chain, so a recorded intent may be sent by it and by the new leader:
	// the same bytes). One RedemptionApproved, the ticket EXECUTED on the majority.
	c.start(l)
	third, _, err := f.RequestRedemption(ctx, user, fundchain.E18(110_000), fundchain.ChannelStandard)
	if err != nil {
		t.Fatal(err)
	}
	c.sameOnEvery(ticket(third), adminToken, 0, func(m map[string]any) error {
		if m["status"] != "PENDING" {
			return fmt.Errorf("ticket %v", m)
		}
		return nil
	})
	l2 := c.waitLeader(20 * time.Second)
	g1, g2 := (l2+1)%3, (l2+2)%3
	decide(g1, third, annToken, "approve", `{}`, "PARTIALLY_APPROVED")
	decide(g2, third, benToken, "approve", `{}`, "APPROVED")
	c.nets[l2].SetCut(true)
	defer c.nets[l2].SetCut(false)
	c.waitLeaderAmong(l2, 30*time.Second)
	for _, i := range []int{g1, g2} {
		checkFor(t, 30*time.Second, func() error {
			r := c.do(i, "GET", ticket(third), adminToken, nil)
			if !strings.Contains(string(r.body), `"EXECUTED"`) {
				return fmt.Errorf("node%d: %s", i+1, r.body)
			}
			return nil
		})
	}
	logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{rm},
		Topics: [][]common.Hash{{abi.Events["RedemptionApproved"].ID}, {common.BigToHash(third)}}})
	if err != nil || len(logs) != 1 {
		t.Fatalf("RedemptionApproved for %s after the cut: %d logs (%v), want 1", third, len(logs), err)
	}
}

// TestApprovedTicketWakesExecutor: with the executor's Poll at an hour, a ticket turning
// APPROVED still has its approveRedemption sent and mined within seconds: the applied decision
// wakes the executor (executorWaker), the poll is only the fallback.
func TestApprovedTicketWakesExecutor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 7), fundchain.DerivedKey("executor", 7), fundchain.DerivedKey("user", 7)
	sim, client := startFundSim(t, ctx, 7, admin, exec, user)
	f, keyFile := deployFund(t, ctx, client, admin, exec)

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	fundNodeConfig(cfg, f, sim.URL(), keyFile)
	cfg.Approvals.DefaultRequired, cfg.Approvals.LargeRequired = 1, 1
	cfg.Auth.Tokens = append(cfg.Auth.Tokens, config.Token{Name: "ann", Role: "approver", SHA256: tokenSum(annToken)})
	c.opts[0].ExecutorPoll = time.Hour
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)

	id := requestRedemptions(t, ctx, f, user, 150_000)[0]
	ticket := "/v1/approvals/redemption-" + id.String()
	checkFor(t, 20*time.Second, func() error {
		if r := c.do(0, "GET", ticket, adminToken, nil); r.status != 200 || r.json(t)["status"] != "PENDING" {
			return fmt.Errorf("ticket: %d %s", r.status, r.body)
		}
		return nil
	})
	checkFor(t, 10*time.Second, func() error {
		if r := c.do(0, "POST", ticket+"/approve", annToken, []byte(`{}`)); r.status != 200 || r.json(t)["status"] != "APPROVED" {
			return fmt.Errorf("approve: %d %s", r.status, r.body)
		}
		return nil
	})
	approved := time.Now()
	ev := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"]
	checkFor(t, 10*time.Second, func() error {
		logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{f.Addr.Of(fundchain.RedemptionManager)},
			Topics: [][]common.Hash{{ev.ID}, {common.BigToHash(id)}}})
		if err != nil || len(logs) != 1 {
			return fmt.Errorf("%d RedemptionApproved logs (%v)", len(logs), err)
		}
		return nil
	})
	t.Logf("quorum to mined: %s (Poll 1h)", time.Since(approved).Round(time.Millisecond))
}
