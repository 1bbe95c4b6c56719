package executor

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// term is one leadership term's memory: which intents this term has broadcast already (a new
// leader rebroadcasts every open intent once, then only replacements).
type term struct {
	broadcast map[uint64]bool
	atCaps    map[uint64]time.Time // when an intent unmined at the fee caps was last rebroadcast
}

// lead is the leader's loop for one term.
func (e *Executor) lead(ctx context.Context) {
	e.setLeading(true)
	defer e.setLeading(false)
	e.log.Info("executor leading")
	tm := &term{broadcast: map[uint64]bool{}, atCaps: map[uint64]time.Time{}}
	tick := time.NewTicker(e.deps.Poll)
	defer tick.Stop()
	var keeper <-chan time.Time
	if e.deps.Due != nil && e.deps.Keeper.SettleInterval > 0 {
		kt := time.NewTicker(e.deps.Keeper.SettleInterval)
		defer kt.Stop()
		keeper = kt.C
	}
	probe := time.NewTicker(e.deps.RPCProbe)
	defer probe.Stop()
	var probing atomic.Bool // a probe runs: skip the tick, never two at once
	var probes sync.WaitGroup
	defer probes.Wait()
	for {
		e.round(ctx, tm)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.wake:
		case <-keeper:
			e.keep(ctx)
		case <-probe.C:
			if probing.CompareAndSwap(false, true) {
				probes.Go(func() {
					defer probing.Store(false)
					e.probeDown(ctx)
				})
			}
		}
	}
}

// probeDown asks each endpoint whose last call failed for the chain's head and notes the
// outcome. Calls go to the endpoints that answer first (Executor.first): without a probe, an
// endpoint that came back would stay down in the status until every other one failed or a
// broadcast reached it.
func (e *Executor) probeDown(ctx context.Context) {
	for i, c := range e.deps.Clients {
		if !e.mon.rpcDown[i].Load() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.HeaderByNumber(cctx, nil)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.mon.rpc(i, transportError(err))
	}
}

func (e *Executor) setLeading(b bool) {
	e.mu.Lock()
	e.leading = b
	e.mu.Unlock()
	e.mon.setLeading(b)
}

// round looks at every open intent once.
func (e *Executor) round(ctx context.Context, tm *term) {
	e.work.Lock()
	defer e.work.Unlock()
	intents, err := e.deps.Store.Intents(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("executor: reading intents", "err", err)
		}
		return
	}
	if e.deps.Source != nil {
		if intents, err = e.fromSource(ctx, intents); err != nil {
			if ctx.Err() == nil {
				e.log.Warn("executor: decisions", "err", err)
			}
			e.mon.round(intents, e.deps.Now(), e.cfg.ReplaceAfter)
			return
		}
	}
	e.mon.round(intents, e.deps.Now(), e.cfg.ReplaceAfter)
	for i := range intents {
		t := &intents[i]
		if !t.open() || ctx.Err() != nil {
			continue
		}
		if err := e.process(ctx, tm, t); err != nil && ctx.Err() == nil {
			e.log.Warn("executor: transaction", "seq", t.Seq, "purpose", t.Purpose, "reference", t.Reference, "nonce", t.Nonce, "err", err)
		}
	}
}

// fromSource submits the Source's decisions that have no intent yet and returns the intents
// with theirs.
func (e *Executor) fromSource(ctx context.Context, intents []Intent) ([]Intent, error) {
	ds, err := e.deps.Source.Decisions(ctx)
	if err != nil {
		return intents, err
	}
	have := make(map[[2]string]bool, len(intents))
	for i := range intents {
		have[[2]string{intents[i].Purpose, intents[i].Reference}] = true
	}
	for _, d := range ds {
		if have[[2]string{d.Purpose, d.Reference}] {
			continue
		}
		data, err := d.calldata()
		if err == nil {
			_, err = e.target(d.Purpose)
		}
		if err != nil {
			e.log.Warn("executor: decision refused", "purpose", d.Purpose, "reference", d.Reference, "err", err)
			have[[2]string{d.Purpose, d.Reference}] = true
			continue
		}
		t, err := e.submit(ctx, d, data, intents)
		if err != nil {
			return intents, err
		}
		have[[2]string{d.Purpose, d.Reference}] = true
		intents = append(intents, t)
	}
	return intents, nil
}

