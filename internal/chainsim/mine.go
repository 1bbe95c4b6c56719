package chainsim

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"paimon/fund/fundtest"
)

// floodEvents asks mineBlock for as many events as fit.
const floodEvents = -1

// mineBlock sends the generated transactions of the next block, up to events events
// (floodEvents: as many as fit), commits the block with any EmitTx transactions waiting, and
// records it. It returns the number of generated events. Blocks are filled up to the gas
// target (half the gas limit) at most, which keeps the base fee from rising.
func (s *Sim) mineBlock(ctx context.Context, events int) (int, error) {
	// The block's time as the simulated beacon will stamp it: now, or a second after its
	// parent when blocks come faster than one a second.
	s.gen.m.now = int64(max(uint64(time.Now().Unix()), s.head.time+1))
	capacity := s.head.gasLimit / 2
	gas, txs, generated := s.user.gas, s.user.txs, 0
	for (events == floodEvents || generated < events) && gas+maxGenTxGas <= capacity {
		tx := s.gen.next()
		_, g, err := s.send(ctx, tx.target(), tx.logs)
		if err != nil {
			return generated, err
		}
		if g > maxGenTxGas {
			return generated, fmt.Errorf("chainsim: a generated %v transaction needs %d gas, more than the %d allowed for", tx.names, g, maxGenTxGas)
		}
		gas += g
		txs++
		generated += len(tx.logs)
		for _, n := range tx.names {
			s.stats.ByEvent[n]++
		}
	}
	s.stats.Events += generated
	total := s.user.events + generated
	s.user = userTxs{}
	var snap *model
	if generated > 0 {
		snap = s.gen.m.clone()
	}
	return generated, s.commit(ctx, txs, total, gas, snap)
}

// commit seals the pending transactions into the next block, checks that the block holds all
// txs of them, and records it with snap, the generator's model after it (nil: unchanged since
// the previous block, whose snapshot it shares).
func (s *Sim) commit(ctx context.Context, txs, events int, gas uint64, snap *model) error {
	want := s.head.number + 1
	nudges, err := s.awaitPool(ctx)
	if err != nil {
		return err
	}
	txs += nudges
	hash := s.backend.Commit()
	h, err := s.client.HeaderByHash(ctx, hash)
	if err != nil {
		return fmt.Errorf("chainsim: block %d: %w", want, err)
	}
	if h.Number.Uint64() != want {
		return fmt.Errorf("chainsim: block %d was not sealed (head %d)", want, h.Number)
	}
	n, err := s.client.TransactionCount(ctx, hash)
	if err != nil {
		return fmt.Errorf("chainsim: block %d: %w", want, err)
	}
	s.head = infoOf(h)
	if snap == nil {
		snap = s.hist[len(s.hist)-1].snap
	}
	s.hist = append(s.hist, histEntry{blockInfo: s.head, snap: snap, nonce: s.nonce, events: events, gas: gas})
	if keep := s.cfg.History + 1; len(s.hist) > 2*keep {
		s.hist = append([]histEntry(nil), s.hist[len(s.hist)-keep:]...)
	}
	s.stats.Blocks++
	s.stats.CanonicalEvents += events
	if int(n) != txs && !s.holdsAll(ctx, h, int(n), txs) {
		s.backend.Rollback()
		if nonce, err := s.client.NonceAt(ctx, s.sender, nil); err == nil {
			s.nonce = nonce
		}
		return fmt.Errorf("chainsim: block %d holds %d of the %d transactions sent", want, n, txs)
	}
	return nil
}

// holdsAll reports whether a block of n transactions that is not exactly the txs sent holds
// them all among outside transactions (Config.Accounts): the sender's nonce at the block has
// reached its next nonce.
func (s *Sim) holdsAll(ctx context.Context, h *types.Header, n, txs int) bool {
	if n < txs {
		return false
	}
	nonce, err := s.client.NonceAt(ctx, s.sender, h.Number)
	return err == nil && nonce == s.nonce
}

