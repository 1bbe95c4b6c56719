package fund

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// history returns n random events over consecutive blocks (1 to 4 events a block), in ledger
// order.
func history(rng *rand.Rand, n int) []chainlog.Event {
	var evs []chainlog.Event
	for bn := uint64(100); len(evs) < n; bn++ {
		for li := uint64(0); li < 1+rng.Uint64N(4) && len(evs) < n; li++ {
			evs = append(evs, randomEvent(rng, bn, li))
		}
	}
	return evs
}

// inOrder is the reference: the events applied in ledger order, one command.
func inOrder(t *testing.T, info Info, evs []chainlog.Event) *env {
	t.Helper()
	e := newEnvInfo(t, info)
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b chainlog.Event) int {
		pa, pb := makeLedgerPos(a.BlockNumber, a.LogIndex, a.TxHash), makeLedgerPos(b.BlockNumber, b.LogIndex, b.TxHash)
		return slices.Compare(pa[:], pb[:])
	})
	if len(sorted) > 0 {
		e.logs(sorted...)
	}
	return e
}

func newEnvInfo(t testing.TB, info Info) *env {
	e := newEnv(t)
	e.m = NewMachine(info, NewViews(info), e.obs)
	return e
}

// sameState fails unless the two stores are byte-identical (but for the alert outbox, which
// follows the commands, not the ledger order), and names the first views or records that
// differ.
func sameState(t *testing.T, what string, got, want *env) {
	t.Helper()
	for _, name := range ViewNames() {
		if g, w := got.view(name), want.view(name); !jsonEqual(g, w) {
			t.Errorf("%s: view %s = %v\nwant %v", what, name, g, w)
		}
	}
	if g, w := got.stateDump(), want.stateDump(); g != w {
		t.Fatalf("%s: the stores differ:\n%s", what, diffDumps(w, g))
	}
}

func jsonEqual(a, b map[string]any) bool {
	return mustJSON(a) == mustJSON(b)
}

// TestShuffledDeliveryEqualsReplay: a seeded history delivered in shuffled commands of random
// sizes, with duplicates (of logs already applied and of logs in the same command), leaves the
// store byte for byte as the in-order replay: every view and record, field by field.
func TestShuffledDeliveryEqualsReplay(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 18))
		evs := history(rng, 200)
		want := inOrder(t, testInfo, evs)

		got := newEnv(t)
		shuffled := slices.Clone(evs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var sent []chainlog.Event
		accepted := 0
		for len(shuffled) > 0 {
			n := min(len(shuffled), 1+rng.IntN(25))
			cmd := slices.Clone(shuffled[:n])
			shuffled = shuffled[n:]
			for d := rng.IntN(3); d > 0 && len(sent) > 0; d-- {
				cmd = append(cmd, sent[rng.IntN(len(sent))]) // already applied
			}
			if rng.IntN(3) == 0 {
				cmd = append(cmd, cmd[rng.IntN(len(cmd))]) // twice in one command
			}
			r := got.logs(cmd...)
			accepted += r.Accepted
			sent = append(sent, cmd...)
		}
		mustEqual(t, "accepted", accepted, len(evs))
		sameState(t, "shuffled", got, want)
	}
}

// TestLateLogWithinWindowCorrectsTheBooks: a settlement that arrives before its request, and
// a NAV update that arrives late, give the in-order books (the two defects of issue 18 #4).
func TestLateLogWithinWindowCorrectsTheBooks(t *testing.T) {
	h := addr(1)
	request := mk("RedemptionRequested", 200, 0, testNow, 7, h, h, e18(10), e18(10), u(0), 0, false, testNow, 1)
	settle := mk("RedemptionSettled", 201, 0, testNow+3, 7, h, h, e18(10), u(0), e18(10), 0)
	navOld := mk("NavUpdated", 199, 0, testNow-3, oneE18, u(1_010_000_000_000_000_000), testNow-3)
	navNew := mk("NavUpdated", 202, 0, testNow+6, oneE18, u(1_020_000_000_000_000_000), testNow+6)
	want := inOrder(t, testInfo, []chainlog.Event{navOld, request, settle, navNew})

	got := newEnv(t)
	got.logs(settle)
	got.logs(navNew)
	got.logs(request, navOld)
	sameState(t, "late", got, want)
	r := got.json(Redemption(got.st, "7"))
	mustEqual(t, "status", r["status"], "SETTLED")
	mustEqual(t, "liability", got.view(ViewOverview)["totalRedemptionLiability"], "0")
	mustEqual(t, "nav", got.view(ViewOverview)["nav"], "1.02")
}

