package chainlog

import (
	"encoding/hex"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"
)

// MaxUnixSeconds is 9999-12-31T23:59:59Z: every time the fund stores renders as RFC 3339.
const MaxUnixSeconds = 253402300799

// RawLog is one eth_getLogs-shaped log object, with the JSON field names of eth_getLogs.
// BlockNumber, LogIndex, BlockTimestamp and TransactionIndex are hex quantities ("0x1b4");
// BlockTimestamp and TransactionIndex are optional.
type RawLog struct {
	Address          string   `json:"address"`
	Topics           []string `json:"topics"`
	Data             string   `json:"data"`
	BlockNumber      string   `json:"blockNumber"`
	BlockHash        string   `json:"blockHash"`
	TransactionHash  string   `json:"transactionHash"`
	LogIndex         string   `json:"logIndex"`
	BlockTimestamp   string   `json:"blockTimestamp,omitempty"`
	TransactionIndex string   `json:"transactionIndex,omitempty"`
	Removed          bool     `json:"removed,omitempty"`
}

// parsedLog is a RawLog whose syntax has been checked.
type parsedLog struct {
	addr   common.Address
	topics []common.Hash
	data   []byte
	bn, li uint64
	bh, tx common.Hash
	bt     int64
}

// FieldError names the RawLog field that is malformed.
type FieldError struct {
	Field string // the JSON field name, e.g. "topics[1]"
	Msg   string // what is wrong with it
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// CheckRawLog checks the syntax of every field of l (what the webhook refuses outright); the
// error is a *FieldError. Whether the log is a known event of a configured contract is
// Registry.Decode's business.
func CheckRawLog(l *RawLog) error {
	_, err := parseRawLog(l)
	return err
}

// parseRawLog checks the syntax of every field of l; the error is a *FieldError.
func parseRawLog(l *RawLog) (*parsedLog, error) {
	p := &parsedLog{}
	var err error
	if p.addr, err = parseAddr(l.Address); err != nil {
		return nil, &FieldError{"address", "must be 0x followed by 40 hex digits"}
	}
	if len(l.Topics) > 4 {
		return nil, &FieldError{"topics", "must have at most 4 entries"}
	}
	p.topics = make([]common.Hash, len(l.Topics))
	for i, t := range l.Topics {
		if p.topics[i], err = parseHash(t); err != nil {
			return nil, &FieldError{fmt.Sprintf("topics[%d]", i), "must be 0x followed by 64 hex digits"}
		}
	}
	if p.data, err = parseHexBytes(l.Data); err != nil {
		return nil, &FieldError{"data", "must be 0x followed by an even number of hex digits"}
	}
	if p.bn, err = hexutil.DecodeUint64(l.BlockNumber); err != nil {
		return nil, &FieldError{"blockNumber", "must be a hex quantity (" + err.Error() + ")"}
	}
	if p.bh, err = parseHash(l.BlockHash); err != nil {
		return nil, &FieldError{"blockHash", "must be 0x followed by 64 hex digits"}
	}
	if p.tx, err = parseHash(l.TransactionHash); err != nil {
		return nil, &FieldError{"transactionHash", "must be 0x followed by 64 hex digits"}
	}
	if p.li, err = hexutil.DecodeUint64(l.LogIndex); err != nil {
		return nil, &FieldError{"logIndex", "must be a hex quantity (" + err.Error() + ")"}
	}
	if l.BlockTimestamp != "" {
		ts, err := hexutil.DecodeUint64(l.BlockTimestamp)
		if err != nil {
			return nil, &FieldError{"blockTimestamp", "must be a hex quantity (" + err.Error() + ")"}
		}
		if ts > MaxUnixSeconds {
			return nil, &FieldError{"blockTimestamp", "is after year 9999"}
		}
		p.bt = int64(ts)
	}
	if l.TransactionIndex != "" {
		if _, err := hexutil.DecodeUint64(l.TransactionIndex); err != nil {
			return nil, &FieldError{"transactionIndex", "must be a hex quantity (" + err.Error() + ")"}
		}
	}
	return p, nil
}

// Decode turns one log into an Event. A log that is not a known event of a configured
// contract yields a *SkipError (reason codes Skip*); Decode never panics. Removed logs are
// decoded like the others and carry Removed = true. A missing blockTimestamp leaves
// Event.BlockTime zero; Apply then uses the command time.
func (r *Registry) Decode(l *RawLog) (Event, error) {
	p, err := parseRawLog(l)
	if err != nil {
		return Event{}, &SkipError{Reason: SkipMalformed, Detail: err.Error()}
	}
	c, ok := r.contracts[p.addr]
	if !ok {
		return Event{}, skipf(SkipUnknownContract, "address %s is not a configured contract", HexAddress(p.addr))
	}
	if len(p.topics) == 0 {
		return Event{}, skipf(SkipUnknownTopic, "log of %s has no topics", c.name)
	}
	s := specsByTopic[c.kind][p.topics[0]]
	if s == nil {
		return Event{}, skipf(SkipUnknownTopic, "topic %s is not an event of %s (%s)", p.topics[0].Hex(), c.name, c.kind)
	}
	if len(p.topics) != 1+s.indexed {
		return Event{}, skipf(SkipBadTopicCount, "%s needs %d topics, got %d", s.Name, 1+s.indexed, len(p.topics))
	}
	ev := Event{
		TxHash: p.tx, LogIndex: p.li, BlockNumber: p.bn, BlockHash: p.bh, BlockTime: p.bt,
		Contract: p.addr, Kind: c.kind, Name: s.Name, Removed: l.Removed,
	}
	ev.Args, err = decodeArgs(s, p.topics[1:], p.data)
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// decodeArgs decodes topics and data by hand: the events only use address, uint256, uint8,
// bool and string, and a strict decoder rejects dirty padding that the abi package tolerates.
func decodeArgs(s *Spec, topics []common.Hash, data []byte) ([]Arg, error) {
	heads := 32 * s.heads
	if len(data) < heads {
		return nil, skipf(SkipShortData, "%s needs %d bytes of data, got %d", s.Name, heads, len(data))
	}
	if !s.dynamic && len(data) != heads {
		return nil, skipf(SkipBadData, "%s needs exactly %d bytes of data, got %d", s.Name, heads, len(data))
	}
	if len(data)%32 != 0 {
		return nil, skipf(SkipBadData, "%s data length %d is not a multiple of 32", s.Name, len(data))
	}
	args := make([]Arg, len(s.Args))
	ti, hi := 0, 0
	for i, a := range s.Args {
		args[i] = Arg{Name: a.Name, Type: a.Type}
		var word []byte
		if a.Indexed {
			word = topics[ti][:]
			ti++
		} else {
			word = data[32*hi : 32*hi+32]
			hi++
		}
		if a.Type == ArgString {
			if a.Indexed {
				return nil, skipf(SkipBadData, "%s: indexed string", s.Name)
			}
			str, err := readString(data, word)
			if err != nil {
				return nil, skipf(SkipBadData, "%s.%s: %v", s.Name, a.Name, err)
			}
			args[i].String = str
			continue
		}
		if err := decodeWord(&args[i], word); err != nil {
			return nil, skipf(SkipBadData, "%s.%s: %v", s.Name, a.Name, err)
		}
	}
	return args, nil
}

func decodeWord(a *Arg, w []byte) error {
	switch a.Type {
	case ArgAddress:
		if !allZero(w[:12]) {
			return fmt.Errorf("address word has non-zero padding")
		}
		copy(a.Address[:], w[12:])
	case ArgUint256:
		a.Uint.SetBytes32(w)
	case ArgUint8:
		if !allZero(w[:31]) {
			return fmt.Errorf("uint8 out of range")
		}
		a.Uint.SetUint64(uint64(w[31]))
	case ArgBool:
		if !allZero(w[:31]) || w[31] > 1 {
			return fmt.Errorf("bool is not 0 or 1")
		}
		a.Bool = w[31] == 1
	default:
		return fmt.Errorf("unsupported type %s", a.Type)
	}
	return nil
}

func readString(data, head []byte) (string, error) {
	var off uint256.Int
	off.SetBytes32(head)
	if !off.IsUint64() || off.Uint64() > uint64(len(data)) || off.Uint64()+32 > uint64(len(data)) {
		return "", fmt.Errorf("string offset out of range")
	}
	o := off.Uint64()
	var n uint256.Int
	n.SetBytes32(data[o : o+32])
	if !n.IsUint64() || n.Uint64() > uint64(len(data))-o-32 {
		return "", fmt.Errorf("string length out of range")
	}
	return string(data[o+32 : o+32+n.Uint64()]), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func has0x(s string) bool { return len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') }

func parseHexBytes(s string) ([]byte, error) {
	if !has0x(s) || len(s)%2 != 0 {
		return nil, fmt.Errorf("not 0x-prefixed even-length hex")
	}
	return hex.DecodeString(s[2:])
}

func parseFixedHex(dst []byte, s string) error {
	if !has0x(s) || len(s) != 2+2*len(dst) {
		return fmt.Errorf("want 0x and %d hex digits", 2*len(dst))
	}
	_, err := hex.Decode(dst, []byte(s[2:]))
	return err
}

// ParseAddress parses a 0x-prefixed 40-hex-digit address (any letter case).
func ParseAddress(s string) (common.Address, error) { return parseAddr(s) }

// ParseHash parses a 0x-prefixed 64-hex-digit hash (any letter case).
func ParseHash(s string) (common.Hash, error) { return parseHash(s) }

func parseAddr(s string) (common.Address, error) {
	var a common.Address
	err := parseFixedHex(a[:], s)
	return a, err
}

func parseHash(s string) (common.Hash, error) {
	var h common.Hash
	err := parseFixedHex(h[:], s)
	return h, err
}

// HexAddress renders an address lower-case (common.Address.Hex is checksummed).
func HexAddress(a common.Address) string {
	var buf [42]byte
	copy(buf[:], "0x")
	hex.Encode(buf[2:], a[:])
	return string(buf[:])
}

// HexHash renders a hash lower-case with its 0x prefix.
func HexHash(h common.Hash) string {
	var buf [66]byte
	copy(buf[:], "0x")
	hex.Encode(buf[2:], h[:])
	return string(buf[:])
}
