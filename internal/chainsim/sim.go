package chainsim

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"paimon/fund/fundtest"
)

// ChainID is the simulated chain's id: go-ethereum's dev chain, which the simulated backend
// always runs.
const ChainID = 1337

// Flood as a Rate fills every block with as many events as fit.
var Flood = math.Inf(1)

var (
	// ErrNotStarted is returned by the methods that need a running chain before Start.
	ErrNotStarted = errors.New("chainsim: not started")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("chainsim: closed")
	// ErrReorgDepth is returned by Reorg for a depth below 1, above the head's number or above
	// the history the simulator keeps (Config.History).
	ErrReorgDepth = errors.New("chainsim: reorg depth out of range")
	// ErrBlockFull is returned by EmitTx when the next block has no room for the transaction.
	ErrBlockFull = errors.New("chainsim: the next block is full")
	// ErrPendingTxs is returned by Reorg while EmitTx transactions wait for the next block:
	// mine them first.
	ErrPendingTxs = errors.New("chainsim: EmitTx transactions wait for a block")
	// ErrNotContract is returned by EmitTx for a log whose address is not one of the fund's
	// contracts (only those run the emitter).
	ErrNotContract = errors.New("chainsim: not a fund contract address")
)

// Config configures a Sim.
type Config struct {
	// Addr is the HTTP JSON-RPC listen address, host:port; port 0 picks a free port (URL
	// reports it).
	Addr string
	// BlockInterval mines a block every interval; 0 mines only on Mine.
	BlockInterval time.Duration
	// Rate is the events (logs) per second generated, spread over the blocks; with a
	// BlockInterval of 0 it is the events per mined block. Flood fills every block. 0 generates
	// none (EmitTx still works).
	Rate float64
	// Seed makes the sender key, the holders and the random choices reproducible.
	Seed int64
	// ReorgDepth and ReorgEvery inject a reorg of ReorgDepth blocks every ReorgEvery blocks
	// (0: never), on the interval and on Mine; a due reorg waits for a block without EmitTx
	// transactions.
	ReorgDepth int
	ReorgEvery int
	// History is the number of recent blocks for which the simulator keeps what a reorg needs:
	// the deepest possible reorg.
	History int
	// Holders is the most distinct share holders the generator creates.
	Holders int
	// Accounts are funded at genesis (as the sender is) for transactions from outside the
	// simulator: deployed contracts, their users, an executor. Outside transactions are mined
	// with the blocks alongside the generated ones; a block is checked to hold every
	// transaction of the sender, not to hold only those. Automatic reorgs cannot be combined
	// with them (a reorg re-mines or drops whole blocks, outside transactions too, which would
	// leave their senders' nonces behind).
	Accounts []common.Address
	// Logger receives the simulator's messages and go-ethereum's warnings; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a simulator on a free loopback port that mines a block a second with
// five events a second, no reorgs, seed 1.
func DefaultConfig() Config {
	return Config{
		Addr:          "127.0.0.1:0",
		BlockInterval: time.Second,
		Rate:          5,
		Seed:          1,
		History:       512,
		Holders:       500,
	}
}

// Validate checks the configuration, naming the offending field.
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("chainsim: Addr %q: want host:port", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("chainsim: Addr %q: bad port", c.Addr)
	}
	switch {
	case c.BlockInterval < 0:
		return fmt.Errorf("chainsim: BlockInterval %s must not be negative", c.BlockInterval)
	case c.BlockInterval > 0 && c.BlockInterval < 10*time.Millisecond:
		return fmt.Errorf("chainsim: BlockInterval %s must be at least 10ms", c.BlockInterval)
	case c.Rate < 0 || math.IsNaN(c.Rate):
		return fmt.Errorf("chainsim: Rate %v must be ≥ 0 (or Flood)", c.Rate)
	case c.ReorgEvery < 0 || c.ReorgDepth < 0:
		return errors.New("chainsim: ReorgEvery and ReorgDepth must not be negative")
	case c.ReorgEvery > 0 && c.ReorgDepth < 1:
		return errors.New("chainsim: ReorgEvery needs a ReorgDepth of at least 1")
	case c.History < 1:
		return fmt.Errorf("chainsim: History %d must be at least 1", c.History)
	case c.ReorgDepth > c.History:
		return fmt.Errorf("chainsim: ReorgDepth %d is deeper than History %d", c.ReorgDepth, c.History)
	case c.Holders < 1:
		return fmt.Errorf("chainsim: Holders %d must be at least 1", c.Holders)
	case len(c.Accounts) > 0 && c.ReorgEvery > 0:
		return errors.New("chainsim: ReorgEvery cannot be combined with Accounts (outside transactions)")
	}
	return nil
}

// Stats counts what the simulator did.
type Stats struct {
	Head            uint64         // the canonical head's number
	Blocks          int            // blocks mined, including those later orphaned
	Txs             int            // transactions sent (re-mined ones once)
	Events          int            // logs emitted, including those later orphaned
	CanonicalEvents int            // logs of the fund's contracts on the canonical chain
	OrphanedEvents  int            // logs in blocks that reorgs orphaned
	Reorgs          int            // reorgs injected
	ByEvent         map[string]int // generated logs per event name
	LastError       string         // the last error of the mining loop ("" if none)
}

