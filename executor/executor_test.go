package executor

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
	"paimon/internal/testutil"
	"paimon/raftstore"
)

// memStore is a Store in memory with the state machine's rules (fund/txintent.go).
type memStore struct {
	mu      sync.Mutex
	intents []Intent
	seq     uint64
	failUpd atomic.Bool // Update fails (a leader that lost its quorum)
	// afterRecord, when set, runs after an intent was recorded (before Submit returns).
	afterRecord func()
}

func (s *memStore) Intents(context.Context) ([]Intent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Intent, len(s.intents))
	for i, t := range s.intents {
		t.Attempts = append([]Attempt(nil), t.Attempts...)
		out[i] = t
	}
	return out, nil
}

func (s *memStore) Record(_ context.Context, t Intent) (Intent, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.intents {
		if x.Purpose == t.Purpose && x.Reference == t.Reference {
			return x, false, nil
		}
	}
	s.seq++
	t.Seq, t.State, t.Updated = s.seq<<16, StateSigned, t.Created
	t.Attempts[0].State, t.Attempts[0].Time = StateSigned, t.Created
	s.intents = append(s.intents, t)
	if s.afterRecord != nil {
		s.afterRecord()
	}
	return t, true, nil
}

func (s *memStore) Update(_ context.Context, u Update) error {
	if s.failUpd.Load() {
		return errors.New("memStore: not the leader")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.intents {
		t := &s.intents[i]
		if t.Seq != u.Seq || t.State == StateConfirmed || t.State == StateFailed {
			continue
		}
		if len(u.Replacement.Raw) > 0 {
			for j := range t.Attempts {
				t.Attempts[j].State = StateReplaced
			}
			a := u.Replacement
			a.State, a.Time = StateSent, u.Time
			t.Attempts = append(t.Attempts, a)
			t.State = StateSent
		} else {
			t.State, t.Reason, t.Block, t.MinedHash = u.State, u.Reason, u.Block, u.MinedHash
			for j := range t.Attempts {
				if u.State == StateSent && t.Attempts[j].State == StateSigned {
					t.Attempts[j].State = StateSent
				}
			}
		}
		t.Updated = u.Time
	}
	return nil
}

func (s *memStore) get(seq uint64) Intent {
	ts, _ := s.Intents(context.Background())
	for _, t := range ts {
		if t.Seq == seq {
			return t
		}
	}
	return Intent{}
}

// leadership is a Leadership the test drives.
type leadership struct{ ch chan raftstore.Leadership }

func newLeadership() *leadership { return &leadership{ch: make(chan raftstore.Leadership, 4)} }
func (l *leadership) SubscribeLeadership() (<-chan raftstore.Leadership, func()) {
	return l.ch, func() {}
}
func (l *leadership) set(leading bool, term uint64) {
	l.ch <- raftstore.Leadership{Leading: leading, Term: term}
}

// world is a simulated chain over HTTP JSON-RPC with the fund deployed and a redemption
// waiting for approval.
type world struct {
	ctx      context.Context
	sim      *chainsim.Sim
	client   *ethclient.Client
	f        *fundchain.Fund
	executor *ecdsa.PrivateKey
	id       *big.Int // a request over the approval threshold, PENDING_APPROVAL
	user     *ecdsa.PrivateKey
	probe    time.Duration // Deps.RPCProbe of the executors it builds (0: the default)
}

func newWorld(t *testing.T, seed int64) *world {
	return newWorldWith(t, seed, fundchain.DefaultParams())
}

func newWorldWith(t testing.TB, seed int64, params fundchain.Params) *world {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	admin, exec, user := fundchain.DerivedKey("admin", seed), fundchain.DerivedKey("executor", seed), fundchain.DerivedKey("user", seed)
	scfg := chainsim.DefaultConfig()
	scfg.BlockInterval, scfg.Rate, scfg.Seed = 50*time.Millisecond, 0, seed
	for _, k := range []*ecdsa.PrivateKey{admin, exec, user} {
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
	client, err := ethclient.DialContext(ctx, sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	f, err := fundchain.Deploy(ctx, &fundchain.Chain{Backend: client}, admin, params)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.GrantExecutor(ctx, admin, crypto.PubkeyToAddress(exec.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if err := f.Faucet(ctx, user, fundchain.E18(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, user, fundchain.E18(500_000)); err != nil {
		t.Fatal(err)
	}
	id, _, err := f.RequestRedemption(ctx, user, fundchain.E18(150_000), fundchain.ChannelStandard)
	if err != nil {
		t.Fatal(err)
	}
	return &world{ctx: ctx, sim: sim, client: client, f: f, executor: exec, id: id, user: user}
}

func (w *world) newExecutor(t *testing.T, store Store, l Leadership, clients ...Client) *Executor {
	return w.newExecutorWith(t, DefaultConfig().ReplaceAfter, store, l, clients...)
}

func (w *world) newExecutorWith(t *testing.T, replaceAfter time.Duration, store Store, l Leadership, clients ...Client) *Executor {
	return w.newExecutorDeps(t, replaceAfter, store, l, nil, clients...)
}

func (w *world) newExecutorDeps(t testing.TB, replaceAfter time.Duration, store Store, l Leadership, due Due, clients ...Client) *Executor {
	if len(clients) == 0 {
		clients = []Client{w.client}
	}
	cfg := DefaultConfig()
	cfg.KeyFile, cfg.Confirmations, cfg.ReplaceAfter = "unused", 2, replaceAfter
	e, err := New(cfg, Deps{Store: store, Leadership: l, Clients: clients, Key: w.executor, ChainID: chainsim.ChainID,
		RedemptionManager: w.f.Addr.Of(fundchain.RedemptionManager), Poll: 20 * time.Millisecond,
		RPCProbe: w.probe, Keeper: KeeperConfig{SettleInterval: time.Second, BatchMax: 10}, Due: due,
		Logger: testutil.Logger(t, "executor", slog.LevelDebug)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(w.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// approvals counts the RedemptionApproved logs of the request on chain.
func (w *world) approvals(t *testing.T) int {
	t.Helper()
	ev := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"]
	logs, err := w.client.FilterLogs(w.ctx, ethereum.FilterQuery{
		Addresses: []common.Address{w.f.Addr.Of(fundchain.RedemptionManager)},
		Topics:    [][]common.Hash{{ev.ID}, {common.BigToHash(w.id)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(logs)
}

// submit submits d, retrying until the executor leads.
func submit(t *testing.T, e *Executor, d Decision) Intent {
	t.Helper()
	var it Intent
	checkFor(t, 10*time.Second, func() (err error) {
		it, err = e.Submit(context.Background(), d)
		return err
	})
	return it
}

func waitState(t *testing.T, s *memStore, seq uint64, want string) Intent {
	t.Helper()
	var it Intent
	checkFor(t, 30*time.Second, func() error {
		if it = s.get(seq); it.State != want {
			return fmt.Errorf("intent %d: %s %q, want %s", seq, it.State, it.Reason, want)
		}
		return nil
	})
	return it
}

func checkFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestApproveMinedOnce(t *testing.T) {
	w := newWorld(t, 11)
	store, l := &memStore{}, newLeadership()
	e := w.newExecutor(t, store, l)
	l.set(true, 1)
	d := Decision{Purpose: PurposeApprove, Reference: "ticket-1", RedemptionID: w.id}
	it := submit(t, e, d)
	again := submit(t, e, d)
	if again.Seq != it.Seq || len(again.Attempts) != 1 || again.Attempts[0].Hash != it.Attempts[0].Hash {
		t.Fatalf("the same decision submitted twice: %+v then %+v", it, again)
	}
	done := waitState(t, store, it.Seq, StateConfirmed)
	if done.MinedHash != it.Attempts[0].Hash || done.Block == 0 {
		t.Fatalf("confirmed %+v, want the recorded hash %s", done, it.Attempts[0].Hash)
	}
	if n := w.approvals(t); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
	// Submitting the decision after it was executed signs nothing either.
	if after := submit(t, e, d); after.Seq != it.Seq || after.State != StateConfirmed {
		t.Fatalf("after confirmation: %+v", after)
	}
	if ts, _ := store.Intents(w.ctx); len(ts) != 1 {
		t.Fatalf("%d intents, want 1", len(ts))
	}
}

func TestRevertFailsAndSendsNothing(t *testing.T) {
	w := newWorld(t, 12)
	store, l := &memStore{}, newLeadership()
	e := w.newExecutor(t, store, l)
	l.set(true, 1)
	from := crypto.PubkeyToAddress(w.executor.PublicKey)
	before, err := w.client.NonceAt(w.ctx, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Settling a request that waits for approval reverts.
	it := submit(t, e, Decision{Purpose: PurposeSettle, Reference: "redemption:" + w.id.String(), RedemptionID: w.id})
	failed := waitState(t, store, it.Seq, StateFailed)
	if !strings.Contains(failed.Reason, "revert") || failed.Block != 0 {
		t.Fatalf("failed %+v: want the revert reason, no block", failed)
	}
	// Nothing was sent: the nonce is unused, and the next decision takes it.
	ok := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-2", RedemptionID: w.id})
	if ok.Nonce != it.Nonce || it.Nonce != before {
		t.Fatalf("nonces %d then %d, chain's %d: a failed simulation must leave its nonce unused", it.Nonce, ok.Nonce, before)
	}
	waitState(t, store, ok.Seq, StateConfirmed)
	after, err := w.client.NonceAt(w.ctx, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("executor nonce %d -> %d: want exactly one transaction mined", before, after)
	}
}

// refusing is an RPC that takes no transaction (a leader cut off before its broadcast).
type refusing struct {
	Client
	sends atomic.Int32
}

func (r *refusing) SendTransaction(context.Context, *types.Transaction) error {
	r.sends.Add(1)
	return errors.New("refusing: connection refused")
}

func TestNewLeaderRebroadcasts(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent bool // the old leader's broadcast went out, its SENT was never committed
	}{{"before broadcast", false}, {"after broadcast", true}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := int64(13)
			if tc.sent {
				seed = 14
			}
			w := newWorld(t, seed)
			store := &memStore{}
			la, lb := newLeadership(), newLeadership()
			var a *Executor
			var cut *refusing
			if tc.sent {
				store.failUpd.Store(true) // the broadcast happens, its SENT cannot commit
				a = w.newExecutor(t, store, la)
			} else {
				cut = &refusing{Client: w.client}
				a = w.newExecutor(t, store, la, cut)
			}
			la.set(true, 1)
			it := submit(t, a, Decision{Purpose: PurposeApprove, Reference: "ticket-3", RedemptionID: w.id})
			if tc.sent {
				checkFor(t, 10*time.Second, func() error {
					if _, _, err := w.client.TransactionByHash(w.ctx, it.Attempts[0].Hash); err != nil {
						return fmt.Errorf("old leader's broadcast: %w", err)
					}
					return nil
				})
			} else {
				checkFor(t, 10*time.Second, func() error {
					if cut.sends.Load() == 0 {
						return errors.New("no broadcast tried yet")
					}
					return nil
				})
			}
			la.set(false, 0)
			a.Close()
			if got := store.get(it.Seq); got.State != StateSigned {
				t.Fatalf("the old leader left %s, want SIGNED", got.State)
			}
			store.failUpd.Store(false)

			b := w.newExecutor(t, store, lb)
			lb.set(true, 2)
			// The decision submitted again on the new leader signs nothing new.
			if again := submit(t, b, Decision{Purpose: PurposeApprove, Reference: "ticket-3", RedemptionID: w.id}); again.Seq != it.Seq {
				t.Fatalf("new leader's intent %d, want %d", again.Seq, it.Seq)
			}
			done := waitState(t, store, it.Seq, StateConfirmed)
			if len(done.Attempts) != 1 || done.MinedHash != it.Attempts[0].Hash {
				t.Fatalf("mined %s with %d attempts, want the recorded %s alone", done.MinedHash, len(done.Attempts), it.Attempts[0].Hash)
			}
			if n := w.approvals(t); n != 1 {
				t.Fatalf("%d RedemptionApproved logs, want 1", n)
			}
		})
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	k := fundchain.DerivedKey("executor", 1)
	good := filepath.Join(dir, "good.key")
	if err := crypto.SaveECDSA(good, k); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(good)
	if err != nil || crypto.PubkeyToAddress(got.PublicKey) != crypto.PubkeyToAddress(k.PublicKey) {
		t.Fatalf("LoadKey: %v", err)
	}
	secret := "zz" + strings.Repeat("ab", 31)
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKey(bad)
	if err == nil || !strings.Contains(err.Error(), "executor.key_file") || strings.Contains(err.Error(), "abab") || strings.Contains(err.Error(), "zz") {
		t.Fatalf("bad key error %v: want the key named, its content never shown", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "executor.key_file") {
		t.Fatalf("missing key: %v", err)
	}
}

// dropping is an RPC that answers a send without passing it on while drop is set: a
// transaction lost on its way (a pool that evicted it, a fee too low to be mined).
type dropping struct {
	Client
	drop    atomic.Bool
	dropped atomic.Int32
}

func (d *dropping) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if d.drop.Load() {
		d.dropped.Add(1)
		return nil
	}
	return d.Client.SendTransaction(ctx, tx)
}

// A transaction that stays unmined is replaced after replace_after by the same call at the same
// nonce with higher fees, recorded before it is sent; the replacement is mined, once. An RPC
// that is down meanwhile changes nothing.
func TestStuckTransactionReplaced(t *testing.T) {
	w := newWorld(t, 15)
	store, l := &memStore{}, newLeadership()
	lossy := &dropping{Client: w.client}
	lossy.drop.Store(true)
	down, err := ethclient.Dial("http://127.0.0.1:1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	e := w.newExecutorWith(t, time.Second, store, l, lossy, down)
	l.set(true, 1)
	it := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-4", RedemptionID: w.id})
	checkFor(t, 10*time.Second, func() error {
		if got := store.get(it.Seq); len(got.Attempts) < 2 {
			return fmt.Errorf("%d attempts, state %s", len(got.Attempts), got.State)
		}
		return nil
	})
	lossy.drop.Store(false)
	done := waitState(t, store, it.Seq, StateConfirmed)
	first, second := done.Attempts[0], done.Attempts[1]
	if first.State != StateReplaced || done.MinedHash == first.Hash || done.Nonce != it.Nonce {
		t.Fatalf("confirmed %+v: want a replacement mined", done)
	}
	old, repl := new(types.Transaction), new(types.Transaction)
	if err := old.UnmarshalBinary(first.Raw); err != nil {
		t.Fatal(err)
	}
	if err := repl.UnmarshalBinary(second.Raw); err != nil {
		t.Fatal(err)
	}
	if repl.Nonce() != old.Nonce() || repl.GasFeeCap().Cmp(old.GasFeeCap()) <= 0 || repl.GasTipCap().Cmp(old.GasTipCap()) <= 0 ||
		string(repl.Data()) != string(old.Data()) {
		t.Fatalf("replacement nonce %d fee %s tip %s, original nonce %d fee %s tip %s", repl.Nonce(), repl.GasFeeCap(), repl.GasTipCap(),
			old.Nonce(), old.GasFeeCap(), old.GasTipCap())
	}
	if n := w.approvals(t); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
}

// An outside transaction of the executor's account takes the nonce of an intent that was
// never mined: the intent is FAILED, and the next decision takes the chain's next nonce.
func TestOutsideTransactionTakesTheNonce(t *testing.T) {
	w := newWorld(t, 16)
	store, l := &memStore{}, newLeadership()
	lossy := &dropping{Client: w.client}
	lossy.drop.Store(true)
	e := w.newExecutor(t, store, l, lossy)
	l.set(true, 1)
	it := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-5", RedemptionID: w.id})
	checkFor(t, 10*time.Second, func() error {
		if lossy.dropped.Load() == 0 {
			return errors.New("not sent yet")
		}
		return nil
	})
	// Someone with the key approves the request by hand, at the same nonce.
	if _, err := w.f.ApproveRedemption(w.ctx, w.executor, w.id); err != nil {
		t.Fatal(err)
	}
	failed := waitState(t, store, it.Seq, StateFailed)
	if !strings.Contains(failed.Reason, "used by another transaction") {
		t.Fatalf("failed: %q", failed.Reason)
	}
	lossy.drop.Store(false)
	next := submit(t, e, Decision{Purpose: PurposeReject, Reference: "ticket-6", RedemptionID: w.id, Reason: "x"})
	if next.Nonce != it.Nonce+1 {
		t.Fatalf("next nonce %d, want %d", next.Nonce, it.Nonce+1)
	}
	if n := w.approvals(t); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
}

// dueFunc is a Due from a function.
type dueFunc func() int

func (f dueFunc) Due(context.Context, time.Time) (int, error) { return f(), nil }

// The keeper settles due redemptions with one batch while something is due, one batch at a
// time, and sends nothing while nothing is.
func TestKeeperSettlesDueRedemptions(t *testing.T) {
	p := fundchain.DefaultParams()
	p.StandardDelay = 0 // due at once
	w := newWorldWith(t, 17, p)
	small, _, err := w.f.RequestRedemption(w.ctx, w.user, fundchain.E18(1_000), fundchain.ChannelStandard)
	if err != nil {
		t.Fatal(err)
	}
	var due atomic.Int32
	store, l := &memStore{}, newLeadership()
	w.newExecutorDeps(t, time.Minute, store, l, dueFunc(func() int { return int(due.Load()) }))
	l.set(true, 1)
	time.Sleep(1500 * time.Millisecond) // a keeper round with nothing due: nothing sent
	if ts, _ := store.Intents(w.ctx); len(ts) != 0 {
		t.Fatalf("%d intents with nothing due", len(ts))
	}
	due.Store(1)
	checkFor(t, 20*time.Second, func() error {
		ts, _ := store.Intents(w.ctx)
		if len(ts) == 0 || ts[0].State != StateConfirmed || ts[0].Purpose != PurposeBatchSettle {
			return fmt.Errorf("intents %+v", ts)
		}
		return nil
	})
	due.Store(0)
	ev := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionSettled"]
	logs, err := w.client.FilterLogs(w.ctx, ethereum.FilterQuery{Addresses: []common.Address{w.f.Addr.Of(fundchain.RedemptionManager)},
		Topics: [][]common.Hash{{ev.ID}}})
	if err != nil || len(logs) != 1 || logs[0].Topics[1] != common.BigToHash(small) {
		t.Fatalf("settled logs %d (%v), want the small request's alone", len(logs), err)
	}
}

// lowball is an RPC that, while low is set, reports a head without base fee and a 1 wei tip:
// an executor signing then pays a fee cap of 1 wei, below any real base fee (go-ethereum's never
// falls below 7 wei), so its transaction is accepted into the pool but can never be mined.
type lowball struct {
	Client
	low atomic.Bool
}

func (l *lowball) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := l.Client.HeaderByNumber(ctx, n)
	if err == nil && l.low.Load() {
		h = types.CopyHeader(h)
		h.BaseFee = new(big.Int)
	}
	return h, err
}

func (l *lowball) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	if l.low.Load() {
		return big.NewInt(1), nil
	}
	return l.Client.SuggestGasTipCap(ctx)
}

// A transaction whose gas price is too low to be mined (fee cap below the base fee) stays
// SENT; after replace_after it is replaced at the same nonce by one paying at least what a new
// transaction would (fee cap over the base fee) and at least 12.5 % more; the replacement is
// mined, once, the underpriced one never.
func TestUnderpricedTransactionBumped(t *testing.T) {
	w := newWorld(t, 18)
	store, l := &memStore{}, newLeadership()
	cheap := &lowball{Client: w.client}
	cheap.low.Store(true)
	e := w.newExecutorWith(t, time.Second, store, l, cheap)
	l.set(true, 1)
	it := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-7", RedemptionID: w.id})
	cheap.low.Store(false)
	first := new(types.Transaction)
	if err := first.UnmarshalBinary(it.Attempts[0].Raw); err != nil {
		t.Fatal(err)
	}
	head, err := w.client.HeaderByNumber(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.GasFeeCap().Cmp(head.BaseFee) >= 0 {
		t.Fatalf("the first transaction pays %s, the base fee is %s: it could be mined", first.GasFeeCap(), head.BaseFee)
	}
	// The pool took it (SENT), and it stays unmined until replaced.
	checkFor(t, 10*time.Second, func() error {
		if got := store.get(it.Seq); got.State != StateSent && len(got.Attempts) < 2 {
			return fmt.Errorf("state %s", got.State)
		}
		return nil
	})
	done := waitState(t, store, it.Seq, StateConfirmed)
	if len(done.Attempts) != 2 || done.MinedHash != done.Attempts[1].Hash || done.Attempts[0].State != StateReplaced {
		t.Fatalf("confirmed %+v: want the one replacement mined", done)
	}
	repl := new(types.Transaction)
	if err := repl.UnmarshalBinary(done.Attempts[1].Raw); err != nil {
		t.Fatal(err)
	}
	r, err := w.client.TransactionReceipt(w.ctx, repl.Hash())
	if err != nil {
		t.Fatal(err)
	}
	block, err := w.client.HeaderByNumber(w.ctx, r.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	if repl.Nonce() != first.Nonce() || repl.GasFeeCap().Cmp(block.BaseFee) < 0 || first.GasFeeCap().Cmp(block.BaseFee) >= 0 ||
		repl.GasTipCap().Cmp(first.GasTipCap()) <= 0 || string(repl.Data()) != string(first.Data()) {
		t.Fatalf("replacement nonce %d fee cap %s tip %s, first nonce %d fee cap %s tip %s, base fee %s", repl.Nonce(), repl.GasFeeCap(), repl.GasTipCap(),
			first.Nonce(), first.GasFeeCap(), first.GasTipCap(), block.BaseFee)
	}
	if _, err := w.client.TransactionReceipt(w.ctx, first.Hash()); err == nil {
		t.Fatal("the underpriced transaction has a receipt")
	}
	if n := w.approvals(t); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
	if n, err := w.client.NonceAt(w.ctx, crypto.PubkeyToAddress(w.executor.PublicKey), nil); err != nil || n != it.Nonce+1 {
		t.Fatalf("account nonce %d (%v), want %d", n, err, it.Nonce+1)
	}
}

// gate is an RPC that is down (every call refused) while closed is set.
type gate struct {
	Client
	closed atomic.Bool
	calls  atomic.Int32 // calls refused
}

var errDown = errors.New("gate: connection refused")

func (g *gate) down() bool {
	if g.closed.Load() {
		g.calls.Add(1)
		return true
	}
	return false
}

func (g *gate) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if g.down() {
		return errDown
	}
	return g.Client.SendTransaction(ctx, tx)
}

func (g *gate) CallContract(ctx context.Context, msg ethereum.CallMsg, n *big.Int) ([]byte, error) {
	if g.down() {
		return nil, errDown
	}
	return g.Client.CallContract(ctx, msg, n)
}

func (g *gate) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if g.down() {
		return nil, errDown
	}
	return g.Client.HeaderByNumber(ctx, n)
}

func (g *gate) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	if g.down() {
		return nil, errDown
	}
	return g.Client.TransactionReceipt(ctx, h)
}

func (g *gate) NonceAt(ctx context.Context, a common.Address, n *big.Int) (uint64, error) {
	if g.down() {
		return 0, errDown
	}
	return g.Client.NonceAt(ctx, a, n)
}

func (g *gate) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	if g.down() {
		return 0, errDown
	}
	return g.Client.PendingNonceAt(ctx, a)
}

// RPCs that are down: one of two endpoints is down for good (nothing listens there); the other
// goes down right after the intent is recorded, so every RPC is down: the intent stays SIGNED
// (visible, nothing sent, nothing re-signed) for as long as that lasts, and the status says
// every RPC is down and, after 3 × replace_after, the transaction stuck; when the second comes
// back it goes out through it, once, and is mined; the status then counts the one dead RPC, and
// the metrics the states.
func TestRPCDown(t *testing.T) {
	w := newWorld(t, 19)
	store, l := &memStore{}, newLeadership()
	dead, err := ethclient.Dial("http://127.0.0.1:1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	up := &gate{Client: w.client}
	store.afterRecord = func() { up.closed.Store(true) }
	e := w.newExecutorWith(t, time.Second, store, l, dead, up)
	l.set(true, 1)
	it := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-8", RedemptionID: w.id})
	// Every RPC down: the leader's rounds keep failing (calls refused) and the intent waits.
	checkFor(t, 10*time.Second, func() error {
		if n := up.calls.Load(); n < 10 {
			return fmt.Errorf("%d refused calls", n)
		}
		return nil
	})
	if got := store.get(it.Seq); got.State != StateSigned || len(got.Attempts) != 1 {
		t.Fatalf("with every RPC down: %+v, want SIGNED with its one attempt", got)
	}
	if _, _, err := w.client.TransactionByHash(w.ctx, it.Attempts[0].Hash); err == nil {
		t.Fatal("sent while every RPC was down")
	}
	checkFor(t, 10*time.Second, func() error {
		if st := e.Status(); !st.Leading || st.RPCs != 2 || st.RPCsDown != 2 || st.Open != 1 || st.Stuck != 1 {
			return fmt.Errorf("status with every RPC down: %+v", st)
		}
		return nil
	})
	up.closed.Store(false)
	done := waitState(t, store, it.Seq, StateConfirmed)
	if len(done.Attempts) != 1 || done.MinedHash != it.Attempts[0].Hash {
		t.Fatalf("confirmed %+v: want the recorded transaction mined", done)
	}
	if n := w.approvals(t); n != 1 {
		t.Fatalf("%d RedemptionApproved logs, want 1", n)
	}
	checkFor(t, 5*time.Second, func() error {
		if st := e.Status(); st.RPCsDown != 1 || st.Open != 0 || st.Stuck != 0 {
			return fmt.Errorf("status after: %+v", st)
		}
		return nil
	})
	var b strings.Builder
	e.deps.Metrics.WritePrometheus(&b)
	for _, want := range []string{`paimon_executor_transactions_total{state="SIGNED"} 1`, `paimon_executor_transactions_total{state="SENT"} 1`,
		`paimon_executor_transactions_total{state="CONFIRMED"} 1`, `paimon_executor_transactions_total{state="FAILED"} 0`,
		"paimon_executor_rpcs_down 1", "paimon_executor_open_intents 0", "paimon_executor_intent_to_mined_seconds_count 1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// TestDeadRPCSkipped lists a dead endpoint first: after its first failure the calls go to the
// one that answers (the dead one hears only broadcasts and the probes), and once it answers
// again the probe marks it up.
func TestDeadRPCSkipped(t *testing.T) {
	w := newWorld(t, 23)
	w.probe = 300 * time.Millisecond
	store, l := &memStore{}, newLeadership()
	dead := &gate{Client: w.client}
	dead.closed.Store(true)
	e := w.newExecutorWith(t, time.Second, store, l, dead, w.client)
	start := time.Now()
	l.set(true, 1)
	it := submit(t, e, Decision{Purpose: PurposeApprove, Reference: "ticket-9", RedemptionID: w.id})
	waitState(t, store, it.Seq, StateConfirmed)
	// Rounds run every 20 ms, each with calls while the intent is open: dozens a second went to
	// the dead endpoint when it was always tried first. Allowed now: the first failure, one
	// broadcast per attempt, and one probe per period.
	elapsed := time.Since(start)
	if n, allowed := int(dead.calls.Load()), 2+len(store.get(it.Seq).Attempts)+int(elapsed/w.probe)+1; n > allowed {
		t.Fatalf("the dead endpoint was called %d times in %v, want at most %d", n, elapsed, allowed)
	}
	if st := e.Status(); st.RPCsDown != 1 {
		t.Fatalf("status with the first endpoint dead: %+v", st)
	}
	dead.closed.Store(false)
	checkFor(t, 5*time.Second, func() error {
		if st := e.Status(); st.RPCsDown != 0 {
			return fmt.Errorf("status after the endpoint came back: %+v", st)
		}
		return nil
	})
}
