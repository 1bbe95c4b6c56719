package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/config"
	"paimon/internal/fundchain"
)

const opsToken = "ops-operator-token-for-cluster-tests"

// TestFailedTicketRetried is an operator's retry on the real contracts: the executor lost its
// role on the redemption manager, so the approved ticket's approveRedemption reverts in the
// simulation: FAILED with the reason, nothing sent, the ticket APPROVED with the failure shown.
// Retries of a pending ticket (409) and by an approver or a viewer (403) are refused and change
// nothing. Once the role is back, an operator retries: one new transaction, mined; the ticket
// EXECUTED; exactly one RedemptionApproved on chain and one transaction from the account. A
// retry of a ticket whose transaction did not fail (just retried, then EXECUTED) is 409. The
// retry is in the trail and the audit log.
func TestFailedTicketRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, exec, user := fundchain.DerivedKey("admin", 12), fundchain.DerivedKey("executor", 12), fundchain.DerivedKey("user", 12)
	sim, client := startFundSim(t, ctx, 12, admin, exec, user)
	f, keyFile := deployFund(t, ctx, client, admin, exec)
	execAddr := crypto.PubkeyToAddress(exec.PublicKey)
	// The cause: the executor's account lost its role on the redemption manager.
	if _, err := f.Exec(ctx, admin, fundchain.RedemptionManager, "setExecutor", execAddr, false); err != nil {
		t.Fatal(err)
	}

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	fundNodeConfig(cfg, f, sim.URL(), keyFile)
	cfg.Approvals.DefaultRequired = 1
	cfg.Auth.Tokens = append(cfg.Auth.Tokens,
		config.Token{Name: "ann", Role: "approver", SHA256: tokenSum(annToken)},
		config.Token{Name: "ops", Role: "operator", SHA256: tokenSum(opsToken)})
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)

	id := requestRedemptions(t, ctx, f, user, 150_000)[0]
	path := "/v1/approvals/redemption-" + id.String()
	type ticketJSON struct {
		Status    string `json:"status"`
		Retries   int    `json:"retries"`
		Execution *struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
			TxHash string `json:"txHash"`
		} `json:"execution"`
		Trail []struct {
			Decision string `json:"decision"`
		} `json:"trail"`
	}
	ticket := func() (tk ticketJSON) {
		t.Helper()
		r := c.do(0, "GET", path, adminToken, nil)
		if err := json.Unmarshal(r.body, &tk); err != nil || r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return tk
	}
	retry := func(token string, want int) response {
		t.Helper()
		r := c.do(0, "POST", path+"/retry", token, []byte(`{"reason":"executor role granted again"}`))
		if r.status != want {
			t.Fatalf("retry: %d %s, want %d", r.status, r.body, want)
		}
		return r
	}
	checkFor(t, 10*time.Second, func() error {
		if r := c.do(0, "GET", path, adminToken, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"PENDING"`) {
			return fmt.Errorf("ticket: %d %s", r.status, r.body)
		}
		return nil
	})
	if r := c.do(0, "POST", path+"/retry", opsToken, nil); r.status != 409 || r.code() != "CONFLICT" {
		t.Fatalf("retry of a pending ticket: %d %s", r.status, r.body)
	}
	if r := c.do(0, "POST", path+"/approve", annToken, []byte(`{"reason":"ok"}`)); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	// The revert: FAILED with the contract's reason, shown on the ticket, which stays APPROVED.
	var failed ticketJSON
	checkFor(t, 20*time.Second, func() error {
		failed = ticket()
		if failed.Status != "APPROVED" || failed.Execution == nil || failed.Execution.Status != "FAILED" || !strings.Contains(failed.Execution.Reason, "revert") {
			return fmt.Errorf("ticket %+v", failed)
		}
		return nil
	})
	rm := f.Addr.Of(fundchain.RedemptionManager)
	approvedLogs := func() int {
		t.Helper()
		ev := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"]
		logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{rm}, Topics: [][]common.Hash{{ev.ID}, {common.BigToHash(id)}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(logs)
	}
	if n, err := client.NonceAt(ctx, execAddr, nil); err != nil || n != 0 || approvedLogs() != 0 {
		t.Fatalf("a reverting simulation sent something: nonce %d (%v), %d logs", n, err, approvedLogs())
	}
	// Refused: an approver and a viewer may not retry (403), nothing changes.
	retry(annToken, 403)
	retry(viewerToken, 403)
	if tk := ticket(); tk.Retries != 0 || len(tk.Trail) != len(failed.Trail) {
		t.Fatalf("a refused retry changed the ticket: %+v", tk)
	}

	// The cause removed, an operator retries: one new transaction, mined, the ticket EXECUTED.
	if _, err := f.Exec(ctx, admin, fundchain.RedemptionManager, "setExecutor", execAddr, true); err != nil {
		t.Fatal(err)
	}
	var retried ticketJSON
	if err := json.Unmarshal(retry(opsToken, 200).body, &retried); err != nil || retried.Status != "APPROVED" || retried.Retries != 1 {
		t.Fatalf("retried: %+v (%v)", retried, err)
	}
	// At once again: the new transaction is not FAILED (or not recorded yet): 409, no change.
	if r := retry(opsToken, 409); r.code() != "CONFLICT" {
		t.Fatalf("second retry: %s", r.body)
	}
	checkFor(t, 30*time.Second, func() error {
		if tk := ticket(); tk.Status != "EXECUTED" || tk.Retries != 1 {
			return fmt.Errorf("ticket %+v", tk)
		}
		return nil
	})
	retry(opsToken, 409) // EXECUTED
	if n := approvedLogs(); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
	if n, err := client.NonceAt(ctx, execAddr, nil); err != nil || n != 1 {
		t.Fatalf("the executor sent %d transactions (%v), want 1", n, err)
	}
	// The executor notes its receipt in its own time (the chain's event may be ingested first).
	ref := "redemption-" + id.String()
	checkFor(t, 20*time.Second, func() error {
		var page struct {
			Items []struct {
				Reference string `json:"reference"`
				State     string `json:"state"`
			} `json:"items"`
		}
		r := c.do(0, "GET", "/v1/executor/transactions?purpose=approve", adminToken, nil)
		if err := json.Unmarshal(r.body, &page); err != nil || len(page.Items) != 2 {
			return fmt.Errorf("transactions: %s", r.body)
		}
		states := map[string]string{}
		for _, it := range page.Items {
			states[it.Reference] = it.State
		}
		if states[ref] != "FAILED" || (states[ref+"/retry-1"] != "MINED" && states[ref+"/retry-1"] != "CONFIRMED") {
			return fmt.Errorf("transactions by reference %v", states)
		}
		return nil
	})
	tk := ticket()
	decisions := make([]string, len(tk.Trail))
	for i, e := range tk.Trail {
		decisions[i] = e.Decision
	}
	if strings.Count(strings.Join(decisions, ","), "RETRY") != 1 {
		t.Fatalf("trail %v", decisions)
	}
	r := c.do(0, "GET", "/v1/audit?action=approval.retry", adminToken, nil)
	if strings.Count(string(r.body), `"actor":"ops"`) != 1 || !strings.Contains(string(r.body), ref+"/retry-1") {
		t.Fatalf("audit of the retry: %s", r.body)
	}
}
