package fund

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/kv"
)

var outboxInfo = func() Info { i := testInfo; i.Outbox = true; return i }()

func newOutboxEnv(t testing.TB) *env {
	o := &recObserver{}
	return &env{t: t, st: kv.NewMem(), m: NewMachine(outboxInfo, NewViews(outboxInfo), o), obs: o}
}

// The sample commands' times (unix ns).
const (
	sampleLogsTime   = (sampleStart + 6*day) * 1e9
	samplePricesTime = (sampleStart+6*day+hour)*1e9 + 5 // a fraction of a second, kept as is
)

// sampleCommands returns the committed examples (examples/sample-*.json) as the HTTP path
// encodes them: the logs, then the prices, both by an operator.
func sampleCommands(t testing.TB) (logs, prices []byte) {
	t.Helper()
	evs := decodedSample(t)
	pb, err := os.ReadFile(samplePricesFile)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := samplePrices(pb)
	if err != nil {
		t.Fatal(err)
	}
	ops := Actor{Name: "ops", Role: "operator", IP: "127.0.0.1"}
	return EncodeLogs(&LogsCommand{Time: sampleLogsTime, Actor: ops, Events: evs}),
		EncodePrices(&PricesCommand{Time: samplePricesTime, Actor: ops, Prices: ps})
}

