package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/ethereum/go-ethereum/common"
)

// fakeRPC is a JSON-RPC endpoint whose behaviour a test sets: it answers eth_blockNumber,
// eth_chainId, eth_getBlockByNumber and eth_getLogs from a few fields, or misbehaves.
type fakeRPC struct {
	srv   *httptest.Server
	head  atomic.Uint64
	mode  atomic.Value // "ok", "error", "slow", "malformed", "range"
	calls atomic.Int64
}

func newFakeRPC(t *testing.T, head uint64) *fakeRPC {
	f := &fakeRPC{}
	f.head.Store(head)
	f.mode.Store("ok")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		_ = json.Unmarshal(body, &req)
		reply := func(result any) {
			b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
			w.Write(b)
		}
		switch f.mode.Load().(string) {
		case "error":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"internal failure"}}`, req.ID)
			return
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "malformed":
			w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"number":`))
			return
		case "range":
			if req.Method == "eth_getLogs" {
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32005,"message":"query returned more than 10000 results"}}`, req.ID)
				return
			}
		}
		switch req.Method {
		case "eth_blockNumber":
			reply(fmt.Sprintf("0x%x", f.head.Load()))
		case "eth_chainId":
			reply("0x38")
		case "eth_getBlockByNumber":
			var n string
			_ = json.Unmarshal(req.Params[0], &n)
			num, _ := parseHexQuantity(n)
			if num > f.head.Load() {
				reply(nil)
				return
			}
			reply(map[string]string{"number": n, "hash": common.BigToHash(common.Big1).Hex(), "parentHash": common.Hash{}.Hex(), "timestamp": "0x10"})
		case "eth_getLogs":
			reply([]any{})
		default:
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no method"}}`, req.ID)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func testPool(t *testing.T, timeout time.Duration, fakes ...*fakeRPC) (*pool, *time.Time) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	var urls []string
	for _, f := range fakes {
		urls = append(urls, f.srv.URL)
	}
	p, err := newPool(urls, timeout, metrics.NewSet(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p, &now
}

func TestPoolFailsOverAndBreaks(t *testing.T) {
	for _, mode := range []string{"error", "slow", "malformed"} {
		t.Run(mode, func(t *testing.T) {
			bad, good := newFakeRPC(t, 100), newFakeRPC(t, 100)
			bad.mode.Store(mode)
			p, now := testPool(t, 100*time.Millisecond, bad, good)
			ctx := context.Background()
			for i := 0; i < breakerFailures; i++ {
				h, err := p.header(ctx, 50)
				if err != nil || h.Number != 50 {
					t.Fatalf("call %d: %+v %v (the good endpoint should answer)", i, h, err)
				}
			}
			st := p.status()
			if st[0].Healthy || st[0].LastError == "" || !st[1].Healthy {
				t.Fatalf("status after %d failures: %+v", breakerFailures, st)
			}
			// The breaker is open: the failing endpoint is not even asked.
			before := bad.calls.Load()
			if _, err := p.header(ctx, 51); err != nil {
				t.Fatal(err)
			}
			if bad.calls.Load() != before {
				t.Fatal("an endpoint with an open breaker was called")
			}
			// After the pause it is tried again, and one success closes the breaker.
			bad.mode.Store("ok")
			*now = now.Add(breakerMax)
			if _, err := p.header(ctx, 52); err != nil {
				t.Fatal(err)
			}
			if bad.calls.Load() == before || !p.status()[0].Healthy {
				t.Fatalf("the recovered endpoint was not used again: %+v", p.status())
			}
		})
	}
}

func TestPoolHeadIgnoresALiar(t *testing.T) {
	a, b, liar := newFakeRPC(t, 1000), newFakeRPC(t, 1002), newFakeRPC(t, 9_000_000)
	p, _ := testPool(t, time.Second, a, b, liar)
	head, err := p.head(context.Background(), 100)
	if err != nil || head != 1002 {
		t.Fatalf("head %d %v, want the median 1002", head, err)
	}
	st := p.status()
	if !strings.Contains(st[2].LastError, "far from") || st[0].LastError != "" {
		t.Fatalf("the lying endpoint was not marked: %+v", st)
	}
	// An endpoint that claims a head it cannot serve fails over on the header.
	solo, _ := testPool(t, time.Second, liar)
	if _, err := solo.header(context.Background(), 9_000_000+1); err == nil {
		t.Fatal("a block beyond the endpoint's own chain was returned")
	}
}

func TestPoolRangeErrorsAreNotTheEndpointsFault(t *testing.T) {
	f := newFakeRPC(t, 100)
	f.mode.Store("range")
	p, _ := testPool(t, time.Second, f)
	_, err := p.logs(context.Background(), 1, 100, []common.Address{{1}})
	if err == nil || !isRangeError(err) {
		t.Fatalf("error %v, want a range error", err)
	}
	if !p.status()[0].Healthy {
		t.Fatal("a range error counted against the endpoint")
	}
}

func TestParseLogsChecksTheAnswer(t *testing.T) {
	addr := common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	set := map[common.Address]bool{addr: true}
	log := func(block, address string, removed bool) string {
		return fmt.Sprintf(`{"address":%q,"topics":[],"data":"0x","blockNumber":%q,"blockHash":"0x%064x","transactionHash":"0x%064x","logIndex":"0x0","removed":%v}`,
			address, block, 1, 2, removed)
	}
	for name, c := range map[string]struct {
		body string
		ok   bool
	}{
		"fine":           {"[" + log("0x5", addr.Hex(), false) + "]", true},
		"empty":          {"[]", true},
		"outside range":  {"[" + log("0x65", addr.Hex(), false) + "]", false},
		"other contract": {"[" + log("0x5", "0x0000000000000000000000000000000000000001", false) + "]", false},
		"removed":        {"[" + log("0x5", addr.Hex(), true) + "]", false},
		"bad number":     {"[" + log("five", addr.Hex(), false) + "]", false},
		"not a list":     {`{"a":1}`, false},
	} {
		_, err := parseLogs(json.RawMessage(c.body), 1, 100, set)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, errBadResponse)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseRPC(f *testing.F) {
	for _, s := range []string{
		`{"number":"0x10","hash":"0x0000000000000000000000000000000000000000000000000000000000000001","parentHash":"0x0000000000000000000000000000000000000000000000000000000000000000","timestamp":"0x5"}`,
		`null`, `"0x1b4"`, `[]`, `[{"address":"0x8505c32631034a7ce8800239c08547e0434edad9","blockNumber":"0x2"}]`, `{"number":1}`, `"0x"`,
	} {
		f.Add([]byte(s))
	}
	addr := common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, found, err := parseHeader(b); err == nil && found && h.Hash == (common.Hash{}) && !strings.Contains(string(b), "0000000000000000000000000000000000000000000000000000000000000000") {
			t.Fatalf("accepted a header without a hash: %s", b)
		}
		_, _ = parseQuantity(b)
		if logs, err := parseLogs(b, 1, 10, map[common.Address]bool{addr: true}); err == nil {
			for _, l := range logs {
				if n, err := parseHexQuantity(l.BlockNumber); err != nil || n < 1 || n > 10 || l.Removed {
					t.Fatalf("accepted log %+v", l)
				}
			}
		}
	})
}
