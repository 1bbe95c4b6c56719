package fundchain

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"paimon/chainlog"
	"paimon/internal/chainsim"
)

func key(t *testing.T, name string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("fundchain test " + name)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type testChain struct {
	backend                      *simulated.Backend
	chain                        *Chain
	admin, executor, user, user2 *ecdsa.PrivateKey
}

// newTestChain starts go-ethereum's simulated backend with four funded accounts; every
// transaction is mined at once (Commit).
func newTestChain(t *testing.T) *testChain {
	t.Helper()
	tc := &testChain{admin: key(t, "admin"), executor: key(t, "executor"), user: key(t, "user"), user2: key(t, "user2")}
	alloc := types.GenesisAlloc{}
	for _, k := range []*ecdsa.PrivateKey{tc.admin, tc.executor, tc.user, tc.user2} {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	}
	tc.backend = simulated.NewBackend(alloc)
	t.Cleanup(func() { tc.backend.Close() })
	tc.chain = &Chain{Backend: tc.backend.Client(), Commit: func() { tc.backend.Commit() }}
	return tc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// decodeAll reads every log of the four fund contracts from genesis and decodes it as a node
// configured with ContractConfigs would: any skip or invalid log fails the test.
func decodeAll(t *testing.T, ctx context.Context, f *Fund) []chainlog.Event {
	t.Helper()
	reg, err := f.Registry()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := f.Backend.(ethereum.LogFilterer).FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: reg.Addresses(),
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]chainlog.Event, 0, len(logs))
	for i := range logs {
		raw := chainsim.RawLog(&logs[i])
		ev, err := reg.Decode(&raw)
		if err != nil {
			t.Fatalf("log %d (%s, topic %s): %v", i, logs[i].Address, logs[i].Topics[0], err)
		}
		if _, err := ev.Spec(); err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func arg(ev *chainlog.Event, name string) *chainlog.Arg {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return &ev.Args[i]
		}
	}
	return nil
}

