package chainlogtest

import (
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"paimon/chainlog"
)

// NewEvent builds an event of the named kind (any event of EVENTS.md) from its arguments in
// declaration order, addressed to the default contract of its kind. Accepted argument values:
// common.Address for addresses; *uint256.Int, uint256.Int, *big.Int, uint64, int, int64 or
// uint8 for integers (not negative, and below 256 for a uint8); bool; string. Anything else is
// an error naming the argument. The position fields (block, transaction, log index, time) are
// left zero: Event, or fundtest's Chain, fills them.
func NewEvent(name string, args ...any) (chainlog.Event, error) {
	s := chainlog.SpecByName(name)
	if s == nil {
		return chainlog.Event{}, fmt.Errorf("chainlogtest: unknown event %q", name)
	}
	if len(args) != len(s.Args) {
		return chainlog.Event{}, fmt.Errorf("chainlogtest: %s takes %d arguments, got %d", name, len(s.Args), len(args))
	}
	ev := chainlog.Event{Contract: ContractOf(s.Kind), Kind: s.Kind, Name: s.Name, Args: make([]chainlog.Arg, len(args))}
	for i, v := range args {
		a := chainlog.Arg{Name: s.Args[i].Name, Type: s.Args[i].Type}
		if err := setArg(&a, v); err != nil {
			return chainlog.Event{}, fmt.Errorf("chainlogtest: %s argument %s: %w", name, a.Name, err)
		}
		ev.Args[i] = a
	}
	return ev, nil
}

// setArg converts v to the declared type of a.
func setArg(a *chainlog.Arg, v any) error {
	switch a.Type {
	case chainlog.ArgAddress:
		addr, ok := v.(common.Address)
		if !ok {
			return fmt.Errorf("want common.Address, got %T", v)
		}
		a.Address = addr
	case chainlog.ArgUint256, chainlog.ArgUint8:
		switch x := v.(type) {
		case *uint256.Int:
			a.Uint.Set(x)
		case uint256.Int:
			a.Uint = x
		case *big.Int:
			if x.Sign() < 0 || a.Uint.SetFromBig(x) {
				return fmt.Errorf("%s does not fit uint256", x)
			}
		case uint64:
			a.Uint.SetUint64(x)
		case uint8:
			a.Uint.SetUint64(uint64(x))
		case int:
			if x < 0 {
				return fmt.Errorf("negative value %d", x)
			}
			a.Uint.SetUint64(uint64(x))
		case int64:
			if x < 0 {
				return fmt.Errorf("negative value %d", x)
			}
			a.Uint.SetUint64(uint64(x))
		default:
			return fmt.Errorf("want an integer, got %T", v)
		}
		if a.Type == chainlog.ArgUint8 && (!a.Uint.IsUint64() || a.Uint.Uint64() > 255) {
			return fmt.Errorf("%s does not fit uint8", a.Uint.Dec())
		}
	case chainlog.ArgBool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want bool, got %T", v)
		}
		a.Bool = b
	case chainlog.ArgString:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want string, got %T", v)
		}
		a.String = s
	}
	return nil
}

// Event is NewEvent at a position: log li of block bn, mined at bt (unix seconds), in the
// transaction TxHash(bn, li) of the block BlockHash(bn). It panics on arguments NewEvent
// refuses: it is meant for literals in tests.
func Event(name string, bn, li uint64, bt int64, args ...any) chainlog.Event {
	ev, err := NewEvent(name, args...)
	if err != nil {
		panic(err)
	}
	ev.TxHash, ev.LogIndex, ev.BlockNumber, ev.BlockHash, ev.BlockTime = TxHash(bn, li), li, bn, BlockHash(bn), bt
	return ev
}

// TxHash is the transaction hash Event gives log li of block bn: one transaction a log.
func TxHash(bn, li uint64) common.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], bn)
	binary.BigEndian.PutUint64(b[8:], li)
	return crypto.Keccak256Hash(b[:])
}

// BlockHash is the hash Event gives block bn.
func BlockHash(bn uint64) common.Hash {
	return crypto.Keccak256Hash(binary.BigEndian.AppendUint64(nil, bn))
}

// Removed returns e marked as removed by a reorganisation.
func Removed(e chainlog.Event) chainlog.Event {
	e.Removed = true
	return e
}

// AllEvents returns one valid event of every kind, in spec id order, in blocks 10 to 13 mined
// at now; its times (NAV, settlement, price) are now or a day or a week later.
func AllEvents(now int64) []chainlog.Event {
	const day = 86400
	h1, h2, u := Address(1), Address(2), uint256.NewInt
	return []chainlog.Event{
		Event("Transfer", 10, 0, now, common.Address{}, h1, E18(5)),
		Event("Deposit", 10, 1, now, h1, h1, E18(5), E18(5)),
		Event("Withdraw", 10, 2, now, h1, h2, h1, E18(1), E18(1)),
		Event("SharesLocked", 10, 3, now, h1, E18(1)),
		Event("SharesUnlocked", 10, 4, now, h1, E18(1)),
		Event("SharesBurned", 10, 5, now, h1, u(7)),
		Event("NavUpdated", 10, 6, now, oneE18, u(1_020_000_000_000_000_000), now),
		Event("EmergencyModeChanged", 10, 7, now, true),
		Event("RedemptionFeeAdded", 10, 8, now, u(3)),
		Event("RedemptionFeeReduced", 10, 9, now, u(1)),
		Event("RedemptionRequested", 11, 0, now, 1, h1, h2, E18(2), E18(2), u(5), 1, true, now+7*day, 3),
		Event("RedemptionApproved", 11, 1, now, 1, h2, now+day),
		Event("RedemptionRejected", 11, 2, now, 2, h2, "not allowed \"now\" ✓"),
		Event("RedemptionCancelled", 11, 3, now, 3, h1),
		Event("RedemptionSettled", 11, 4, now, 1, h1, h2, E18(2), u(5), E18(1), 1),
		Event("LowLiquidityAlert", 11, 5, now, 900, 1000, E18(1), E18(10)),
		Event("CriticalLiquidityAlert", 11, 6, now, 500, 1000, E18(1)),
		Event("AssetAdded", 12, 0, now, Address(50), 1, 4000),
		Event("AssetRemoved", 12, 1, now, Address(51)),
		Event("AssetAllocationUpdated", 12, 2, now, Address(50), 4000, 5000),
		Event("AssetPurchased", 12, 3, now, Address(50), 1, E18(10), E18(9)),
		Event("AssetRedeemed", 12, 4, now, Address(50), 1, E18(1), E18(1)),
		Event("WaterfallLiquidation", 12, 5, now, 2, Address(52), E18(1), E18(1)),
		Event("LayerConfigUpdated", 12, 6, now, 2, 3000, 2000, 4000),
		Event("ManagementFeeCollected", 12, 7, now, E18(1), E18(100), 86400),
		Event("PerformanceFeeCollected", 12, 8, now, E18(1), E18(2), E18(3)),
		Event("PriceSet", 13, 0, now, Address(50), oneE18, now, 2),
	}
}
