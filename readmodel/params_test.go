package readmodel

import (
	"fmt"
	"strings"
	"testing"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
)

func getter(kv ...string) Getter {
	return func(name string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func TestQueryParsers(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(Getter) (any, error)
		q       []string
		wantErr string
		want    string // fmt.Sprint of the result when no error
	}{
		{"page default", pageP, nil, "", "{100 []}"},
		{"page ok", pageP, []string{"limit", "1000", "cursor", "AQI"}, "", "{1000 [1 2]}"},
		{"limit zero", pageP, []string{"limit", "0"}, "limit must be between 1 and 1000", ""},
		{"limit big", pageP, []string{"limit", "1001"}, "limit must be between 1 and 1000", ""},
		{"limit text", pageP, []string{"limit", "ten"}, "limit must be between 1 and 1000", ""},
		{"cursor padded", pageP, []string{"cursor", "AQI="}, "cursor is invalid", ""},
		{"cursor bad", pageP, []string{"cursor", "!!"}, "cursor is invalid", ""},
		{"cursor empty", pageP, []string{"cursor", ""}, "cursor is invalid", ""},
		{"nav default", navP, nil, "", "{0 0 false false 1d 1000}"},
		{"nav ok", navP, []string{"from", "2025-01-01T00:00:00Z", "to", "1736121600", "interval", "raw", "limit", "5"}, "", "{1735689600 1736121600 true true raw 5}"},
		{"nav bad from", navP, []string{"from", "yesterday"}, "from must be an RFC 3339 time or unix seconds", ""},
		{"nav negative", navP, []string{"to", "-5"}, "to must be an RFC 3339", ""},
		{"nav far", navP, []string{"to", "99999999999999"}, "to is out of range", ""},
		{"nav order", navP, []string{"from", "10", "to", "5"}, "from must not be after to", ""},
		{"nav interval", navP, []string{"interval", "1m"}, "interval must be raw, 1h, 1d or 1w", ""},
		{"price ok", priceP, []string{"history", "1", "limit", "3"}, "", "{true 0 0 false false 3}"},
		{"price history", priceP, []string{"history", "yes"}, "history must be", ""},
		{"price to", priceP, []string{"to", ""}, "to must be an RFC 3339", ""},
		{"redemptions ok", redP, []string{"status", "pending_approval", "channel", "EMERGENCY", "requiresApproval", "true"}, "", "{PENDING_APPROVAL EMERGENCY <nil> true}"},
		{"redemptions status", redP, []string{"status", "DONE"}, "status must be one of", ""},
		{"redemptions channel", redP, []string{"channel", "FAST"}, "channel must be one of", ""},
		{"redemptions owner", redP, []string{"owner", "0x12"}, "owner must be 0x followed by 40 hex digits", ""},
		{"redemptions approval", redP, []string{"requiresApproval", "1"}, "requiresApproval must be true or false", ""},
		{"tx ok", txP, []string{"event", "Deposit", "fromBlock", "0x10", "toBlock", "20"}, "", "{Deposit <nil> <nil> 16 20}"},
		{"tx event", txP, []string{"event", "deposit"}, "event must be a known event name", ""},
		{"tx contract", txP, []string{"contract", "vault"}, "contract must be 0x", ""},
		{"tx address", txP, []string{"address", ""}, "address must be 0x", ""},
		{"tx block", txP, []string{"fromBlock", "-1"}, "fromBlock must be a block number", ""},
		{"tx block plus", txP, []string{"toBlock", "+1"}, "toBlock must be a block number", ""},
		{"tx block order", txP, []string{"fromBlock", "9", "toBlock", "3"}, "fromBlock must not be after toBlock", ""},
		{"audit ok", auditP, []string{"actor", "ops", "action", "prices.set"}, "", "{ops prices.set}"},
		{"audit empty", auditP, []string{"actor", ""}, "actor must be 1 to 256 bytes", ""},
		{"audit long", auditP, []string{"action", strings.Repeat("a", 257)}, "action must be 1 to 256 bytes", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(getter(tc.q...))
			if tc.wantErr != "" {
				if !isValidation(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := fmtDeref(got); s != tc.want {
				t.Fatalf("got %s, want %s", s, tc.want)
			}
		})
	}
}

func pageP(g Getter) (any, error)  { return ParsePage(g) }
func navP(g Getter) (any, error)   { return ParseNavQuery(g) }
func priceP(g Getter) (any, error) { return ParsePriceQuery(g) }
func redP(g Getter) (any, error)   { return ParseRedemptionFilter(g) }
func txP(g Getter) (any, error)    { return ParseTxFilter(g) }
func auditP(g Getter) (any, error) { return ParseAuditFilter(g) }

// fmtDeref prints filters with their pointer fields dereferenced.
func fmtDeref(v any) string {
	switch f := v.(type) {
	case RedemptionFilter:
		ra := "<nil>"
		if f.RequiresApproval != nil {
			ra = fmt.Sprint(*f.RequiresApproval)
		}
		return fmt.Sprintf("{%s %s %v %s}", f.Status, f.Channel, f.Owner, ra)
	case TxFilter:
		fb, tb := "<nil>", "<nil>"
		if f.FromBlock != nil {
			fb = fmt.Sprint(*f.FromBlock)
		}
		if f.ToBlock != nil {
			tb = fmt.Sprint(*f.ToBlock)
		}
		return fmt.Sprintf("{%s %v %v %s %s}", f.Event, f.Contract, f.Address, fb, tb)
	}
	return fmt.Sprint(v)
}

func TestParseIDs(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "42": "42", strings.Repeat("9", 77): strings.Repeat("9", 77)} {
		if got, err := ParseRequestID(in); err != nil || got != want {
			t.Errorf("ParseRequestID(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "01", "1e3", "0x10", strings.Repeat("9", 79), " 1"} {
		if _, err := ParseRequestID(in); !isValidation(err) {
			t.Errorf("ParseRequestID(%q) err = %v", in, err)
		}
	}
	if got, err := ParseAsset("0x8505C32631034A7CE8800239C08547E0434EDAD9"); err != nil || got != chainlog.HexAddress(chainlogtest.VaultAddress) {
		t.Errorf("ParseAsset = %q, %v", got, err)
	}
	for _, in := range []string{"", "0x", "8505c32631034a7ce8800239c08547e0434edad9", "0x8505c32631034a7ce8800239c08547e0434edad", "0xg505c32631034a7ce8800239c08547e0434edad9"} {
		if _, err := ParseAddress(in); !isValidation(err) {
			t.Errorf("ParseAddress(%q) err = %v", in, err)
		}
	}
}