// Sim is a local EVM chain serving the fund's contracts over HTTP JSON-RPC, driven by the
// event generator. Its methods are safe for concurrent use.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	key    *ecdsa.PrivateKey
	sender common.Address
	signer types.Signer

	mu      sync.Mutex // serialises everything that changes the chain, the generator and the stats
	state   int        // stateNew, stateStarted, stateClosed
	backend *simulated.Backend
	client  simulated.Client
	url     string
	gen     *generator
	rng     *rand.Rand // the reorg injector's choices
	nonce   uint64     // the sender's next nonce
	head    blockInfo
	hist    []histEntry // the last History+1 canonical blocks, oldest first, head last
	budget  float64     // events owed to the coming blocks
	lastAt  time.Time   // when the loop last mined
	since   int         // blocks since the last automatic reorg
	user    userTxs     // EmitTx transactions waiting for the next block
	stats   Stats
	reorgs  []Reorg

	cancel context.CancelFunc // stops the loop
	done   chan struct{}      // closed when the loop has returned
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

type blockInfo struct {
	number   uint64
	hash     common.Hash
	time     uint64
	gasLimit uint64
}

// histEntry is what a reorg needs of one canonical block: its position, the generator's model
// and the sender's nonce after it, and the logs it holds.
type histEntry struct {
	blockInfo
	snap   *model // never changed once stored: restoring clones it
	nonce  uint64
	events int
	gas    uint64 // the gas limits of its transactions
}

type userTxs struct {
	txs, events int
	gas         uint64
}

// Transaction fees: the base fee starts at 1 gwei and blocks are never filled beyond the gas
// target, so it never rises; the sender holds enough for billions of transactions.
var (
	gasTip        = big.NewInt(params.GWei)
	gasFeeCap     = big.NewInt(50 * params.GWei)
	senderBalance = new(big.Int).Mul(big.NewInt(1e9), big.NewInt(params.Ether))
)

// maxGenTxGas bounds the gas of any generated transaction (at most four short logs), so that
// the generator never produces a transaction the block has no room for.
const maxGenTxGas = 150_000

// New returns a simulator for cfg; it does no I/O (Start does).
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("paimon chainsim sender " + strconv.FormatInt(cfg.Seed, 10))))
	if err != nil {
		return nil, fmt.Errorf("chainsim: sender key: %w", err)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Sim{
		cfg:    cfg,
		log:    lg,
		key:    key,
		sender: crypto.PubkeyToAddress(key.PublicKey),
		signer: types.LatestSignerForChainID(big.NewInt(ChainID)),
		gen:    newGenerator(cfg.Seed, cfg.Holders),
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5e0a6)),
		stats:  Stats{ByEvent: map[string]int{}},
	}, nil
}

// Sender returns the address that signs every transaction.
func (s *Sim) Sender() common.Address { return s.sender }

// Start creates the chain, with the emitter at each fund contract's address and the sender
// funded, serves it over HTTP and, with a BlockInterval, starts mining.
func (s *Sim) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateStarted:
		return errors.New("chainsim: already started")
	case stateClosed:
		return ErrClosed
	}
	host, portStr, _ := net.SplitHostPort(s.cfg.Addr)
	port, _ := strconv.Atoi(portStr)
	if port != 0 {
		// go-ethereum panics when it cannot listen; fail with a plain error in the usual case.
		l, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("chainsim: listen on %s: %w", s.cfg.Addr, err)
		}
		l.Close()
	}
	code := emitterCode()
	alloc := types.GenesisAlloc{s.sender: {Balance: senderBalance}}
	for _, a := range s.cfg.Accounts {
		alloc[a] = types.Account{Balance: senderBalance}
	}
	for _, c := range fundtest.Contracts() {
		alloc[common.HexToAddress(c.Address)] = types.Account{Code: code, Balance: new(big.Int)}
	}
	gh := newGethHandler(s.log.Handler())
	backend, err := newBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost = host
		nc.HTTPPort = port
		nc.HTTPModules = []string{"eth", "net", "web3"}
		// The server listens where Addr says; the virtual-host check guards browsers against
		// DNS rebinding, which a development chain does not need.
		nc.HTTPVirtualHosts = []string{"*"}
		nc.Logger = log.NewLogger(gh)
	})
	if err != nil {
		return err
	}
	select {
	case ep := <-gh.endpoint:
		s.url = "http://" + ep
	default:
		backend.Close()
		return errors.New("chainsim: the node did not report its HTTP endpoint")
	}
	s.backend, s.client = backend, backend.Client()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.init(ctx); err != nil {
		cancel()
		backend.Close()
		return err
	}
	s.state = stateStarted
	s.cancel = cancel
	s.done = make(chan struct{})
	if s.cfg.BlockInterval > 0 {
		s.lastAt = time.Now()
		go s.run(ctx)
	} else {
		close(s.done)
	}
	s.log.Info("chain simulator started", "url", s.url, "chain_id", ChainID, "sender", s.sender)
	return nil
}

