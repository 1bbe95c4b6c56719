package chainsim

import (
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"paimon/config"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
)

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"addr without port": func(c *Config) { c.Addr = "127.0.0.1" },
		"bad port":          func(c *Config) { c.Addr = "127.0.0.1:70000" },
		"negative interval": func(c *Config) { c.BlockInterval = -time.Second },
		"tiny interval":     func(c *Config) { c.BlockInterval = time.Millisecond },
		"negative rate":     func(c *Config) { c.Rate = -1 },
		"every, no depth":   func(c *Config) { c.ReorgEvery = 5 },
		"deeper than kept":  func(c *Config) { c.ReorgDepth = c.History + 1 },
		"no holders":        func(c *Config) { c.Holders = 0 },
		"reorgs and outside transactions": func(c *Config) {
			c.ReorgDepth, c.ReorgEvery, c.Accounts = 2, 5, []common.Address{{1}}
		},
	} {
		c := DefaultConfig()
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := DefaultConfig()
	c.Rate = Flood
	if err := c.Validate(); err != nil {
		t.Errorf("flood: %v", err)
	}
}

// TestBlocksAdvance mines on an interval and follows the chain over HTTP as a node would.
func TestBlocksAdvance(t *testing.T) {
	s := startSim(t, func(c *Config) {
		c.BlockInterval = 50 * time.Millisecond
		c.Rate = 40
	})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("url %q", s.URL())
	}
	c := dial(t, s)
	ctx := testCtx(t)
	id, err := c.ChainID(ctx)
	if err != nil || id.Uint64() != ChainID {
		t.Fatalf("chain id %v, %v", id, err)
	}
	var version string
	if err := c.Client().CallContext(ctx, &version, "net_version"); err != nil || version != fmt.Sprint(ChainID) {
		t.Fatalf("net_version %q, %v", version, err)
	}
	var first uint64
	testutil.CheckFor(t, 10*time.Second, func() error {
		n, err := c.BlockNumber(ctx)
		if err != nil || n < 3 {
			return fmt.Errorf("head %d, %v", n, err)
		}
		first = n
		return nil
	})
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n, err := c.BlockNumber(ctx); err != nil || n < first+5 {
			return fmt.Errorf("head %d, %v (was %d)", n, err, first)
		}
		return nil
	})
	// Consecutive blocks chain by parent hash, times never go back, and events arrive.
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := head.Number.Uint64(); n > 0; n-- {
		parent, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(n-1))
		if err != nil {
			t.Fatal(err)
		}
		if head.ParentHash != parent.Hash() || head.Time <= parent.Time {
			t.Fatalf("block %d does not follow block %d", n, n-1)
		}
		head = parent
	}
	if st := s.Stats(); st.Events == 0 || st.Blocks < 8 || st.LastError != "" {
		t.Fatalf("stats %+v", st)
	}
	// The admin and debug namespaces are not served.
	if err := c.Client().CallContext(ctx, new(any), "admin_nodeInfo"); err == nil {
		t.Error("admin_nodeInfo answered")
	}
}

