package node

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/ingest"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
)

// TestIngestFundContracts runs a node against the fund's Solidity contracts on the simulated
// chain: a user's redemption over the approval threshold shows PENDING_APPROVAL, turns
// APPROVED only from the executor's on-chain approval and SETTLED from its settlement, and the
// node's books agree with the vault's own totalAssets.
func TestIngestFundContracts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, executor, user := fundchain.DerivedKey("admin", 3), fundchain.DerivedKey("executor", 3), fundchain.DerivedKey("user", 3)
	sim, client := startFundSim(t, ctx, 3, admin, executor, user)
	p := fundchain.DefaultParams()
	p.StandardDelay = 0 // due at once, once approved
	f, err := fundchain.Deploy(ctx, &fundchain.Chain{Backend: client}, admin, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.GrantExecutor(ctx, admin, crypto.PubkeyToAddress(executor.PublicKey)); err != nil {
		t.Fatal(err)
	}

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	cfg.Ingest.ChainID, cfg.Ingest.RPCURLs, cfg.Ingest.Confirmations = chainsim.ChainID, []string{sim.URL()}, 2
	cfg.Ingest.PollInterval, cfg.Ingest.StartBlock = 20*time.Millisecond, 0
	cfg.Ingest.Contracts = nil
	for _, ct := range f.ContractConfigs() {
		cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: ct.Name, Kind: ct.Kind, Address: ct.Address})
	}
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)

	id := requestRedemptions(t, ctx, f, user, 150_000)[0]
	status := func(want string) {
		t.Helper()
		checkFor(t, 20*time.Second, func() error {
			r := c.do(0, "GET", "/v1/redemptions/"+id.String(), viewerToken, nil)
			var red struct {
				Status           string `json:"status"`
				RequiresApproval bool   `json:"requiresApproval"`
			}
			if err := json.Unmarshal(r.body, &red); err != nil || r.status != 200 {
				return fmt.Errorf("GET redemption %s: %d %s", id, r.status, r.body)
			}
			if red.Status != want || !red.RequiresApproval {
				return fmt.Errorf("redemption %s: %+v, want %s", id, red, want)
			}
			return nil
		})
	}
	status("PENDING_APPROVAL")
	if _, err := f.ApproveRedemption(ctx, executor, id); err != nil {
		t.Fatal(err)
	}
	status("APPROVED")
	if _, err := f.SettleRedemption(ctx, executor, id); err != nil {
		t.Fatal(err)
	}
	status("SETTLED")

	// The books reconcile with the vault: the same totalAssets, the NAV the vault prices at.
	want, err := f.Uint(ctx, fundchain.Vault, "totalAssets")
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, func() error {
		var ov struct {
			TotalAssets, ComputedSharePrice, TotalRedemptionLiability string
			NavDriftBps                                               *int64
		}
		r := c.do(0, "GET", "/v1/fund/overview", "", nil)
		if err := json.Unmarshal(r.body, &ov); err != nil {
			return err
		}
		if ov.TotalAssets != want.String() || ov.ComputedSharePrice != "1000000000000000000" || ov.TotalRedemptionLiability != "0" || ov.NavDriftBps == nil || *ov.NavDriftBps != 0 {
			return fmt.Errorf("overview %s, vault totalAssets %s", r.body, want)
		}
		return nil
	})
}
