package fund

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/kv"
)

// The contract addresses of the default config (shared with other packages' tests).
var (
	vaultAddr  = common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	rmAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a01")
	acAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a02")
	oracleAddr = common.HexToAddress("0x0000000000000000000000000000000000000a03")
)

var testContracts = []chainlog.ContractConfig{
	{Name: "vault", Kind: "vault", Address: chainlog.HexAddress(vaultAddr)},
	{Name: "redemptions", Kind: "redemption_manager", Address: chainlog.HexAddress(rmAddr)},
	{Name: "assets", Kind: "asset_controller", Address: chainlog.HexAddress(acAddr)},
	{Name: "oracle", Kind: "oracle", Address: chainlog.HexAddress(oracleAddr)},
}

func contractOf(k chainlog.Kind) common.Address {
	return [...]common.Address{{}, vaultAddr, rmAddr, acAddr, oracleAddr}[k]
}

func testRegistry(t testing.TB) *chainlog.Registry {
	t.Helper()
	r, err := chainlog.NewRegistry(testContracts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addr(n int) common.Address {
	return common.BigToAddress(big.NewInt(int64(0x1000 + n)))
}

func u(v uint64) *uint256.Int { return uint256.NewInt(v) }

// e18 returns v × 1e18.
func e18(v uint64) *uint256.Int { return new(uint256.Int).Mul(u(v), oneE18) }

func txOf(bn, li uint64) common.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], bn)
	binary.BigEndian.PutUint64(b[8:], li)
	return crypto.Keccak256Hash(b[:])
}

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

func removed(e chainlog.Event) chainlog.Event {
	e.Removed = true
	return e
}

// env is a machine over a kv.Mem with a Raft index counter.
type env struct {
	t     testing.TB
	st    *kv.Mem
	m     *Machine
	index uint64
	obs   *recObserver
	// window is the reorder window of the version-2 CmdLogs that logs writes (0: none).
	window uint64
}

type recObserver struct{ got []*Changes }

func (o *recObserver) Applied(c *Changes) { o.got = append(o.got, c) }