// TestEveryEvent runs the generator long enough to emit every event of EVENTS.md, decodes the
// canonical logs as a node would (nothing skipped) and checks them for consistency.
func TestEveryEvent(t *testing.T) {
	s := startSim(t, func(c *Config) { c.Rate = 60 })
	ctx := testCtx(t)
	if err := s.Mine(ctx, 40); err != nil {
		t.Fatal(err)
	}
	logs, err := s.Canonical(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if len(logs) != st.Events || len(logs) < 40*60 {
		t.Fatalf("%d logs, %d emitted", len(logs), st.Events)
	}
	evs, err := decodeAll(logs)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := range evs {
		seen[evs[i].Name]++
		if evs[i].BlockTime == 0 {
			t.Fatalf("log %d has no block time", i)
		}
	}
	for _, name := range allEventNames() {
		if seen[name] == 0 {
			t.Errorf("no %s in %d events", name, len(evs))
		}
		if seen[name] != st.ByEvent[name] {
			t.Errorf("%s: %d on chain, %d generated", name, seen[name], st.ByEvent[name])
		}
	}
	t.Logf("%d events: %v", len(evs), seen)
	if err := checkConsistent(evs); err != nil {
		t.Fatal(err)
	}
	// The same logs over HTTP.
	c := dial(t, s)
	viaHTTP, err := c.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: common.Big0, Addresses: Addresses()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameLogs(viaHTTP, logs); err != nil {
		t.Fatal(err)
	}
	// Every transaction succeeded within a gas limit not far above what it used; requests,
	// settlements, cancellations and rejections call the redemption manager.
	for n := int64(1); n <= 40; n++ {
		b, err := c.BlockByNumber(ctx, big.NewInt(n))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := c.BlockReceipts(ctx, rpc.BlockNumberOrHashWithNumber(rpc.BlockNumber(n)))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			tx := b.Transactions()[i]
			if r.Status != types.ReceiptStatusSuccessful || r.GasUsed*3/2 < tx.Gas() {
				t.Fatalf("block %d tx %d: status %d, gas %d of %d", n, i, r.Status, r.GasUsed, tx.Gas())
			}
			if len(r.Logs) > 0 && r.Logs[0].Topics[0] == crypto.Keccak256Hash([]byte("SharesLocked(address,uint256)")) && *tx.To() != fundtest.RedemptionManagerAddress {
				t.Fatalf("block %d tx %d: a redemption request sent to %s", n, i, tx.To())
			}
		}
	}
}

// TestFlood fills blocks: every transaction is mined and succeeds (Canonical checks the count
// against what was emitted), and the base fee does not rise.
func TestFlood(t *testing.T) {
	s := startSim(t, func(c *Config) { c.Rate = Flood })
	ctx := testCtx(t)
	if err := s.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	logs, err := s.Canonical(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 3*500 {
		t.Fatalf("a flood of %d logs in 3 blocks", len(logs))
	}
	c := dial(t, s)
	first, err := c.HeaderByNumber(ctx, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	last, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last.BaseFee.Cmp(first.BaseFee) > 0 || last.GasUsed > last.GasLimit/2 {
		t.Fatalf("base fee %s → %s, gas used %d of %d", first.BaseFee, last.BaseFee, last.GasUsed, last.GasLimit)
	}
	if _, err := decodeAll(logs); err != nil {
		t.Fatal(err)
	}
}

func sameLogs(a, b []types.Log) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d logs and %d", len(a), len(b))
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.BlockHash != y.BlockHash || x.TxHash != y.TxHash || x.Index != y.Index || x.BlockNumber != y.BlockNumber {
			return fmt.Errorf("log %d: block %d %s tx %s #%d, and block %d %s tx %s #%d", i,
				x.BlockNumber, x.BlockHash, x.TxHash, x.Index, y.BlockNumber, y.BlockHash, y.TxHash, y.Index)
		}
	}
	return nil
}

