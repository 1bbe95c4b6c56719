package chainlog

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

func TestBuiltinABI(t *testing.T) {
	known := map[string]string{
		"Transfer": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
		"Deposit":  "0xdcbc1c05240f31ff3ad067ef1ee35ce4997762752e3a095284754544f4c709d7",
		"Withdraw": "0xfbde797d201c681b91056529119e0b02407c7bb96a4a2c75c01fc9667232c8db",
	}
	for k := KindVault; k <= KindOracle; k++ {
		t.Run(k.String(), func(t *testing.T) {
			parsed, err := abi.JSON(bytes.NewReader(BuiltinABI(k)))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range specsByID[1:] {
				if s.Kind != k {
					continue
				}
				n++
				ev, ok := parsed.Events[s.Name]
				if !ok {
					t.Fatalf("%s missing", s.Name)
				}
				if ev.ID != s.topic || ev.Sig != s.sig {
					t.Errorf("%s: id %s sig %s, want %s %s", s.Name, ev.ID.Hex(), ev.Sig, s.topic.Hex(), s.sig)
				}
				if want, ok := known[s.Name]; ok && s.topic.Hex() != want {
					t.Errorf("%s topic %s, want %s", s.Name, s.topic.Hex(), want)
				}
			}
			if len(parsed.Events) != n {
				t.Errorf("abi has %d events, want %d", len(parsed.Events), n)
			}
		})
	}
	if BuiltinABI(0) != nil || BuiltinABI(9) != nil {
		t.Error("BuiltinABI of an unknown kind must be nil")
	}
}

func TestKind(t *testing.T) {
	for _, name := range []string{"vault", "redemption_manager", "asset_controller", "oracle"} {
		k, err := ParseKind(name)
		if err != nil || k.String() != name {
			t.Errorf("ParseKind(%q) = %v, %v", name, k, err)
		}
	}
	if _, err := ParseKind("Vault"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseKind(Vault) err = %v", err)
	}
}