// TestLogOlderThanWindowRefused: a new log more than the window behind the highest block is
// CONFLICT with the window and the highest block, and changes nothing; a duplicate of an old
// log is a duplicate whatever its age, and a log inside the window is applied at its place.
func TestLogOlderThanWindowRefused(t *testing.T) {
	e := newEnv(t)
	e.window = 10
	old := mk("Transfer", 50, 0, testNow, common.Address{}, addr(1), e18(1))
	e.logs(old, mk("Transfer", 100, 0, testNow+150, common.Address{}, addr(2), e18(2)))
	before := e.dump()

	late := mk("Transfer", 89, 0, testNow+117, common.Address{}, addr(3), e18(3))
	res := e.apply(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: []chainlog.Event{late}, ReorderWindow: 10}))
	var verr *ValidationError
	if !errors.As(asError(res), &verr) || verr.Code != CodeConflict {
		t.Fatalf("late log: %T %v, want CONFLICT", res, res)
	}
	mustEqual(t, "details", verr.Details, map[string]any{"index": 0, "blockNumber": uint64(89), "window": uint64(10), "highestBlock": uint64(100)})
	if after := e.dump(); after != before {
		t.Fatalf("a refused log changed the store:\n%s", diffDumps(before, after))
	}

	r := e.logs(old) // 50 blocks behind, but already applied
	mustEqual(t, "duplicates", r.Duplicates, 1)
	r = e.logs(mk("Transfer", 90, 0, testNow+120, common.Address{}, addr(3), e18(3)))
	mustEqual(t, "accepted at the window's edge", r.Accepted, 1)
}

// TestRemovalNeedsTheBlockHash: a removal naming a block hash we did not apply is not found
// and changes nothing.
func TestRemovalNeedsTheBlockHash(t *testing.T) {
	e := newEnv(t)
	ev := mk("Deposit", 10, 0, testNow, addr(1), addr(1), e18(5), e18(5))
	e.logs(ev, mk("NavUpdated", 11, 0, testNow+3, oneE18, u(1_100_000_000_000_000_000), testNow+3))
	before := e.dump()
	other := removed(ev)
	other.BlockHash = common.Hash{0xfe} // the same transaction and log index on another fork
	r := e.logs(other)
	mustEqual(t, "not found", r.NotFound, 1)
	mustEqual(t, "outcome", r.Outcomes[0].Status, OutcomeNotFound)
	if after := e.dump(); after != before {
		t.Fatalf("a wrong-hash removal changed the store:\n%s", diffDumps(before, after))
	}
}

// TestRemovalsRestoreTheReplayOfTheRest: removing the newest blocks in ascending order (as log
// providers send them), in one command or one by one, or a random subset in random order,
// leaves exactly the replay of the other logs (share price, NAV history, prices, ledger,
// accounts, redemptions: the whole store); delivering the removed logs again restores the
// whole history.
func TestRemovalsRestoreTheReplayOfTheRest(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		evs := history(rng, 150)
		full := inOrder(t, testInfo, evs)

		cases := map[string]func() (gone []chainlog.Event, commands [][]chainlog.Event){
			"newest ascending, one command": func() ([]chainlog.Event, [][]chainlog.Event) {
				gone := evs[len(evs)-40:]
				return gone, [][]chainlog.Event{removedAll(gone)}
			},
			"newest ascending, one by one": func() ([]chainlog.Event, [][]chainlog.Event) {
				gone := evs[len(evs)-25:]
				var cmds [][]chainlog.Event
				for _, ev := range gone {
					cmds = append(cmds, []chainlog.Event{removed(ev)})
				}
				return gone, cmds
			},
			"random subset, random order": func() ([]chainlog.Event, [][]chainlog.Event) {
				var gone []chainlog.Event
				for _, i := range rng.Perm(len(evs))[:30] {
					gone = append(gone, evs[i])
				}
				var cmds [][]chainlog.Event
				for i := 0; i < len(gone); i += 7 {
					cmds = append(cmds, removedAll(gone[i:min(i+7, len(gone))]))
				}
				return gone, cmds
			},
		}
		for _, name := range []string{"newest ascending, one command", "newest ascending, one by one", "random subset, random order"} {
			gone, cmds := cases[name]()
			e := inOrder(t, testInfo, evs)
			reverted := 0
			for _, cmd := range cmds {
				reverted += e.logs(cmd...).Reverted
			}
			mustEqual(t, name+": reverted", reverted, len(gone))
			rest := slices.DeleteFunc(slices.Clone(evs), func(ev chainlog.Event) bool {
				return slices.ContainsFunc(gone, func(g chainlog.Event) bool { return g.TxHash == ev.TxHash && g.LogIndex == ev.LogIndex })
			})
			sameState(t, name, e, inOrder(t, testInfo, rest))

			again := slices.Clone(gone)
			rng.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
			mustEqual(t, name+": re-delivered", e.logs(again...).Accepted, len(gone))
			sameState(t, name+", re-delivered", e, full)
		}
	}
}