// TestReorg orphans the newest blocks: the new branch is one block longer, shares everything
// up to the fork point, and changes every block hash and the logs above it; Canonical and
// eth_getLogs over HTTP follow the new branch, which is still a consistent history.
func TestReorg(t *testing.T) {
	for _, depth := range []int{1, 5} {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			s := startSim(t, func(c *Config) { c.Rate = 30; c.Seed = int64(depth) })
			c := dial(t, s)
			ctx := testCtx(t)
			if err := s.Mine(ctx, 20); err != nil {
				t.Fatal(err)
			}
			before, err := s.Canonical(ctx)
			if err != nil {
				t.Fatal(err)
			}
			oldHashes := blockHashes(t, c, 20)
			r, err := s.Reorg(ctx, depth)
			if err != nil {
				t.Fatal(err)
			}
			fork := uint64(20 - depth)
			if r.Depth != depth || r.Ancestor.Number != fork || r.OldHead.Number != 20 || r.NewHead.Number != 21 ||
				len(r.Orphaned) != depth || r.Orphaned[0].Hash != oldHashes[fork+1] || r.Remined >= depth {
				t.Fatalf("reorg record %+v", r)
			}
			newHashes := blockHashes(t, c, 21)
			for n := uint64(0); n <= 20; n++ {
				if same := newHashes[n] == oldHashes[n]; same != (n <= fork) {
					t.Errorf("block %d: hash %s before, %s after", n, oldHashes[n], newHashes[n])
				}
			}
			if r.NewHead.Hash != newHashes[21] {
				t.Errorf("new head %s, chain head %s", r.NewHead.Hash, newHashes[21])
			}
			after, err := s.Canonical(ctx)
			if err != nil {
				t.Fatal(err)
			}
			below := func(logs []types.Log) (in, above []types.Log) {
				for i, l := range logs {
					if l.BlockNumber > fork {
						return logs[:i], logs[i:]
					}
				}
				return logs, nil
			}
			keptBefore, orphaned := below(before)
			keptAfter, replaced := below(after)
			if err := sameLogs(keptBefore, keptAfter); err != nil {
				t.Errorf("below the fork point: %v", err)
			}
			if len(replaced) == 0 || sameLogs(orphaned, replaced) == nil {
				t.Error("the logs above the fork point did not change")
			}
			for _, l := range replaced {
				if l.BlockNumber <= 20 && l.BlockHash == oldHashes[l.BlockNumber] {
					t.Errorf("log in block %d keeps the orphaned block's hash", l.BlockNumber)
				}
			}
			viaHTTP, err := c.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: common.Big0, Addresses: Addresses()})
			if err != nil {
				t.Fatal(err)
			}
			if err := sameLogs(viaHTTP, after); err != nil {
				t.Errorf("eth_getLogs after the reorg: %v", err)
			}
			evs, err := decodeAll(after)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkConsistent(evs); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Reorgs != 1 || st.OrphanedEvents != r.OrphanedEvents || st.CanonicalEvents != len(after) {
				t.Errorf("stats %+v", st)
			}
			// The chain goes on from the new branch.
			if err := s.Mine(ctx, 2); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// blockHashes returns the hashes of blocks 0..head over HTTP.
func blockHashes(t *testing.T, c *ethclient.Client, head uint64) []common.Hash {
	t.Helper()
	out := make([]common.Hash, head+1)
	for n := range out {
		h, err := c.HeaderByNumber(testCtx(t), big.NewInt(int64(n)))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = h.Hash()
	}
	return out
}

