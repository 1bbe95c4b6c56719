package executor

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/internal/fundchain"
	"paimon/raftstore"
)

var (
	// ErrNotLeader is returned by Submit on a node that does not lead: decisions are executed
	// by the leader's executor only.
	ErrNotLeader = errors.New("executor: not the leader")
	// ErrClosed is returned by Start and Submit after Close.
	ErrClosed = errors.New("executor: closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("executor: already started")
	// ErrBadDecision is returned by Submit for a decision it cannot turn into a transaction.
	ErrBadDecision = errors.New("executor: bad decision")
)

// Purposes of a decision: what the transaction does on the redemption manager.
const (
	PurposeApprove     = "APPROVE"      // approveRedemption(id)
	PurposeReject      = "REJECT"       // rejectRedemption(id, reason)
	PurposeSettle      = "SETTLE"       // settleRedemption(id)
	PurposeBatchSettle = "BATCH_SETTLE" // batchSettleRedemptions(max)
)

// Decision is a decision to execute on chain: the executor's input. Approval tickets feed it
// (an APPROVED or REJECTED ticket), the keeper (a batch settlement) and operators (one
// settlement). The pair (Purpose, Reference) is the decision's identity: the executor signs
// at most one transaction for it (a fee-bumped replacement at the same nonce aside), on any
// leader, however often it is submitted.
type Decision struct {
	Purpose string
	// Reference names what decided it: an approval ticket's id, "redemption-<id>" for an
	// operator's settlement, a keeper round's name.
	Reference string
	// RedemptionID is the request of APPROVE, REJECT and SETTLE.
	RedemptionID *big.Int
	// Reason is REJECT's reason, written on chain.
	Reason string
	// Max is BATCH_SETTLE's bound.
	Max uint64
	// Asset, Amount and MinReceived are a rebalance trade's (PURCHASE, REDEEM: assets.go).
	Asset       common.Address
	Amount      *big.Int
	MinReceived *big.Int
}

// calldata returns the decision's transaction input on the redemption manager.
func (d *Decision) calldata() ([]byte, error) {
	needID := func() error {
		if d.RedemptionID == nil || d.RedemptionID.Sign() < 0 {
			return fmt.Errorf("%w: %s needs a redemption id", ErrBadDecision, d.Purpose)
		}
		return nil
	}
	if d.Reference == "" {
		return nil, fmt.Errorf("%w: empty reference", ErrBadDecision)
	}
	switch d.Purpose {
	case PurposeApprove, PurposeSettle:
		if err := needID(); err != nil {
			return nil, err
		}
		m := "approveRedemption"
		if d.Purpose == PurposeSettle {
			m = "settleRedemption"
		}
		return fundchain.Pack(fundchain.RedemptionManager, m, d.RedemptionID)
	case PurposeReject:
		if err := needID(); err != nil {
			return nil, err
		}
		return fundchain.Pack(fundchain.RedemptionManager, "rejectRedemption", d.RedemptionID, d.Reason)
	case PurposeBatchSettle:
		if d.Max == 0 {
			return nil, fmt.Errorf("%w: BATCH_SETTLE needs a positive max", ErrBadDecision)
		}
		return fundchain.Pack(fundchain.RedemptionManager, "batchSettleRedemptions", new(big.Int).SetUint64(d.Max))
	case PurposePurchase, PurposeRedeem:
		return d.assetCalldata()
	}
	return nil, fmt.Errorf("%w: unknown purpose %q", ErrBadDecision, d.Purpose)
}

// Client is what the executor needs of one RPC endpoint (an ethclient.Client).
type Client interface {
	ethereum.ChainIDReader
	ethereum.ContractCaller
	ethereum.TransactionSender
	ethereum.GasPricer1559
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	NonceAt(ctx context.Context, account common.Address, block *big.Int) (uint64, error)
}

// Leadership tells the executor when this node leads; *raftstore.Store implements it.
type Leadership interface {
	SubscribeLeadership() (changes <-chan raftstore.Leadership, cancel func())
}

// Deps are the executor's dependencies.
type Deps struct {
	// Store holds the intents (the replicated state on a node).
	Store Store
	// Leadership starts and stops the leader's work.
	Leadership Leadership
	// Clients are the RPC endpoints (ingest.rpc_urls): every transaction is broadcast to each
	// that answers.
	Clients []Client
	// Key signs the transactions (LoadKey); never logged.
	Key *ecdsa.PrivateKey
	// RedemptionManager is the redemption manager's address, the To of its decisions.
	RedemptionManager common.Address
	// AssetController is the asset controller's address, the To of a rebalance's trades
	// (zero: they are refused as ErrBadDecision).
	AssetController common.Address
	// ChainID is the chain the transactions are signed for.
	ChainID uint64
	// Confirmations is the depth at which a mined transaction is CONFIRMED (Config's, or
	// ingest.confirmations when it is 0).
	Confirmations int
	Logger        *slog.Logger
	// Now is the clock (time.Now when nil); it dates commands, never decides inside apply.
	Now func() time.Time
	// Poll is how often open transactions are looked at without a Notify (default 500ms).
	Poll time.Duration
	// RPCProbe is how often the leader asks the endpoints whose last call failed whether they
	// answer again (default 10s): calls go to the endpoints that answer.
	RPCProbe time.Duration
	// Source, when set, is asked at each round of the leader's loop for the decisions to
	// execute (approval tickets decided on the node); those without an intent are submitted.
	Source Source
	// Keeper and Due, when Due is set and Keeper.SettleInterval is not 0, run the keeper on
	// the leader: every interval a BATCH_SETTLE when Due counts due redemptions.
	Keeper KeeperConfig
	Due    Due
	// Metrics receives the executor's metrics (nil: a set of its own).
	Metrics *metrics.Set
}

// Source lists decisions waiting to be executed: every APPROVED or REJECTED approval ticket,
// say, whether or not it has an intent already (the executor skips those that do). It is read
// on the leader, from its replica.
type Source interface {
	Decisions(ctx context.Context) ([]Decision, error)
}

// Executor sends the fund's transactions from the leader: see DESIGN.md.
type Executor struct {
	cfg  Config
	deps Deps
	from common.Address
	log  *slog.Logger
	mon  *monitor

	wake chan struct{}

	work sync.Mutex // one signer at a time: Submit's nonces, the leader's rounds

	mu      sync.Mutex // guards what follows
	leading bool
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds an executor (no I/O).
func New(cfg Config, deps Deps) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Leadership == nil || deps.Key == nil || len(deps.Clients) == 0 {
		return nil, errors.New("executor: New needs a store, a leadership, a key and at least one RPC client")
	}
	if deps.ChainID == 0 {
		return nil, errors.New("executor: New needs a chain id")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Poll <= 0 {
		deps.Poll = 500 * time.Millisecond
	}
	if deps.RPCProbe <= 0 {
		deps.RPCProbe = 10 * time.Second
	}
	if deps.Due != nil && deps.Keeper.SettleInterval > 0 {
		if err := deps.Keeper.Validate(); err != nil {
			return nil, err
		}
	}
	if deps.Confirmations <= 0 {
		deps.Confirmations = max(cfg.Confirmations, 1)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewSet()
	}
	from := crypto.PubkeyToAddress(deps.Key.PublicKey)
	return &Executor{cfg: cfg, deps: deps, from: from, log: deps.Logger.With("component", "executor", "account", from.Hex()),
		mon: newMonitor(deps.Metrics, len(deps.Clients)), wake: make(chan struct{}, 1)}, nil
}

// Account returns the executor's address (never its key).
func (e *Executor) Account() common.Address { return e.from }

// Start runs the executor's leader work: while this node leads, the open intents are
// rebroadcast and tracked. It returns at once.
func (e *Executor) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.started {
		return ErrStarted
	}
	e.started = true
	ctx, e.cancel = context.WithCancel(ctx)
	e.done = make(chan struct{})
	changes, unsubscribe := e.deps.Leadership.SubscribeLeadership()
	go func() {
		defer close(e.done)
		defer unsubscribe()
		raftstore.WhileLeader(ctx, changes, e.lead)
	}()
	return nil
}

// Close stops the executor and waits for it; a transaction being sent is abandoned (the next
// leader rebroadcasts its recorded bytes). It is safe to call more than once.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	cancel, done := e.cancel, e.done
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

// Notify wakes the leader's loop without blocking.
func (e *Executor) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Submit records the decision's transaction as an intent, or returns the intent already
// recorded for it (then nothing is signed). Simulation, broadcast and tracking follow on the
// leader's loop; the intent's state tells how it went. Only the leader submits.
func (e *Executor) Submit(ctx context.Context, d Decision) (Intent, error) {
	data, err := d.calldata()
	if err != nil {
		return Intent{}, err
	}
	if _, err := e.target(d.Purpose); err != nil {
		return Intent{}, err
	}
	e.mu.Lock()
	closed, leading := e.closed, e.leading
	e.mu.Unlock()
	if closed {
		return Intent{}, ErrClosed
	}
	if !leading {
		return Intent{}, ErrNotLeader
	}
	e.work.Lock()
	defer e.work.Unlock()
	intents, err := e.deps.Store.Intents(ctx)
	if err != nil {
		return Intent{}, err
	}
	return e.submit(ctx, d, data, intents)
}

// submit signs and records the decision's transaction unless intents hold one for it; the
// caller holds e.work.
func (e *Executor) submit(ctx context.Context, d Decision, data []byte, intents []Intent) (Intent, error) {
	nonce := uint64(0)
	for i := range intents {
		t := &intents[i]
		if t.Purpose == d.Purpose && t.Reference == d.Reference {
			return *t, nil // never a second transaction for a decision
		}
		if t.open() && t.Nonce+1 > nonce {
			nonce = t.Nonce + 1
		}
	}
	chainNonce, err := e.pendingNonce(ctx)
	if err != nil {
		return Intent{}, err
	}
	nonce = max(nonce, chainNonce)
	tip, feeCap, err := e.fees(ctx)
	if err != nil {
		return Intent{}, err
	}
	to, err := e.target(d.Purpose)
	if err != nil {
		return Intent{}, err
	}
	tx, err := e.sign(to, nonce, tip, feeCap, data)
	if err != nil {
		return Intent{}, err
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return Intent{}, fmt.Errorf("executor: encode transaction: %w", err)
	}
	t, created, err := e.deps.Store.Record(ctx, Intent{Purpose: d.Purpose, Reference: d.Reference, From: e.from,
		To: to, Nonce: nonce, Created: e.deps.Now(),
		Attempts: []Attempt{{Hash: tx.Hash(), Raw: raw}}})
	if err != nil {
		return Intent{}, err
	}
	if created {
		e.mon.state(StateSigned)
		e.log.Info("transaction intent recorded", "purpose", d.Purpose, "reference", d.Reference, "nonce", nonce,
			"hash", tx.Hash().Hex(), "seq", t.Seq)
		e.Notify()
	}
	return t, nil
}

// sign signs an EIP-1559 call of contract to.
func (e *Executor) sign(to common.Address, nonce uint64, tip, feeCap *big.Int, data []byte) (*types.Transaction, error) {
	id := new(big.Int).SetUint64(e.deps.ChainID)
	tx, err := types.SignNewTx(e.deps.Key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: e.cfg.GasLimit, To: &to, Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("executor: sign: %w", err)
	}
	return tx, nil
}

var gwei = big.NewInt(1e9)

// fees returns the tip and fee cap of a new transaction: the suggested tip and twice the
// head's base fee plus the tip, each within the configured caps.
func (e *Executor) fees(ctx context.Context) (tip, feeCap *big.Int, err error) {
	maxTip := new(big.Int).Mul(new(big.Int).SetUint64(e.cfg.MaxTipGwei), gwei)
	maxFee := new(big.Int).Mul(new(big.Int).SetUint64(e.cfg.MaxFeeGwei), gwei)
	var head *types.Header
	err = e.first(ctx, func(ctx context.Context, c Client) error {
		h, err := c.HeaderByNumber(ctx, nil)
		if err == nil {
			head = h
			if t, terr := c.SuggestGasTipCap(ctx); terr == nil {
				tip = t
			}
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("executor: head: %w", err)
	}
	if tip == nil {
		tip = new(big.Int).Set(gwei)
	}
	tip = bigMin(tip, maxTip)
	feeCap = new(big.Int).Set(tip)
	if head.BaseFee != nil {
		feeCap.Add(feeCap, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	}
	return tip, bigMin(feeCap, maxFee), nil
}

func bigMin(a, b *big.Int) *big.Int {
	if a.Cmp(b) > 0 {
		return new(big.Int).Set(b)
	}
	return a
}

func bigMax(a, b *big.Int) *big.Int {
	if a.Cmp(b) < 0 {
		return new(big.Int).Set(b)
	}
	return a
}

// pendingNonce is the account's next nonce as the chain sees it (its pool included).
func (e *Executor) pendingNonce(ctx context.Context) (uint64, error) {
	var n uint64
	err := e.first(ctx, func(ctx context.Context, c Client) (err error) {
		n, err = c.PendingNonceAt(ctx, e.from)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("executor: nonce: %w", err)
	}
	return n, nil
}

// first calls fn on each client in turn until one answers (an error that is the chain's
// answer, such as a revert, is fn's to turn into nil). Endpoints whose last call answered come
// first, in their configured order, then those whose last call failed: a dead endpoint listed
// first costs one failed call per round of the ones that failed, not one per call (a
// blackholed one up to 5 s each).
func (e *Executor) first(ctx context.Context, fn func(context.Context, Client) error) error {
	var errs []error
	for _, i := range e.mon.rpcOrder() {
		c := e.deps.Clients[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(cctx, c)
		cancel()
		if ctx.Err() == nil {
			e.mon.rpc(i, err)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