func removedAll(evs []chainlog.Event) []chainlog.Event {
	out := make([]chainlog.Event, len(evs))
	for i, ev := range evs {
		out[i] = removed(ev)
	}
	return out
}

// TestFuturePriceRefused: an operator price more than the skew ahead of its command is
// VALIDATION_ERROR and stores nothing; one at the skew is accepted.
func TestFuturePriceRefused(t *testing.T) {
	e := newEnv(t)
	const skew = 5 * time.Minute
	asset := chainlog.HexAddress(addr(50))
	now := testNow * 1e9
	e.logs(mk("Transfer", 10, 0, testNow, common.Address{}, addr(1), e18(1)))
	before := e.dump()
	for _, ahead := range []int64{301, 10 * 365 * day} {
		res := e.apply(EncodePrices(&PricesCommand{Time: now, MaxFutureSkew: skew, Prices: []PriceUpdate{
			{Asset: asset, Price: *u(1), Time: testNow}, {Asset: asset, Price: *u(2), Time: testNow + ahead}}}))
		var verr *ValidationError
		if !errors.As(asError(res), &verr) || verr.Code != "" || verr.Details["param"] != "prices[1].time" {
			t.Fatalf("%d s ahead: %T %v, want VALIDATION_ERROR on prices[1].time", ahead, res, res)
		}
		if after := e.dump(); after != before {
			t.Fatalf("a refused price changed the store:\n%s", diffDumps(before, after))
		}
	}
	if r, ok := e.apply(EncodePrices(&PricesCommand{Time: now, MaxFutureSkew: skew, Prices: []PriceUpdate{{Asset: asset, Price: *u(3), Time: testNow + 300}}})).(*PricesResult); !ok || r.Count != 1 {
		t.Fatal("a price 5 minutes ahead was refused")
	}
}

