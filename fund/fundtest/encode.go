// Package fundtest generates the fund's test data: ABI-encoded chain logs, a deterministic chain
// builder, realistic data sets and random event streams, for tests, benchmarks and bench tools.
package fundtest

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
)

// The contract addresses of the default configuration (config.Default()), chainlogtest's.
var (
	VaultAddress             = chainlogtest.VaultAddress
	RedemptionManagerAddress = chainlogtest.RedemptionManagerAddress
	AssetControllerAddress   = chainlogtest.AssetControllerAddress
	OracleAddress            = chainlogtest.OracleAddress
)

// Contracts returns the default contract set, with the names and addresses of config.Default()
// and the built-in ABIs (chainlogtest.Contracts).
func Contracts() []chainlog.ContractConfig { return chainlogtest.Contracts() }

// Registry returns a registry of Contracts(). It panics if the fund refuses them, which would
// mean the fund's built-in ABIs are broken.
func Registry() *chainlog.Registry { return chainlogtest.Registry() }

// ContractOf returns the default address of a contract kind (zero for an unknown kind).
func ContractOf(k chainlog.Kind) common.Address { return chainlogtest.ContractOf(k) }

// NewEvent builds an event of the named kind (any event of EVENTS.md) from its arguments in
// declaration order, addressed to the default contract of its kind, as chainlogtest.NewEvent
// does (which lists the accepted argument values). The position fields (block, transaction,
// log index, time) are left zero: Chain fills them.
func NewEvent(name string, args ...any) (chainlog.Event, error) {
	return chainlogtest.NewEvent(name, args...)
}

// Encode ABI-encodes an event into an eth_getLogs object with go-ethereum's abi package
// (independently of the fund's decoder), as chainlogtest.Encode does: topic 0 and the indexed
// arguments as topics, the rest packed into data. The log's address is ev.Contract. A zero
// BlockTime leaves blockTimestamp out, as providers without it do.
func Encode(ev chainlog.Event) (chainlog.RawLog, error) { return chainlogtest.Encode(ev) }

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
