package console_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/config"
	"paimon/fund/fundtest"
	"paimon/ingest"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
	"paimon/internal/testutil"
	"paimon/node"
)

const (
	adminToken    = "console-admin-token-0123456789"
	operatorToken = "console-operator-token-0123456789"
	viewerToken   = "console-viewer-token-0123456789"
)

func tokenSum(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// env is one node with a year of generated history (posted as logs of their own contracts,
// in blocks before the chain's; without it when newEnv is told so) and the fund's real
// contracts on chainsim's chain, ingested and executed against: what the console shows and
// acts on.
type env struct {
	t         *testing.T
	ctx       context.Context
	node      *node.Node
	url       string
	sim       *chainsim.Sim
	client    *ethclient.Client
	f         *fundchain.Fund
	user      *ecdsa.PrivateKey
	approvers [2]*ecdsa.PrivateKey
	year      *fundtest.Data // nil without the history
}

// yearOffset is added to the generated redemptions' ids: the chain's redemption manager
// numbers its own from 1.
const yearOffset = 1_000_000

// newEnv starts the chain, deploys the fund and starts the node; withYear posts the generated
// year first (its assets are not the chain's: a rebalancing plan on those books would trade
// tokens the chain's asset controller does not hold, so the rebalancing test goes without).
// Both end with a live deposit of 500,000 on chain.
func newEnv(t *testing.T, ctx context.Context, withYear bool) *env {
	e := &env{t: t, ctx: ctx}
	admin, exec := fundchain.DerivedKey("admin", 16), fundchain.DerivedKey("executor", 16)
	e.user = fundchain.DerivedKey("user", 16)
	e.approvers = [2]*ecdsa.PrivateKey{fundchain.DerivedKey("approver-a", 16), fundchain.DerivedKey("approver-b", 16)}

	// The history: a generated year ending a day ago, its blocks renumbered one per day from 1
	// (so that the chain, mined past them first, continues after them).
	days := 0
	if withYear {
		e.year = fundtest.Generate(fundtest.Spec{Seed: 16, Holders: 120, NavHours: 8760, Redemptions: 40})
		days = renumber(e.year.Events, time.Now().Add(-24*time.Hour).Unix())
	}

	scfg := chainsim.DefaultConfig()
	scfg.BlockInterval, scfg.Rate, scfg.Seed = 50*time.Millisecond, 0, 16
	for _, k := range []*ecdsa.PrivateKey{admin, exec, e.user} {
		scfg.Accounts = append(scfg.Accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.sim = sim
	if head, _ := sim.Head(); head <= uint64(days) {
		if err := sim.Mine(ctx, days+1-int(head)); err != nil {
			t.Fatal(err)
		}
	}
	if e.client, err = ethclient.DialContext(ctx, sim.URL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.client.Close)
	if e.f, err = fundchain.Deploy(ctx, &fundchain.Chain{Backend: e.client}, admin, fundchain.DefaultParams()); err != nil {
		t.Fatal(err)
	}
	if err := e.f.GrantExecutor(ctx, admin, crypto.PubkeyToAddress(exec.PublicKey)); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "executor.key")
	if err := crypto.SaveECDSA(keyFile, exec); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.Node.ID, cfg.Node.DataDir = "node1", t.TempDir()
	cfg.HTTP.Addr, cfg.Raft.BindAddr = testutil.FreeAddr(t), testutil.FreeAddr(t)
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	cfg.Cluster.Secret = "console-test-cluster-secret-0123"
	cfg.Auth.Tokens = []config.Token{
		{Name: "root", Role: "admin", SHA256: tokenSum(adminToken)},
		{Name: "ops", Role: "operator", SHA256: tokenSum(operatorToken)},
		{Name: "dash", Role: "viewer", SHA256: tokenSum(viewerToken)},
	}
	for _, k := range e.approvers {
		cfg.Auth.Wallets = append(cfg.Auth.Wallets, config.Wallet{Address: addrOf(k), Role: "approver"})
	}
	cfg.Approvals.DefaultRequired, cfg.Approvals.LargeRequired = 2, 2
	cfg.Approvals.TickInterval = 100 * time.Millisecond
	cfg.Approvals.RequireSignature = true
	cfg.Ingest.ChainID, cfg.Ingest.RPCURLs, cfg.Ingest.Confirmations = chainsim.ChainID, []string{sim.URL()}, 2
	cfg.Ingest.PollInterval, cfg.Ingest.StartBlock = 20*time.Millisecond, 0
	cfg.Ingest.ReorderWindowBlocks = 1_000_000 // the history is posted after the chain's first blocks
	cfg.Ingest.Contracts = nil
	// The history's contracts, then the chain's, which the executor sends to.
	if withYear {
		for _, ct := range fundtest.Contracts() {
			cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: "history-" + ct.Name, Kind: ct.Kind, Address: ct.Address})
		}
	}
	for _, ct := range e.f.ContractConfigs() {
		cfg.Ingest.Contracts = append(cfg.Ingest.Contracts, ingest.Contract{Name: ct.Name, Kind: ct.Kind, Address: ct.Address})
	}
	cfg.Executor.KeyFile = keyFile
	cfg.Executor.RedemptionManager, cfg.Executor.AssetController = "redemptions", "assets" // not the history's
	cfg.Log.Level = "warn"
	n, err := node.New(cfg, testutil.Logger(t, "node1", slog.LevelWarn), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.Close(cctx)
	})
	e.node, e.url = n, "http://"+cfg.HTTP.Addr
	testutil.CheckFor(t, 20*time.Second, func() error {
		var st struct {
			ClusterVersion string `json:"clusterVersion"`
			Leader         string `json:"leader"`
		}
		if err := e.get("/v1/cluster/status", adminToken, &st); err != nil {
			return err
		}
		if st.Leader == "" || st.ClusterVersion != "0.2" {
			return fmt.Errorf("cluster status %+v", st)
		}
		return nil
	})

	// The year, then a live deposit.
	if withYear {
		logs, err := fundtest.EncodeAll(e.year.Events)
		if err != nil {
			t.Fatal(err)
		}
		bodies, err := fundtest.RequestBodies(logs, 900<<10)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bodies {
			if err := e.do("POST", "/v1/admin/logs", adminToken, b, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.f.Faucet(ctx, e.user, fundchain.E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Deposit(ctx, e.user, fundchain.E18(500_000)); err != nil {
		t.Fatal(err)
	}
	return e
}

// requestRedemption asks for a redemption over the approval threshold and waits for its ticket.
func (e *env) requestRedemption(shares int64) string {
	id, _, err := e.f.RequestRedemption(e.ctx, e.user, fundchain.E18(shares), fundchain.ChannelStandard)
	if err != nil {
		e.t.Fatal(err)
	}
	ticket := "redemption-" + id.String()
	testutil.CheckFor(e.t, 20*time.Second, func() error {
		var tk struct{ Status string }
		if err := e.get("/v1/approvals/"+ticket, adminToken, &tk); err != nil {
			return err
		}
		if tk.Status != "PENDING" {
			return fmt.Errorf("ticket %s is %s", ticket, tk.Status)
		}
		return nil
	})
	return ticket
}

// renumber places the events in blocks 1..days, one block a day, their times shifted so that
// the last one is at end (unix s) (the times in their arguments too); the redemption ids move by
// yearOffset. It returns the
// number of blocks.
func renumber(evs []chainlog.Event, end int64) int {
	shift := end - evs[len(evs)-1].BlockTime
	start := evs[0].BlockTime + shift
	var block, logIndex uint64
	for i := range evs {
		ev := &evs[i]
		ev.BlockTime += shift
		b := uint64((ev.BlockTime-start)/86400) + 1
		if b != block {
			block, logIndex = b, 0
		}
		ev.BlockNumber, ev.LogIndex = b, logIndex
		ev.BlockHash = crypto.Keccak256Hash([]byte(fmt.Sprint("console year block ", b)))
		logIndex++
		for j := range ev.Args {
			a := &ev.Args[j]
			switch a.Name {
			case "requestId":
				a.Uint.Add(&a.Uint, uint256.NewInt(yearOffset))
			case "timestamp", "settlementTime":
				if !a.Uint.IsZero() {
					a.Uint.SetUint64(uint64(int64(a.Uint.Uint64()) + shift))
				}
			}
		}
	}
	return int(block)
}

func addrOf(k *ecdsa.PrivateKey) string {
	return strings.ToLower(crypto.PubkeyToAddress(k.PublicKey).Hex())
}

func (e *env) do(method, path, token string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(e.ctx, method, e.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (e *env) get(path, token string, out any) error { return e.do("GET", path, token, nil, out) }

// amount formats base units as the console does (api.js amount): thousands separators, two
// decimals, truncated.
func amount(s string) string {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return "?" + s
	}
	neg := v.Sign() < 0
	v.Abs(v)
	e18 := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	whole, frac := new(big.Int).QuoRem(v, e18, new(big.Int))
	frac.Mul(frac, big.NewInt(100)).Quo(frac, e18)
	ws := whole.String()
	var b strings.Builder
	for i, c := range ws {
		if i > 0 && (len(ws)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := fmt.Sprintf("%s.%02d", b.String(), frac.Int64())
	if neg {
		out = "-" + out
	}
	return out
}
