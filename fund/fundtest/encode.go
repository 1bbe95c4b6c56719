// Package fundtest generates the fund's test data: ABI-encoded chain logs, a deterministic chain
// builder, realistic data sets and random event streams, for tests, benchmarks and bench tools.
package fundtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund"
)

// The contract addresses of the default configuration (config.Default()).
var (
	VaultAddress             = common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	RedemptionManagerAddress = common.HexToAddress("0x0000000000000000000000000000000000000a01")
	AssetControllerAddress   = common.HexToAddress("0x0000000000000000000000000000000000000a02")
	OracleAddress            = common.HexToAddress("0x0000000000000000000000000000000000000a03")
)

// Contracts returns the default contract set, with the names and addresses of config.Default()
// and the built-in ABIs.
func Contracts() []chainlog.ContractConfig {
	return []chainlog.ContractConfig{
		{Name: "vault", Kind: "vault", Address: hexAddr(VaultAddress)},
		{Name: "redemptions", Kind: "redemption_manager", Address: hexAddr(RedemptionManagerAddress)},
		{Name: "assets", Kind: "asset_controller", Address: hexAddr(AssetControllerAddress)},
		{Name: "oracle", Kind: "oracle", Address: hexAddr(OracleAddress)},
	}
}

// Registry returns a registry of Contracts(). It panics if the fund refuses them, which would
// mean the fund's built-in ABIs are broken.
func Registry() *chainlog.Registry {
	r, err := chainlog.NewRegistry(Contracts())
	if err != nil {
		panic("fundtest: default contracts: " + err.Error())
	}
	return r
}

// ContractOf returns the default address of a contract kind (zero for an unknown kind).
func ContractOf(k chainlog.Kind) common.Address {
	switch k {
	case chainlog.KindVault:
		return VaultAddress
	case chainlog.KindRedemptionManager:
		return RedemptionManagerAddress
	case chainlog.KindAssetController:
		return AssetControllerAddress
	case chainlog.KindOracle:
		return OracleAddress
	}
	return common.Address{}
}

// eventDef is one event of a built-in ABI, as go-ethereum parsed it.
type eventDef struct {
	kind  chainlog.Kind
	abi   abi.Event
	types []chainlog.ArgType
}

// defs maps event names to their definitions. It is built once from chainlog.BuiltinABI and never
// changed, so sharing it is safe.
var defs = func() map[string]*eventDef {
	m := map[string]*eventDef{}
	for k := chainlog.KindVault; k <= chainlog.KindOracle; k++ {
		parsed, err := abi.JSON(bytes.NewReader(chainlog.BuiltinABI(k)))
		if err != nil {
			panic("fundtest: built-in ABI of " + k.String() + ": " + err.Error())
		}
		for name, ev := range parsed.Events {
			d := &eventDef{kind: k, abi: ev}
			for _, in := range ev.Inputs {
				t, ok := argTypes[in.Type.String()]
				if !ok {
					panic("fundtest: unsupported type " + in.Type.String() + " in " + name)
				}
				d.types = append(d.types, t)
			}
			m[name] = d
		}
	}
	return m
}()

var argTypes = map[string]chainlog.ArgType{
	"address": chainlog.ArgAddress, "uint256": chainlog.ArgUint256, "uint8": chainlog.ArgUint8, "bool": chainlog.ArgBool, "string": chainlog.ArgString,
}

// NewEvent builds an event of the named kind (any event of EVENTS.md) from its arguments in
// declaration order, addressed to the default contract of its kind. Accepted argument values:
// common.Address for addresses; *uint256.Int, uint256.Int, *big.Int, uint64, int, int64 or
// uint8 for integers; bool; string. The position fields (block, transaction, log index, time)
// are left zero: Chain fills them.
func NewEvent(name string, args ...any) (chainlog.Event, error) {
	d := defs[name]
	if d == nil {
		return chainlog.Event{}, fmt.Errorf("fundtest: unknown event %q", name)
	}
	if len(args) != len(d.types) {
		return chainlog.Event{}, fmt.Errorf("fundtest: %s takes %d arguments, got %d", name, len(d.types), len(args))
	}
	ev := chainlog.Event{Contract: ContractOf(d.kind), Kind: d.kind, Name: name, Args: make([]chainlog.Arg, len(args))}
	for i, v := range args {
		a := chainlog.Arg{Name: d.abi.Inputs[i].Name, Type: d.types[i]}
		if err := setArg(&a, v); err != nil {
			return chainlog.Event{}, fmt.Errorf("fundtest: %s argument %s: %w", name, a.Name, err)
		}
		ev.Args[i] = a
	}
	return ev, nil
}

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

