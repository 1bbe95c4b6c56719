package push

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/readmodel"
)

// TestEveryChannel runs a fund lifecycle (deposits, an asset and its prices, NAV updates,
// redemptions through approval and settlement, transfers) in batches of several commands: on
// every channel the last message of each resource is what its GET returns at the end, and
// transactions carries one message per ledger entry.
func TestEveryChannel(t *testing.T) {
	e := newEnv(t, testConfig())
	c := e.dial(nil)
	c.auth(viewerToken)
	owner, other := walletAddr, fundtest.Addr("other")
	acct := "account:" + strings.ToLower(owner.Hex())
	c.subscribe(nil, "fund:overview", "fund:nav", "prices", "redemptions", "transactions", acct)

	ch := fundtest.NewChain(fundtest.ChainConfig{Seed: 3, FirstBlock: fundtest.NextBlock()}) // after the harness's mints, in ledger order
	token := fundtest.Addr("t-bill")
	ch.Deposit(owner, fundtest.E18(1000), fundtest.E18(1000))
	ch.Deposit(other, fundtest.E18(500), fundtest.E18(500))
	ch.NextBlock()
	ch.AssetAdded(token, 1, 5000)
	ch.PriceSet(token, fundtest.E18(1), 0)
	ch.Advance(time.Hour)
	ch.NavUpdated(fundtest.Amount("1.01"))
	ch.PriceSet(token, fundtest.Amount("1.002"), 0)
	ch.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: owner, Shares: fundtest.E18(10)}, fundtest.Settle, other, time.Hour)
	ch.RedemptionLifecycle(fundtest.RedemptionRequest{Owner: other, Shares: fundtest.E18(20), RequiresApproval: true}, fundtest.Reject, owner, time.Hour)
	ch.Transfer(owner, other, fundtest.E18(5))
	ch.NavUpdated(fundtest.Amount("1.02"))
	evs := ch.Events()

	// Three events a command, two commands a batch.
	var cmds [][]byte
	for i := 0; i < len(evs); i += 3 {
		j := min(i+3, len(evs))
		cmds = append(cmds, fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: evs[i:j]}))
	}
	batches := 0
	for i := 0; i < len(cmds); i += 2 {
		e.apply(cmds[i:min(i+2, len(cmds))]...)
		batches++
	}
	final := e.index

	last := map[string][]byte{} // channel/resource → last data
	count := map[string]int{}
	seqs := map[string]uint64{}
	for done := false; !done; {
		f := c.read()
		if f.Type != "event" {
			t.Fatalf("frame %+v", f)
		}
		if *f.Seq < seqs[f.Channel] {
			t.Fatalf("%s: seq %d after %d", f.Channel, *f.Seq, seqs[f.Channel])
		}
		seqs[f.Channel] = *f.Seq
		count[f.Channel]++
		last[f.Channel+"/"+resourceID(t, f)] = f.Data
		done = f.Channel == "fund:overview" && *f.Seq == final
	}
	if count["transactions"] != len(evs) {
		t.Fatalf("%d transactions messages, want %d (one per event)", count["transactions"], len(evs))
	}
	if count["fund:overview"] != batches {
		t.Fatalf("%d overview messages, want one per batch (%d)", count["fund:overview"], batches)
	}
	check := func(what string, got []byte, want []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: last message\n%s\nGET\n%s", what, got, want)
		}
	}
	want, err := readmodel.Account(e.st, owner)
	check("account", last[acct+"/"+strings.ToLower(owner.Hex())], want, err)
	want, err = readmodel.Price(e.st, strings.ToLower(token.Hex()), readmodel.PriceQuery{})
	check("price", last["prices/"+strings.ToLower(token.Hex())], want, err)
	for _, id := range []string{"1", "2"} {
		want, err = readmodel.Redemption(e.st, id)
		check("redemption "+id, last["redemptions/"+id], want, err)
	}
	want, err = readmodel.ReadView(e.st, readmodel.ViewOverview)
	check("overview", last["fund:overview/"], want, err)
	for _, ev := range evs {
		want, err = readmodel.LedgerEntry(e.st, ev.TxHash, ev.LogIndex)
		check("ledger entry", last[fmt.Sprintf("transactions/%s/%d", ev.TxHash.Hex(), ev.LogIndex)], want, err)
	}
	if count["fund:nav"] != 2 || count["prices"] != 2 || count["redemptions"] < 3 {
		t.Fatalf("messages per channel %v", count)
	}
}

// resourceID names the resource of an event frame from its data.
func resourceID(t *testing.T, f serverFrame) string {
	var m map[string]any
	if err := jsonUnmarshal(f.Data, &m); err != nil {
		t.Fatalf("%s data %s: %v", f.Channel, f.Data, err)
	}
	switch {
	case f.Channel == "prices":
		return fmt.Sprint(m["asset"])
	case f.Channel == "redemptions":
		return fmt.Sprint(m["requestId"])
	case f.Channel == "transactions":
		return fmt.Sprintf("%s/%v", common.HexToHash(fmt.Sprint(m["txHash"])).Hex(), m["logIndex"])
	case strings.HasPrefix(f.Channel, "account:"):
		return fmt.Sprint(m["address"])
	case f.Channel == "fund:nav":
		return fmt.Sprint(m["time"])
	}
	return ""
}

// TestCatalogRefusesBadChannels: the channels a hub is given (the server's route table) are
// checked at construction: a name once, records or a view, one channel per record kind, and
// only accounts per address.
func TestCatalogRefusesBadChannels(t *testing.T) {
	if _, err := newCatalog(testChannels); err != nil {
		t.Fatalf("API.md's channels: %v", err)
	}
	for name, cs := range map[string][]Channel{
		"none":             nil,
		"no name":          {{Record: readmodel.RecordNav}},
		"twice":            {{Name: "prices", Record: readmodel.RecordPrice}, {Name: "prices", Record: readmodel.RecordNav}},
		"nothing feeds it": {{Name: "prices"}},
		"records and view": {{Name: "prices", Record: readmodel.RecordPrice, View: readmodel.ViewPrices}},
		"a record twice":   {{Name: "prices", Record: readmodel.RecordPrice}, {Name: "quotes", Record: readmodel.RecordPrice}},
		"per address, nav": {{Name: "nav:", Record: readmodel.RecordNav}},
		"accounts, single": {{Name: "accounts", Record: readmodel.RecordAccount}},
		"a view twice":     {{Name: "a", View: readmodel.ViewOverview}, {Name: "b", View: readmodel.ViewOverview}},
	} {
		if _, err := New(testConfig(), testAuth{}, cs, nil, nil); err == nil {
			t.Errorf("%s: accepted %+v", name, cs)
		}
	}
	cat, _ := newCatalog(testChannels)
	for name, want := range map[string]string{
		"account:0xABCDEF0123456789abcdef0123456789ABCDEF01": "account:0xabcdef0123456789abcdef0123456789abcdef01",
		"fund:nav": "fund:nav",
	} {
		if c, err := cat.parse(name); err != nil || c.String() != want {
			t.Errorf("parse %s: %v %v, want %s", name, c, err, want)
		}
	}
	for _, bad := range []string{"account:", "account:0x12", "nav", "fund:nav:"} {
		if _, err := cat.parse(bad); err == nil {
			t.Errorf("parse %s: accepted", bad)
		}
	}
}
