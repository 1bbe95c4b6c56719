package readmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
	"paimon/internal/testutil"
	"paimon/kv"
)

// The event builders of chainlogtest, by the short names the tests are written with.
var (
	mk      = chainlogtest.Event
	addr    = chainlogtest.Address
	u       = uint256.NewInt
	e18     = chainlogtest.E18
	removed = chainlogtest.Removed
)

const testNow = int64(1_736_200_000) // 2025-01-06T21:46:40Z

// env is a fund.Machine, rendering its views with Views, over a kv.Mem.
type env struct {
	t     testing.TB
	st    *kv.Mem
	m     *fund.Machine
	index uint64
	obs   *recObserver
}

type recObserver struct{ got []*fund.Changes }

func (o *recObserver) Applied(c *fund.Changes) { o.got = append(o.got, c) }

// testInfo is the fund of the tests; the commands carry no reorder window and no price skew.
var testInfo = fund.Info{FundID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", ChainID: 56}

func newEnvInfo(t testing.TB, info fund.Info) *env {
	o := &recObserver{}
	return &env{t: t, st: kv.NewMem(), m: fund.NewMachine(info, NewViews(info), o), obs: o}
}

func newEnv(t testing.TB) *env { return newEnvInfo(t, testInfo) }

// newOutboxEnv is newEnv with the outbox, so that Changes.Records holds the changed records.
func newOutboxEnv(t testing.TB) *env {
	info := testInfo
	info.Outbox = true
	return newEnvInfo(t, info)
}

// apply runs one command as a one-entry batch and returns its result.
func (e *env) apply(cmd []byte) any {
	e.t.Helper()
	e.index++
	res, err := e.m.Apply(e.st, e.index, cmd)
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	if err := e.m.EndBatch(e.st, e.index); err != nil {
		e.t.Fatalf("end batch: %v", err)
	}
	e.m.Committed()
	return res
}

func (e *env) logs(evs ...chainlog.Event) *fund.LogsResult {
	e.t.Helper()
	res := e.apply(fund.EncodeLogs(&fund.LogsCommand{Time: testNow * 1e9, Events: evs}))
	lr, ok := res.(*fund.LogsResult)
	if !ok {
		e.t.Fatalf("apply logs: result %T %v", res, res)
	}
	return lr
}

// lastChanges is what the observer got from the last batch.
func (e *env) lastChanges() *fund.Changes { return e.obs.got[len(e.obs.got)-1] }

func (e *env) json(b []byte, err error) map[string]any {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("bad json %s: %v", b, err)
	}
	return m
}

func (e *env) view(name string) map[string]any { return e.json(ReadView(e.st, name)) }

var field = testutil.Field

type expect = testutil.Fields // path → value (compared with fmt.Sprint)

func (e *env) check(what string, got map[string]any, want expect) {
	e.t.Helper()
	testutil.CheckFields(e.t, what, got, want)
}

func isValidation(err any) bool {
	_, ok := err.(*fund.ValidationError)
	return ok
}

func mustEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// readSample decodes the JSON file examples/name into dst.
func readSample(t testing.TB, name string, dst any) {
	t.Helper()
	b, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatal(err)
	}
}

// sampleEvents returns the events of the committed walkthrough (examples/sample-logs.json,
// which fund's TestSampleFiles generates), decoded.
func sampleEvents(t testing.TB) []chainlog.Event {
	t.Helper()
	var body struct{ Logs []chainlog.RawLog }
	readSample(t, "sample-logs.json", &body)
	reg := chainlogtest.Registry()
	evs := make([]chainlog.Event, len(body.Logs))
	for i := range body.Logs {
		var err error
		if evs[i], err = reg.Decode(&body.Logs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// sampleCommands returns the committed walkthrough (examples/sample-*.json) as the HTTP path
// encodes it: the logs, then the prices, both by an operator, at the times fund's tests give
// them.
func sampleCommands(t testing.TB) (logs, prices []byte) {
	t.Helper()
	const (
		sampleStart      = int64(1_736_121_600) // 2025-01-06T00:00:00Z
		sampleLogsTime   = (sampleStart + 6*day) * 1e9
		samplePricesTime = (sampleStart+6*day+3600)*1e9 + 5
	)
	evs := sampleEvents(t)
	var pricesBody struct {
		Prices []struct{ Asset, Price, Time string }
	}
	readSample(t, "sample-prices.json", &pricesBody)
	var err error
	ps := make([]fund.PriceUpdate, len(pricesBody.Prices))
	for i, p := range pricesBody.Prices {
		if ps[i].Asset, err = ParseAsset(p.Asset); err != nil {
			t.Fatal(err)
		}
		if err := ps[i].Price.SetFromDecimal(p.Price); err != nil {
			t.Fatal(err)
		}
		if ps[i].Time, err = ParseTime("time", p.Time); err != nil {
			t.Fatal(err)
		}
	}
	ops := fund.Actor{Name: "ops", Role: "operator", IP: "127.0.0.1"}
	return fund.EncodeLogs(&fund.LogsCommand{Time: sampleLogsTime, Actor: ops, Events: evs}),
		fund.EncodePrices(&fund.PricesCommand{Time: samplePricesTime, Actor: ops, Prices: ps})
}

// navKey is the key of a NAV point: N time8 bn8 li8.
func navKey(t int64, bn, li uint64) []byte {
	return key(fund.PrefixNav, be64(uint64(t)), be64(bn), be64(li))
}

// Addresses of the sample walkthrough (examples/sample-*.json, fund's sample_test.go).
var (
	alice = common.BytesToAddress(crypto.Keccak256([]byte("paimon sample: alice"))[12:])
	usdt  = common.HexToAddress("0x55d398326f99059ff775485246999027b3197955") // BSC-USD
)

func readOutbox(t testing.TB, r kv.Reader, after uint64) []fund.OutboxEntry {
	t.Helper()
	var out []fund.OutboxEntry
	if err := fund.ReadOutbox(r, after, 0, func(e fund.OutboxEntry) bool { out = append(out, e); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRecords compares Changes.Records with outbox entries, field by field (nil Value for a
// deletion in both).
func sameRecords(t *testing.T, what string, got, want []fund.OutboxEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if g.Index != w.Index || g.Ord != w.Ord || g.Time != w.Time || !bytes.Equal(g.Key, w.Key) ||
			!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
			t.Fatalf("%s: record %d = %d-%d %d %x (nil %v), want %d-%d %d %x (nil %v)", what, i,
				g.Index, g.Ord, g.Time, g.Key, g.Value == nil, w.Index, w.Ord, w.Time, w.Key, w.Value == nil)
		}
	}
}
