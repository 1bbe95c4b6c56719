package fund

import (
	"math/rand/v2"
	"paimon/chainlog"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// randomBlock returns 1 to 12 events for block bn: mostly new random events (randomEvent),
// which it appends to *applied, and now and then a revert of one of *applied (which it takes
// out) or a duplicate of one.
func randomBlock(rng *rand.Rand, bn uint64, applied *[]chainlog.Event) []chainlog.Event {
	var evs []chainlog.Event
	for n := 1 + rng.IntN(12); n > 0; n-- {
		switch {
		case len(*applied) > 0 && rng.IntN(6) == 0:
			i := rng.IntN(len(*applied))
			evs = append(evs, removed((*applied)[i]))
			*applied = append((*applied)[:i], (*applied)[i+1:]...)
		case len(*applied) > 0 && rng.IntN(12) == 0:
			evs = append(evs, (*applied)[rng.IntN(len(*applied))]) // duplicate
		default:
			ev := randomEvent(rng, bn, uint64(len(evs)))
			evs = append(evs, ev)
			*applied = append(*applied, ev)
		}
	}
	return evs
}

// randomEvent builds a valid event of a random kind over small pools of holders, tokens and
// request ids, so that events interact (and balances go "negative").
func randomEvent(rng *rand.Rand, bn, li uint64) chainlog.Event {
	s := chainlog.SpecByID(uint8(1 + rng.IntN(int(chainlog.NumSpecs))))
	bt := testNow + int64(bn)*3 + rng.Int64N(5)
	if rng.IntN(10) == 0 {
		bt = 0 // no blockTimestamp: the command time is used
	}
	args := make([]any, len(s.Args))
	for i, a := range s.Args {
		switch a.Type {
		case chainlog.ArgAddress:
			if a.Name == "token" || a.Name == "asset" {
				args[i] = addr(50 + rng.IntN(3))
			} else if rng.IntN(6) == 0 {
				args[i] = common.Address{}
			} else {
				args[i] = addr(1 + rng.IntN(5))
			}
		case chainlog.ArgUint256:
			switch {
			case a.Name == "requestId":
				args[i] = 1 + rng.IntN(6)
			case strings.Contains(strings.ToLower(a.Name), "time"):
				args[i] = testNow + rng.Int64N(40*day)
			case rng.IntN(8) == 0:
				v := new(uint256.Int).Lsh(u(1), 255) // top bit: exercises wrap-around
				args[i] = v.AddUint64(v, rng.Uint64N(100))
			default:
				args[i] = new(uint256.Int).Mul(u(rng.Uint64N(1000)), u(1e15))
			}
		case chainlog.ArgUint8:
			args[i] = rng.IntN(4)
		case chainlog.ArgBool:
			args[i] = rng.IntN(2) == 0
		case chainlog.ArgString:
			args[i] = []string{"", "kyc", "limit \"reached\""}[rng.IntN(3)]
		}
	}
	return mk(s.Name, bn, li, bt, args...)
}

func TestRandomSequencesRevertExactly(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run("", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			e := newEnv(t)
			bn := uint64(1)
			// A base history that the reverts must leave untouched.
			var base []chainlog.Event
			for i := 0; i < 30; i++ {
				base = append(base, randomEvent(rng, bn, uint64(i)))
			}
			e.logs(base...)
			baseline := e.stateDump() // the alerts raised meanwhile stay (alerts.go)
			var applied []chainlog.Event
			var all []chainlog.Event
			for len(applied) < 300 {
				bn++
				var batch []chainlog.Event
				for n := 1 + rng.IntN(20); n > 0; n-- {
					if len(all) > 0 && rng.IntN(15) == 0 {
						batch = append(batch, all[rng.IntN(len(all))]) // duplicate
						continue
					}
					batch = append(batch, randomEvent(rng, bn, uint64(len(batch))))
				}
				r := e.logs(batch...)
				for i, o := range r.Outcomes {
					if o.Status == OutcomeAccepted {
						applied = append(applied, batch[i])
					}
				}
				all = append(all, batch...)
				checkInvariants(t, e)
			}
			for len(applied) > 0 {
				n := min(1+rng.IntN(20), len(applied))
				var batch []chainlog.Event
				for i := 0; i < n; i++ {
					batch = append(batch, removed(applied[len(applied)-1-i]))
				}
				applied = applied[:len(applied)-n]
				if r := e.logs(batch...); r.Reverted != n {
					t.Fatalf("reverted %d of %d", r.Reverted, n)
				}
			}
			checkInvariants(t, e)
			if got := e.stateDump(); got != baseline {
				t.Fatalf("seed %d: state differs after reverting:\n%s", seed, diffDumps(baseline, got))
			}
		})
	}
}

