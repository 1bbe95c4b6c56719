package ingest

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

type recSink struct {
	pending, withdrawn []chainlog.Event
}

func (s *recSink) Pending(evs []chainlog.Event)   { s.pending = append(s.pending, evs...) }
func (s *recSink) Withdrawn(evs []chainlog.Event) { s.withdrawn = append(s.withdrawn, evs...) }

func (s *recSink) take() (p, w []chainlog.Event) {
	p, w = s.pending, s.withdrawn
	s.pending, s.withdrawn = nil, nil
	return p, w
}

func emitMint(t *testing.T, sim *chainsim.Sim, to common.Address, value int64) common.Hash {
	t.Helper()
	ev, err := fundtest.NewEvent("Transfer", common.Address{}, to, big.NewInt(value))
	if err != nil {
		t.Fatal(err)
	}
	l, err := chainsim.LogOf(ev)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sim.EmitTx(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func txHashes(evs []chainlog.Event) []common.Hash {
	var out []common.Hash
	for _, e := range evs {
		out = append(out, e.TxHash)
	}
	return out
}

// TestPendingWatcher: an event in a block above the confirmation depth is reported once as
// pending, decoded as the ingester would; a shallow reorg that drops it withdraws it; one that
// reaches the depth is forgotten without a withdrawal.
func TestPendingWatcher(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 0)
	sink := &recSink{}
	cfg := DefaultConfig()
	cfg.ChainID, cfg.RPCURLs, cfg.Confirmations, cfg.PollInterval, cfg.RPCTimeout = chainsim.ChainID, []string{sim.URL()}, 3, time.Hour, 2*time.Second
	w, err := NewPendingWatcher(cfg, sink, Deps{Registry: fundtest.Registry(), Logger: testutil.Logger(t, "", slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := sim.Mine(ctx, 5); err != nil { // confirmed history below the tip
		t.Fatal(err)
	}
	holder := fundtest.Addr("pending-holder")
	tx1 := emitMint(t, sim, holder, 7)
	if err := sim.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	p, wd := sink.take()
	if !slices.Contains(txHashes(p), tx1) || len(wd) != 0 {
		t.Fatalf("after the block: pending %v, withdrawn %v", txHashes(p), txHashes(wd))
	}
	for _, ev := range p {
		if ev.TxHash == tx1 && (ev.Name != "Transfer" || ev.BlockTime == 0 || ev.Args[1].Address != holder) {
			t.Fatalf("pending event %+v", ev)
		}
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if p, wd := sink.take(); len(p)+len(wd) != 0 {
		t.Fatalf("a second poll reported again: %v %v", txHashes(p), txHashes(wd))
	}

	// A reorg of depth 1 drops the block's transactions (fewer than depth are mined again).
	if _, err := sim.Reorg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	_, wd = sink.take()
	if !slices.Contains(txHashes(wd), tx1) {
		t.Fatalf("after the reorg: withdrawn %v, want %s", txHashes(wd), tx1.Hex())
	}

	// An event that reaches the depth is the ingester's: no withdrawal.
	tx2 := emitMint(t, sim, holder, 9)
	if err := sim.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := sink.take(); !slices.Contains(txHashes(p), tx2) {
		t.Fatalf("tx2 not pending: %v", txHashes(p))
	}
	if err := sim.Mine(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, wd := sink.take(); len(wd) != 0 {
		t.Fatalf("confirmed events withdrawn: %v", txHashes(wd))
	}
	if n := len(w.seen); n != 0 {
		t.Fatalf("%d events still tracked after confirmation", n)
	}

	// A wrong chain id is refused before anything is reported.
	cfg2 := DefaultConfig()
	cfg2.ChainID, cfg2.RPCURLs, cfg2.Confirmations = 1, []string{sim.URL()}, 3
	w2, err := NewPendingWatcher(cfg2, &recSink{}, Deps{Registry: fundtest.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Poll(ctx); !errors.Is(err, ErrChainID) {
		t.Fatalf("wrong chain: %v", err)
	}
}
