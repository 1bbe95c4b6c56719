package fund

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/kv"
)

// TestBatchedEqualsUnbatched applies the same random commands (duplicates and in-batch reverts
// included) one per batch and many per batch: the overlay must leave byte-identical stores,
// the same results and the same in-memory singleton.
func TestBatchedEqualsUnbatched(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			var cmds [][]byte
			var applied []chainlog.Event
			bn := uint64(1)
			for len(cmds) < 60 {
				bn++
				evs := randomBlock(rng, bn, &applied)
				cmds = append(cmds, EncodeLogs(&LogsCommand{Time: (testNow + int64(bn)) * 1e9, Events: evs}))
				if rng.IntN(5) == 0 {
					cmds = append(cmds, EncodePrices(&PricesCommand{Time: (testNow + int64(bn)) * 1e9, Actor: Actor{Name: "op"},
						Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + rng.IntN(3))), Price: *u(1 + rng.Uint64N(9)), Time: testNow + rng.Int64N(100)}}}))
				}
			}
			one, many := newEnv(t), newEnv(t)
			var resOne, resMany []string
			for _, c := range cmds {
				resOne = append(resOne, fmt.Sprintf("%+v", one.apply(c)))
			}
			for i := 0; i < len(cmds); {
				n := min(1+rng.IntN(10), len(cmds)-i)
				for _, c := range cmds[i : i+n] {
					many.index++
					res, err := many.m.Apply(many.st, many.index, c)
					if err != nil {
						t.Fatal(err)
					}
					resMany = append(resMany, fmt.Sprintf("%+v", res))
				}
				if err := many.m.EndBatch(many.st, many.index); err != nil {
					t.Fatal(err)
				}
				many.m.Committed()
				i += n
			}
			if fmt.Sprint(resOne) != fmt.Sprint(resMany) {
				t.Fatal("results differ between batched and unbatched apply")
			}
			if fmt.Sprint(one.m.fund) != fmt.Sprint(many.m.fund) {
				t.Fatalf("singleton differs:\n%v\n%v", one.m.fund, many.m.fund)
			}
			if a, b := one.dump(), many.dump(); a != b {
				t.Fatalf("stores differ:\n%s", diffDumps(a, b))
			}
			checkInvariants(t, many)
		})
	}
}

// TestRollbackRestoresEverything changes state half-way through a command and rolls it back:
// the overlay, the singleton, the dirty classes and the batch's Changes must be as before,
// also for keys an earlier command of the same batch changed.
func TestRollbackRestoresEverything(t *testing.T) {
	e := newEnv(t)
	e.logs(mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(3)),
		mk("Deposit", 1, 1, testNow, addr(1), addr(1), u(10), u(10)))
	ref := newEnv(t)
	ref.logs(mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(3)),
		mk("Deposit", 1, 1, testNow, addr(1), addr(1), u(10), u(10)))

	// One good command in the batch, then a command that fails after changing things.
	good := EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{mk("Transfer", 2, 0, testNow+5, addr(1), addr(2), u(1))}})
	for _, x := range []*env{e, ref} {
		x.index++
		if _, err := x.m.Apply(x.st, x.index, good); err != nil {
			t.Fatal(err)
		}
	}
	fund, classes := e.m.fund, e.m.changes.Classes
	nAcct, nEnt := len(e.m.changes.Accounts), len(e.m.changes.Entries)

	sp := e.m.savepoint()
	ac := &applyContext{Machine: e.m, store: e.st, index: e.index + 1, blockTime: testNow + 3600, cmdTime: testNow * 1e9}
	steps := []error{
		ac.acctChange(addr(1), aShares, u(1), true), // changed by the good command
		ac.acctChange(addr(3), aDeposited, u(7), false),
		ac.flowAdd(testNow, flowSubs, u(9), false), // changed by the first batch
		ac.flowAdd(testNow+7200, flowReds, u(9), false),
		ac.setKey(navKey(testNow, 3, 0), []byte{1}),
		e.m.del(accountKey(addr(2))),
		e.m.writeAudit(e.index, 0, 1, &Actor{Name: "x"}, "a", "b", nil, nil),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	ac.fundAdd(fTotalAssets, u(5), false)
	e.m.markPrice(addr(50))
	e.m.markRedemption("9")
	ac.noteEntry(&chainlog.Event{Name: "RedemptionFeeAdded", Args: []chainlog.Arg{{Name: "fee"}}}, false)
	if nEnt != 1 || len(e.m.changes.Entries) != 2 {
		t.Fatalf("an entry noted: Changes.Entries %+v", e.m.changes.Entries)
	}
	e.m.rollback(sp)

	if fmt.Sprint(e.m.fund) != fmt.Sprint(fund) || e.m.changes.Classes != classes ||
		len(e.m.changes.Accounts) != nAcct || len(e.m.changes.Entries) != nEnt ||
		len(e.m.changes.Prices) != 0 || len(e.m.changes.Redemptions) != 0 ||
		e.m.changes.seenPrice[addr(50)] || e.m.changes.seenRed["9"] || e.m.changes.seenAcct[addr(3)] {
		t.Fatalf("rollback left in-memory changes: %+v", e.m.changes)
	}
	for _, x := range []*env{e, ref} {
		if err := x.m.EndBatch(x.st, x.index); err != nil {
			t.Fatal(err)
		}
		x.m.Committed()
	}
	if a, b := ref.dump(), e.dump(); a != b {
		t.Fatalf("rollback changed the store:\n%s", diffDumps(a, b))
	}
}

// TestOverlayFlushSkipsNoops: a key set back to its stored value, or created and deleted in
// the same batch, is not written; the rest is written in key order.
func TestOverlayFlushSkipsNoops(t *testing.T) {
	st := kv.NewMem()
	st.Set([]byte("a"), []byte("1"))
	var w countingWriter
	o := newOverlay()
	o.begin()
	if _, _, err := o.get(st, []byte("a")); err != nil {
		t.Fatal(err)
	}
	o.put([]byte("a"), []byte("2"), true)
	o.put([]byte("a"), []byte("1"), true)
	if _, _, err := o.get(st, []byte("b")); err != nil {
		t.Fatal(err)
	}
	o.put([]byte("b"), []byte("x"), true)
	o.put([]byte("b"), nil, false)
	o.put([]byte("c"), []byte("3"), true) // blind writes: always written
	o.put([]byte("aa"), []byte("4"), true)
	o.put([]byte("b0"), nil, false)
	if err := o.flush(&w); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "writes", w.ops, []string{"set aa=4", "delete b0", "set c=3"})
	if len(o.entries) != 0 || len(o.idx) != 0 {
		t.Fatal("flush did not reset the overlay")
	}
}

type countingWriter struct{ ops []string }

func (w *countingWriter) Set(k, v []byte) error {
	w.ops = append(w.ops, fmt.Sprintf("set %s=%s", k, v))
	return nil
}

func (w *countingWriter) Delete(k []byte) error {
	w.ops = append(w.ops, fmt.Sprintf("delete %s", k))
	return nil
}

func (w *countingWriter) DeleteRange(start, end []byte) error {
	w.ops = append(w.ops, fmt.Sprintf("delete [%s, %s)", start, end))
	return nil
}
