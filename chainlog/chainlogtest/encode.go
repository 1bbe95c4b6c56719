package chainlogtest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"paimon/chainlog"
)

// abiEvents maps event names to go-ethereum's parse of the built-in ABIs. It is built once and
// never changed, so sharing it is safe.
var abiEvents = func() map[string]abi.Event {
	m := map[string]abi.Event{}
	for k := chainlog.KindVault; k <= chainlog.KindOracle; k++ {
		parsed, err := abi.JSON(bytes.NewReader(chainlog.BuiltinABI(k)))
		if err != nil {
			panic("chainlogtest: built-in ABI of " + k.String() + ": " + err.Error())
		}
		for name, ev := range parsed.Events {
			m[name] = ev
		}
	}
	return m
}()

// Encode ABI-encodes an event into an eth_getLogs object with go-ethereum's abi package
// (independently of chainlog's decoder): topic 0 and the indexed arguments as topics, the rest
// packed into data. The log's address is ev.Contract. A zero BlockTime leaves blockTimestamp
// out, as providers without it do.
func Encode(ev chainlog.Event) (chainlog.RawLog, error) {
	s, aev := chainlog.SpecByName(ev.Name), abiEvents[ev.Name]
	if s == nil {
		return chainlog.RawLog{}, fmt.Errorf("chainlogtest: unknown event %q", ev.Name)
	}
	if len(ev.Args) != len(s.Args) {
		return chainlog.RawLog{}, fmt.Errorf("chainlogtest: %s has %d arguments, want %d", ev.Name, len(ev.Args), len(s.Args))
	}
	topics := []string{chainlog.HexHash(aev.ID)}
	data := make([]any, 0, len(ev.Args))
	for i, in := range aev.Inputs {
		a := &ev.Args[i]
		if a.Type != s.Args[i].Type {
			return chainlog.RawLog{}, fmt.Errorf("chainlogtest: %s argument %s is %s, want %s", ev.Name, in.Name, a.Type, s.Args[i].Type)
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
			return chainlog.RawLog{}, fmt.Errorf("chainlogtest: %s topic %s: %w", ev.Name, in.Name, err)
		}
		topics = append(topics, chainlog.HexHash(tp[0][0]))
	}
	packed, err := aev.Inputs.NonIndexed().Pack(data...)
	if err != nil {
		return chainlog.RawLog{}, fmt.Errorf("chainlogtest: pack %s: %w", ev.Name, err)
	}
	l := chainlog.RawLog{
		Address:         chainlog.HexAddress(ev.Contract),
		Topics:          topics,
		Data:            hexutil.Encode(packed),
		BlockNumber:     hexutil.EncodeUint64(ev.BlockNumber),
		BlockHash:       chainlog.HexHash(ev.BlockHash),
		TransactionHash: chainlog.HexHash(ev.TxHash),
		LogIndex:        hexutil.EncodeUint64(ev.LogIndex),
		Removed:         ev.Removed,
	}
	if ev.BlockTime > 0 {
		l.BlockTimestamp = hexutil.EncodeUint64(uint64(ev.BlockTime))
	}
	return l, nil
}

// EncodeLog is Encode for a test: it fails t on an error.
func EncodeLog(t testing.TB, ev chainlog.Event) chainlog.RawLog {
	t.Helper()
	l, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
