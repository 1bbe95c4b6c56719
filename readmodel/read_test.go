package readmodel

import (
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
	"paimon/internal/testutil"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// pages walks a list to its end with the given limit and returns every item.
func (e *env) pages(limit int, list func(p Page) ([]byte, error)) []any {
	e.t.Helper()
	return testutil.Pages(e.t, limit, func(cursor string) map[string]any {
		p := Page{Limit: limit}
		if cursor != "" {
			pg, err := ParsePage(getter("cursor", cursor, "limit", "1"))
			if err != nil {
				e.t.Fatal(err)
			}
			p.Cursor = pg.Cursor
		}
		return e.json(list(p))
	})
}

func TestTransactionsPagination(t *testing.T) {
	e := newEnv(t)
	h1, h2 := addr(1), addr(2)
	var evs []chainlog.Event
	for bn := uint64(1); bn <= 7; bn++ {
		evs = append(evs, mk("Transfer", bn, 0, testNow, common.Address{}, h1, u(bn)),
			mk("Deposit", bn, 1, testNow, h2, h1, u(bn), u(bn)),
			mk("PriceSet", bn, 2, testNow, addr(50), u(bn), testNow+int64(bn), 0))
	}
	e.logs(evs...)
	all := e.pages(4, func(p Page) ([]byte, error) { return Transactions(e.st, TxFilter{}, p) })
	if len(all) != 21 {
		t.Fatalf("%d entries", len(all))
	}
	mustEqual(t, "newest first", field(all[0], "blockNumber"), 7)
	mustEqual(t, "newest first logIndex", field(all[0], "logIndex"), 2)
	mustEqual(t, "oldest last", field(all[20], "event"), "Transfer")
	mustEqual(t, "args", field(all[1], "args.owner"), chainlog.HexAddress(h1))
	mustEqual(t, "args", field(all[2], "args.value"), 7)

	from, to := uint64(3), uint64(5)
	tests := []struct {
		name string
		f    TxFilter
		n    int
	}{
		{"event", TxFilter{Event: "Deposit"}, 7},
		{"contract", TxFilter{Contract: &chainlogtest.OracleAddress}, 7},
		{"address h2", TxFilter{Address: &h2}, 7},
		{"address h1", TxFilter{Address: &h1}, 14},
		{"address and event", TxFilter{Address: &h1, Event: "Transfer"}, 7},
		{"address and contract", TxFilter{Address: &h1, Contract: &chainlogtest.OracleAddress}, 0},
		{"blocks", TxFilter{FromBlock: &from, ToBlock: &to}, 9},
		{"event and blocks", TxFilter{Event: "PriceSet", FromBlock: &from}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.pages(2, func(p Page) ([]byte, error) { return Transactions(e.st, tc.f, p) })
			if len(got) != tc.n {
				t.Fatalf("%d items, want %d", len(got), tc.n)
			}
		})
	}
	acct := e.pages(3, func(p Page) ([]byte, error) { return AccountTransactions(e.st, h1, p) })
	mustEqual(t, "account transactions", len(acct), 14)
	// h2 only appears as a Deposit sender: no account, but it has ledger entries.
	if _, err := AccountTransactions(e.st, h2, Page{Limit: 10}); err != nil {
		t.Errorf("sender transactions: %v", err)
	}
	if _, err := AccountTransactions(e.st, addr(9), Page{Limit: 10}); err != fund.ErrNotFound {
		t.Errorf("unknown account transactions: err %v", err)
	}
	for _, c := range [][]byte{{1, 2, 3}, make([]byte, 49)} {
		if _, err := Transactions(e.st, TxFilter{}, Page{Limit: 5, Cursor: c}); !isValidation(err) {
			t.Errorf("cursor %x: err %v", c, err)
		}
	}
}