// TestRandomOutOfOrderRemovals removes random earlier events (not in reverse order, as a
// provider's webhook might) and checks that the derived aggregates stay consistent.
func TestRandomOutOfOrderRemovals(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	e := newEnv(t)
	var applied []chainlog.Event
	for bn := uint64(1); bn < 80; bn++ {
		var batch []chainlog.Event
		for n := 1 + rng.IntN(8); n > 0; n-- {
			if len(applied) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(applied))
				batch = append(batch, removed(applied[i]))
				applied = append(applied[:i], applied[i+1:]...)
				continue
			}
			ev := randomEvent(rng, bn, uint64(len(batch)))
			batch = append(batch, ev)
			applied = append(applied, ev)
		}
		e.logs(batch...)
		checkInvariants(t, e)
	}
}

// checkInvariants verifies the aggregates the journal does not store against the records.
func checkInvariants(t *testing.T, e *env) {
	t.Helper()
	var holders int64
	pending := map[common.Address]uint256.Int{}
	e.st.Scan([]byte{pAccount}, []byte{pAccount + 1}, false, func(k, v []byte) bool {
		var a account
		if err := a.decode(v); err != nil {
			t.Fatalf("account: %v", err)
		}
		if positive(&a.amt[aShares]) {
			holders++
		}
		pending[[20]byte(k[1:])] = a.amt[aPending]
		return true
	})
	if holders != e.m.fund.holders {
		t.Fatalf("holder count %d, accounts with shares %d", e.m.fund.holders, holders)
	}
	var liability uint256.Int
	owed := map[common.Address]*uint256.Int{}
	nRed := 0
	e.st.Scan([]byte{pRedemption}, []byte{pRedemption + 1}, false, func(k, v []byte) bool {
		var r redemption
		if err := r.decode(v); err != nil {
			t.Fatalf("redemption: %v", err)
		}
		nRed++
		c := r.contribution()
		liability.Add(&liability, c)
		if r.owner != (common.Address{}) {
			if owed[r.owner] == nil {
				owed[r.owner] = new(uint256.Int)
			}
			owed[r.owner].Add(owed[r.owner], c)
			if _, err := e.st.Get(key(pRedOwner, r.owner[:], k[1:])); err != nil {
				t.Fatalf("missing owner index")
			}
		}
		if _, err := e.st.Get(key(pRedStatus, []byte{r.status}, k[1:])); err != nil {
			t.Fatalf("missing status index")
		}
		return true
	})
	if !liability.Eq(&e.m.fund.amounts[fLiability]) {
		t.Fatalf("liability %s, open redemptions %s", e.m.fund.amounts[fLiability].Dec(), liability.Dec())
	}
	for o, want := range owed {
		got := pending[o]
		if !got.Eq(want) {
			t.Fatalf("pending of %s = %s, want %s", chainlog.HexAddress(o), got.Dec(), want.Dec())
		}
	}
	if n := e.count(pRedStatus); n != nRed {
		t.Fatalf("%d status index keys for %d redemptions", n, nRed)
	}
	if nl, nt := e.count(pLedger), e.count(pLedgerTx); nl != nt {
		t.Fatalf("%d ledger entries, %d tx keys", nl, nt)
	}
	if nl, ne := e.count(pLedger), e.count(pLedgerEv); nl != ne {
		t.Fatalf("%d ledger entries, %d event index keys", nl, ne)
	}
}
