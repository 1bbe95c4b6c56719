package chainlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

// The contract addresses of the default config (shared with other packages' tests).
var (
	vaultAddr  = common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	rmAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a01")
	acAddr     = common.HexToAddress("0x0000000000000000000000000000000000000a02")
	oracleAddr = common.HexToAddress("0x0000000000000000000000000000000000000a03")
)

var testContracts = []ContractConfig{
	{Name: "vault", Kind: "vault", Address: HexAddress(vaultAddr)},
	{Name: "redemptions", Kind: "redemption_manager", Address: HexAddress(rmAddr)},
	{Name: "assets", Kind: "asset_controller", Address: HexAddress(acAddr)},
	{Name: "oracle", Kind: "oracle", Address: HexAddress(oracleAddr)},
}

func contractOf(k Kind) common.Address {
	return [...]common.Address{{}, vaultAddr, rmAddr, acAddr, oracleAddr}[k]
}

func testRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(testContracts)
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
func mk(name string, bn, li uint64, bt int64, args ...any) Event {
	s := specsByName[name]
	if s == nil {
		panic("unknown event " + name)
	}
	if len(args) != len(s.Args) {
		panic(fmt.Sprintf("%s: %d args, want %d", name, len(args), len(s.Args)))
	}
	e := Event{
		TxHash: txOf(bn, li), LogIndex: li, BlockNumber: bn, BlockHash: crypto.Keccak256Hash(binary.BigEndian.AppendUint64(nil, bn)),
		BlockTime: bt, Contract: contractOf(s.Kind), Kind: s.Kind, Name: s.Name,
	}
	for i, a := range s.Args {
		arg := Arg{Name: a.Name, Type: a.Type}
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

func removed(e Event) Event {
	e.Removed = true
	return e
}

// encodeLog ABI-encodes an event with go-ethereum (independently of the package's decoder)
// into an eth_getLogs object. bt 0 leaves blockTimestamp out.
func encodeLog(t testing.TB, ev Event) RawLog {
	t.Helper()
	s := specsByName[ev.Name]
	parsed, err := abi.JSON(bytes.NewReader(BuiltinABI(s.Kind)))
	if err != nil {
		t.Fatal(err)
	}
	aev := parsed.Events[s.Name]
	topics := []string{HexHash(aev.ID)}
	var data []any
	for i, in := range aev.Inputs {
		a := ev.Args[i]
		var v any
		switch a.Type {
		case ArgAddress:
			v = a.Address
		case ArgUint256:
			v = a.Uint.ToBig()
		case ArgUint8:
			v = uint8(a.Uint.Uint64())
		case ArgBool:
			v = a.Bool
		case ArgString:
			v = a.String
		}
		if in.Indexed {
			tp, err := abi.MakeTopics([]any{v})
			if err != nil {
				t.Fatal(err)
			}
			topics = append(topics, HexHash(tp[0][0]))
		} else {
			data = append(data, v)
		}
	}
	packed, err := aev.Inputs.NonIndexed().Pack(data...)
	if err != nil {
		t.Fatal(err)
	}
	l := RawLog{
		Address: HexAddress(ev.Contract), Topics: topics, Data: hexutil.Encode(packed),
		BlockNumber: hexutil.EncodeUint64(ev.BlockNumber), BlockHash: HexHash(ev.BlockHash),
		TransactionHash: HexHash(ev.TxHash), LogIndex: hexutil.EncodeUint64(ev.LogIndex), Removed: ev.Removed,
	}
	if ev.BlockTime != 0 {
		l.BlockTimestamp = hexutil.EncodeUint64(uint64(ev.BlockTime))
	}
	return l
}

const testNow = int64(1_736_200_000) // 2025-01-06T21:46:40Z

var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

const day = 86400