func TestRedemptionsList(t *testing.T) {
	e := newEnv(t)
	h1, h2 := addr(1), addr(2)
	var evs []chainlog.Event
	for id := 1; id <= 9; id++ {
		owner := h1
		if id%3 == 0 {
			owner = h2
		}
		evs = append(evs, mk("RedemptionRequested", uint64(id), 0, testNow, id, owner, owner, u(1), u(1), u(0), id%3, id%2 == 0, 0, 0))
	}
	evs = append(evs, mk("RedemptionApproved", 20, 0, testNow, 2, addr(9), testNow), mk("RedemptionSettled", 21, 0, testNow, 4, h1, h1, u(1), u(0), u(1), 1))
	e.logs(evs...)
	all := e.pages(4, func(p Page) ([]byte, error) { return Redemptions(e.st, RedemptionFilter{}, p) })
	if len(all) != 9 || field(all[0], "requestId") != "9" || field(all[8], "requestId") != "1" {
		t.Fatalf("order: %v", all)
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    RedemptionFilter
		want string
	}{
		{"owner", RedemptionFilter{Owner: &h2}, "9 6 3"},
		{"status", RedemptionFilter{Status: "PENDING_APPROVAL"}, "8 6"},
		{"status approved", RedemptionFilter{Status: "APPROVED"}, "2"},
		{"status settled", RedemptionFilter{Status: "SETTLED"}, "4"},
		{"channel", RedemptionFilter{Channel: "EMERGENCY"}, "7 4 1"},
		{"requiresApproval", RedemptionFilter{RequiresApproval: &yes}, "8 6 4 2"},
		{"owner and status", RedemptionFilter{Owner: &h1, Status: "PENDING"}, "7 5 1"},
		{"owner and not approval", RedemptionFilter{Owner: &h2, RequiresApproval: &no}, "9 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ids []string
			for _, it := range e.pages(2, func(p Page) ([]byte, error) { return Redemptions(e.st, tc.f, p) }) {
				ids = append(ids, field(it, "requestId").(string))
			}
			if got := strings.Join(ids, " "); got != tc.want {
				t.Fatalf("ids %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := Redemption(e.st, "10"); err != fund.ErrNotFound {
		t.Errorf("unknown redemption: %v", err)
	}
	if _, err := Redemption(e.st, "x"); !isValidation(err) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := Redemptions(e.st, RedemptionFilter{}, Page{Limit: 1, Cursor: []byte{1}}); !isValidation(err) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestAuditEntries(t *testing.T) {
	e := newEnv(t)
	ops := fund.Actor{Name: "ops-token", Role: "operator", IP: "10.1.2.3", UserAgent: "curl/8.5"}
	admin := fund.Actor{Name: "0x" + strings.Repeat("ab", 20), Role: "admin", IP: "::1"}
	e.apply(fund.EncodeLogs(&fund.LogsCommand{Time: testNow * 1e9, Actor: ops, Skipped: 2, Events: []chainlog.Event{mk("Deposit", 5, 0, testNow, addr(1), addr(1), u(10), u(10))}}))
	e.apply(fund.EncodePrices(&fund.PricesCommand{Time: testNow*1e9 + 5e8, Actor: ops, Prices: []fund.PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(7), Time: testNow}}}))
	e.apply(fund.EncodePrices(&fund.PricesCommand{Time: testNow*1e9 + 6e8, Actor: admin, Prices: []fund.PriceUpdate{{Asset: chainlog.HexAddress(addr(50)), Price: *u(8), Time: testNow + 1}}}))
	e.logs(mk("Deposit", 6, 0, testNow, addr(1), addr(1), u(10), u(10))) // system: no audit entry
	all := e.pages(2, func(p Page) ([]byte, error) { return Audit(e.st, AuditFilter{}, p) })
	if len(all) != 3 {
		t.Fatalf("%d audit entries", len(all))
	}
	e.check("newest", all[0].(map[string]any), expect{"id": "3-0", "index": 3, "actor": admin.Name, "role": "admin", "action": "prices.set",
		"resource": "prices/" + chainlog.HexAddress(addr(50)), "before.prices.0.price": 7, "after.prices.0.price": 8, "time": "2025-01-06T21:46:40.6Z"})
	e.check("logs", all[2].(map[string]any), expect{"id": "1-0", "action": "logs.submit", "resource": "ledger", "ip": "10.1.2.3", "userAgent": "curl/8.5",
		"after.accepted": 1, "after.skipped": 2, "before.lastBlock": 0, "after.lastBlock": 5})
	e.check("first price", all[1].(map[string]any), expect{"before.prices.0.price": nil})
	for _, tc := range []struct {
		f AuditFilter
		n int
	}{{AuditFilter{Actor: "ops-token"}, 2}, {AuditFilter{Action: "prices.set"}, 2}, {AuditFilter{Actor: "ops-token", Action: "prices.set"}, 1}, {AuditFilter{Actor: "nobody"}, 0}} {
		if got := e.pages(1, func(p Page) ([]byte, error) { return Audit(e.st, tc.f, p) }); len(got) != tc.n {
			t.Errorf("%+v: %d entries, want %d", tc.f, len(got), tc.n)
		}
	}
}

func TestNavHistoryAndChanges(t *testing.T) {
	e := newEnv(t)
	const base = int64(1_735_689_600)                  // 2025-01-01T00:00:00Z
	price := func(p uint64) uint64 { return p * 1e14 } // p / 10000
	var evs []chainlog.Event
	// Two points a day for 40 days: 00:00 and 12:00, price rising 1 bp per point.
	for i := int64(0); i < 80; i++ {
		evs = append(evs, mk("NavUpdated", uint64(100+i), 0, base+i*43200, 0, price(10000+uint64(i)), base+i*43200))
	}
	e.logs(evs...)
	latest := base + 79*43200 // 2025-02-09T12:00:00Z
	nav := e.view(ViewNav)
	items := nav["items"].([]any)
	// Default: 30 days ending at the latest point, last point of each UTC day.
	mustEqual(t, "items", len(items), 31)
	mustEqual(t, "last", field(items[30], "time"), fmtUnix(latest))
	mustEqual(t, "first", field(items[0], "time"), fmtUnix(latest-30*day))
	mustEqual(t, "nav", field(items[30], "nav"), "1.0079")
	e.check("changes", nav, expect{"change24h": "0.0198", "change7d": "0.1391", "change30d": "0.5989"})
	raw := e.json(NavHistory(e.st, NavQuery{From: base, To: base + day, HasFrom: true, HasTo: true, Interval: IntervalRaw}))
	mustEqual(t, "raw items", len(raw["items"].([]any)), 3)
	limited := e.json(NavHistory(e.st, NavQuery{Interval: IntervalHour, Limit: 4}))
	mustEqual(t, "limited", field(limited, "items.3.time"), fmtUnix(latest))
	mustEqual(t, "limited first", field(limited, "items.0.time"), fmtUnix(latest-3*43200))
	// Weeks from Monday: 2025-01-01 is a Wednesday, so the first week holds Jan 1–5 and the
	// last (Feb 3–9) ends at the latest point.
	weeks := e.json(NavHistory(e.st, NavQuery{From: base, HasFrom: true, Interval: IntervalWeek}))
	witems := weeks["items"].([]any)
	mustEqual(t, "weeks", len(witems), 6)
	mustEqual(t, "interval", field(weeks, "interval"), "1w")
	mustEqual(t, "first week", field(witems[0], "time"), fmtUnix(base+4*day+43200))
	mustEqual(t, "second week", field(witems[1], "time"), fmtUnix(base+11*day+43200))
	mustEqual(t, "last week", field(witems[5], "time"), fmtUnix(latest))
	empty := e.json(NavHistory(e.st, NavQuery{From: 5, To: 6, HasFrom: true, HasTo: true}))
	mustEqual(t, "empty", len(empty["items"].([]any)), 0)
}

func TestNavHistoryEmpty(t *testing.T) {
	e := newEnv(t)
	nav := e.json(NavHistory(e.st, NavQuery{}))
	e.check("nav", nav, expect{"interval": "1d", "change24h": nil, "items": "[]"})
}

func TestFlowsWindowsEndAtLatestBlock(t *testing.T) {
	e := newEnv(t)
	h := addr(1)
	const end = int64(1_736_208_000) // 2025-01-07T00:00:00Z
	e.logs(
		mk("Deposit", 1, 0, end-8*day, h, h, u(1000), u(1)),    // outside 7d
		mk("Deposit", 2, 0, end-6*day, h, h, u(100), u(1)),     // 7d only
		mk("Deposit", 3, 0, end-23*3600, h, h, u(10), u(1)),    // 24h (first hour of the window)
		mk("Withdraw", 4, 0, end-24*3600, h, h, h, u(5), u(1)), // hour before the 24h window: 7d only
		mk("Deposit", 5, 0, end+10, h, h, u(1), u(1)),          // latest block
	)
	e.check("flows", e.view(ViewFlows), expect{"subscriptions24h": 11, "redemptions24h": 0, "net24h": 11,
		"subscriptions7d": 111, "redemptions7d": 5, "net7d": 106})
}

func TestPriceReads(t *testing.T) {
	e := newEnv(t)
	tok := addr(50)
	e.logs(mk("PriceSet", 1, 0, testNow, tok, u(100), testNow-10, 1))
	e.apply(fund.EncodePrices(&fund.PricesCommand{Time: 1, Prices: []fund.PriceUpdate{{Asset: chainlog.HexAddress(tok), Price: *u(200), Time: testNow}, {Asset: chainlog.HexAddress(tok), Price: *u(150), Time: testNow - 5}}}))
	e.check("price", e.json(Price(e.st, chainlog.HexAddress(tok), PriceQuery{})), expect{"price": 200, "source": "api", "sourceId": nil, "items": nil, "time": fmtUnix(testNow)})
	if _, err := Price(e.st, strings.ToUpper(chainlog.HexAddress(tok)[2:]), PriceQuery{}); !isValidation(err) {
		t.Errorf("asset without 0x: err %v", err)
	}
	e.check("upper-case asset", e.json(Price(e.st, "0x"+strings.ToUpper(chainlog.HexAddress(tok)[2:]), PriceQuery{})), expect{"asset": chainlog.HexAddress(tok)})
	hist := e.json(Price(e.st, chainlog.HexAddress(tok), PriceQuery{History: true, Limit: 2}))
	e.check("history", hist, expect{"items.0.price": 150, "items.1.price": 200, "items.1.source": "api"})
	hist = e.json(Price(e.st, chainlog.HexAddress(tok), PriceQuery{History: true, To: testNow - 6, HasTo: true}))
	e.check("history to", hist, expect{"items.0.price": 100, "items.0.source": "oracle", "items.0.sourceId": 1, "items.1": nil})
	if _, err := Price(e.st, chainlog.HexAddress(addr(51)), PriceQuery{}); err != fund.ErrNotFound {
		t.Errorf("unknown asset: %v", err)
	}
	if _, err := ReadView(e.st, "nope"); err != fund.ErrNotFound {
		t.Errorf("unknown view: %v", err)
	}
}
