package readmodel

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// The contract addresses of the default config (the same as fund's tests).
var (
	vaultAddr  = common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	rmAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a01")
	acAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a02")
	oracleAddr = common.HexToAddress("0x0000000000000000000000000000000000000a03")
)

func contractOf(k chainlog.Kind) common.Address {
	return [...]common.Address{{}, vaultAddr, rmAddr, acAddr, oracleAddr}[k]
}

func addr(n int) common.Address { return common.BigToAddress(big.NewInt(int64(0x1000 + n))) }

func u(v uint64) *uint256.Int { return uint256.NewInt(v) }

// e18 returns v × 1e18.
func e18(v uint64) *uint256.Int { return new(uint256.Int).Mul(u(v), oneE18) }

func txOf(bn, li uint64) common.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], bn)
	binary.BigEndian.PutUint64(b[8:], li)
	return crypto.Keccak256Hash(b[:])
}

const testNow = int64(1_736_200_000) // 2025-01-06T21:46:40Z

// mk builds a valid Event of the named kind; args are common.Address, uint64, int,
// *uint256.Int, bool or string, in declaration order.
func mk(name string, bn, li uint64, bt int64, args ...any) chainlog.Event {
	s := chainlog.SpecByName(name)
	if s == nil {
		panic("unknown event " + name)
	}
	if len(args) != len(s.Args) {
		panic(fmt.Sprintf("%s: %d args, want %d", name, len(args), len(s.Args)))
	}
	e := chainlog.Event{
		TxHash: txOf(bn, li), LogIndex: li, BlockNumber: bn, BlockHash: crypto.Keccak256Hash(be64(bn)),
		BlockTime: bt, Contract: contractOf(s.Kind), Kind: s.Kind, Name: s.Name,
	}
	for i, a := range s.Args {
		arg := chainlog.Arg{Name: a.Name, Type: a.Type}
		switch v := args[i].(type) {
		case common.Address:
			arg.Address = v
		case uint64:
			arg.Uint.SetUint64(v)
		case int:
			arg.Uint.SetUint64(uint64(v))
		case int64:
			arg.Uint.SetUint64(uint64(v))
		case *uint256.Int:
			arg.Uint = *v
		case bool:
			arg.Bool = v
		case string:
			arg.String = v
		default:
			panic(fmt.Sprintf("%s: bad arg %T", name, v))
		}
		e.Args = append(e.Args, arg)
	}
	return e
}

// allEvents has one valid event of every kind.
func allEvents() []chainlog.Event {
	h1, h2 := addr(1), addr(2)
	return []chainlog.Event{
		mk("Transfer", 10, 0, testNow, common.Address{}, h1, e18(5)),
		mk("Deposit", 10, 1, testNow, h1, h1, e18(5), e18(5)),
		mk("Withdraw", 10, 2, testNow, h1, h2, h1, e18(1), e18(1)),
		mk("SharesLocked", 10, 3, testNow, h1, e18(1)),
		mk("SharesUnlocked", 10, 4, testNow, h1, e18(1)),
		mk("SharesBurned", 10, 5, testNow, h1, u(7)),
		mk("NavUpdated", 10, 6, testNow, oneE18, u(1_020_000_000_000_000_000), testNow),
		mk("EmergencyModeChanged", 10, 7, testNow, true),
		mk("RedemptionFeeAdded", 10, 8, testNow, u(3)),
		mk("RedemptionFeeReduced", 10, 9, testNow, u(1)),
		mk("RedemptionRequested", 11, 0, testNow, 1, h1, h2, e18(2), e18(2), u(5), 1, true, testNow+7*day, 3),
		mk("RedemptionApproved", 11, 1, testNow, 1, h2, testNow+day),
		mk("RedemptionRejected", 11, 2, testNow, 2, h2, "not allowed \"now\" ✓"),
		mk("RedemptionCancelled", 11, 3, testNow, 3, h1),
		mk("RedemptionSettled", 11, 4, testNow, 1, h1, h2, e18(2), u(5), e18(1), 1),
		mk("LowLiquidityAlert", 11, 5, testNow, 900, 1000, e18(1), e18(10)),
		mk("CriticalLiquidityAlert", 11, 6, testNow, 500, 1000, e18(1)),
		mk("AssetAdded", 12, 0, testNow, addr(50), 1, 4000),
		mk("AssetRemoved", 12, 1, testNow, addr(51)),
		mk("AssetAllocationUpdated", 12, 2, testNow, addr(50), 4000, 5000),
		mk("AssetPurchased", 12, 3, testNow, addr(50), 1, e18(10), e18(9)),
		mk("AssetRedeemed", 12, 4, testNow, addr(50), 1, e18(1), e18(1)),
		mk("WaterfallLiquidation", 12, 5, testNow, 2, addr(52), e18(1), e18(1)),
		mk("LayerConfigUpdated", 12, 6, testNow, 2, 3000, 2000, 4000),
		mk("ManagementFeeCollected", 12, 7, testNow, e18(1), e18(100), 86400),
		mk("PerformanceFeeCollected", 12, 8, testNow, e18(1), e18(2), e18(3)),
		mk("PriceSet", 13, 0, testNow, addr(50), oneE18, testNow, 2),
	}
}

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

// field reads a dotted path ("tiers.L3.targetRatio", "items.0.status") from decoded JSON.
func field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

type expect map[string]any // path → value (compared with fmt.Sprint)

func (e *env) check(what string, got map[string]any, want expect) {
	e.t.Helper()
	for path, w := range want {
		g := field(got, path)
		if f, ok := g.(float64); ok {
			g = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			e.t.Errorf("%s.%s = %v, want %v", what, path, g, w)
		}
	}
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
	reg, err := chainlog.NewRegistry([]chainlog.ContractConfig{
		{Name: "vault", Kind: "vault", Address: chainlog.HexAddress(vaultAddr)},
		{Name: "redemptions", Kind: "redemption_manager", Address: chainlog.HexAddress(rmAddr)},
		{Name: "assets", Kind: "asset_controller", Address: chainlog.HexAddress(acAddr)},
		{Name: "oracle", Kind: "oracle", Address: chainlog.HexAddress(oracleAddr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]chainlog.Event, len(body.Logs))
	for i := range body.Logs {
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

func removed(e chainlog.Event) chainlog.Event {
	e.Removed = true
	return e
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
