package chainlogtest_test

import (
	"math/big"
	"testing"

	"github.com/holiman/uint256"

	"paimon/chainlog/chainlogtest"
)

func TestNewEventRefusesBadArguments(t *testing.T) {
	a := chainlogtest.Address(1)
	for name, args := range map[string][]any{
		"Nope":                 nil,
		"Transfer":             {a, a},
		"AssetAdded":           {a, 256, 1},
		"NavUpdated":           {-1, 1, 1},
		"SharesBurned":         {a, big.NewInt(-1)},
		"PriceSet":             {"0xabc", 1, 1, 1},
		"EmergencyModeChanged": {1},
		"RedemptionRejected":   {1, a, 7},
	} {
		if _, err := chainlogtest.NewEvent(name, args...); err == nil {
			t.Errorf("NewEvent(%s, %v) accepted", name, args)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Event(%s, %v) did not panic", name, args)
				}
			}()
			chainlogtest.Event(name, 1, 0, 1, args...)
		}()
	}
}

// TestEventConvertsEveryIntegerType gives one uint256 argument as each accepted Go type.
func TestEventConvertsEveryIntegerType(t *testing.T) {
	for _, v := range []any{uint256.NewInt(7), *uint256.NewInt(7), big.NewInt(7), uint64(7), uint8(7), 7, int64(7)} {
		ev := chainlogtest.Event("SharesBurned", 3, 1, 9, chainlogtest.Address(1), v)
		if got := ev.Args[1].Uint.Uint64(); got != 7 {
			t.Errorf("%T: shares %d, want 7", v, got)
		}
		if ev.BlockNumber != 3 || ev.LogIndex != 1 || ev.BlockTime != 9 || ev.TxHash != chainlogtest.TxHash(3, 1) ||
			ev.BlockHash != chainlogtest.BlockHash(3) || ev.Contract != chainlogtest.VaultAddress {
			t.Errorf("%T: position %+v", v, ev)
		}
	}
}
