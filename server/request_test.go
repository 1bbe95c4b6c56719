package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
)

func logsBody(t *testing.T, logs ...chainlog.RawLog) string {
	b, err := json.Marshal(map[string]any{"logs": logs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseLogsRequest(t *testing.T) {
	ev, err := fundtest.NewEvent("Transfer", common.Address{1}, common.Address{2}, 5)
	if err != nil {
		t.Fatal(err)
	}
	ev.BlockNumber, ev.TxHash, ev.BlockHash, ev.BlockTime = 10, common.Hash{1}, common.Hash{2}, 1_736_200_000
	good, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	goodJSON, _ := json.Marshal(good)
	many := make([]chainlog.RawLog, fund.MaxLogsPerRequest+1)
	for i := range many {
		many[i] = good
	}
	withField := func(f, v string) string {
		var m map[string]any
		json.Unmarshal(goodJSON, &m)
		if v == "<delete>" {
			delete(m, f)
		} else {
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				panic(err)
			}
			m[f] = x
		}
		b, _ := json.Marshal(map[string]any{"logs": []any{m}})
		return string(b)
	}
	tests := []struct {
		name, body, wantErr string
		n                   int
	}{
		{"ok", logsBody(t, good, good), "", 2},
		{"with transactionIndex and removed", withField("transactionIndex", `"0x3"`), "", 1},
		{"malformed json", `{"logs": [`, "body is empty or truncated JSON", 0},
		{"syntax error", `{"logs": [}`, "body is not valid JSON", 0},
		{"not an object", `[1]`, "must be an object", 0},
		{"logs not an array", `{"logs": {}}`, "logs must be an array", 0},
		{"number blockNumber", withField("blockNumber", `10`), "blockNumber must be a string", 0},
		{"topics not strings", withField("topics", `[1]`), "topics must be a string", 0},
		{"removed not bool", withField("removed", `"yes"`), "removed must be a boolean", 0},
		{"unknown field", withField("extra", `1`), `unknown field "extra"`, 0},
		{"unknown top-level field", `{"logs": [], "x": 1}`, `unknown field "x"`, 0},
		{"missing logs", `{}`, "logs is required", 0},
		{"null logs", `{"logs": null}`, "logs is required", 0},
		{"empty logs", `{"logs": []}`, "logs must not be empty", 0},
		{"too many", logsBody(t, many...), "at most 10000", 0},
		{"trailing data", logsBody(t, good) + `{}`, "single JSON object", 0},
		{"bad address", withField("address", `"0x1234"`), "logs[0].address must be 0x followed by 40 hex digits", 0},
		{"missing data", withField("data", "<delete>"), "logs[0].data", 0},
		{"bad topic", withField("topics", `["0x12"]`), "logs[0].topics[0]", 0},
		{"bad logIndex", withField("logIndex", `"0x01"`), "logs[0].logIndex must be a hex quantity", 0},
		{"bad timestamp", withField("blockTimestamp", `"12"`), "logs[0].blockTimestamp", 0},
		{"empty body", ``, "empty", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs, err := parseLogsRequest([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil || len(logs) != tc.n {
					t.Fatalf("got %d logs, err %v", len(logs), err)
				}
				return
			}
			if !isValidation(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want *ValidationError containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParsePricesRequest(t *testing.T) {
	item := func(asset, price, tm string) string {
		return fmt.Sprintf(`{"asset":%q,"price":%q,"time":%q}`, asset, price, tm)
	}
	a := chainlog.HexAddress(common.Address{1})
	many := make([]string, fund.MaxPricesPerRequest+1)
	for i := range many {
		many[i] = item(a, "1", "2025-01-06T00:00:00Z")
	}
	tests := []struct {
		name, body, wantErr string
	}{
		{"no 0x", `{"prices":[` + item(strings.ToUpper(a[2:]), "1000000000000000000", "2025-01-06T00:00:00Z") + `]}`, "asset must be"},
		{"ok lower", `{"prices":[` + item(a, "1000000000000000000", "2025-01-06T00:00:00Z") + `,` + item(a, "2", "1736121600") + `]}`, ""},
		{"malformed", `{"prices":`, "truncated"},
		{"price number", `{"prices":[{"asset":"` + a + `","price":1,"time":"2025-01-06T00:00:00Z"}]}`, "price must be a string"},
		{"unknown field", `{"prices":[{"asset":"` + a + `","price":"1","time":"2025-01-06T00:00:00Z","x":1}]}`, `unknown field "x"`},
		{"missing time", `{"prices":[{"asset":"` + a + `","price":"1"}]}`, "prices[0].time is required"},
		{"missing asset", `{"prices":[{"price":"1","time":"1"}]}`, "prices[0].asset is required"},
		{"empty", `{"prices":[]}`, "must not be empty"},
		{"missing", `{}`, "prices is required"},
		{"too many", `{"prices":[` + strings.Join(many, ",") + `]}`, "at most 1000"},
		{"bad address", `{"prices":[` + item("0xabc", "1", "1") + `]}`, "prices[0].asset must be 0x"},
		{"zero price", `{"prices":[` + item(a, "0", "1") + `]}`, "must be positive"},
		{"negative price", `{"prices":[` + item(a, "-1", "1") + `]}`, "decimal integer"},
		{"decimal price", `{"prices":[` + item(a, "1.5", "1") + `]}`, "decimal integer"},
		{"leading zero", `{"prices":[` + item(a, "01", "1") + `]}`, "decimal integer"},
		{"huge price", `{"prices":[` + item(a, strings.Repeat("9", 78), "1") + `]}`, "out of range"},
		{"bad time", `{"prices":[` + item(a, "1", "yesterday") + `]}`, "prices[0].time must be an RFC 3339 time"},
		{"zero time", `{"prices":[` + item(a, "1", "0") + `]}`, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := parsePricesRequest([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil || len(ps) != 2 || ps[0].Asset != a || ps[1].Time != 1736121600 || ps[1].Price.Uint64() != 2 {
					t.Fatalf("got %+v, err %v", ps, err)
				}
				return
			}
			if !isValidation(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzParseLogsRequest(f *testing.F) {
	for _, b := range [][]byte{
		[]byte(`{"logs":[{"address":"0x8505c32631034a7ce8800239c08547e0434edad9","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef","0x0000000000000000000000000000000000000000000000000000000000000000","0x0000000000000000000000000000000000000000000000000000000000001001"],"data":"0x0000000000000000000000000000000000000000000000000000000000000005","blockNumber":"0xa","blockHash":"0x0100000000000000000000000000000000000000000000000000000000000000","transactionHash":"0x0200000000000000000000000000000000000000000000000000000000000000","logIndex":"0x0","blockTimestamp":"0x677c4a40"}]}`),
		[]byte(`{"logs":[{"address":"0x8505c32631034a7ce8800239c08547e0434edad9","topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"],"data":"0x","blockNumber":"0x1","blockHash":"0x","transactionHash":"0x","logIndex":"0x0"}]}`),
		[]byte(`{"logs":[]}`), []byte(`{"logs":null}`), []byte(`[]`), []byte(``),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		logs, err := parseLogsRequest(body)
		if err != nil {
			if !isValidation(err) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if len(logs) == 0 || len(logs) > fund.MaxLogsPerRequest {
			t.Fatalf("%d logs accepted", len(logs))
		}
		for i := range logs {
			if err := chainlog.CheckRawLog(&logs[i]); err != nil {
				t.Fatalf("accepted a malformed log: %v", err)
			}
		}
	})
}

func FuzzParsePricesRequest(f *testing.F) {
	f.Add([]byte(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"1000000000000000000","time":"2025-01-06T00:00:00Z"}]}`))
	f.Add([]byte(`{"prices":[{"asset":"0x55D398326F99059FF775485246999027B3197955","price":"7","time":"1736121600"}]}`))
	f.Add([]byte(`{"prices":[{"asset":"0x55d3","price":"-1","time":"x"}]}`))
	f.Add([]byte(`{"prices":[]}`))
	f.Add([]byte(`{"prices":[{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := parsePricesRequest(body)
		if err != nil {
			if !isValidation(err) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		for i := range ps {
			if p := &ps[i]; p.Price.IsZero() || p.Time <= 0 || p.Time > chainlog.MaxUnixSeconds {
				t.Fatalf("accepted an invalid price: %+v", p)
			}
			if ps[i].Asset != chainlog.HexAddress([20]byte(mustAddr(t, ps[i].Asset))) {
				t.Fatalf("asset %q not canonical", ps[i].Asset)
			}
		}
	})
}

func mustAddr(t *testing.T, s string) [20]byte {
	a, err := chainlog.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// isValidation reports whether err is the fund's validation error (400 VALIDATION_ERROR).
func isValidation(err error) bool {
	var verr *fund.ValidationError
	return errors.As(err, &verr)
}
