package readmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
	"paimon/kv"
)

// pushKinds are the record kinds RecordJSON renders.
const pushKinds = "ARPNLKG"

// listItems returns the raw items of a list body, byte for byte as the body holds them.
func listItems(t testing.TB, body []byte, err error) []json.RawMessage {
	t.Helper()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var l struct{ Items []json.RawMessage }
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("list %s: %v", body, err)
	}
	return l.Items
}

// keysOf returns the keys under prefix p of r, oldest first (reverse: newest first).
func keysOf(t testing.TB, r kv.Reader, p byte, reverse bool) [][]byte {
	t.Helper()
	var out [][]byte
	if err := r.Scan([]byte{p}, []byte{p + 1}, reverse, func(k, _ []byte) bool {
		out = append(out, bytes.Clone(k))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexOfKey returns the position of k in keys, or -1.
func indexOfKey(keys [][]byte, k []byte) int {
	for i := range keys {
		if bytes.Equal(keys[i], k) {
			return i
		}
	}
	return -1
}

// readResource returns what the GET read functions return from r for the resource stored
// under key (a kind RecordJSON renders): the account, the redemption, the current price, the
// NAV point's item of the raw history, the ledger entry's item of the transactions list.
func readResource(t testing.TB, r kv.Reader, key []byte) ([]byte, error) {
	t.Helper()
	switch key[0] {
	case fund.PrefixAccount:
		return Account(r, [20]byte(key[1:]))
	case fund.PrefixRedemption:
		return Redemption(r, new(uint256.Int).SetBytes(key[1:]).Dec())
	case fund.PrefixPrice:
		return Price(r, chainlog.HexAddress([20]byte(key[1:])), PriceQuery{})
	case fund.PrefixNav:
		body, err := NavHistory(r, NavQuery{Interval: IntervalRaw, HasFrom: true, Limit: MaxLimit})
		items := listItems(t, body, err)
		keys := keysOf(t, r, fund.PrefixNav, false)
		if len(items) != len(keys) {
			t.Fatalf("%d NAV items for %d points", len(items), len(keys))
		}
		if i := indexOfKey(keys, key); i >= 0 {
			return items[i], nil
		}
		return nil, fund.ErrNotFound
	case fund.PrefixRisk:
		return RiskEventByID(r, fund.RiskEventID(key))
	case fund.PrefixLedger:
		body, err := Transactions(r, TxFilter{}, Page{Limit: MaxLimit})
		items := listItems(t, body, err)
		keys := keysOf(t, r, fund.PrefixLedger, true)
		if len(items) != len(keys) {
			t.Fatalf("%d ledger items for %d entries", len(items), len(keys))
		}
		i := indexOfKey(keys, key)
		if i < 0 {
			return nil, fund.ErrNotFound
		}
		pos := key[1:]
		one, err := LedgerEntry(r, common.Hash(pos[16:]), be64get(pos[8:]))
		if err != nil || !bytes.Equal(one, items[i]) {
			t.Fatalf("LedgerEntry %s %v differs from the list's item %s", one, err, items[i])
		}
		return items[i], nil
	case fund.PrefixTicket:
		body, err := Approvals(r, ApprovalFilter{}, Page{Limit: MaxLimit})
		for _, it := range listItems(t, body, err) {
			var v struct{ ID string }
			if json.Unmarshal(it, &v) == nil && v.ID == fund.TicketID(fund.TicketType(key[1]), (*[32]byte)(key[2:34])) {
				return it, nil
			}
		}
		return nil, fund.ErrNotFound
	}
	t.Fatalf("no read for %x", key)
	return nil, nil
}

// checkRecordsRender checks each record that RecordJSON renders against the GET of r, which
// must hold the records' values (the state right after their batch).
func checkRecordsRender(t *testing.T, what string, r kv.Reader, recs []fund.OutboxEntry, seen map[byte]int) {
	t.Helper()
	for _, rec := range recs {
		body, ok, err := RecordJSON(rec.Key, rec.Value)
		if want := bytes.IndexByte([]byte(pushKinds), rec.Key[0]) >= 0; ok != want {
			t.Fatalf("%s: RecordJSON(%x) ok = %v, want %v", what, rec.Key, ok, want)
		}
		if !ok {
			if body != nil || err != nil {
				t.Fatalf("%s: %x not rendered, yet %s %v", what, rec.Key, body, err)
			}
			continue
		}
		want, werr := readResource(t, r, rec.Key)
		if rec.Value == nil {
			if !errors.Is(err, fund.ErrNotFound) || !errors.Is(werr, fund.ErrNotFound) {
				t.Fatalf("%s: deleted %x renders %s %v, reads %s %v", what, rec.Key, body, err, want, werr)
			}
			continue
		}
		if err != nil || werr != nil {
			t.Fatalf("%s: %x: RecordJSON %v, read %v", what, rec.Key, err, werr)
		}
		if !bytes.Equal(body, want) {
			t.Fatalf("%s: %c record %x\nRecordJSON %s\nGET        %s", what, rec.Key[0], rec.Key, body, want)
		}
		seen[rec.Key[0]]++
	}
}

// TestRecordsSample applies the walkthrough (examples/sample-*.json) with the outbox on: each
// batch's Changes.Records are the outbox's entries of the batch, and every account,
// redemption, price, NAV point and ledger entry among them renders as its GET returns it.
func TestRecordsSample(t *testing.T) {
	logs, prices := sampleCommands(t)
	e := newOutboxEnv(t)
	seen := map[byte]int{}
	for _, c := range []struct {
		name string
		cmd  []byte
	}{{"logs", logs}, {"prices", prices}} {
		e.apply(c.cmd)
		ch := e.lastChanges()
		if len(ch.Records) == 0 {
			t.Fatalf("%s: no records", c.name)
		}
		sameRecords(t, c.name, ch.Records, readOutbox(t, e.st, e.index-1))
		checkRecordsRender(t, c.name, e.st, ch.Records, seen)
	}
	// The walkthrough: 3 holders, 1 redemption (with its approval ticket), 3 prices set by the
	// oracle and again by the operator, 6 NAV points, 33 ledger entries, and the 5 RULE risk
	// events of the indicators it takes past the default thresholds (fund/riskstatus.go).
	mustEqual(t, "rendered records", seen, map[byte]int{fund.PrefixAccount: 3, fund.PrefixRedemption: 1, fund.PrefixPrice: 6, fund.PrefixNav: 6, fund.PrefixLedger: 33, fund.PrefixRisk: 5, fund.PrefixTicket: 1})
}

// TestRecordsManyCommandsInABatch: a batch of many commands has one record per command and
// record it changed, each with the value after its command; the last one of each key is the
// state, and renders as the GET does.
func TestRecordsManyCommandsInABatch(t *testing.T) {
	e := newOutboxEnv(t)
	evs := chainlogtest.AllEvents(testNow)
	evs = append(evs, removed(evs[1]), mk("Transfer", 14, 0, testNow, addr(9), addr(1), e18(3)))
	for i := range evs {
		e.index++
		if _, err := e.m.Apply(e.st, e.index, fund.EncodeLogs(&fund.LogsCommand{Time: (testNow + int64(i)) * 1e9, Events: evs[i : i+1]})); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.EndBatch(e.st, e.index); err != nil {
		t.Fatal(err)
	}
	e.m.Committed()
	recs := e.lastChanges().Records
	sameRecords(t, "batch", recs, readOutbox(t, e.st, 0))
	mustEqual(t, "first and last index", fmt.Sprint(recs[0].Index, recs[len(recs)-1].Index), fmt.Sprint(1, len(evs)))
	last := map[string]fund.OutboxEntry{}
	for _, r := range recs {
		last[string(r.Key)] = r
	}
	var final []fund.OutboxEntry
	for _, r := range recs {
		if l := last[string(r.Key)]; l.Index == r.Index && l.Ord == r.Ord {
			final = append(final, r)
		}
	}
	if len(final) == len(recs) {
		t.Fatal("no record changed twice in the batch")
	}
	seen := map[byte]int{}
	checkRecordsRender(t, "batch", e.st, final, seen)
	for _, k := range pushKinds {
		if seen[byte(k)] == 0 {
			t.Errorf("no %c record rendered", k)
		}
	}
}

// TestRecordsOfARevert: reverting a mint deletes the ledger entry and the account it created:
// both are records with a nil Value, which RecordJSON reports as fund.ErrNotFound.
func TestRecordsOfARevert(t *testing.T) {
	mint := mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(5))
	e := newOutboxEnv(t)
	e.logs(mint)
	e.logs(removed(mint))
	deleted := map[byte]int{}
	for _, r := range e.lastChanges().Records {
		if r.Value != nil {
			continue
		}
		deleted[r.Key[0]]++
		body, ok, err := RecordJSON(r.Key, r.Value)
		if kind := bytes.IndexByte([]byte(pushKinds), r.Key[0]) >= 0; ok != kind || (ok && !errors.Is(err, fund.ErrNotFound)) || body != nil {
			t.Fatalf("deleted %x: %s %v %v", r.Key, body, ok, err)
		}
	}
	mustEqual(t, "deleted", deleted, map[byte]int{'S': 1, fund.PrefixAccount: 1, fund.PrefixLedger: 1})
	sameRecords(t, "revert", e.lastChanges().Records, readOutbox(t, e.st, 1))
}

// TestLedgerJSONOfMatchesApplied: a pending event renders as its ledger entry will once
// applied, with a block time of its own or the command's.
func TestLedgerJSONOfMatchesApplied(t *testing.T) {
	evs := append(chainlogtest.AllEvents(testNow), sampleEvents(t)...)
	noTime := mk("Deposit", 300, 0, 0, addr(3), addr(3), e18(1), e18(1))
	evs = append(evs, noTime)
	const cmdTime = (testNow + 77) * 1e9
	e := newOutboxEnv(t)
	for i := range evs {
		ev := &evs[i]
		bt := ev.BlockTime
		pending, err := LedgerJSONOf(ev, cmdTime/1e9)
		if err != nil {
			t.Fatalf("%s: %v", ev.Name, err)
		}
		if ev.BlockTime != bt {
			t.Fatal("LedgerJSONOf changed the caller's event")
		}
		e.apply(fund.EncodeLogs(&fund.LogsCommand{Time: cmdTime, Events: []chainlog.Event{*ev}}))
		lk := fund.LedgerKey(ev.BlockNumber, ev.LogIndex, ev.TxHash)
		var applied []byte
		for _, r := range e.lastChanges().Records {
			if bytes.Equal(r.Key, lk) {
				var ok bool
				if applied, ok, err = RecordJSON(r.Key, r.Value); !ok || err != nil {
					t.Fatalf("%s: RecordJSON %v %v", ev.Name, ok, err)
				}
			}
		}
		if !bytes.Equal(pending, applied) {
			t.Fatalf("%s: pending %s\napplied %s", ev.Name, pending, applied)
		}
		if stored, err := LedgerEntry(e.st, ev.TxHash, ev.LogIndex); err != nil || !bytes.Equal(stored, pending) {
			t.Fatalf("%s: LedgerEntry %s %v", ev.Name, stored, err)
		}
	}
	if got := field(e.json(LedgerEntry(e.st, noTime.TxHash, 0)), "blockTime"); got != fmtUnix(cmdTime/1e9) {
		t.Fatalf("block time of an event without one: %v", got)
	}

	bad := []struct {
		name string
		edit func(*chainlog.Event)
	}{
		{"unknown name", func(e *chainlog.Event) { e.Name = "Nope" }},
		{"wrong kind", func(e *chainlog.Event) { e.Kind = chainlog.KindOracle }},
		{"missing argument", func(e *chainlog.Event) { e.Args = e.Args[:1] }},
		{"argument type", func(e *chainlog.Event) { e.Args = append([]chainlog.Arg{{Type: chainlog.ArgString}}, e.Args[1:]...) }},
		{"block time", func(e *chainlog.Event) { e.BlockTime = -1 }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			ev := mk("Deposit", 1, 0, testNow, addr(3), addr(3), e18(1), e18(1))
			tc.edit(&ev)
			body, err := LedgerJSONOf(&ev, testNow)
			var verr *fund.ValidationError
			if !errors.As(err, &verr) || body != nil {
				t.Fatalf("%s %v, want a *fund.ValidationError", body, err)
			}
		})
	}
}

func TestRecordJSONRefuses(t *testing.T) {
	e := newOutboxEnv(t)
	logs, _ := sampleCommands(t)
	e.apply(logs)
	acct := key(fund.PrefixAccount, alice[:])
	acctVal, err := e.st.Get(acct)
	if err != nil {
		t.Fatal(err)
	}
	ledger := keysOf(t, e.st, fund.PrefixLedger, false)[0]
	ledgerVal, _ := e.st.Get(ledger)
	tests := []struct {
		name     string
		key, val []byte
		wantOK   bool
		wantErr  error
	}{
		{"fund singleton", []byte{'S'}, []byte{1}, false, nil},
		{"asset", key(fund.PrefixAsset, usdt[:]), []byte{1}, false, nil},
		{"price point", key(fund.PrefixPriceHistory, make([]byte, 20+8+17)), []byte{1}, false, nil},
		{"flow bucket", flowKey(0), []byte{1}, false, nil},
		{"risk event truncated", key(fund.PrefixRisk, make([]byte, fund.LedgerPosLen)), []byte{1}, true, fund.ErrInvariant},
		{"risk event, short key", key(fund.PrefixRisk, make([]byte, 20)), []byte{1}, true, fund.ErrInvariant},
		{"deleted risk event", key(fund.PrefixRisk, make([]byte, fund.RiskCmdPosLen)), nil, true, fund.ErrNotFound},
		{"audit", key(fund.PrefixAudit, make([]byte, 12)), []byte{1}, false, nil},
		{"ingest checkpoint", []byte{'I'}, []byte{1}, false, nil},
		{"view", fund.ViewKey(ViewOverview), []byte("{}"), false, nil},
		{"outbox", key('O', be64(1), []byte{0, 0, 0, 0}), []byte{1}, false, nil},
		{"raftstore", []byte("m/applied"), be64(1), false, nil},
		{"empty key", nil, nil, false, nil},
		{"short account key", acct[:20], acctVal, true, fund.ErrInvariant},
		{"long ledger key", append(bytes.Clone(ledger), 0), ledgerVal, true, fund.ErrInvariant},
		{"account truncated", acct, acctVal[:len(acctVal)-1], true, fund.ErrInvariant},
		{"account trailing byte", acct, append(bytes.Clone(acctVal), 0), true, fund.ErrInvariant},
		{"ledger garbage", ledger, []byte{1, 2, 3}, true, fund.ErrInvariant},
		{"redemption empty", key(fund.PrefixRedemption, make([]byte, 32)), []byte{}, true, fund.ErrInvariant},
		{"price version", key(fund.PrefixPrice, usdt[:]), []byte{9, 0, 0, 0, 0}, true, fund.ErrInvariant},
		{"nav short", navKey(1, 2, 3), []byte{1, 1}, true, fund.ErrInvariant},
		{"deleted account", acct, nil, true, fund.ErrNotFound},
		{"deleted ledger entry", ledger, nil, true, fund.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, ok, err := RecordJSON(tc.key, tc.val)
			if ok != tc.wantOK || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) || body != nil {
				t.Fatalf("%s ok %v err %v, want ok %v err %v", body, ok, err, tc.wantOK, tc.wantErr)
			}
		})
	}
}

