package chainlog

import (
	"encoding/json"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// Event is one decoded chain log: where it is (transaction, log index, block) and what it
// says (contract, kind, event name, arguments in declaration order).
type Event struct {
	TxHash      common.Hash
	LogIndex    uint64
	BlockNumber uint64
	BlockHash   common.Hash
	BlockTime   int64 // unix seconds; 0 = unknown, Apply then uses the command time
	Contract    common.Address
	Kind        Kind
	Name        string
	Args        []Arg
	Removed     bool // the log was withdrawn by a reorg: revert it
}

// Arg is one decoded event argument. Only the field selected by Type is meaningful; uint8
// values are held in Uint.
type Arg struct {
	Name    string
	Type    ArgType
	Address common.Address
	Uint    uint256.Int
	Bool    bool
	String  string
}

// Spec returns the event's spec after checking that kind, name and argument types match the
// known declaration and that the block time is in range; the error is an *InvalidEventError.
func (e *Event) Spec() (*Spec, error) {
	s := specsByName[e.Name]
	if s == nil {
		return nil, invalidEventf("event %q is not a known event", e.Name)
	}
	if s.Kind != e.Kind {
		return nil, invalidEventf("event %s belongs to %s contracts, not %s", s.Name, s.Kind, e.Kind)
	}
	if len(e.Args) != len(s.Args) {
		return nil, invalidEventf("event %s needs %d arguments, got %d", s.Name, len(s.Args), len(e.Args))
	}
	for i, a := range s.Args {
		if e.Args[i].Type != a.Type {
			return nil, invalidEventf("event %s argument %s must be %s", s.Name, a.Name, a.Type)
		}
		if a.Type == ArgUint8 && (!e.Args[i].Uint.IsUint64() || e.Args[i].Uint.Uint64() > 255) {
			return nil, invalidEventf("event %s argument %s is out of uint8 range", s.Name, a.Name)
		}
	}
	if e.BlockTime < 0 || e.BlockTime > MaxUnixSeconds {
		return nil, invalidEventf("event block time %d is out of range", e.BlockTime)
	}
	return s, nil
}

// AppendArgsJSON renders the arguments as a JSON object in declaration order: addresses
// lower-case, uint256 as decimal strings, uint8 as numbers.
func AppendArgsJSON(b []byte, s *Spec, args []Arg) []byte {
	b = append(b, '{')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s.Args[i].Name)
		b = append(b, ':')
		switch a.Type {
		case ArgAddress:
			b = append(b, '"')
			b = append(b, HexAddress(a.Address)...)
			b = append(b, '"')
		case ArgUint256:
			b = append(b, '"')
			b = append(b, a.Uint.Dec()...)
			b = append(b, '"')
		case ArgUint8:
			b = strconv.AppendUint(b, a.Uint.Uint64(), 10)
		case ArgBool:
			b = strconv.AppendBool(b, a.Bool)
		case ArgString:
			q, _ := json.Marshal(a.String) // a string always marshals
			b = append(b, q...)
		}
	}
	return append(b, '}')
}
