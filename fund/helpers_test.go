package fund

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
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
	return testutil.Pages(e.t, limit, func(cursor string) map[string]any {
		p := Page{Limit: limit}
		if cursor != "" {
			c, err := base64.RawURLEncoding.DecodeString(cursor)
			if err != nil {
				e.t.Fatal(err)
			}
			p.Cursor = c
		}
		return e.json(list(p))
	})
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