// primaries returns the primary records of a state, key → value.
func primaries(t testing.TB, r kv.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := r.Scan(nil, nil, false, func(k, v []byte) bool {
		if IsPrimaryRecord(k) {
			out[string(k)] = string(v)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func readOutbox(t testing.TB, r kv.Reader, after uint64) []OutboxEntry {
	t.Helper()
	var out []OutboxEntry
	if err := ReadOutbox(r, after, 0, func(e OutboxEntry) bool { out = append(out, e); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// replay writes outbox entries onto w as PostgreSQL's sync does: the value, or a delete.
func replay(t testing.TB, w kv.Writer, entries []OutboxEntry) {
	t.Helper()
	for _, e := range entries {
		var err error
		if e.Value == nil {
			err = w.Delete(e.Key)
		} else {
			err = w.Set(e.Key, e.Value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func diffRecords(want, got map[string]string) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("missing %x", k))
		} else if g != v {
			out = append(out, fmt.Sprintf("differs %x", k))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("extra %x", k))
		}
	}
	sort.Strings(out)
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("… %d more", len(out)-8))
	}
	return fmt.Sprint(out)
}

// checkEntries checks the entries of one index: the command's time, ords 0..n-1 in key order,
// and exactly the records in want (key → value; "" for a tombstone).
func checkEntries(t *testing.T, what string, entries []OutboxEntry, index uint64, time int64, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	var ord uint32
	var prev []byte
	for _, e := range entries {
		if e.Index != index {
			continue
		}
		if e.Ord != ord || e.Time != time || (prev != nil && bytes.Compare(prev, e.Key) >= 0) {
			t.Fatalf("%s: entry %d-%d at %d key %x after %x (want ord %d, time %d)", what, e.Index, e.Ord, e.Time, e.Key, prev, ord, time)
		}
		if !IsPrimaryRecord(e.Key) {
			t.Fatalf("%s: outbox entry for %x, not a primary record", what, e.Key)
		}
		if e.Value != nil && len(e.Value) == 0 {
			t.Fatalf("%s: empty value for %x", what, e.Key)
		}
		got[string(e.Key)] = string(e.Value)
		ord++
		prev = e.Key
	}
	if d := diffRecords(want, got); len(got) != len(want) || d != "[]" {
		t.Fatalf("%s: entries of index %d differ from the changed records: %s", what, index, d)
	}
}

// changedRecords lists the primary records that differ between two states ("" when deleted).
func changedRecords(before, after map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range after {
		if b, ok := before[k]; !ok || b != v {
			out[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = ""
		}
	}
	return out
}

func TestOutboxSample(t *testing.T) {
	logs, prices := sampleCommands(t)
	e := newOutboxEnv(t)
	e.apply(logs)
	afterLogs := primaries(t, e.st)
	e.apply(prices)
	final := primaries(t, e.st)

	entries := readOutbox(t, e.st, 0)
	// Command 1 created every record of the walkthrough; command 2 changed the current
	// prices, added price points and its audit entry, and moved the singleton's updatedAt.
	checkEntries(t, "logs", entries, 1, sampleLogsTime, afterLogs)
	changed := changedRecords(afterLogs, final)
	checkEntries(t, "prices", entries, 2, samplePricesTime, changed)
	kinds := map[byte]int{}
	for k, v := range changed {
		if !isObservation([]byte(k), []byte(v)) { // the RULE risk events the new prices raised
			kinds[k[0]]++
		}
	}
	mustEqual(t, "kinds changed by the prices", kinds, map[byte]int{pFund: 1, pPrice: 3, pPriceHist: 3, pAudit: 1})
	if len(entries) != len(afterLogs)+len(changed) {
		t.Fatalf("%d entries, want %d + %d", len(entries), len(afterLogs), len(changed))
	}

	// The newest entry of each record is its value in the state: the set PostgreSQL holds.
	newest := map[string]string{}
	for _, en := range entries {
		newest[string(en.Key)] = string(en.Value)
	}
	if d := diffRecords(final, newest); d != "[]" {
		t.Fatalf("newest entries differ from the state: %s", d)
	}
	pg := kv.NewMem()
	replay(t, pg, entries)
	if d := diffRecords(final, primaries(t, pg)); d != "[]" {
		t.Fatalf("replayed outbox differs from the state: %s", d)
	}
	if n, oldest, err := OutboxStats(e.st, 0); err != nil || n != len(entries) || oldest != sampleLogsTime {
		t.Fatalf("stats %d %d %v", n, oldest, err)
	}
}

// TestOutboxOffChangesNothingElse: with Outbox off no outbox is written, and with it on the
// state is the same apart from the outbox.
func TestOutboxOffChangesNothingElse(t *testing.T) {
	logs, prices := sampleCommands(t)
	off, on := newEnv(t), newOutboxEnv(t)
	for _, x := range []*env{off, on} {
		x.apply(logs)
		x.apply(prices)
		x.logs(chainlogtest.AllEvents(testNow)...)
		x.logs(removed(chainlogtest.AllEvents(testNow)[3]))
	}
	if n := off.count(pOutbox); n != 0 {
		t.Fatalf("outbox off wrote %d entries", n)
	}
	if on.count(pOutbox) == 0 {
		t.Fatal("outbox on wrote nothing")
	}
	if err := on.st.DeleteRange([]byte{pOutbox}, []byte{pOutbox + 1}); err != nil {
		t.Fatal(err)
	}
	if a, b := off.dump(), on.dump(); a != b {
		t.Fatalf("outbox on changed other state:\n%s", diffDumps(a, b))
	}
}

func TestOutboxTombstones(t *testing.T) {
	h := addr(1)
	mint := mk("Transfer", 1, 0, testNow, common.Address{}, h, u(5))
	dep := mk("Deposit", 1, 1, testNow, h, h, u(5), u(5))
	e := newOutboxEnv(t)
	e.logs(mint, dep)
	created := primaries(t, e.st)
	e.logs(removed(dep), removed(mint))
	if got := primaries(t, e.st); len(got) != 0 {
		t.Fatalf("reverting everything left %d records", len(got))
	}
	entries := readOutbox(t, e.st, 0)
	// The revert deletes every record the deposit created; the singleton is back to its
	// initial state, which is not stored: a tombstone too.
	tomb := map[string]string{}
	for k := range created {
		tomb[k] = ""
	}
	mustEqual(t, "created kinds", len(created), 5) // S, A, F, two L
	checkEntries(t, "revert", entries, 2, testNow*1e9, tomb)
	pg := kv.NewMem()
	replay(t, pg, entries)
	if pg.Len() != 0 {
		t.Fatalf("replay left %d keys", pg.Len())
	}
	rec, ok, err := DecodeRecord([]byte{pFund}, nil)
	if err != nil || !ok || rec.(*FundRecord).SharePrice.String() != "1000000000000000000" {
		t.Fatalf("singleton tombstone decodes to %+v %v %v", rec, ok, err)
	}
}

// randomCommands draws n commands over small pools (so that they interact), with reverts,
// duplicates, operator prices, audit entries and sync marks; command i is applied at index
// i+1, and a mark never names an index above the one before it.
func randomCommands(rng *rand.Rand, n int) [][]byte {
	var cmds [][]byte
	var applied []chainlog.Event
	var intents []uint64 // the seqs the executor's intents may have
	bn := uint64(1)
	for len(cmds) < n {
		index := uint64(len(cmds) + 1)
		t := (testNow + int64(bn)) * 1e9
		switch r := rng.IntN(10); {
		case r == 0 && index > 1:
			cmds = append(cmds, EncodeSyncMark(uint64(rng.IntN(int(index))), t))
		case r == 1:
			cmds = append(cmds, EncodePrices(&PricesCommand{Time: t, Actor: Actor{Name: "op"},
				Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + rng.IntN(3))), Price: *u(1 + rng.Uint64N(9)), Time: testNow + rng.Int64N(100)}}}))
		case r == 3 && rng.IntN(2) == 0:
			// The executor's intents: a decision of a small pool (a second one for it changes
			// nothing), or a known intent's progress or replacement.
			if len(intents) == 0 || rng.IntN(2) == 0 {
				cmds = append(cmds, EncodeTxIntent(&TxIntentCommand{Time: t, Purpose: "APPROVE", Reference: fmt.Sprint("redemption-", rng.IntN(4)),
					From: addr(5), To: addr(6), Nonce: rng.Uint64N(9), Hash: [32]byte{byte(index)}, Raw: []byte{2, byte(index)}}))
				intents = append(intents, index<<16)
				continue
			}
			c := &TxUpdateCommand{Time: t, Seq: intents[rng.IntN(len(intents))], State: []string{TxSent, TxMined, TxFailed}[rng.IntN(3)]}
			if rng.IntN(3) == 0 {
				c.Replacement = TxAttempt{Hash: [32]byte{byte(index), 1}, Raw: []byte{2, byte(index), 1}}
			}
			cmds = append(cmds, EncodeTxUpdate(c))
		case r == 2:
			cmds = append(cmds, EncodeAudit(&AuditCommand{Time: t, Actor: Actor{Name: []string{"a", "b"}[rng.IntN(2)]}, Action: "cluster.join"}))
		default:
			bn++
			evs := randomBlock(rng, bn, &applied)
			var actor Actor
			if rng.IntN(4) == 0 {
				actor.Name = "ingest-op"
			}
			cmds = append(cmds, EncodeLogs(&LogsCommand{Time: t, Actor: actor, Events: evs}))
		}
	}
	return cmds
}

// applyBatches applies cmds at indexes 1.. in batches of random sizes (1 when maxBatch is 1).
func applyBatches(t testing.TB, e *env, rng *rand.Rand, cmds [][]byte, maxBatch int) []string {
	t.Helper()
	var results []string
	for i := 0; i < len(cmds); {
		n := min(1+rng.IntN(maxBatch), len(cmds)-i)
		for _, c := range cmds[i : i+n] {
			e.index++
			res, err := e.m.Apply(e.st, e.index, c)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, fmt.Sprintf("%+v", res))
		}
		if err := e.m.EndBatch(e.st, e.index); err != nil {
			t.Fatal(err)
		}
		e.m.Committed()
		i += n
	}
	return results
}