// TestAutoReorg injects reorgs every few blocks while mining; a deep one crosses the dev
// chain's 32-block finality epochs.
func TestAutoReorg(t *testing.T) {
	s := startSim(t, func(c *Config) { c.Rate = 10; c.ReorgEvery = 4; c.ReorgDepth = 3 })
	ctx := testCtx(t)
	if err := s.Mine(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Reorgs()); n < 10 {
		t.Fatalf("%d reorgs in 50 steps", n)
	}
	if _, err := s.Reorg(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reorg(ctx, 0); !errors.Is(err, ErrReorgDepth) {
		t.Errorf("reorg 0: %v", err)
	}
	head, _ := s.Head()
	if _, err := s.Reorg(ctx, int(head)+1); !errors.Is(err, ErrReorgDepth) {
		t.Errorf("reorg below genesis: %v", err)
	}
	logs, err := s.Canonical(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decodeAll(logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConsistent(evs); err != nil {
		t.Fatal(err)
	}
}

// TestEmitTxAndReorg: a fund event placed with EmitTx and LogOf decodes to what was built; a
// reorg waits until it is mined, and then drops it when it orphans its block and keeps it
// when it forks above.
func TestEmitTxAndReorg(t *testing.T) {
	s := startSim(t, func(c *Config) { c.Rate = 5 })
	ctx := testCtx(t)
	if err := s.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	owner := fundtest.Addr("emit owner")
	emit := func() common.Hash {
		ev, err := fundtest.NewEvent("Deposit", owner, owner, fundtest.E18(1000), fundtest.E18(990))
		if err != nil {
			t.Fatal(err)
		}
		l, err := LogOf(ev)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.EmitTx(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	onChain := func(h common.Hash) bool {
		logs, err := s.Canonical(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range logs {
			if logs[i].TxHash == h {
				evs, err := decodeAll(logs[i : i+1])
				if err != nil {
					t.Fatal(err)
				}
				if evs[0].Name != "Deposit" || u(&evs[0], "assets").Cmp(fundtest.E18(1000).ToBig()) != 0 || addr(&evs[0], "owner") != owner {
					t.Fatalf("decoded %+v", evs[0])
				}
				return true
			}
		}
		return false
	}
	h := emit()
	if _, err := s.Reorg(ctx, 1); !errors.Is(err, ErrPendingTxs) {
		t.Fatalf("reorg with a transaction waiting: %v", err)
	}
	if err := s.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !onChain(h) {
		t.Fatal("the EmitTx transaction was not mined")
	}
	// A reorg of depth 1 mines none of the orphaned block's transactions again.
	if _, err := s.Reorg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if onChain(h) {
		t.Fatal("the EmitTx transaction survived the reorg of its block")
	}
	h = emit()
	if err := s.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reorg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if !onChain(h) {
		t.Fatal("the EmitTx transaction below the fork point is gone")
	}
}

// TestLifecycle: methods before Start and after Close fail cleanly, Close is idempotent, and
// a closed simulator leaves no goroutine behind.
func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Mine(testCtx(t), 1); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Mine before Start: %v", err)
	}
	cfg := DefaultConfig()
	cfg.BlockInterval = 20 * time.Millisecond
	cfg.Rate = 100
	cfg.ReorgEvery, cfg.ReorgDepth = 5, 2
	s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("started twice")
	}
	c, err := rpc.Dial(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if st := s.Stats(); st.Reorgs < 2 {
			return fmt.Errorf("%d reorgs at block %d", st.Reorgs, st.Head)
		}
		return nil
	})
	var head string
	if err := c.Call(&head, "eth_blockNumber"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Mine(testCtx(t), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Mine after Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if st := s.Stats(); st.LastError != "" {
		t.Fatalf("mining error: %s", st.LastError)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines, %d before the simulator started", n, before)
		}
		return nil
	})
}

func TestStartOnBusyAddr(t *testing.T) {
	a := startSim(t, nil)
	cfg := DefaultConfig()
	cfg.Addr = strings.TrimPrefix(a.URL(), "http://")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		s.Close()
		t.Fatal("started on a busy address")
	}
	s.Close()
}

// TestConfigSnippet: the snippet alone is a valid node configuration pointing at the
// simulator, with the fund's contracts.
func TestConfigSnippet(t *testing.T) {
	s := startSim(t, func(c *Config) { c.BlockInterval = time.Second; c.Rate = 5 })
	snippet := s.ConfigSnippet(3)
	c, err := config.Parse([]byte(snippet))
	if err != nil {
		t.Fatalf("%v\n%s", err, snippet)
	}
	in := c.Ingest
	if in.ChainID != ChainID || len(in.RPCURLs) != 1 || in.RPCURLs[0] != s.URL() || in.Confirmations != 3 ||
		in.StartBlock != 0 || time.Duration(in.PollInterval) != 500*time.Millisecond || in.MaxBlockRange != 2000 {
		t.Fatalf("ingest %+v\n%s", in, snippet)
	}
	if len(in.Contracts) != 4 {
		t.Fatalf("contracts %+v", in.Contracts)
	}
	for i, want := range fundtest.Contracts() {
		if got := in.Contracts[i]; got.Name != want.Name || got.Kind != want.Kind || got.Address != want.Address {
			t.Errorf("contract %d: %+v, want %+v", i, got, want)
		}
	}
	flood := startSim(t, func(c *Config) { c.Rate = Flood })
	if c, err := config.Parse([]byte(flood.ConfigSnippet(15))); err != nil || c.Ingest.MaxBlockRange != 5 {
		t.Fatalf("flood: %v, max_block_range %d", err, c.Ingest.MaxBlockRange)
	}
}