// awaitPool waits until the transaction pool has promoted every transaction sent (its pending
// nonce for the sender is the sender's next nonce), so that the block about to be sealed holds
// them all. go-ethereum's pool can leave the newest transactions queued when their promotion
// runs together with a pool reset (a new head, or the sync the simulated beacon does before
// sealing): the reset rewinds the pool's nonces to the chain's before it promotes, so they do
// not look executable, and only the next transaction added promotes them. When that does not
// resolve by itself within a few milliseconds, awaitPool adds that transaction: an empty call
// to the vault's emitter, which emits nothing. It returns how many it added.
func (s *Sim) awaitPool(ctx context.Context) (int, error) {
	nudges := 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; ; i++ {
		n, err := s.client.PendingNonceAt(ctx, s.sender)
		if err != nil {
			return nudges, fmt.Errorf("chainsim: pending nonce: %w", err)
		}
		if n == s.nonce {
			if i > 1 {
				s.log.Debug("transaction pool caught up", "block", s.head.number+1, "polls", i, "nudges", nudges)
			}
			return nudges, nil
		}
		if time.Now().After(deadline) {
			return nudges, fmt.Errorf("chainsim: the pool holds back transactions %d to %d", n, s.nonce-1)
		}
		if i%5 == 0 {
			if _, _, err := s.send(ctx, fundtest.VaultAddress, nil); err != nil {
				return nudges, err
			}
			nudges++
		}
		time.Sleep(time.Millisecond)
	}
}

// send signs and sends one transaction carrying logs to the emitter at `to`. It returns the
// transaction's hash and gas limit.
func (s *Sim) send(ctx context.Context, to common.Address, logs []Log) (common.Hash, uint64, error) {
	data, err := Calldata(to, logs)
	if err != nil {
		return common.Hash{}, 0, err
	}
	gas, err := txGas(to, data, logs)
	if err != nil {
		return common.Hash{}, 0, err
	}
	tx := types.MustSignNewTx(s.key, s.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(ChainID), Nonce: s.nonce, GasTipCap: gasTip, GasFeeCap: gasFeeCap,
		Gas: gas, To: &to, Data: data,
	})
	if err := s.client.SendTransaction(ctx, tx); err != nil {
		return common.Hash{}, 0, fmt.Errorf("chainsim: send transaction %d: %w", s.nonce, err)
	}
	s.nonce++
	s.stats.Txs++
	return tx.Hash(), gas, nil
}

// EmitTx sends one transaction that emits logs, in order, from the fund's contracts (the
// first log's contract is the one called; the others are reached by call records). It is
// mined with the next block, after that block's generated transactions. Tests use it to place
// exact events, or malformed ones (wrong topic count, short data), on the chain; the generator
// does not know about them.
func (s *Sim) EmitTx(ctx context.Context, logs ...Log) (common.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return common.Hash{}, err
	}
	if len(logs) == 0 {
		return common.Hash{}, errors.New("chainsim: EmitTx without logs")
	}
	for i := range logs {
		if !isContract(logs[i].Address) {
			return common.Hash{}, fmt.Errorf("%w: log %d from %s", ErrNotContract, i, logs[i].Address)
		}
	}
	data, err := Calldata(logs[0].Address, logs)
	if err != nil {
		return common.Hash{}, err
	}
	gas, err := txGas(logs[0].Address, data, logs)
	if err != nil {
		return common.Hash{}, err
	}
	if s.user.gas+gas > s.head.gasLimit/2 {
		return common.Hash{}, ErrBlockFull
	}
	hash, gas, err := s.send(ctx, logs[0].Address, logs)
	if err != nil {
		return common.Hash{}, err
	}
	s.user.txs++
	s.user.events += len(logs)
	s.user.gas += gas
	s.stats.Events += len(logs)
	return hash, nil
}

func isContract(a common.Address) bool {
	return a == fundtest.VaultAddress || a == fundtest.RedemptionManagerAddress ||
		a == fundtest.AssetControllerAddress || a == fundtest.OracleAddress
}
