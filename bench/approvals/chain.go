package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
)

// setupBlock is the block period while the run deploys the contracts and opens the tickets;
// the measured phases use -block-interval.
const setupBlock = 100 * time.Millisecond

// chain is the simulated chain (internal/chainsim, as bench/chainsim -fund-contracts runs it)
// with the fund's contracts, mined by the runner itself: it knows the moment each block is
// sealed, which is when its transactions are mined.
type chain struct {
	sim      *chainsim.Sim
	client   *ethclient.Client
	fund     *fundchain.Fund
	admin    *ecdsa.PrivateKey
	executor *ecdsa.PrivateKey
	users    []*ecdsa.PrivateKey
	period   atomic.Int64 // block period, ns
	done     chan struct{}
	stop     context.CancelFunc

	mu       sync.Mutex
	mined    map[string][]time.Time // request id → when each RedemptionApproved for it was mined
	mineErr  error
	blocks   int
	approved common.Hash
	rm       common.Address // the redemption manager, once deployed
}

// startChain starts the chain with the admin, the executor and one user per ticket funded at
// genesis, mines it every setupBlock, deploys the fund's contracts and grants the executor
// its role.
func startChain(ctx context.Context, o *options) (*chain, error) {
	c := &chain{
		admin: fundchain.DerivedKey("admin", o.seed), executor: fundchain.DerivedKey("executor", o.seed),
		mined: map[string][]time.Time{}, done: make(chan struct{}),
		approved: fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"].ID,
	}
	cfg := chainsim.DefaultConfig()
	cfg.Addr, cfg.BlockInterval, cfg.Rate, cfg.Seed = "127.0.0.1:0", 0, 0, o.seed
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Accounts = []common.Address{crypto.PubkeyToAddress(c.admin.PublicKey), crypto.PubkeyToAddress(c.executor.PublicKey)}
	for i := range o.tickets {
		k := fundchain.DerivedKey(fmt.Sprintf("approvals bench user %d", i), o.seed)
		c.users = append(c.users, k)
		cfg.Accounts = append(cfg.Accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	sim, err := chainsim.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := sim.Start(); err != nil {
		return nil, err
	}
	c.sim = sim
	c.period.Store(int64(setupBlock))
	mctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go c.mine(mctx)
	if c.client, err = ethclient.DialContext(ctx, sim.URL()); err != nil {
		c.close()
		return nil, err
	}
	ch := &fundchain.Chain{Backend: c.client, Poll: 25 * time.Millisecond}
	if c.fund, err = fundchain.Deploy(ctx, ch, c.admin, fundchain.DefaultParams()); err != nil {
		c.close()
		return nil, err
	}
	if err := c.fund.GrantExecutor(ctx, c.admin, crypto.PubkeyToAddress(c.executor.PublicKey)); err != nil {
		c.close()
		return nil, err
	}
	c.mu.Lock()
	c.rm = c.fund.Addr.Of(fundchain.RedemptionManager)
	c.mu.Unlock()
	return c, nil
}

// mine seals a block every period and notes when each RedemptionApproved was mined.
func (c *chain) mine(ctx context.Context) {
	defer close(c.done)
	next := time.Now()
	for {
		next = next.Add(time.Duration(c.period.Load()))
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else {
			next = time.Now() // behind: no burst to catch up
		}
		if err := c.sim.Mine(ctx, 1); err != nil {
			if ctx.Err() == nil {
				c.fail(err)
			}
			return
		}
		at := time.Now()
		c.mu.Lock()
		rm := c.rm
		c.mu.Unlock()
		if rm == (common.Address{}) { // deploying
			continue
		}
		head, _ := c.sim.Head()
		n := new(big.Int).SetUint64(head)
		logs, err := c.client.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: n, ToBlock: n,
			Addresses: []common.Address{rm}, Topics: [][]common.Hash{{c.approved}}})
		if err != nil {
			if ctx.Err() == nil {
				c.fail(fmt.Errorf("logs of block %d: %w", head, err))
			}
			return
		}
		c.mu.Lock()
		c.blocks++ // counted from the deployment on
		for _, l := range logs {
			if len(l.Topics) > 1 {
				id := l.Topics[1].Big().String()
				c.mined[id] = append(c.mined[id], at)
			}
		}
		c.mu.Unlock()
	}
}

func (c *chain) fail(err error) {
	c.mu.Lock()
	if c.mineErr == nil {
		c.mineErr = err
	}
	c.mu.Unlock()
}

// minedAt returns when each request's RedemptionApproved logs were mined, and the mining
// loop's error.
func (c *chain) minedAt() (map[string][]time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]time.Time, len(c.mined))
	for k, v := range c.mined {
		out[k] = append([]time.Time(nil), v...)
	}
	return out, c.mineErr
}

// openTickets makes every user deposit and request the redemption of 1,100,000 shares, at a
// share price of 1 over the contract's approval threshold (100,000 USDT) and the nodes'
// default large amount (1,000,000 USDT: two approvals), 32 users at a time, and returns
// the request ids in user order.
func (c *chain) openTickets(ctx context.Context) ([]*big.Int, error) {
	ids := make([]*big.Int, len(c.users))
	errs := make([]error, len(c.users))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, u := range c.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if errs[i] = c.fund.Faucet(ctx, u, fundchain.E18(1_300_000)); errs[i] != nil {
				return
			}
			// Gas estimation right after the previous receipt has been seen to miss its state
			// (the deposit "reverting" on an allowance just granted): estimated again a
			// moment later.
			if errs[i] = retry(ctx, func() error {
				_, err := c.fund.Deposit(ctx, u, fundchain.E18(1_200_000))
				return err
			}); errs[i] != nil {
				return
			}
			errs[i] = retry(ctx, func() (err error) {
				ids[i], _, err = c.fund.RequestRedemption(ctx, u, fundchain.E18(1_100_000), fundchain.ChannelStandard)
				return err
			})
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// retry runs f up to three times while it fails with fundchain.ErrReverted before sending
// (an estimate), 200 ms apart.
func retry(ctx context.Context, f func() error) error {
	var err error
	for range 3 {
		if err = f(); err == nil || !errors.Is(err, fundchain.ErrReverted) || strings.Contains(err.Error(), " in block ") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

// approvedLogs counts the RedemptionApproved logs of each request on the whole chain.
func (c *chain) approvedLogs(ctx context.Context) (map[string]int, error) {
	logs, err := c.client.FilterLogs(ctx, ethereum.FilterQuery{
		Addresses: []common.Address{c.fund.Addr.Of(fundchain.RedemptionManager)}, Topics: [][]common.Hash{{c.approved}}})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, l := range logs {
		if len(l.Topics) > 1 {
			out[l.Topics[1].Big().String()]++
		}
	}
	return out, nil
}

func (c *chain) close() {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	if c.client != nil {
		c.client.Close()
	}
	c.sim.Close()
}
