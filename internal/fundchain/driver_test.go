package fundchain

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/internal/chainsim"
)

// TestDriverOnChainsim deploys the fund on chainsim's served chain while its generator keeps
// emitting, drives users over RPC, approves one large request as the executor, and checks
// that the generator's chain is intact (its outside transactions share the blocks) and that
// every fund log decodes.
func TestDriverOnChainsim(t *testing.T) {
	ctx := testCtx(t)
	admin, executor := DerivedKey("admin", 7), DerivedKey("executor", 7)
	dc := DriverConfig{Users: 8, Seed: 7, RequestShare: 0.7, ApprovalShare: 0.5}
	accounts := []common.Address{crypto.PubkeyToAddress(admin.PublicKey), crypto.PubkeyToAddress(executor.PublicKey)}
	for _, k := range UserKeys(dc) {
		accounts = append(accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	cfg := chainsim.DefaultConfig()
	cfg.BlockInterval, cfg.Rate, cfg.Accounts = 50*time.Millisecond, 40, accounts
	sim, err := chainsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	client, err := ethclient.DialContext(ctx, sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	chain := &Chain{Backend: client}

	f, err := Deploy(ctx, chain, admin, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.GrantExecutor(ctx, admin, accounts[1]); err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(f, dc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for st := d.Stats(); st.NeedApproval < 2 || st.Requests < 6; st = d.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("driver stats after a minute: %+v", st)
		}
		if err := d.Step(ctx, 4); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // a block
	}
	// Collect what is in flight.
	for d.Stats().PendingTxs > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("transactions never mined: %+v", d.Stats())
		}
		time.Sleep(50 * time.Millisecond)
		if err := d.Step(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if st := d.Stats(); st.Reverted != 0 || st.Deposits < st.Requests {
		t.Fatalf("driver stats %+v", st)
	}

	// The executor approves the first request that needs it.
	evs := decodeAll(t, ctx, f)
	var id *big.Int
	approvals, requests := 0, 0
	for i := range evs {
		if evs[i].Name == "RedemptionRequested" {
			requests++
			if arg(&evs[i], "requiresApproval").Bool {
				approvals++
				if id == nil {
					id = arg(&evs[i], "requestId").Uint.ToBig()
				}
			}
		}
	}
	if st := d.Stats(); requests != st.Requests || approvals != st.NeedApproval {
		t.Fatalf("chain has %d requests (%d need approval), driver counted %+v", requests, approvals, st)
	}
	r, err := f.ApproveRedemption(ctx, executor, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(eventsOf(t, f, r)); got != "RedemptionApproved" {
		t.Fatalf("approve emits %s", got)
	}
	// The generator's own logs are all canonical: no block lost a generated transaction.
	if _, err := sim.Canonical(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.LastError != "" {
		t.Fatalf("mining error: %s", st.LastError)
	}
}
