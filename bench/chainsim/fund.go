package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/bench/internal/benchkit"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
)

// fundOptions are the -fund-contracts mode's flags: the fund's Solidity contracts deployed on
// the chain and driven by users, instead of the emitters' generated events.
type fundOptions struct {
	enabled        bool
	approvalShare  float64
	users          int
	userRate       float64
	threshold      float64 // whole USDT
	settleDelay    time.Duration
	executorKeyOut string
}

// validate checks the mode's flags against the others; explicit holds the flags given.
func (f *fundOptions) validate(o *options, explicit map[string]bool) error {
	if !f.enabled {
		for _, name := range []string{"approval-share", "users", "user-rate", "approval-threshold", "settlement-delay", "executor-key-out"} {
			if explicit[name] {
				return fmt.Errorf("-%s needs -fund-contracts", name)
			}
		}
		return nil
	}
	switch {
	case explicit["rate"]:
		return errors.New("-rate sets the emitters' generated events; with -fund-contracts the users act at -user-rate")
	case o.sim.ReorgEvery > 0:
		return errors.New("-reorg-every cannot be combined with -fund-contracts (a reorg would drop the users' transactions)")
	case !(f.approvalShare >= 0 && f.approvalShare <= 1):
		return errors.New("-approval-share must be within 0..1")
	case f.users < 1:
		return errors.New("-users must be at least 1")
	case !(f.userRate >= 0) || math.IsInf(f.userRate, 0):
		return errors.New("-user-rate must be ≥ 0")
	case !(f.threshold >= 0) || f.threshold > 1e15:
		return errors.New("-approval-threshold must be within 0..1e15 USDT")
	case f.settleDelay < 0:
		return errors.New("-settlement-delay must not be negative")
	}
	o.sim.Rate = 0 // the emitters stay silent: the node ingests the deployed contracts
	return nil
}

// params are the deployment's parameters: the fund's defaults with the threshold and the
// compressed settlement times of the flags (a tenth of the delay for emergencies, windows of
// the delay for scheduled requests).
func (f *fundOptions) params() fundchain.Params {
	p := fundchain.DefaultParams()
	// Exact: 100000 is 100,000 × 10^18, not float64's nearest neighbour of it.
	th := new(big.Rat).Mul(new(big.Rat).SetFloat64(f.threshold), new(big.Rat).SetInt(fundchain.E18(1)))
	p.ApprovalThreshold = new(big.Int).Quo(th.Num(), th.Denom())
	p.StandardDelay = f.settleDelay.Truncate(time.Second)
	p.EmergencyDelay = (f.settleDelay / 10).Truncate(time.Second)
	p.WindowLength = max(f.settleDelay.Truncate(time.Second), time.Second)
	return p
}

func (f *fundOptions) driverConfig(seed int64) fundchain.DriverConfig {
	return fundchain.DriverConfig{Users: f.users, Seed: seed, RequestShare: 0.5, ApprovalShare: f.approvalShare}
}

// fundKeys are the development keys of the mode, derived from -seed.
type fundKeys struct{ admin, executor *ecdsa.PrivateKey }

func newFundKeys(seed int64) fundKeys {
	return fundKeys{admin: fundchain.DerivedKey("admin", seed), executor: fundchain.DerivedKey("executor", seed)}
}

// accounts are the addresses funded at genesis: the admin, the executor and the users.
func (f *fundOptions) accounts(k fundKeys, seed int64) []common.Address {
	out := []common.Address{crypto.PubkeyToAddress(k.admin.PublicKey), crypto.PubkeyToAddress(k.executor.PublicKey)}
	for _, u := range fundchain.UserKeys(f.driverConfig(seed)) {
		out = append(out, crypto.PubkeyToAddress(u.PublicKey))
	}
	return out
}

// fundRun is the mode running on a started chain.
type fundRun struct {
	client *ethclient.Client
	fund   *fundchain.Fund
	driver *fundchain.Driver
	keys   fundKeys
	rate   float64
	budget float64
	last   time.Time
}