// TestOutboxIndependentOfBatching: Raft hands each node its own batches (and others after a
// restart); the same commands must leave byte-identical states, outbox and mark included.
func TestOutboxIndependentOfBatching(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cmds := randomCommands(rand.New(rand.NewPCG(seed, 11)), 80)
			one, many := newOutboxEnv(t), newOutboxEnv(t)
			resOne := applyBatches(t, one, rand.New(rand.NewPCG(seed, 1)), cmds, 1)
			resMany := applyBatches(t, many, rand.New(rand.NewPCG(seed, 2)), cmds, 12)
			if fmt.Sprint(resOne) != fmt.Sprint(resMany) {
				t.Fatal("results differ between batchings")
			}
			if a, b := one.dump(), many.dump(); a != b {
				t.Fatalf("stores differ:\n%s", diffDumps(a, b))
			}
			if one.count(pOutbox) == 0 || one.count(pSyncMark) != 1 {
				t.Fatalf("%d outbox entries, %d marks: the test exercises nothing", one.count(pOutbox), one.count(pSyncMark))
			}
			checkInvariants(t, many)
		})
	}
}

// TestOutboxDrain plays PostgreSQL's sync against random commands: drain the outbox in
// limited reads onto a separate store, propose the synced index as the mark, and at the end
// the drained store holds exactly the state's primary records while the outbox is empty.
func TestOutboxDrain(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			e := newOutboxEnv(t)
			pg := kv.NewMem()
			var synced uint64
			drain := func() {
				for {
					entries, next := drainOnce(t, e.st, synced, 1+rng.IntN(40))
					if len(entries) == 0 {
						return
					}
					replay(t, pg, entries)
					synced = next
					if rng.IntN(3) == 0 {
						return // the sync lags behind
					}
				}
			}
			cmds := randomCommands(rng, 150)
			var marks int
			for i := 0; i < len(cmds); {
				n := min(1+rng.IntN(6), len(cmds)-i)
				for _, c := range cmds[i : i+n] {
					if c[0] == CmdSyncMark {
						// The sync proposes its own marks: replace the generator's.
						c = EncodeSyncMark(synced, testNow*1e9)
					}
					e.index++
					res, err := e.m.Apply(e.st, e.index, c)
					if err != nil {
						t.Fatal(err)
					}
					if r, ok := res.(*SyncMarkResult); ok && r.Pruned {
						marks++
					}
				}
				if err := e.m.EndBatch(e.st, e.index); err != nil {
					t.Fatal(err)
				}
				e.m.Committed()
				i += n
				drain()
				// Nothing at or below the mark is left.
				mark, _, err := SyncMark(e.st)
				if err != nil {
					t.Fatal(err)
				}
				if first := readOutbox(t, e.st, 0); len(first) > 0 && first[0].Index <= mark {
					t.Fatalf("entry %d survived mark %d", first[0].Index, mark)
				}
			}
			for {
				entries, next := drainOnce(t, e.st, synced, 0)
				if len(entries) == 0 {
					break
				}
				replay(t, pg, entries)
				synced = next
			}
			if d := diffRecords(primaries(t, e.st), primaries(t, pg)); d != "[]" {
				t.Fatalf("drained records differ from the state: %s", d)
			}
			e.apply(EncodeSyncMark(synced, testNow*1e9))
			if n, _, err := OutboxStats(e.st, 0); err != nil || n != 0 || marks == 0 {
				t.Fatalf("after the last mark: %d entries (%v), %d marks", n, err, marks)
			}
		})
	}
}

