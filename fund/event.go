package fund

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

// spec returns the event's spec after checking that kind, name and argument types match the
// known declaration; the error is a *ValidationError.
func (e *Event) spec() (*eventSpec, error) {
	s := specsByName[e.Name]
	if s == nil {
		return nil, invalidf("event %q is not a known event", e.Name)
	}
	if s.kind != e.Kind {
		return nil, invalidf("event %s belongs to %s contracts, not %s", s.name, s.kind, e.Kind)
	}
	if len(e.Args) != len(s.args) {
		return nil, invalidf("event %s needs %d arguments, got %d", s.name, len(s.args), len(e.Args))
	}
	for i, a := range s.args {
		if e.Args[i].Type != a.typ {
			return nil, invalidf("event %s argument %s must be %s", s.name, a.name, a.typ)
		}
		if a.typ == ArgUint8 && (!e.Args[i].Uint.IsUint64() || e.Args[i].Uint.Uint64() > 255) {
			return nil, invalidf("event %s argument %s is out of uint8 range", s.name, a.name)
		}
	}
	if e.BlockTime < 0 || e.BlockTime > maxUnixSeconds {
		return nil, invalidf("event block time %d is out of range", e.BlockTime)
	}
	return s, nil
}

// appendArgsJSON renders the arguments as a JSON object in declaration order: addresses
// lower-case, uint256 as decimal strings, uint8 as numbers.
func appendArgsJSON(b []byte, s *eventSpec, args []Arg) []byte {
	b = append(b, '{')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s.args[i].name)
		b = append(b, ':')
		switch a.Type {
		case ArgAddress:
			b = append(b, '"')
			b = append(b, hexAddr(a.Address)...)
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