// startFund deploys the contracts from the admin, grants the executor its role and prepares
// the users.
func startFund(ctx context.Context, sim *chainsim.Sim, o *options, k fundKeys) (*fundRun, error) {
	client, err := ethclient.DialContext(ctx, sim.URL())
	if err != nil {
		return nil, err
	}
	chain := &fundchain.Chain{Backend: client, Poll: min(o.sim.BlockInterval/4, 100*time.Millisecond)}
	f, err := fundchain.Deploy(ctx, chain, k.admin, o.fund.params())
	if err != nil {
		client.Close()
		return nil, err
	}
	if err := f.GrantExecutor(ctx, k.admin, crypto.PubkeyToAddress(k.executor.PublicKey)); err != nil {
		client.Close()
		return nil, err
	}
	d, err := fundchain.NewDriver(f, o.fund.driverConfig(o.sim.Seed))
	if err != nil {
		client.Close()
		return nil, err
	}
	return &fundRun{client: client, fund: f, driver: d, keys: k, rate: o.fund.userRate, last: time.Now()}, nil
}

// step sends the user actions owed since the last step (at most a hundred at once).
func (r *fundRun) step(ctx context.Context, now time.Time) error {
	r.budget = min(r.budget+r.rate*now.Sub(r.last).Seconds(), 100)
	r.last = now
	n := int(r.budget)
	r.budget -= float64(n)
	return r.driver.Step(ctx, n)
}

func (r *fundRun) close() { r.client.Close() }

// executorSection is the [executor] section of the config written.
func executorSection(keyFile string) string {
	return fmt.Sprintf("\n# The executor's account (issue 12; the leader's executor sends with it):\n"+
		"# a development key derived from -seed, funded at genesis, with the executor role on the vault,\n"+
		"# the redemption manager and the asset controller.\n[executor]\nkey_file = %q\nchain_id = %d\n", keyFile, chainsim.ChainID)
}

// writeExecutorKey writes the executor's key (hex, mode 0600) and returns its absolute path,
// which the config names so that the node finds it from any folder.
func writeExecutorKey(path string, key *ecdsa.PrivateKey) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := crypto.SaveECDSA(abs, key); err != nil {
		return "", fmt.Errorf("-executor-key-out: %w", err)
	}
	return abs, nil
}

// printFund prints the deployment.
func (r *fundRun) printFund(o *options) {
	f := r.fund
	fmt.Println("fund contracts (deployed; the node ingests these):")
	for _, c := range f.ContractConfigs() {
		fmt.Printf("  %-12s %-19s %s\n", c.Name, c.Kind, c.Address)
	}
	fmt.Printf("  %-12s %-19s %s\n", "usdt", "(stablecoin)", f.Addr.USDT.Hex())
	for i, a := range f.Addr.Assets {
		s := f.Params.Assets[i]
		fmt.Printf("  %-12s %-19s %s\n", s.Symbol, fmt.Sprintf("(asset, tier L%d)", s.Tier+1), a.Hex())
	}
	fmt.Printf("admin: %s\n", f.Admin.Hex())
	fmt.Printf("executor: %s (role granted on vault, redemptions, assets)\n", crypto.PubkeyToAddress(r.keys.executor.PublicKey).Hex())
	fmt.Printf("users: %d at %g actions/s, half of them redemption requests, %.0f %% of those at or above the approval threshold of %s USDT\n",
		o.fund.users, o.fund.userRate, 100*o.fund.approvalShare, benchkit.Thousands(int(o.fund.threshold)))
	fmt.Printf("settlement: standard %s after the request, emergency %s, scheduled windows of %s\n",
		f.Params.StandardDelay, f.Params.EmergencyDelay, f.Params.WindowLength)
}

func (r *fundRun) progress() string {
	st := r.driver.Stats()
	s := fmt.Sprintf("users: %d txs sent, %d deposits, %d requests (%d need approval), %d reverted, %d in flight",
		st.Sent, st.Deposits, st.Requests, st.NeedApproval, st.Reverted, st.PendingTxs)
	if st.LastError != "" {
		s += "; last error: " + st.LastError
	}
	return s
}