// Encode ABI-encodes an event into an eth_getLogs object with go-ethereum's abi package
// (independently of the fund's decoder): topic 0 and the indexed arguments as topics, the rest
// packed into data. The log's address is ev.Contract. A zero BlockTime leaves blockTimestamp
// out, as providers without it do.
func Encode(ev chainlog.Event) (chainlog.RawLog, error) {
	d := defs[ev.Name]
	if d == nil {
		return chainlog.RawLog{}, fmt.Errorf("fundtest: unknown event %q", ev.Name)
	}
	if len(ev.Args) != len(d.types) {
		return chainlog.RawLog{}, fmt.Errorf("fundtest: %s has %d arguments, want %d", ev.Name, len(ev.Args), len(d.types))
	}
	topics := []string{d.abi.ID.Hex()}
	data := make([]any, 0, len(ev.Args))
	for i, in := range d.abi.Inputs {
		a := &ev.Args[i]
		if a.Type != d.types[i] {
			return chainlog.RawLog{}, fmt.Errorf("fundtest: %s argument %s is %s, want %s", ev.Name, in.Name, a.Type, d.types[i])
		}
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
		if !in.Indexed {
			data = append(data, v)
			continue
		}
		tp, err := abi.MakeTopics([]any{v})
		if err != nil {
			return chainlog.RawLog{}, fmt.Errorf("fundtest: %s topic %s: %w", ev.Name, in.Name, err)
		}
		topics = append(topics, tp[0][0].Hex())
	}
	packed, err := d.abi.Inputs.NonIndexed().Pack(data...)
	if err != nil {
		return chainlog.RawLog{}, fmt.Errorf("fundtest: pack %s: %w", ev.Name, err)
	}
	l := chainlog.RawLog{
		Address:         hexAddr(ev.Contract),
		Topics:          topics,
		Data:            hexutil.Encode(packed),
		BlockNumber:     hexutil.EncodeUint64(ev.BlockNumber),
		BlockHash:       ev.BlockHash.Hex(),
		TransactionHash: ev.TxHash.Hex(),
		LogIndex:        hexutil.EncodeUint64(ev.LogIndex),
		Removed:         ev.Removed,
	}
	if ev.BlockTime > 0 {
		l.BlockTimestamp = hexutil.EncodeUint64(uint64(ev.BlockTime))
	}
	return l, nil
}

// EncodeAll encodes events in order; see Encode.
func EncodeAll(evs []chainlog.Event) ([]chainlog.RawLog, error) {
	out := make([]chainlog.RawLog, len(evs))
	for i := range evs {
		l, err := Encode(evs[i])
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out[i] = l
	}
	return out, nil
}

// Decode decodes logs with reg and fails on the first log it would skip, naming it: generated
// data must decode completely.
func Decode(reg *chainlog.Registry, logs []chainlog.RawLog) ([]chainlog.Event, error) {
	out := make([]chainlog.Event, 0, len(logs))
	for i := range logs {
		ev, err := reg.Decode(&logs[i])
		if err != nil {
			return nil, fmt.Errorf("log %d (tx %s, logIndex %s): %w", i, logs[i].TransactionHash, logs[i].LogIndex, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// ErrLogTooLarge is returned by RequestBodies when one log alone does not fit the size limit.
var ErrLogTooLarge = errors.New("fundtest: log larger than the body limit")

// RequestBodies splits logs into POST /v1/admin/logs bodies ({"logs": [...]}) of at most
// maxBytes bytes and fund.MaxLogsPerRequest logs each, keeping their order.
func RequestBodies(logs []chainlog.RawLog, maxBytes int) ([][]byte, error) {
	const head, tail = `{"logs":[`, `]}`
	var bodies [][]byte
	var cur []byte
	n := 0
	flush := func() {
		if n > 0 {
			bodies = append(bodies, append(cur, tail...))
		}
		cur, n = nil, 0
	}
	for i := range logs {
		b, err := json.Marshal(&logs[i])
		if err != nil {
			return nil, err
		}
		if len(head)+len(b)+len(tail) > maxBytes {
			return nil, fmt.Errorf("%w: log %d is %d bytes, the limit is %d", ErrLogTooLarge, i, len(b), maxBytes)
		}
		if n > 0 && (len(cur)+1+len(b)+len(tail) > maxBytes || n == fund.MaxLogsPerRequest) {
			flush()
		}
		if n == 0 {
			cur = append(make([]byte, 0, min(maxBytes, 1<<20)), head...)
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
		n++
	}
	flush()
	return bodies, nil
}

func hexAddr(a common.Address) string { return hexutil.Encode(a[:]) }