// newBackend is simulated.NewBackend, which panics when the node cannot start.
func newBackend(alloc types.GenesisAlloc, opt func(*node.Config, *ethconfig.Config)) (b *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("chainsim: start the simulated chain: %v", r)
		}
	}()
	return simulated.NewBackend(alloc, opt), nil
}

// init checks the chain and records the genesis block as the first history entry.
func (s *Sim) init(ctx context.Context) error {
	id, err := s.client.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("chainsim: chain id: %w", err)
	}
	if id.Uint64() != ChainID {
		return fmt.Errorf("chainsim: the simulated chain's id is %s, want %d", id, ChainID)
	}
	h, err := s.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("chainsim: genesis: %w", err)
	}
	s.head = infoOf(h)
	s.hist = []histEntry{{blockInfo: s.head, snap: s.gen.m.clone()}}
	return nil
}

func infoOf(h *types.Header) blockInfo {
	return blockInfo{number: h.Number.Uint64(), hash: h.Hash(), time: h.Time, gasLimit: h.GasLimit}
}

// Close stops mining and shuts the chain down. It is idempotent.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.state != stateStarted {
		s.state = stateClosed
		s.mu.Unlock()
		return nil
	}
	s.state = stateClosed
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	<-done // the loop takes mu for each block: wait for it outside the lock
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.backend.Close()
	s.log.Info("chain simulator stopped", "head", s.head.number)
	return err
}

// URL returns the HTTP JSON-RPC endpoint ("" before Start).
func (s *Sim) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Head returns the canonical head's number and hash.
func (s *Sim) Head() (uint64, common.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.number, s.head.hash
}

// Stats returns the counters so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Head = s.head.number
	st.Reorgs = len(s.reorgs)
	st.ByEvent = make(map[string]int, len(s.stats.ByEvent))
	for k, v := range s.stats.ByEvent {
		st.ByEvent[k] = v
	}
	return st
}

// SetRate changes the events per second of the blocks mined from now on (0: empty blocks,
// which still confirm the blocks before them): a load tool runs the chain at its rate for a
// measured window, then lets the last events confirm. Flood is refused.
func (s *Sim) SetRate(rate float64) error {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return fmt.Errorf("chainsim: rate %v must be finite and ≥ 0", rate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Rate = rate
	s.budget = min(s.budget, 0) // nothing owed at the old rate is carried over
	return nil
}

// run is the mining loop of a BlockInterval.
func (s *Sim) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.state == stateStarted {
			now := time.Now()
			// Events accrue with the time that passed, so that the rate holds when a block
			// takes longer than the interval to build; a long stall is not made up for.
			elapsed := min(now.Sub(s.lastAt), 10*s.cfg.BlockInterval)
			s.lastAt = now
			if err := s.step(ctx, elapsed.Seconds()); err != nil && ctx.Err() == nil {
				s.stats.LastError = err.Error()
				s.log.Error("mining failed", "head", s.head.number, "err", err)
			}
		}
		s.mu.Unlock()
	}
}

// Mine mines n blocks now, each carrying the events of one BlockInterval (of one second when
// the interval is 0). When an automatic reorg is due it takes the place of a block. A cancelled
// ctx stops it between blocks.
func (s *Sim) Mine(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return err
	}
	secs := s.blockSeconds()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.step(ctx, secs); err != nil {
			return err
		}
	}
	return nil
}

// blockSeconds is the time a block stands for: the interval, or a second when mining on demand.
func (s *Sim) blockSeconds() float64 {
	if s.cfg.BlockInterval > 0 {
		return s.cfg.BlockInterval.Seconds()
	}
	return 1
}

func (s *Sim) ready() error {
	switch s.state {
	case stateNew:
		return ErrNotStarted
	case stateClosed:
		return ErrClosed
	}
	return nil
}

// step mines one block with the events of secs seconds, or injects the automatic reorg when
// it is due. A block is all or nothing for the generator's model, so cancelling ctx does not
// interrupt it (the calls are in-process and short).
func (s *Sim) step(ctx context.Context, secs float64) error {
	ctx = context.WithoutCancel(ctx)
	// A due reorg waits for a block without EmitTx transactions (see Reorg).
	if s.cfg.ReorgEvery > 0 && s.since >= s.cfg.ReorgEvery && int(s.head.number) >= s.cfg.ReorgDepth && s.user.txs == 0 {
		s.since = 0
		_, err := s.reorg(ctx, s.cfg.ReorgDepth)
		return err
	}
	s.since++
	if math.IsInf(s.cfg.Rate, 1) {
		_, err := s.mineBlock(ctx, -1)
		return err
	}
	// What full blocks could not carry is owed to the next ones, up to ten blocks' worth.
	s.budget = min(s.budget+s.cfg.Rate*secs, 10*s.cfg.Rate*s.blockSeconds())
	got, err := s.mineBlock(ctx, max(int(s.budget), 0))
	s.budget -= float64(got)
	return err
}