// eventsOf decodes the fund logs of one receipt, in order.
func eventsOf(t *testing.T, f *Fund, r *types.Receipt) []chainlog.Event {
	t.Helper()
	reg, err := f.Registry()
	if err != nil {
		t.Fatal(err)
	}
	var out []chainlog.Event
	for _, l := range r.Logs {
		if _, ok := reg.ContractName(l.Address); !ok {
			continue // a token's own Transfer
		}
		raw := chainsim.RawLog(l)
		ev, err := reg.Decode(&raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func names(evs []chainlog.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Name)
	}
	return strings.Join(s, " ")
}

// TestArtifactsMatchEvents checks the compiled ABIs against EVENTS.md: each fund contract
// declares every event of its kind with the same signature and indexed flags, and no other.
func TestArtifactsMatchEvents(t *testing.T) {
	kinds := map[Contract]chainlog.Kind{Vault: chainlog.KindVault, RedemptionManager: chainlog.KindRedemptionManager,
		AssetController: chainlog.KindAssetController, Oracle: chainlog.KindOracle}
	for c, k := range kinds {
		t.Run(c.String(), func(t *testing.T) {
			// NewRegistry refuses an abi_file that lacks an event of the kind or declares it
			// with other types or indexed flags.
			if _, err := chainlog.NewRegistry([]chainlog.ContractConfig{{Name: "c", Kind: k.String(), Address: "0x0000000000000000000000000000000000000001", ABI: ABIJSON(c)}}); err != nil {
				t.Fatal(err)
			}
			want := map[common.Hash]string{}
			for _, s := range chainlog.Specs() {
				if s.Kind != k {
					continue
				}
				types := make([]string, len(s.Args))
				for i, a := range s.Args {
					types[i] = a.Type.String()
				}
				want[crypto.Keccak256Hash([]byte(s.Name+"("+strings.Join(types, ",")+")"))] = s.Name
			}
			for name, ev := range ABI(c).Events {
				if _, ok := want[ev.ID]; !ok {
					t.Errorf("event %s (%s) is not in EVENTS.md for kind %s", name, ev.Sig, k)
				}
			}
			if len(ABI(c).Events) != len(want) {
				t.Errorf("%d events, EVENTS.md has %d", len(ABI(c).Events), len(want))
			}
		})
	}
}

// TestRedemptionLifecycle deploys the fund, grants the executor role and walks a redemption
// over the approval threshold through request, approval and settlement, with the executor's
// functions refused to anyone else.
func TestRedemptionLifecycle(t *testing.T) {
	tc := newTestChain(t)
	ctx := testCtx(t)
	f, err := Deploy(ctx, tc.chain, tc.admin, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	exec := crypto.PubkeyToAddress(tc.executor.PublicKey)
	if err := f.GrantExecutor(ctx, tc.admin, exec); err != nil {
		t.Fatal(err)
	}
	if err := f.Faucet(ctx, tc.user, E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	r, err := f.Deposit(ctx, tc.user, E18(500_000))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(eventsOf(t, f, r)); got != "Transfer Deposit" {
		t.Fatalf("deposit emits %s", got)
	}

	// Over the threshold: requiresApproval.
	id, r, err := f.RequestRedemption(ctx, tc.user, E18(150_000), ChannelStandard)
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsOf(t, f, r)
	if got := names(evs); got != "SharesLocked RedemptionRequested" {
		t.Fatalf("request emits %s", got)
	}
	req := &evs[1]
	if !arg(req, "requiresApproval").Bool || arg(req, "lockedAmount").Uint.ToBig().Cmp(E18(150_000)) != 0 || arg(req, "requestId").Uint.ToBig().Cmp(id) != 0 {
		t.Fatalf("RedemptionRequested %+v", req.Args)
	}
	// Below it: no approval.
	small, r, err := f.RequestRedemption(ctx, tc.user, E18(10_000), ChannelEmergency)
	if err != nil {
		t.Fatal(err)
	}
	if ev := eventsOf(t, f, r)[1]; arg(&ev, "requiresApproval").Bool {
		t.Fatal("a request below the threshold requires approval")
	}

	// The executor's functions revert for anyone else: refused at estimation with the
	// reason, and mined as failed when sent anyway.
	for _, k := range []*ecdsa.PrivateKey{tc.user, tc.admin} {
		_, err := f.ApproveRedemption(ctx, k, id)
		if !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "caller is not an executor") {
			t.Fatalf("approve by a non-executor: %v", err)
		}
	}
	tx := f.CallTx(RedemptionManager, "approveRedemption", id)
	tx.Gas = 200_000
	sent, err := tc.chain.Send(ctx, tc.user, tx)
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := tc.chain.Wait(ctx, sent.Hash()); !errors.Is(err, ErrReverted) || rc == nil || len(rc.Logs) != 0 {
		t.Fatalf("a sent approval by a non-executor: %v", err)
	}
	if _, err := f.SettleRedemption(ctx, tc.user, small); !errors.Is(err, ErrReverted) {
		t.Fatalf("settle by a non-executor: %v", err)
	}
	if _, err := f.BatchSettleRedemptions(ctx, tc.user, 10); !errors.Is(err, ErrReverted) {
		t.Fatalf("batch settle by a non-executor: %v", err)
	}

	// Not due yet, and the large one needs approval first.
	if _, err := f.SettleRedemption(ctx, tc.executor, id); !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "not due") {
		t.Fatalf("settle before approval: %v", err)
	}
	r, err = f.ApproveRedemption(ctx, tc.executor, id)
	if err != nil {
		t.Fatal(err)
	}
	evs = eventsOf(t, f, r)
	if names(evs) != "RedemptionApproved" || arg(&evs[0], "approver").Address != exec {
		t.Fatalf("approve emits %s %+v", names(evs), evs)
	}
	if _, err := f.ApproveRedemption(ctx, tc.executor, id); !errors.Is(err, ErrReverted) {
		t.Fatalf("approving twice: %v", err)
	}
	if _, err := f.SettleRedemption(ctx, tc.executor, id); !errors.Is(err, ErrReverted) {
		t.Fatalf("settle before the settlement time: %v", err)
	}

	// T+7 later both are due: one settles alone, the batch takes the other.
	tc.backend.Commit() // AdjustTime wants an empty pending block
	if err := tc.backend.AdjustTime(7*24*time.Hour + time.Minute); err != nil {
		t.Fatal(err)
	}
	tc.backend.Commit()
	r, err = f.SettleRedemption(ctx, tc.executor, id)
	if err != nil {
		t.Fatal(err)
	}
	evs = eventsOf(t, f, r)
	if got := names(evs); got != "RedemptionSettled SharesBurned Transfer RedemptionFeeAdded" {
		t.Fatalf("settle emits %s", got)
	}
	if gross, fee, net := arg(&evs[0], "grossAmount").Uint.ToBig(), arg(&evs[0], "fee").Uint.ToBig(), arg(&evs[0], "netAmount").Uint.ToBig(); gross.Cmp(E18(150_000)) != 0 || fee.Cmp(E18(150)) != 0 || new(big.Int).Add(fee, net).Cmp(gross) != 0 {
		t.Fatalf("settled gross %s fee %s net %s", gross, fee, net)
	}
	r, err = f.BatchSettleRedemptions(ctx, tc.executor, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(eventsOf(t, f, r)); got != "RedemptionSettled SharesBurned Transfer RedemptionFeeAdded" {
		t.Fatalf("batch settle emits %s", got)
	}
	for _, x := range []*big.Int{id, small} {
		q, err := f.Request(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != StatusSettled {
			t.Fatalf("request %s status %d", x, q.Status)
		}
	}
	if l, err := f.Uint(ctx, RedemptionManager, "totalLiability"); err != nil || l.Sign() != 0 {
		t.Fatalf("liability %v %v", l, err)
	}
	if got, err := f.Uint(ctx, Vault, "balanceOf", crypto.PubkeyToAddress(tc.user.PublicKey)); err != nil || got.Cmp(E18(340_000)) != 0 {
		t.Fatalf("shares left %v %v", got, err)
	}
	decodeAll(t, ctx, f)
}

// TestEveryEvent drives every function that emits an event and decodes every log of the
// fund's contracts with chainlog: each event of EVENTS.md appears, and none is skipped.
func TestEveryEvent(t *testing.T) {
	tc := newTestChain(t)
	ctx := testCtx(t)
	p := DefaultParams()
	p.StandardDelay = 0
	f, err := Deploy(ctx, tc.chain, tc.admin, p)
	if err != nil {
		t.Fatal(err)
	}
	user2 := crypto.PubkeyToAddress(tc.user2.PublicKey)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, f.GrantExecutor(ctx, tc.admin, crypto.PubkeyToAddress(tc.executor.PublicKey)))
	must(nil, f.Faucet(ctx, tc.user, E18(2_000_000)))
	must(f.Deposit(ctx, tc.user, E18(1_000_000)))
	must(f.Exec(ctx, tc.user, Vault, "transfer", user2, E18(1_000)))
	must(f.Exec(ctx, tc.user, Vault, "withdraw", E18(1_000), crypto.PubkeyToAddress(tc.user.PublicKey), crypto.PubkeyToAddress(tc.user.PublicKey)))
	must(f.Exec(ctx, tc.executor, Vault, "updateNav", new(big.Int).Div(E18(101), big.NewInt(100))))

	a, _, err := f.RequestRedemption(ctx, tc.user, E18(200_000), ChannelStandard)
	must(nil, err)
	must(f.RejectRedemption(ctx, tc.executor, a, "compliance review"))
	b, _, err := f.RequestRedemption(ctx, tc.user, E18(1_000), ChannelScheduled)
	must(nil, err)
	must(f.Exec(ctx, tc.user, RedemptionManager, "cancelRedemption", b))
	c, _, err := f.RequestRedemption(ctx, tc.user, E18(2_000), ChannelStandard)
	must(nil, err)
	must(f.SettleRedemption(ctx, tc.executor, c))
	must(f.Exec(ctx, tc.admin, Vault, "withdrawRedemptionFees", f.Admin, big.NewInt(1)))
	d, _, err := f.RequestRedemption(ctx, tc.user, E18(150_000), ChannelEmergency)
	must(nil, err)
	must(f.ApproveRedemption(ctx, tc.executor, d))

	// Invest almost all the cash: the liquidity check raises a critical alert; sell some
	// back: a low-liquidity one.
	must(f.PurchaseAsset(ctx, tc.executor, 1, E18(400_000)))
	must(f.PurchaseAsset(ctx, tc.executor, 2, E18(560_000)))
	must(f.Exec(ctx, tc.executor, RedemptionManager, "checkLiquidity"))
	must(f.RedeemAsset(ctx, tc.executor, 1, E18(100_000)))
	must(f.Exec(ctx, tc.executor, RedemptionManager, "checkLiquidity"))
	must(f.Exec(ctx, tc.executor, AssetController, "waterfallLiquidation", f.Addr.Assets[2], E18(100)))
	must(f.Exec(ctx, tc.admin, AssetController, "updateAllocation", f.Addr.Assets[0], big.NewInt(5000)))
	must(f.Exec(ctx, tc.admin, AssetController, "removeAsset", f.Addr.Assets[0]))
	must(f.Exec(ctx, tc.admin, AssetController, "collectManagementFee", E18(100), big.NewInt(3600), f.Admin))
	must(f.Exec(ctx, tc.admin, AssetController, "collectPerformanceFee", E18(10), E18(100), E18(1), f.Admin))
	must(f.Exec(ctx, tc.admin, Vault, "setEmergencyMode", true))
	if _, err := f.Deposit(ctx, tc.user, E18(1)); !errors.Is(err, ErrReverted) {
		t.Fatalf("deposit in emergency mode: %v", err)
	}

	evs := decodeAll(t, ctx, f)
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Name]++
	}
	var missing []string
	for _, s := range chainlog.Specs() {
		if seen[s.Name] == 0 {
			missing = append(missing, s.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("events never emitted: %v (seen %v)", missing, seen)
	}
	// Every log of the fund's addresses is one the registry knows.
	all, err := f.Backend.(ethereum.LogFilterer).FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0)})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := f.Registry()
	n := 0
	for _, l := range all {
		if _, ok := reg.ContractName(l.Address); ok {
			n++
		}
	}
	if n != len(evs) {
		t.Fatalf("%d fund logs, %d decoded", n, len(evs))
	}

	// The vault's totalAssets is the books' formula: cash + invested - liability - fees.
	ta, err := f.Uint(ctx, Vault, "totalAssets")
	must(nil, err)
	if ta.Sign() <= 0 {
		t.Fatalf("totalAssets %s", ta)
	}
}