// FuzzRecordJSON renders arbitrary keys and values: ok exactly for the pushed kinds, never a
// panic, valid JSON or an error, and always what the GET read returns from a store holding
// that one record.
func FuzzRecordJSON(f *testing.F) {
	e := newOutboxEnv(f)
	logs, prices := sampleCommands(f)
	e.apply(logs)
	e.apply(prices)
	e.logs(chainlogtest.AllEvents(testNow)...)
	e.logs(removed(chainlogtest.AllEvents(testNow)[0]))
	for _, c := range e.obs.got {
		for _, r := range c.Records {
			f.Add(bytes.Clone(r.Key), bytes.Clone(r.Value))
		}
	}
	f.Add([]byte{fund.PrefixNav}, []byte{1})
	f.Add(navKey(-1, 0, 0), []byte{1, 0, 0, 0}) // a NAV point of zeros: version 1, three empty amounts
	f.Add(key(fund.PrefixRedemption, bytes.Repeat([]byte{0xff}, 32)), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		body, ok, err := RecordJSON(key, value)
		want := fund.IsPrimaryRecord(key) && bytes.IndexByte([]byte(pushKinds), key[0]) >= 0
		if k, _, ref := RecordRef(key); (k != RecordOther) != (want && len(key) == fund.PrimaryKeyLen(key)) || (ref != nil && !json.Valid(ref)) {
			t.Fatalf("RecordRef(%x) = %d %s", key, k, ref)
		}
		if ok != want {
			t.Fatalf("ok %v for %x", ok, key)
		}
		if !ok || err != nil {
			if body != nil || (!ok && err != nil) || (err != nil && !errors.Is(err, fund.ErrInvariant) && !(value == nil && errors.Is(err, fund.ErrNotFound))) {
				t.Fatalf("%x: %s %v %v", key, body, ok, err)
			}
			if !ok || len(key) != fund.PrimaryKeyLen(key) || value == nil {
				return
			}
		} else if !json.Valid(body) {
			t.Fatalf("%x: invalid JSON %s", key, body)
		}
		if key[0] == fund.PrefixNav && int64(be64get(key[1:])) < 0 {
			return // the history lists times from 0 on
		}
		st := kv.NewMem()
		if err := st.Set(key, value); err != nil {
			t.Fatal(err)
		}
		var read []byte
		var rerr error
		switch key[0] {
		case fund.PrefixNav, fund.PrefixLedger:
			var items []json.RawMessage
			if key[0] == fund.PrefixNav {
				b, lerr := NavHistory(st, NavQuery{Interval: IntervalRaw, HasFrom: true})
				rerr = lerr
				if lerr == nil {
					items = listItems(t, b, nil)
				}
			} else {
				b, lerr := Transactions(st, TxFilter{}, Page{})
				rerr = lerr
				if lerr == nil {
					items = listItems(t, b, nil)
				}
			}
			if rerr == nil {
				if len(items) != 1 {
					t.Fatalf("%x: %d items", key, len(items))
				}
				read = items[0]
			}
		default:
			read, rerr = readResource(t, st, key)
		}
		if (err == nil) != (rerr == nil) || !bytes.Equal(body, read) {
			t.Fatalf("%x: RecordJSON %s %v, GET %s %v", key, body, err, read, rerr)
		}
	})
}