// drainOnce reads up to limit entries after synced and returns those of the indexes it read
// completely, with the last such index: a limit can cut an index's entries in two, and the
// sync resumes after whole indexes only.
func drainOnce(t testing.TB, r kv.Reader, synced uint64, limit int) ([]OutboxEntry, uint64) {
	t.Helper()
	var entries []OutboxEntry
	if err := ReadOutbox(r, synced, limit, func(e OutboxEntry) bool { entries = append(entries, e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		return nil, synced
	}
	last := entries[len(entries)-1].Index
	if limit > 0 && len(entries) == limit {
		// The last index may continue: keep the whole indexes before it, or read it all.
		i := len(entries)
		for i > 0 && entries[i-1].Index == last {
			i--
		}
		if i > 0 {
			return entries[:i], entries[i-1].Index
		}
		entries = entries[:0]
		if err := ReadOutbox(r, last-1, 0, func(e OutboxEntry) bool {
			if e.Index != last {
				return false
			}
			entries = append(entries, e)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return entries, last
}

func TestSyncMark(t *testing.T) {
	// Price commands at indexes 1..5 and 7 (each writes S, P and H), an earlier mark or a
	// no-op at 6, then the mark under test at 8: the applied index is 7.
	tests := []struct {
		name      string
		prior     uint64 // an earlier mark at 6 (0: none)
		mark      uint64
		time      int64  // 0: 42
		want      string // "pruned", "unchanged" or "refused"
		wantMark  uint64
		wantFirst uint64 // lowest index left in the outbox (0: empty)
	}{
		{name: "first mark", mark: 3, want: "pruned", wantMark: 3, wantFirst: 4},
		{name: "up to a gap", mark: 6, want: "pruned", wantMark: 6, wantFirst: 7},
		{name: "zero", mark: 0, want: "unchanged", wantFirst: 1},
		{name: "forward", prior: 2, mark: 4, want: "pruned", wantMark: 4, wantFirst: 5},
		{name: "backwards", prior: 4, mark: 2, want: "unchanged", wantMark: 4, wantFirst: 5},
		{name: "same", prior: 4, mark: 4, want: "unchanged", wantMark: 4, wantFirst: 5},
		{name: "the applied index", prior: 2, mark: 7, want: "pruned", wantMark: 7, wantFirst: 0},
		{name: "its own index", prior: 2, mark: 8, want: "refused", wantMark: 2, wantFirst: 3},
		{name: "above the applied index", mark: 1000, want: "refused", wantFirst: 1},
		{name: "negative time", mark: 3, time: -1, want: "refused", wantFirst: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newOutboxEnv(t)
			price := func(i int) []byte {
				return EncodePrices(&PricesCommand{Time: int64(i) * 1e9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + i)), Price: *u(7), Time: testNow}}})
			}
			for i := 1; i <= 5; i++ {
				e.apply(price(i))
			}
			if tc.prior > 0 {
				if r := e.apply(EncodeSyncMark(tc.prior, 1)); !r.(*SyncMarkResult).Pruned {
					t.Fatal("prior mark not applied")
				}
			} else {
				e.apply(EncodeLogs(&LogsCommand{Time: 6e9})) // changes nothing
			}
			e.apply(price(7))
			if tc.time == 0 {
				tc.time = 42
			}
			before := e.dump()
			res := e.apply(EncodeSyncMark(tc.mark, tc.time))
			mustEqual(t, "index", e.index, 8)
			switch tc.want {
			case "refused":
				if !isValidation(res) {
					t.Fatalf("result %T %+v, want a refusal", res, res)
				}
			case "unchanged":
				if r, ok := res.(*SyncMarkResult); !ok || r.Pruned {
					t.Fatalf("result %T %+v, want not pruned", res, res)
				}
			case "pruned":
				if r, ok := res.(*SyncMarkResult); !ok || !r.Pruned {
					t.Fatalf("result %T %+v, want pruned", res, res)
				}
			}
			if tc.want != "pruned" && e.dump() != before {
				t.Fatal("a mark that does not move changed the state")
			}
			mark, at, err := SyncMark(e.st)
			if err != nil || mark != tc.wantMark {
				t.Fatalf("mark %d (%v), want %d", mark, err, tc.wantMark)
			}
			if tc.want == "pruned" && at != tc.time {
				t.Fatalf("mark time %d", at)
			}
			entries := readOutbox(t, e.st, 0)
			if tc.wantFirst == 0 {
				if len(entries) != 0 {
					t.Fatalf("%d entries left, want none", len(entries))
				}
				return
			}
			if len(entries) == 0 || entries[0].Index != tc.wantFirst {
				t.Fatalf("%d entries, want the oldest at %d", len(entries), tc.wantFirst)
			}
			// Every index above the mark is still complete: S, P and H of its price.
			count := map[uint64]int{}
			for _, en := range entries {
				count[en.Index]++
			}
			for idx := tc.wantFirst; idx <= 7; idx++ {
				want := 3
				if idx == 6 {
					want = 0
				}
				if count[idx] != want {
					t.Fatalf("index %d has %d entries, want %d", idx, count[idx], want)
				}
			}
		})
	}
}