func TestNewRegistry(t *testing.T) {
	withABI := func(abiJSON string) []ContractConfig {
		cs := append([]ContractConfig(nil), testContracts...)
		cs[0].ABI = []byte(abiJSON)
		return cs
	}
	renamed := strings.ReplaceAll(string(BuiltinABI(KindVault)), `"name": "value"`, `"name": "amount"`)
	extra := strings.Replace(string(BuiltinABI(KindVault)), "[", `[{"type":"event","name":"Paused","inputs":[]},{"type":"function","name":"x","inputs":[],"outputs":[]},`, 1)
	noDeposit := strings.ReplaceAll(string(BuiltinABI(KindVault)), `"Deposit"`, `"Deposited"`)
	wrongType := strings.Replace(string(BuiltinABI(KindVault)), `"type": "uint256"`, `"type": "uint128"`, 1)
	notIndexed := strings.Replace(string(BuiltinABI(KindVault)), `"indexed": true`, `"indexed": false`, 1)
	tests := []struct {
		name    string
		cs      []ContractConfig
		wantErr string
	}{
		{"builtin", testContracts, ""},
		{"explicit builtin abi", withABI(string(BuiltinABI(KindVault))), ""},
		{"renamed params", withABI(renamed), ""},
		{"extra events", withABI(extra), ""},
		{"missing event", withABI(noDeposit), `contract "vault" (vault): abi lacks event Deposit`},
		{"wrong type", withABI(wrongType), `contract "vault" (vault): abi event Transfer is not compatible`},
		{"indexed flag", withABI(notIndexed), `contract "vault"`},
		{"bad json", withABI(`{"nope"`), `contract "vault" (vault): abi does not parse`},
		{"empty name", []ContractConfig{{Kind: "vault", Address: HexAddress(vaultAddr)}}, "name is empty"},
		{"dup name", []ContractConfig{testContracts[0], {Name: "vault", Kind: "oracle", Address: HexAddress(oracleAddr)}}, "duplicate name"},
		{"dup address", []ContractConfig{testContracts[0], {Name: "v2", Kind: "oracle", Address: strings.ToUpper(HexAddress(vaultAddr)[2:])}}, "address"},
		{"dup address mixed case", []ContractConfig{testContracts[0], {Name: "v2", Kind: "oracle", Address: "0x8505C32631034A7CE8800239C08547E0434EDAD9"}}, "already used"},
		{"bad kind", []ContractConfig{{Name: "x", Kind: "bank", Address: HexAddress(vaultAddr)}}, "unknown contract kind"},
		{"bad address", []ContractConfig{{Name: "x", Kind: "vault", Address: "0x1234"}}, `contract "x": address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRegistry(tc.cs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := len(r.Addresses()); got != len(tc.cs) {
					t.Errorf("%d addresses", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// allEvents has one valid event of every kind.
func allEvents() []Event {
	h1, h2 := addr(1), addr(2)
	return []Event{
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

func TestDecodeAllEvents(t *testing.T) {
	r := testRegistry(t)
	evs := allEvents()
	if len(evs) != int(NumSpecs) {
		t.Fatalf("allEvents has %d events, want %d", len(evs), NumSpecs)
	}
	for _, want := range evs {
		t.Run(want.Name, func(t *testing.T) {
			l := encodeLog(t, want)
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
	r := testRegistry(t)
	base := encodeLog(t, mk("Transfer", 10, 0, testNow, addr(1), addr(2), u(5)))
	rejected := encodeLog(t, mk("RedemptionRejected", 11, 2, testNow, 2, addr(2), "why"))
	tests := []struct {
		name   string
		edit   func(l *RawLog)
		reason string
	}{
		{"ok", func(l *RawLog) {}, ""},
		{"no timestamp", func(l *RawLog) { l.BlockTimestamp = "" }, ""},
		{"upper-case address", func(l *RawLog) { l.Address = "0x" + strings.ToUpper(l.Address[2:]) }, ""},
		{"unknown contract", func(l *RawLog) { l.Address = HexAddress(addr(9)) }, SkipUnknownContract},
		{"unknown topic", func(l *RawLog) { l.Topics[0] = HexHash(txOf(1, 1)) }, SkipUnknownTopic},
		{"topic of another kind", func(l *RawLog) { l.Topics[0] = HexHash(specsByName["PriceSet"].topic) }, SkipUnknownTopic},
		{"no topics", func(l *RawLog) { l.Topics = nil }, SkipUnknownTopic},
		{"too few topics", func(l *RawLog) { l.Topics = l.Topics[:2] }, SkipBadTopicCount},
		{"too many topics", func(l *RawLog) { l.Topics = append(l.Topics, l.Topics[1]) }, SkipBadTopicCount},
		{"five topics", func(l *RawLog) { l.Topics = append(l.Topics, l.Topics[1], l.Topics[1]) }, SkipMalformed},
		{"short data", func(l *RawLog) { l.Data = l.Data[:len(l.Data)-2] }, SkipShortData},
		{"empty data", func(l *RawLog) { l.Data = "0x" }, SkipShortData},
		{"long data", func(l *RawLog) { l.Data += strings.Repeat("00", 32) }, SkipBadData},
		{"dirty address topic", func(l *RawLog) { l.Topics[1] = "0x01" + l.Topics[1][4:] }, SkipBadData},
		{"odd data", func(l *RawLog) { l.Data += "0" }, SkipMalformed},
		{"no 0x data", func(l *RawLog) { l.Data = l.Data[2:] }, SkipMalformed},
		{"bad hex data", func(l *RawLog) { l.Data = "0xzz" + l.Data[4:] }, SkipMalformed},
		{"short address", func(l *RawLog) { l.Address = l.Address[:40] }, SkipMalformed},
		{"short topic", func(l *RawLog) { l.Topics[1] = l.Topics[1][:64] }, SkipMalformed},
		{"bad block hash", func(l *RawLog) { l.BlockHash = "0x12" }, SkipMalformed},
		{"bad tx hash", func(l *RawLog) { l.TransactionHash = "" }, SkipMalformed},
		{"empty blockNumber", func(l *RawLog) { l.BlockNumber = "" }, SkipMalformed},
		{"decimal blockNumber", func(l *RawLog) { l.BlockNumber = "10" }, SkipMalformed},
		{"leading zero logIndex", func(l *RawLog) { l.LogIndex = "0x01" }, SkipMalformed},
		{"huge blockNumber", func(l *RawLog) { l.BlockNumber = "0x10000000000000000" }, SkipMalformed},
		{"bad timestamp", func(l *RawLog) { l.BlockTimestamp = "0xg" }, SkipMalformed},
		{"timestamp after 9999", func(l *RawLog) { l.BlockTimestamp = "0xffffffffff" }, SkipMalformed},
		{"bad transactionIndex", func(l *RawLog) { l.TransactionIndex = "x" }, SkipMalformed},
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
		{"offset past end", func(d string) string { return "0x" + strings.Repeat("0", 62) + "ff" + d[66:] }, SkipBadData},
		{"length past end", func(d string) string { return d[:66] + strings.Repeat("0", 62) + "ff" + d[130:] }, SkipBadData},
		{"huge offset", func(d string) string { return "0x" + strings.Repeat("f", 64) + d[66:] }, SkipBadData},
		{"misaligned", func(d string) string { return d + "00" }, SkipBadData},
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
		l := encodeLog(t, mk("EmergencyModeChanged", 1, 0, testNow, true))
		l.Data = l.Data[:len(l.Data)-1] + "2"
		_, err := r.Decode(&l)
		checkSkip(t, err, SkipBadData)
	})
	t.Run("uint8 out of range", func(t *testing.T) {
		l := encodeLog(t, mk("PriceSet", 1, 0, testNow, addr(1), u(1), u(1), 1))
		l.Data = l.Data[:len(l.Data)-4] + "0101"
		_, err := r.Decode(&l)
		checkSkip(t, err, SkipBadData)
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
	var se *SkipError
	if !errors.As(err, &se) || se.Reason != reason {
		t.Fatalf("err = %v, want skip %s", err, reason)
	}
}
