package server

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
	"paimon/version"
)

// TestWebhookDeliveryOrder goes through POST /v1/admin/logs: a settlement posted before its
// request, and a NAV update posted late, give the same resources as the logs posted in order;
// a new log older than the reorder window is 409 CONFLICT with the window and the highest
// block and changes nothing; a removal naming another block hash is not_found.
func TestWebhookDeliveryOrder(t *testing.T) {
	owner := fundtest.Addr("webhook-owner")
	at := func(name string, block, li uint64, args ...any) chainlog.RawLog {
		ev, err := fundtest.NewEvent(name, args...)
		if err != nil {
			t.Fatal(err)
		}
		ev.BlockNumber, ev.LogIndex, ev.BlockTime = block, li, int64(1_736_121_600+3*block)
		ev.TxHash = common.BigToHash(big.NewInt(int64(block*100 + li)))
		ev.BlockHash = common.BigToHash(big.NewInt(int64(block)))
		raw, err := fundtest.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	deposit := at("Deposit", 1000, 0, owner, owner, fundtest.E18(100), fundtest.E18(100))
	mint := at("Transfer", 1000, 1, common.Address{}, owner, fundtest.E18(100))
	request := at("RedemptionRequested", 1001, 0, big.NewInt(9), owner, owner, fundtest.E18(10), fundtest.E18(10), big.NewInt(0), uint8(0), false, big.NewInt(0), big.NewInt(1))
	nav := at("NavUpdated", 1002, 0, fundtest.E18(1), fundtest.Amount("1.05"), big.NewInt(1_736_124_606))
	settle := at("RedemptionSettled", 1003, 0, big.NewInt(9), owner, owner, fundtest.E18(10), big.NewInt(0), fundtest.E18(10), uint8(0))

	post := func(n *testNode, logs ...chainlog.RawLog) response {
		t.Helper()
		return n.do("POST", "/v1/admin/logs", operatorToken, fundtest.Body(logs...))
	}
	inOrder, late := newTestNode(t), newTestNode(t)
	waitOrdered(t, inOrder)
	waitOrdered(t, late)
	if r := post(inOrder, deposit, mint, request, nav, settle); r.status != 200 {
		t.Fatalf("in order: %d %s", r.status, r.body)
	}
	for _, logs := range [][]chainlog.RawLog{{settle}, {nav, mint}, {request, deposit, settle}} {
		if r := post(late, logs...); r.status != 200 {
			t.Fatalf("late: %d %s", r.status, r.body)
		}
	}
	for _, path := range []string{"/v1/fund/overview", "/v1/fund/nav/history?interval=raw", "/v1/redemptions/9", "/v1/accounts/" + owner.Hex(), "/v1/transactions?limit=10"} {
		want, got := inOrder.get(path, adminToken), late.get(path, adminToken)
		w, g := want.json(t), got.json(t)
		delete(w, "updatedAt") // the time of the last write, which differs between the nodes
		delete(g, "updatedAt")
		if want.status != 200 || got.status != want.status || fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("GET %s: %d %s\nin order: %d %s", path, got.status, got.body, want.status, want.body)
		}
	}

	old := at("Transfer", 700, 0, common.Address{}, owner, fundtest.E18(1))
	before := late.get("/v1/fund/overview", "")
	r := post(late, old)
	expectError(t, "a log 303 blocks behind", r, 409, "CONFLICT")
	if d := field(r.json(t), "error.details"); field(d, "window") != 256.0 || field(d, "highestBlock") != 1003.0 {
		t.Fatalf("details %v", d)
	}
	if after := late.get("/v1/fund/overview", ""); string(after.body) != string(before.body) {
		t.Fatalf("a refused log changed the overview:\n%s\n%s", before.body, after.body)
	}

	wrongFork := settle
	wrongFork.Removed = true
	wrongFork.BlockHash = common.Hash{0xfe}.Hex()
	r = post(late, wrongFork)
	if r.status != 200 || field(r.json(t), "results.0.status") != "not_found" {
		t.Fatalf("removal of another fork's log: %d %s", r.status, r.body)
	}
	if after := late.get("/v1/redemptions/9", adminToken); field(after.json(t), "status") != "SETTLED" {
		t.Fatalf("a wrong-hash removal reverted the settlement: %s", after.body)
	}
}

// TestProposerRulesInCommand: the reorder window and the price future skew are the server's
// configuration (ingest.reorder_window_blocks, prices.max_future_skew), written into each
// CmdLogs and CmdPrices it proposes; the state machine, which has no such setting, applies the
// command's.
func TestProposerRulesInCommand(t *testing.T) {
	owner := fundtest.Addr("rules-owner")
	at := func(block uint64) chainlog.RawLog {
		ev, err := fundtest.NewEvent("Transfer", common.Address{}, owner, fundtest.E18(1))
		if err != nil {
			t.Fatal(err)
		}
		ev.BlockNumber, ev.BlockTime = block, int64(1_736_121_600+3*block)
		ev.TxHash, ev.BlockHash = common.BigToHash(big.NewInt(int64(block*100))), common.BigToHash(big.NewInt(int64(block)))
		raw, err := fundtest.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	n := newTestNode(t, func(s *setup) { s.server.ReorderWindow, s.server.MaxPriceFutureSkew = 10, time.Minute })
	waitOrdered(t, n)
	post := func(path string, body []byte) response {
		return n.do("POST", path, operatorToken, body)
	}
	if r := post("/v1/admin/logs", fundtest.Body(at(1000))); r.status != 200 {
		t.Fatalf("log: %d %s", r.status, r.body)
	}
	r := post("/v1/admin/logs", fundtest.Body(at(980)))
	expectError(t, "a log 20 blocks behind", r, 409, "CONFLICT")
	if d := field(r.json(t), "error.details"); field(d, "window") != 10.0 {
		t.Fatalf("details %v", d)
	}
	if r := post("/v1/admin/logs", fundtest.Body(at(990))); r.status != 200 || field(r.json(t), "accepted") != 1.0 {
		t.Fatalf("a log at the window's edge: %d %s", r.status, r.body)
	}
	price := func(ahead time.Duration) []byte {
		return fmt.Appendf(nil, `{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1","time":%q}]}`,
			time.Now().Add(ahead).UTC().Format(time.RFC3339))
	}
	r = post("/v1/admin/prices", price(3*time.Minute))
	expectError(t, "a price 3 minutes ahead", r, 400, "VALIDATION_ERROR")
	if d := field(r.json(t), "error.details"); field(d, "maxFutureSkew") != "1m0s" {
		t.Fatalf("details %v", d)
	}
	if r := post("/v1/admin/prices", price(20*time.Second)); r.status != 200 {
		t.Fatalf("a price 20 s ahead: %d %s", r.status, r.body)
	}
}

// waitOrdered waits until the node's cluster version lets the server propose logs and prices
// of fund.OrderedVersion (a fresh cluster raises it from the base version once it has a leader).
func waitOrdered(t *testing.T, n *testNode) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if v := n.store.ClusterVersion(); version.Compare(v, orderedSince) < 0 {
			return fmt.Errorf("cluster version %s", v)
		}
		return nil
	})
}