// TestSyncMarkInTheSameBatch: a mark applied in the batch that wrote the entries it covers
// leaves what a node applying it in a batch of its own holds.
func TestSyncMarkInTheSameBatch(t *testing.T) {
	price := func(i int) []byte {
		return EncodePrices(&PricesCommand{Time: int64(i) * 1e9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + i)), Price: *u(7), Time: testNow}}})
	}
	cmds := [][]byte{price(1), price(2), EncodeSyncMark(2, 5), price(4), EncodeSyncMark(1, 5), price(6)}
	sep, together := newOutboxEnv(t), newOutboxEnv(t)
	applyBatches(t, sep, rand.New(rand.NewPCG(1, 1)), cmds, 1)
	for _, c := range cmds {
		together.index++
		if _, err := together.m.Apply(together.st, together.index, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := together.m.EndBatch(together.st, together.index); err != nil {
		t.Fatal(err)
	}
	if a, b := sep.dump(), together.dump(); a != b {
		t.Fatalf("stores differ:\n%s", diffDumps(a, b))
	}
	var idx []uint64
	for _, e := range readOutbox(t, together.st, 0) {
		idx = append(idx, e.Index)
	}
	mustEqual(t, "indexes left", idx, []uint64{4, 4, 4, 6, 6, 6})
}

func TestOutboxStatsAndRead(t *testing.T) {
	e := newOutboxEnv(t)
	for i := 1; i <= 4; i++ {
		e.apply(EncodePrices(&PricesCommand{Time: int64(i) * 1e9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(50 + i)), Price: *u(7), Time: testNow}}}))
	}
	e.apply(EncodeSyncMark(1, 1)) // index 5
	tests := []struct {
		after      uint64
		wantCount  int
		wantOldest int64
	}{
		{0, 9, 2e9}, {1, 9, 2e9}, {2, 6, 3e9}, {3, 3, 4e9}, {4, 0, 0}, {1 << 63, 0, 0}, {^uint64(0), 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.after), func(t *testing.T) {
			n, oldest, err := OutboxStats(e.st, tc.after)
			if err != nil || n != tc.wantCount || oldest != tc.wantOldest {
				t.Fatalf("stats after %d = %d, %d, %v; want %d, %d", tc.after, n, oldest, err, tc.wantCount, tc.wantOldest)
			}
			all := readOutbox(t, e.st, tc.after)
			if len(all) != tc.wantCount {
				t.Fatalf("read %d entries, want %d", len(all), tc.wantCount)
			}
			for _, limit := range []int{1, 2, 4, 100} {
				var got []OutboxEntry
				if err := ReadOutbox(e.st, tc.after, limit, func(en OutboxEntry) bool { got = append(got, en); return true }); err != nil {
					t.Fatal(err)
				}
				if len(got) != min(limit, len(all)) || fmt.Sprint(got) != fmt.Sprint(all[:len(got)]) {
					t.Fatalf("limit %d: %d entries", limit, len(got))
				}
			}
			stops := 0
			if err := ReadOutbox(e.st, tc.after, 0, func(OutboxEntry) bool { stops++; return false }); err != nil || stops != min(1, len(all)) {
				t.Fatalf("fn returning false: %d calls, %v", stops, err)
			}
		})
	}
	// Entries are the caller's to keep: changing them changes nothing stored.
	before := e.dump()
	for _, en := range readOutbox(t, e.st, 0) {
		en.Key[0], en.Value[0] = 'x', 'x'
	}
	if e.dump() != before {
		t.Fatal("ReadOutbox handed out the store's bytes")
	}
}

func TestDecodeSyncMarkStrict(t *testing.T) {
	good := EncodeSyncMark(300, 7)
	c, err := DecodeSyncMark(good)
	if err != nil || c.Index != 300 || c.Time != 7 {
		t.Fatalf("%+v %v", c, err)
	}
	for name, cmd := range map[string][]byte{
		"trailing":  append(append([]byte(nil), good...), 0),
		"truncated": good[:len(good)-1],
		"version":   {CmdSyncMark, 2, 1, 1},
		"type":      {CmdAudit, 1, 1, 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeSyncMark(cmd); err == nil {
				t.Fatal("decoded")
			}
			e := newOutboxEnv(t)
			if _, err := e.m.Apply(e.st, 5, cmd); err == nil && cmd[0] == CmdSyncMark {
				t.Fatal("Apply accepted an undecodable mark")
			}
		})
	}
}

// BenchmarkApplyOutbox is BenchmarkApply with the outbox on (never pruned).
func BenchmarkApplyOutbox(b *testing.B) { benchApply(b, outboxInfo) }