// TestPriceDelete: deleting the point that is "latest" makes the previous point latest again,
// a later correct price wins again, the delete is audited, and deleting a point that does not
// exist is NOT_FOUND.
func TestPriceDelete(t *testing.T) {
	e := newEnv(t)
	tok := addr(50)
	asset := chainlog.HexAddress(tok)
	ops := Actor{Name: "ops", Role: "operator"}
	e.logs(mk("PriceSet", 10, 0, testNow, tok, u(100), testNow, 1))
	e.apply(EncodePrices(&PricesCommand{Time: testNow * 1e9, Actor: ops, Prices: []PriceUpdate{{Asset: asset, Price: *u(999), Time: testNow + 10*365*day}}}))
	mustEqual(t, "latest before", e.json(Price(e.st, asset, PriceQuery{}))["price"], "999")

	res := e.apply(EncodePriceDelete(&PriceDeleteCommand{Time: testNow*1e9 + 1, Actor: ops, Asset: tok, PointTime: testNow + 10*365*day}))
	if r, ok := res.(*PriceDeleteResult); !ok || r.Deleted != 1 {
		t.Fatalf("delete: %T %v", res, res)
	}
	mustEqual(t, "latest after", e.json(Price(e.st, asset, PriceQuery{}))["price"], "100")
	mustEqual(t, "history", len(e.json(Price(e.st, asset, PriceQuery{History: true}))["items"].([]any)), 1)
	audit := e.json(Audit(e.st, AuditFilter{Action: "prices.delete"}, Page{Limit: 10}))["items"].([]any)
	mustEqual(t, "audit entries", len(audit), 1)
	mustEqual(t, "audit after", mustJSON(audit[0].(map[string]any)["after"]), `{"asset":"`+asset+`","price":"100","time":"2025-01-06T21:46:40Z"}`)

	e.logs(mk("PriceSet", 11, 0, testNow+3, tok, u(101), testNow+3, 1))
	mustEqual(t, "a later price wins again", e.json(Price(e.st, asset, PriceQuery{}))["price"], "101")

	before := e.dump()
	res = e.apply(EncodePriceDelete(&PriceDeleteCommand{Time: testNow * 1e9, Actor: ops, Asset: tok, PointTime: testNow + 1}))
	var verr *ValidationError
	if !errors.As(asError(res), &verr) || verr.Code != CodeNotFound {
		t.Fatalf("delete of nothing: %T %v, want NOT_FOUND", res, res)
	}
	if after := e.dump(); after != before {
		t.Fatalf("a refused delete changed the store:\n%s", diffDumps(before, after))
	}

	// Deleting every point leaves no current price.
	e.apply(EncodePriceDelete(&PriceDeleteCommand{Time: testNow * 1e9, Asset: tok, PointTime: testNow}))
	e.apply(EncodePriceDelete(&PriceDeleteCommand{Time: testNow * 1e9, Asset: tok, PointTime: testNow + 3}))
	if _, err := Price(e.st, asset, PriceQuery{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("price after deleting every point: %v", err)
	}
}

// TestOperatorPriceSurvivesALateLog: reverting an oracle price to make room for a late log
// does not bring back the price the oracle replaced when an operator price came since.
func TestOperatorPriceSurvivesALateLog(t *testing.T) {
	e := newEnv(t)
	tok := addr(50)
	asset := chainlog.HexAddress(tok)
	e.logs(mk("PriceSet", 20, 0, testNow, tok, u(100), testNow, 1))
	e.apply(EncodePrices(&PricesCommand{Time: testNow * 1e9, Prices: []PriceUpdate{{Asset: asset, Price: *u(200), Time: testNow + 60}}}))
	e.logs(mk("Deposit", 19, 0, testNow-3, addr(1), addr(1), e18(1), e18(1))) // late: reverts and re-applies block 20
	p := e.json(Price(e.st, asset, PriceQuery{}))
	mustEqual(t, "price", p["price"], "200")
	mustEqual(t, "source", p["source"], "api")
	mustEqual(t, "prices view", e.view(ViewPrices)["items"].([]any)[0].(map[string]any)["price"], "200")
}

func asError(v any) error {
	if err, ok := v.(error); ok {
		return err
	}
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestVersion1KeepsV010Rules: a version-1 CmdLogs (written while the cluster version is 0.1,
// or by v0.1.0) applies events where they arrive and matches removals without the block hash,
// and a version-1 CmdPrices takes a price from the future, as v0.1.0 did: every member of a
// cluster in the middle of an upgrade applies them alike.
func TestVersion1KeepsV010Rules(t *testing.T) {
	h := addr(1)
	request := mk("RedemptionRequested", 200, 0, testNow, 7, h, h, e18(10), e18(10), u(0), 0, false, testNow, 1)
	settle := mk("RedemptionSettled", 201, 0, testNow+3, 7, h, h, e18(10), u(0), e18(10), 0)
	e := newEnv(t)
	v1 := func(evs ...chainlog.Event) *LogsResult {
		// A window and a skew asked for are not written: version 1 has neither.
		return e.apply(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: evs, Version: 1, ReorderWindow: 10})).(*LogsResult)
	}
	v1(settle)
	v1(request) // late: applied where it arrives, as v0.1.0 did (the request stays open)
	mustEqual(t, "status", e.json(Redemption(e.st, "7"))["status"], "PENDING")
	if r := v1(mk("Transfer", 20, 0, testNow, common.Address{}, h, e18(1))); r.Accepted != 1 {
		t.Fatalf("a log far behind, version 1: %+v", r)
	}
	other := removed(settle)
	other.BlockHash = common.Hash{0xfe}
	if r := v1(other); r.Reverted != 1 {
		t.Fatalf("a removal on another fork, version 1: %+v", r)
	}
	res := e.apply(EncodePrices(&PricesCommand{Time: testNow * 1e9, Version: 1, MaxFutureSkew: 5 * time.Minute, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(1), Time: testNow + 10*365*day}}}))
	if r, ok := res.(*PricesResult); !ok || r.Count != 1 {
		t.Fatalf("a future price, version 1: %T %v", res, res)
	}
}