// TestArtifactsUpToDate checks that the committed artifacts were built from the contracts as
// they are: a .sol changed without `go generate ./internal/fundchain` fails here.
func TestArtifactsUpToDate(t *testing.T) {
	sums, err := artifactFS.ReadFile("artifacts/SOURCES.sha256")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("SOURCES.sha256: bad line %q", line)
		}
		want[f[1]] = f[0]
	}
	files, err := filepath.Glob("../../contracts/*.sol")
	if err != nil || len(files) == 0 {
		t.Fatalf("no contracts/*.sol: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != want[name] {
			t.Errorf("%s changed since the artifacts were built: run go generate ./internal/fundchain", name)
		}
		delete(want, name)
	}
	for name := range want {
		t.Errorf("the artifacts were built from %s, which is gone: run go generate ./internal/fundchain", name)
	}
}

// TestBatchSettleSkipsWhatCashCannotPay: a batch settles the due requests the vault's cash can
// pay, oldest first, and leaves the others open instead of reverting. After the first
// settlement the vault has 500 USDT available: the fee of the first (1,000) stays in the vault
// but is reserved as redemption fees, so the second (net 999) must wait.
func TestBatchSettleSkipsWhatCashCannotPay(t *testing.T) {
	tc := newTestChain(t)
	ctx := testCtx(t)
	p := DefaultParams()
	p.StandardDelay, p.EmergencyDelay = 0, 0
	f, err := Deploy(ctx, tc.chain, tc.admin, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.GrantExecutor(ctx, tc.admin, crypto.PubkeyToAddress(tc.executor.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if err := f.Faucet(ctx, tc.user, E18(300_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, tc.user, E18(300_000)); err != nil {
		t.Fatal(err)
	}
	first, _, err := f.RequestRedemption(ctx, tc.user, E18(99_999), ChannelEmergency) // fee 1 %
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := f.RequestRedemption(ctx, tc.user, E18(1_000), ChannelStandard)
	if err != nil {
		t.Fatal(err)
	}
	// Leave 99,999 + 500 available.
	if _, err := f.PurchaseAsset(ctx, tc.executor, 0, E18(300_000-99_999-500)); err != nil {
		t.Fatal(err)
	}
	r, err := f.BatchSettleRedemptions(ctx, tc.executor, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(eventsOf(t, f, r)); got != "RedemptionSettled SharesBurned Transfer RedemptionFeeAdded" {
		t.Fatalf("batch emits %s", got)
	}
	for id, want := range map[*big.Int]uint8{first: StatusSettled, second: StatusPending} {
		q, err := f.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != want {
			t.Errorf("request %s: status %d, want %d", id, q.Status, want)
		}
	}
	if _, err := f.SettleRedemption(ctx, tc.executor, second); !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "insufficient liquidity") {
		t.Fatalf("settling what the cash cannot pay: %v", err)
	}
}
