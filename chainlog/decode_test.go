package chainlog_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
)

const testNow = int64(1_736_200_000) // 2025-01-06T21:46:40Z

func TestKind(t *testing.T) {
	for _, name := range []string{"vault", "redemption_manager", "asset_controller", "oracle"} {
		k, err := chainlog.ParseKind(name)
		if err != nil || k.String() != name {
			t.Errorf("ParseKind(%q) = %v, %v", name, k, err)
		}
	}
	if _, err := chainlog.ParseKind("Vault"); !errors.Is(err, chainlog.ErrConfig) {
		t.Errorf("ParseKind(Vault) err = %v", err)
	}
}

func TestNewRegistry(t *testing.T) {
	withABI := func(abiJSON string) []chainlog.ContractConfig {
		cs := chainlogtest.Contracts()
		cs[0].ABI = []byte(abiJSON)
		return cs
	}
	contracts := chainlogtest.Contracts()
	renamed := strings.ReplaceAll(string(chainlog.BuiltinABI(chainlog.KindVault)), `"name": "value"`, `"name": "amount"`)
	extra := strings.Replace(string(chainlog.BuiltinABI(chainlog.KindVault)), "[", `[{"type":"event","name":"Paused","inputs":[]},{"type":"function","name":"x","inputs":[],"outputs":[]},`, 1)
	noDeposit := strings.ReplaceAll(string(chainlog.BuiltinABI(chainlog.KindVault)), `"Deposit"`, `"Deposited"`)
	wrongType := strings.Replace(string(chainlog.BuiltinABI(chainlog.KindVault)), `"type": "uint256"`, `"type": "uint128"`, 1)
	notIndexed := strings.Replace(string(chainlog.BuiltinABI(chainlog.KindVault)), `"indexed": true`, `"indexed": false`, 1)
	tests := []struct {
		name    string
		cs      []chainlog.ContractConfig
		wantErr string
	}{
		{"builtin", contracts, ""},
		{"explicit builtin abi", withABI(string(chainlog.BuiltinABI(chainlog.KindVault))), ""},
		{"renamed params", withABI(renamed), ""},
		{"extra events", withABI(extra), ""},
		{"missing event", withABI(noDeposit), `contract "vault" (vault): abi lacks event Deposit`},
		{"wrong type", withABI(wrongType), `contract "vault" (vault): abi event Transfer is not compatible`},
		{"indexed flag", withABI(notIndexed), `contract "vault"`},
		{"bad json", withABI(`{"nope"`), `contract "vault" (vault): abi does not parse`},
		{"empty name", []chainlog.ContractConfig{{Kind: "vault", Address: chainlog.HexAddress(chainlogtest.VaultAddress)}}, "name is empty"},
		{"dup name", []chainlog.ContractConfig{contracts[0], {Name: "vault", Kind: "oracle", Address: chainlog.HexAddress(chainlogtest.OracleAddress)}}, "duplicate name"},
		{"dup address", []chainlog.ContractConfig{contracts[0], {Name: "v2", Kind: "oracle", Address: strings.ToUpper(chainlog.HexAddress(chainlogtest.VaultAddress)[2:])}}, "address"},
		{"dup address mixed case", []chainlog.ContractConfig{contracts[0], {Name: "v2", Kind: "oracle", Address: "0x8505C32631034A7CE8800239C08547E0434EDAD9"}}, "already used"},
		{"bad kind", []chainlog.ContractConfig{{Name: "x", Kind: "bank", Address: chainlog.HexAddress(chainlogtest.VaultAddress)}}, "unknown contract kind"},
		{"bad address", []chainlog.ContractConfig{{Name: "x", Kind: "vault", Address: "0x1234"}}, `contract "x": address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := chainlog.NewRegistry(tc.cs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := len(r.Addresses()); got != len(tc.cs) {
					t.Errorf("%d addresses", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, chainlog.ErrConfig) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeAllEvents(t *testing.T) {
	r := chainlogtest.Registry()
	evs := chainlogtest.AllEvents(testNow)
	if len(evs) != int(chainlog.NumSpecs) {
		t.Fatalf("AllEvents has %d events, want %d", len(evs), chainlog.NumSpecs)
	}
	for _, want := range evs {
		t.Run(want.Name, func(t *testing.T) {
			l := chainlogtest.EncodeLog(t, want)
			got, err := r.Decode(&l)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestDecodeSkips(t *testing.T) {
	r := chainlogtest.Registry()
	base := chainlogtest.EncodeLog(t, chainlogtest.Event("Transfer", 10, 0, testNow, chainlogtest.Address(1), chainlogtest.Address(2), uint256.NewInt(5)))
	priceSet := chainlogtest.EncodeLog(t, chainlogtest.Event("PriceSet", 1, 0, testNow, chainlogtest.Address(1), uint256.NewInt(1), uint256.NewInt(1), 1))
	rejected := chainlogtest.EncodeLog(t, chainlogtest.Event("RedemptionRejected", 11, 2, testNow, 2, chainlogtest.Address(2), "why"))
	tests := []struct {
		name   string
		edit   func(l *chainlog.RawLog)
		reason string
	}{
		{"ok", func(l *chainlog.RawLog) {}, ""},
		{"no timestamp", func(l *chainlog.RawLog) { l.BlockTimestamp = "" }, ""},
		{"upper-case address", func(l *chainlog.RawLog) { l.Address = "0x" + strings.ToUpper(l.Address[2:]) }, ""},
		{"unknown contract", func(l *chainlog.RawLog) { l.Address = chainlog.HexAddress(chainlogtest.Address(9)) }, chainlog.SkipUnknownContract},
		{"unknown topic", func(l *chainlog.RawLog) { l.Topics[0] = chainlog.HexHash(chainlogtest.TxHash(1, 1)) }, chainlog.SkipUnknownTopic},
		{"topic of another kind", func(l *chainlog.RawLog) { l.Topics[0] = priceSet.Topics[0] }, chainlog.SkipUnknownTopic},
		{"no topics", func(l *chainlog.RawLog) { l.Topics = nil }, chainlog.SkipUnknownTopic},
		{"too few topics", func(l *chainlog.RawLog) { l.Topics = l.Topics[:2] }, chainlog.SkipBadTopicCount},
		{"too many topics", func(l *chainlog.RawLog) { l.Topics = append(l.Topics, l.Topics[1]) }, chainlog.SkipBadTopicCount},
		{"five topics", func(l *chainlog.RawLog) { l.Topics = append(l.Topics, l.Topics[1], l.Topics[1]) }, chainlog.SkipMalformed},
		{"short data", func(l *chainlog.RawLog) { l.Data = l.Data[:len(l.Data)-2] }, chainlog.SkipShortData},
		{"empty data", func(l *chainlog.RawLog) { l.Data = "0x" }, chainlog.SkipShortData},
		{"long data", func(l *chainlog.RawLog) { l.Data += strings.Repeat("00", 32) }, chainlog.SkipBadData},
		{"dirty address topic", func(l *chainlog.RawLog) { l.Topics[1] = "0x01" + l.Topics[1][4:] }, chainlog.SkipBadData},
		{"odd data", func(l *chainlog.RawLog) { l.Data += "0" }, chainlog.SkipMalformed},
		{"no 0x data", func(l *chainlog.RawLog) { l.Data = l.Data[2:] }, chainlog.SkipMalformed},
		{"bad hex data", func(l *chainlog.RawLog) { l.Data = "0xzz" + l.Data[4:] }, chainlog.SkipMalformed},
		{"short address", func(l *chainlog.RawLog) { l.Address = l.Address[:40] }, chainlog.SkipMalformed},
		{"short topic", func(l *chainlog.RawLog) { l.Topics[1] = l.Topics[1][:64] }, chainlog.SkipMalformed},
		{"bad block hash", func(l *chainlog.RawLog) { l.BlockHash = "0x12" }, chainlog.SkipMalformed},
		{"bad tx hash", func(l *chainlog.RawLog) { l.TransactionHash = "" }, chainlog.SkipMalformed},
		{"empty blockNumber", func(l *chainlog.RawLog) { l.BlockNumber = "" }, chainlog.SkipMalformed},
		{"decimal blockNumber", func(l *chainlog.RawLog) { l.BlockNumber = "10" }, chainlog.SkipMalformed},
		{"leading zero logIndex", func(l *chainlog.RawLog) { l.LogIndex = "0x01" }, chainlog.SkipMalformed},
		{"huge blockNumber", func(l *chainlog.RawLog) { l.BlockNumber = "0x10000000000000000" }, chainlog.SkipMalformed},
		{"bad timestamp", func(l *chainlog.RawLog) { l.BlockTimestamp = "0xg" }, chainlog.SkipMalformed},
		{"timestamp after 9999", func(l *chainlog.RawLog) { l.BlockTimestamp = "0xffffffffff" }, chainlog.SkipMalformed},
		{"bad transactionIndex", func(l *chainlog.RawLog) { l.TransactionIndex = "x" }, chainlog.SkipMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := base
			l.Topics = append([]string(nil), base.Topics...)
			tc.edit(&l)
			_, err := r.Decode(&l)
			checkSkip(t, err, tc.reason)
		})
	}
	strTests := []struct {
		name   string
		data   func(d string) string
		reason string
	}{
		{"offset past end", func(d string) string { return "0x" + strings.Repeat("0", 62) + "ff" + d[66:] }, chainlog.SkipBadData},
		{"length past end", func(d string) string { return d[:66] + strings.Repeat("0", 62) + "ff" + d[130:] }, chainlog.SkipBadData},
		{"huge offset", func(d string) string { return "0x" + strings.Repeat("f", 64) + d[66:] }, chainlog.SkipBadData},
		{"misaligned", func(d string) string { return d + "00" }, chainlog.SkipBadData},
	}
	for _, tc := range strTests {
		t.Run("string "+tc.name, func(t *testing.T) {
			l := rejected
			l.Data = tc.data(l.Data)
			_, err := r.Decode(&l)
			checkSkip(t, err, tc.reason)
		})
	}
	t.Run("bool not 0 or 1", func(t *testing.T) {
		l := chainlogtest.EncodeLog(t, chainlogtest.Event("EmergencyModeChanged", 1, 0, testNow, true))
		l.Data = l.Data[:len(l.Data)-1] + "2"
		_, err := r.Decode(&l)
		checkSkip(t, err, chainlog.SkipBadData)
	})
	t.Run("uint8 out of range", func(t *testing.T) {
		l := priceSet
		l.Data = l.Data[:len(l.Data)-4] + "0101"
		_, err := r.Decode(&l)
		checkSkip(t, err, chainlog.SkipBadData)
	})
	t.Run("removed flag kept", func(t *testing.T) {
		l := base
		l.Removed = true
		ev, err := r.Decode(&l)
		if err != nil || !ev.Removed {
			t.Fatalf("ev.Removed = %v, err %v", ev.Removed, err)
		}
	})
}

func checkSkip(t *testing.T, err error, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var se *chainlog.SkipError
	if !errors.As(err, &se) || se.Reason != reason {
		t.Fatalf("err = %v, want skip %s", err, reason)
	}
}
