package chainsim

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// BlockRef names a block.
type BlockRef struct {
	Number uint64
	Hash   common.Hash
}

// Reorg records one injected reorg.
type Reorg struct {
	Time     time.Time
	Depth    int        // blocks orphaned
	Ancestor BlockRef   // the fork point: the newest block both branches share
	OldHead  BlockRef   // the head before the reorg
	NewHead  BlockRef   // the head after it: Depth+1 blocks above the ancestor
	Orphaned []BlockRef // the orphaned blocks, oldest first
	// Remined is the number of orphaned blocks whose transactions the new branch mines again
	// (the first ones, in their order, packed into fewer blocks); the transactions of the
	// other orphaned blocks are dropped.
	Remined        int
	ReminedTxs     int
	DroppedTxs     int
	OrphanedEvents int // logs of the orphaned blocks
	NewEvents      int // logs of the new branch
}

// Reorg replaces the newest depth blocks with a new branch of depth+1 blocks forked from the
// block below them (so that it becomes canonical): the transactions of the first few orphaned
// blocks (a random number, fewer than depth) are mined again, merged into fewer blocks, so
// their logs move to other blocks and log indexes; the others are dropped; the remaining new
// blocks carry freshly generated events (at least one transaction each). Every block above
// the fork point changes its hash. It fails with ErrPendingTxs while EmitTx transactions wait
// for a block.
func (s *Sim) Reorg(ctx context.Context, depth int) (Reorg, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return Reorg{}, err
	}
	return s.reorg(ctx, depth)
}

// Reorgs returns the reorgs injected so far, oldest first.
func (s *Sim) Reorgs() []Reorg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reorg(nil), s.reorgs...)
}

func (s *Sim) reorg(ctx context.Context, depth int) (Reorg, error) {
	ctx = context.WithoutCancel(ctx) // all or nothing, as a block (see step)
	if s.user.txs > 0 {
		// Forking needs an empty transaction pool, and EmitTx has promised its hashes.
		return Reorg{}, ErrPendingTxs
	}
	if depth < 1 || uint64(depth) > s.head.number || depth > s.cfg.History || depth >= len(s.hist) {
		return Reorg{}, fmt.Errorf("%w: %d (head %d, history %d)", ErrReorgDepth, depth, s.head.number, min(s.cfg.History, len(s.hist)-1))
	}
	anc := s.hist[len(s.hist)-1-depth]
	orphans := append([]histEntry(nil), s.hist[len(s.hist)-depth:]...)
	rec := Reorg{
		Time: time.Now(), Depth: depth,
		Ancestor: BlockRef{anc.number, anc.hash},
		OldHead:  BlockRef{s.head.number, s.head.hash},
		Remined:  s.rng.IntN(depth),
	}
	for _, o := range orphans {
		rec.Orphaned = append(rec.Orphaned, BlockRef{o.number, o.hash})
		rec.OrphanedEvents += o.events
	}
	// The transactions to mine again, read before the fork makes their blocks side-chain ones.
	again := make([]types.Transactions, rec.Remined)
	for i := range again {
		b, err := s.client.BlockByHash(ctx, orphans[i].hash)
		if err != nil {
			return Reorg{}, fmt.Errorf("chainsim: reorg: orphaned block %d: %w", orphans[i].number, err)
		}
		again[i] = b.Transactions()
		rec.ReminedTxs += len(again[i])
	}
	for _, o := range orphans[rec.Remined:] {
		b, err := s.client.BlockByHash(ctx, o.hash)
		if err != nil {
			return Reorg{}, fmt.Errorf("chainsim: reorg: orphaned block %d: %w", o.number, err)
		}
		rec.DroppedTxs += len(b.Transactions())
	}

	if err := s.backend.Fork(anc.hash); err != nil {
		return Reorg{}, fmt.Errorf("chainsim: reorg: fork at block %d: %w", anc.number, err)
	}
	// The pool takes the orphaned transactions back when the head moves down; drop them, the
	// new branch decides what it holds.
	s.backend.Rollback()
	s.hist = s.hist[:len(s.hist)-depth]
	s.head = anc.blockInfo
	s.stats.CanonicalEvents -= rec.OrphanedEvents
	s.stats.OrphanedEvents += rec.OrphanedEvents
	s.nonce = anc.nonce
	s.gen.m = anc.snap.clone()
	s.user = userTxs{}

	// Mine the kept transactions again, whole orphaned blocks merged into as few new blocks as
	// the gas target allows, so that each new block ends where an orphaned one ended and its
	// history entry can reuse that block's model snapshot.
	mined := 0
	capacity := anc.gasLimit / 2
	for i := 0; i < rec.Remined; {
		var gas uint64
		txs, events := 0, 0
		k := i
		for ; k < rec.Remined && (k == i || gas+orphans[k].gas <= capacity); k++ {
			for _, tx := range again[k] {
				if err := s.client.SendTransaction(ctx, tx); err != nil {
					return rec, fmt.Errorf("chainsim: reorg: send transaction %s again: %w", tx.Hash(), err)
				}
			}
			gas += orphans[k].gas
			txs += len(again[k])
			events += orphans[k].events
		}
		s.nonce = orphans[k-1].nonce
		s.gen.m = orphans[k-1].snap.clone()
		if err := s.commit(ctx, txs, events, gas, orphans[k-1].snap); err != nil {
			return rec, err
		}
		rec.NewEvents += events
		mined++
		i = k
	}
	// Fresh blocks up to depth+1, each with the events of a block, at least one transaction.
	perBlock := floodEvents
	if !math.IsInf(s.cfg.Rate, 1) {
		perBlock = max(1, int(s.cfg.Rate*s.blockSeconds()))
	}
	for ; mined < depth+1; mined++ {
		got, err := s.mineBlock(ctx, perBlock)
		if err != nil {
			return rec, err
		}
		rec.NewEvents += got
	}
	rec.NewHead = BlockRef{s.head.number, s.head.hash}
	s.reorgs = append(s.reorgs, rec)
	s.log.Info("reorg injected", "depth", depth, "ancestor", anc.number, "old_head", rec.OldHead.Hash,
		"new_head", rec.NewHead.Hash, "remined_txs", rec.ReminedTxs, "dropped_txs", rec.DroppedTxs)
	return rec, nil
}