// process moves one open intent on as far as the chain allows.
func (e *Executor) process(ctx context.Context, tm *term, t *Intent) error {
	if t.State == StateMined {
		return e.confirm(ctx, t)
	}
	// The nonce first, then the receipts: a nonce the chain has used is either ours (then a
	// receipt exists) or an outside transaction's (then none ever will).
	used, err := e.nonceUsed(ctx, t.Nonce)
	if err != nil {
		return err
	}
	if r, err := e.receipt(ctx, t); err != nil {
		return err
	} else if r != nil {
		return e.mined(ctx, t, r)
	}
	if used {
		return e.update(ctx, Update{Seq: t.Seq, State: StateFailed,
			Reason: fmt.Sprintf("nonce %d was used by another transaction of %s", t.Nonce, e.from.Hex())})
	}
	last := t.last()
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(last.Raw); err != nil {
		return e.update(ctx, Update{Seq: t.Seq, State: StateFailed, Reason: "undecodable signed transaction"})
	}
	if t.State == StateSigned {
		reason, err := e.simulate(ctx, tx)
		if err != nil {
			return err
		}
		if reason != "" {
			e.log.Warn("transaction would revert: not sent", "seq", t.Seq, "purpose", t.Purpose, "reference", t.Reference, "reason", reason)
			return e.update(ctx, Update{Seq: t.Seq, State: StateFailed, Reason: reason})
		}
		if n := e.broadcast(ctx, last.Raw); n == 0 {
			return fmt.Errorf("no RPC accepted %s", tx.Hash().Hex())
		}
		tm.broadcast[t.Seq] = true
		e.log.Info("transaction sent", "seq", t.Seq, "purpose", t.Purpose, "reference", t.Reference, "nonce", t.Nonce, "hash", tx.Hash().Hex())
		return e.update(ctx, Update{Seq: t.Seq, State: StateSent})
	}
	// SENT and not mined for replace_after since it was last sent or replaced (an intent that
	// waited SIGNED while every RPC was down gets its time once it is out).
	since := last.Time
	if t.Updated.After(since) {
		since = t.Updated
	}
	if e.deps.Now().Sub(since) >= e.cfg.ReplaceAfter {
		return e.replace(ctx, tm, t, tx)
	}
	if !tm.broadcast[t.Seq] {
		// A new leader sends the recorded bytes again: the same hash, never a new signature.
		if n := e.broadcast(ctx, last.Raw); n > 0 {
			tm.broadcast[t.Seq] = true
			e.log.Info("transaction rebroadcast", "seq", t.Seq, "nonce", t.Nonce, "hash", tx.Hash().Hex())
		}
	}
	return nil
}

// replace signs the intent's transaction again at the same nonce with higher fees, records
// the replacement, then broadcasts it: each fee at least 12.5 % over the old one (nodes want
// 10 % to replace) and at least what a new transaction would pay now (fees: a base fee that rose
// past the old fee cap is caught up in one step, not in 12.5 % steps), within the caps. At the
// caps it only rebroadcasts.
func (e *Executor) replace(ctx context.Context, tm *term, t *Intent, old *types.Transaction) error {
	maxTip := new(big.Int).Mul(new(big.Int).SetUint64(e.cfg.MaxTipGwei), gwei)
	maxFee := new(big.Int).Mul(new(big.Int).SetUint64(e.cfg.MaxFeeGwei), gwei)
	bump := func(v *big.Int) *big.Int { // +12.5 %: nodes want at least 10 % to replace
		return new(big.Int).Add(v, new(big.Int).Add(new(big.Int).Div(v, big.NewInt(8)), big.NewInt(1)))
	}
	tip, feeCap := bump(old.GasTipCap()), bump(old.GasFeeCap())
	if nowTip, nowCap, err := e.fees(ctx); err == nil { // else the bumps alone
		tip, feeCap = bigMax(tip, nowTip), bigMax(feeCap, nowCap)
	}
	tip, feeCap = bigMin(tip, maxTip), bigMin(feeCap, maxFee)
	if tip.Cmp(bump(old.GasTipCap())) < 0 || feeCap.Cmp(bump(old.GasFeeCap())) < 0 {
		// A replacement below the nodes' 10 % bump would be refused: send the same bytes
		// again, once per replace_after.
		if now := e.deps.Now(); now.Sub(tm.atCaps[t.Seq]) >= e.cfg.ReplaceAfter {
			tm.atCaps[t.Seq] = now
			e.broadcast(ctx, t.last().Raw)
			e.log.Warn("transaction unmined at the fee caps: rebroadcast", "seq", t.Seq, "nonce", t.Nonce, "hash", old.Hash().Hex())
		}
		return nil
	}
	tx, err := e.sign(t.To, t.Nonce, tip, feeCap, old.Data())
	if err != nil {
		return err
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return err
	}
	// Recorded before it is sent: a new leader knows every hash that may be mined.
	if err := e.update(ctx, Update{Seq: t.Seq, Replacement: Attempt{Hash: tx.Hash(), Raw: raw}}); err != nil {
		return err
	}
	e.mon.replacements.Inc()
	n := e.broadcast(ctx, raw)
	tm.broadcast[t.Seq] = n > 0
	e.log.Info("transaction replaced", "seq", t.Seq, "nonce", t.Nonce, "old", old.Hash().Hex(), "hash", tx.Hash().Hex(),
		"maxFeePerGas", feeCap, "maxPriorityFeePerGas", tip)
	return nil
}