// testInfo is the fund of the tests. Their commands carry no reorder window and no price skew
// (0: none), as the fixtures mix the sample walkthrough (blocks near 45,600,000) with events at
// blocks 10 to 300, which then go to their place in the ledger order before the sample, and give
// commands small times (1, 2, …) that carry 2025 prices. The window and skew tests set their own
// in their commands, as the server does.
var testInfo = Info{FundID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", ChainID: 56}

func newEnv(t testing.TB) *env {
	o := &recObserver{}
	return &env{t: t, st: kv.NewMem(), m: NewMachine(testInfo, NewViews(testInfo), o), obs: o}
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

const testNow = int64(1_736_200_000) // 2025-01-06T21:46:40Z

const day = int64(86400)

func (e *env) logs(evs ...chainlog.Event) *LogsResult {
	e.t.Helper()
	res := e.apply(EncodeLogs(&LogsCommand{Time: testNow * 1e9, Events: evs, ReorderWindow: e.window}))
	lr, ok := res.(*LogsResult)
	if !ok {
		e.t.Fatalf("apply logs: result %T %v", res, res)
	}
	return lr
}

// isAlertKey reports whether k belongs to the alert outbox (alerts.go), which records what was
// raised when (Seq is the raising command's index) and is neither journaled nor held by
// PostgreSQL: replay, revert and restore reproduce everything else (stateDump).
func isAlertKey(k []byte) bool { return len(k) > 0 && (k[0] == pAlert || k[0] == pAlertID) }

// stateDump is dump without the alert outbox and the risk observations (isObservation): what a
// revert, an in-order replay or a restore from PostgreSQL reproduces byte for byte.
func (e *env) stateDump() string {
	var b strings.Builder
	e.st.Dump(func(k, v []byte) {
		if !isAlertKey(k) && !isObservation(k, v) {
			fmt.Fprintf(&b, "%x=%x\n", k, v)
		}
	})
	return b.String()
}

func (e *env) dump() string { return fullDump(e.st) }

// fullDump lists every key and value of m.
func fullDump(m *kv.Mem) string {
	var b strings.Builder
	m.Dump(func(k, v []byte) { fmt.Fprintf(&b, "%x=%x\n", k, v) })
	return b.String()
}

// isObservation reports the keys that record what the replicated log observed over time rather
// than what the chain says: the risk indicators' state (Q) and view, and the RULE risk events
// (keyed by the command that raised them). The same log gives the same bytes on every node in
// any batching (TestRiskIndependentOfBatching compares full dumps), but they are not a function
// of the chain alone (DESIGN.md invariant 7): a late log, a revert or a restore changes them
// otherwise than the in-order replay, which is what the tests comparing stateDump check.
func isObservation(k, v []byte) bool {
	switch {
	case k[0] == pRiskState || string(k) == string(viewKey(ViewRisk)):
		return true
	case k[0] == pRisk && len(k) == riskCmdKeyLen:
		var r riskRec
		return r.decode(v) == nil && r.source == SourceRule
	}
	return false
}

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

func (e *env) view(name string) map[string]any {
	return e.json(ReadView(e.st, name))
}

func (e *env) account(a common.Address) map[string]any {
	return e.json(Account(e.st, a))
}

// pages walks a list to its end with the given limit and returns every item.
func (e *env) pages(limit int, list func(p Page) ([]byte, error)) []any {
	e.t.Helper()
	var all []any
	p := Page{Limit: limit}
	for i := 0; i < 1000; i++ {
		body := e.json(list(p))
		items, _ := body["items"].([]any)
		if len(items) > limit {
			e.t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		all = append(all, items...)
		next, ok := body["nextCursor"].(string)
		if !ok {
			return all
		}
		if len(items) != limit {
			e.t.Fatalf("short page %d with a next cursor", len(items))
		}
		c, err := base64.RawURLEncoding.DecodeString(next)
		if err != nil {
			e.t.Fatal(err)
		}
		p.Cursor = c
	}
	e.t.Fatal("pagination does not end")
	return nil
}

// diffDumps shows the first differing lines of two dumps.
func diffDumps(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 8; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if len(x) > 160 {
			x = x[:160] + "…"
		}
		if len(y) > 160 {
			y = y[:160] + "…"
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// encodeLog ABI-encodes an event with go-ethereum (independently of the package's decoder)
// into an eth_getLogs object. bt 0 leaves blockTimestamp out.
func encodeLog(t testing.TB, ev chainlog.Event) chainlog.RawLog {
	t.Helper()
	s := chainlog.SpecByName(ev.Name)
	parsed, err := abi.JSON(bytes.NewReader(chainlog.BuiltinABI(s.Kind)))
	if err != nil {
		t.Fatal(err)
	}
	aev := parsed.Events[s.Name]
	topics := []string{chainlog.HexHash(aev.ID)}
	var data []any
	for i, in := range aev.Inputs {
		a := ev.Args[i]
		var v any
		switch a.Type {
		case chainlog.ArgAddress:
			v = a.Address
		case chainlog.ArgUint256:
			v = a.Uint.ToBig()
		case chainlog.ArgUint8:
			v = uint8(a.Uint.Uint64())
		case chainlog.ArgBool:
			v = a.Bool
		case chainlog.ArgString:
			v = a.String
		}
		if in.Indexed {
			tp, err := abi.MakeTopics([]any{v})
			if err != nil {
				t.Fatal(err)
			}
			topics = append(topics, chainlog.HexHash(tp[0][0]))
		} else {
			data = append(data, v)
		}
	}
	packed, err := aev.Inputs.NonIndexed().Pack(data...)
	if err != nil {
		t.Fatal(err)
	}
	l := chainlog.RawLog{
		Address: chainlog.HexAddress(ev.Contract), Topics: topics, Data: hexutil.Encode(packed),
		BlockNumber: hexutil.EncodeUint64(ev.BlockNumber), BlockHash: chainlog.HexHash(ev.BlockHash),
		TransactionHash: chainlog.HexHash(ev.TxHash), LogIndex: hexutil.EncodeUint64(ev.LogIndex), Removed: ev.Removed,
	}
	if ev.BlockTime != 0 {
		l.BlockTimestamp = hexutil.EncodeUint64(uint64(ev.BlockTime))
	}
	return l
}

func isValidation(err any) bool {
	_, ok := err.(*ValidationError)
	return ok
}

func mustEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
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