// mined records a receipt of one of the intent's attempts.
func (e *Executor) mined(ctx context.Context, t *Intent, r *types.Receipt) error {
	block := r.BlockNumber.Uint64()
	if r.Status != types.ReceiptStatusSuccessful {
		return e.update(ctx, Update{Seq: t.Seq, State: StateFailed, Block: block, MinedHash: r.TxHash,
			Reason: fmt.Sprintf("reverted on chain in block %d", block)})
	}
	if err := e.update(ctx, Update{Seq: t.Seq, State: StateMined, Block: block, MinedHash: r.TxHash}); err != nil {
		return err
	}
	e.mon.mined.Update(e.deps.Now().Sub(t.Created).Seconds())
	e.log.Info("transaction mined", "seq", t.Seq, "purpose", t.Purpose, "reference", t.Reference, "hash", r.TxHash.Hex(), "block", block)
	t.State, t.Block, t.MinedHash = StateMined, block, r.TxHash
	return e.confirm(ctx, t)
}

// confirm turns a mined intent CONFIRMED at depth, or SENT again if its block left the chain.
func (e *Executor) confirm(ctx context.Context, t *Intent) error {
	var r *types.Receipt
	var head uint64
	err := e.first(ctx, func(ctx context.Context, c Client) error {
		h, err := c.HeaderByNumber(ctx, nil)
		if err != nil {
			return err
		}
		head = h.Number.Uint64()
		r, err = c.TransactionReceipt(ctx, t.MinedHash)
		if notFound(err) {
			r, err = nil, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if r == nil {
		e.log.Warn("mined transaction left the chain: sending again", "seq", t.Seq, "hash", t.MinedHash.Hex())
		return e.update(ctx, Update{Seq: t.Seq, State: StateSent})
	}
	if head+1 >= r.BlockNumber.Uint64()+uint64(e.deps.Confirmations) {
		return e.update(ctx, Update{Seq: t.Seq, State: StateConfirmed, Block: r.BlockNumber.Uint64(), MinedHash: r.TxHash})
	}
	return nil
}

// receipt returns the receipt of any of the intent's attempts, or nil.
func (e *Executor) receipt(ctx context.Context, t *Intent) (*types.Receipt, error) {
	var found *types.Receipt
	err := e.first(ctx, func(ctx context.Context, c Client) error {
		for i := len(t.Attempts) - 1; i >= 0; i-- {
			r, err := c.TransactionReceipt(ctx, t.Attempts[i].Hash)
			if notFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			found = r
			return nil
		}
		return nil
	})
	return found, err
}

func notFound(err error) bool {
	return err != nil && (errors.Is(err, ethereum.NotFound) || strings.Contains(err.Error(), "not found") ||
		strings.Contains(err.Error(), "indexing is in progress"))
}

// nonceUsed reports whether the chain has mined a transaction of the account at nonce.
func (e *Executor) nonceUsed(ctx context.Context, nonce uint64) (bool, error) {
	var n uint64
	err := e.first(ctx, func(ctx context.Context, c Client) (err error) {
		n, err = c.NonceAt(ctx, e.from, nil)
		return err
	})
	return n > nonce, err
}

// simulate runs the transaction as an eth_call on the head's state: a revert's reason, or ""
// when it would succeed; err only when no RPC answered.
func (e *Executor) simulate(ctx context.Context, tx *types.Transaction) (string, error) {
	msg := ethereum.CallMsg{From: e.from, To: tx.To(), Gas: tx.Gas(), Data: tx.Data()}
	var reason string
	err := e.first(ctx, func(ctx context.Context, c Client) error {
		_, err := c.CallContract(ctx, msg, nil)
		if err == nil {
			return nil
		}
		var de rpc.DataError
		var re rpc.Error
		if errors.As(err, &de) || errors.As(err, &re) || strings.Contains(err.Error(), "revert") {
			reason = err.Error()
			return nil
		}
		return err
	})
	if len(reason) > 512 {
		reason = reason[:509] + "..."
	}
	return reason, err
}

// broadcast sends raw to every RPC at once and returns how many took it ("already known"
// counts: it is the same transaction).
func (e *Executor) broadcast(ctx context.Context, raw []byte) int {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return 0
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i, c := range e.deps.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := c.SendTransaction(cctx, tx)
			if ctx.Err() == nil {
				e.mon.rpc(i, transportError(err))
			}
			if err != nil && !strings.Contains(err.Error(), "already known") && !strings.Contains(err.Error(), "known transaction") {
				e.log.Debug("executor: broadcast refused", "rpc", i, "hash", tx.Hash().Hex(), "err", err)
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return accepted
}

// update commits an update dated now.
func (e *Executor) update(ctx context.Context, u Update) error {
	u.Time = e.deps.Now()
	if len(u.Reason) > 512 {
		u.Reason = u.Reason[:509] + "..."
	}
	if err := e.deps.Store.Update(ctx, u); err != nil {
		return err
	}
	e.mon.state(u.State) // "" for a replacement: not a state
	return nil
}

// transportError is err when it says the endpoint could not be reached or answer (nil for an
// answer, a refusal of the transaction included: the endpoint is up).
func transportError(err error) error {
	var de rpc.DataError
	var re rpc.Error
	if err == nil || errors.As(err, &de) || errors.As(err, &re) {
		return nil
	}
	return err
}
