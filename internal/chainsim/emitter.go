package chainsim

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
)

// The emitter's calldata is a sequence of records, executed in order:
//
//	log record:  n (1 byte, 0..4) | n × 32-byte topics | len (2 bytes, big-endian) | data (len bytes)
//	             → LOGn(data, topics...) from the emitter's own address
//	call record: 0xFF | 20-byte address | len (2 bytes, big-endian) | calldata (len bytes)
//	             → CALL(address, calldata): another emitter runs its own records, so one
//	               transaction can emit logs from several contracts, as a redemption manager
//	               locking shares in the vault does
//
// Empty calldata emits nothing. Any other first byte, a record running past the end of the
// calldata, or a failed call reverts the whole transaction, so a transaction's logs are
// all-or-nothing like a real contract call's.
const (
	maxTopics  = 4
	callRecord = 0xFF
	// MaxLogData is the largest data of one log the emitter can carry (a 2-byte length).
	MaxLogData = 0xFFFF
)

// Log is a log for the emitters to emit: the emitter at Address executes LOGn with Topics
// (at most four) and Data.
type Log struct {
	Address common.Address
	Topics  []common.Hash
	Data    []byte
}

// EmitterCode returns the emitter's runtime bytecode (see the record format above and
// DESIGN.md); the simulator places it at each fund contract's address in the genesis.
func EmitterCode() []byte { return append([]byte(nil), emitterCode()...) }

var emitterCode = sync.OnceValue(func() []byte {
	code, err := assembleEmitter()
	if err != nil {
		panic(err) // a bug in assembleEmitter, caught by every test
	}
	return code
})

// assembleEmitter writes the emitter. Between records the stack holds one word, p: the
// offset of the next record in the calldata. The comments show the stack after each line, top
// on the right.
func assembleEmitter() ([]byte, error) {
	a := newAsm()
	a.push(0) // [p=0]
	a.label("loop")
	a.op(vm.CALLDATASIZE, vm.DUP2, vm.LT, vm.ISZERO).jumpIf("done") // [p]: stop when p ≥ calldata size
	a.op(vm.DUP1, vm.CALLDATALOAD).push(248).op(vm.SHR)             // [p, k]: k = the record's first byte
	a.op(vm.SWAP1).push(1).op(vm.ADD, vm.SWAP1)                     // [p+1, k]
	for n := 0; n <= maxTopics; n++ {
		a.op(vm.DUP1).push(uint64(n)).op(vm.EQ).jumpIf(fmt.Sprintf("log%d", n))
	}
	a.op(vm.DUP1).push(callRecord).op(vm.EQ).jumpIf("call")
	a.jump("bad") // any other kind

	// logN: n topics, a 2-byte length, the data.
	for n := 0; n <= maxTopics; n++ {
		a.label(fmt.Sprintf("log%d", n)).op(vm.POP)         // [p]
		a.op(vm.DUP1).push(uint64(32 * n)).op(vm.ADD)       // [p, q]: q = where the length is
		a.op(vm.DUP1, vm.CALLDATALOAD).push(240).op(vm.SHR) // [p, q, len]
		a.op(vm.SWAP1).push(2).op(vm.ADD)                   // [p, len, d]: d = where the data is
		a.op(vm.DUP2, vm.DUP2).push(0).op(vm.CALLDATACOPY)  // [p, len, d]: memory[0:len] = data
		a.op(vm.DUP2, vm.ADD)                               // [p, len, next]
		a.op(vm.DUP1, vm.CALLDATASIZE, vm.LT).jumpIf("bad") // [p, len, next]: revert when truncated
		a.op(vm.SWAP2)                                      // [next, len, p]
		// The topics, last to first so that topic 0 ends nearest the top: topic i is the word at
		// p + 32i, and p sits under the topics pushed so far.
		for i := n - 1; i >= 0; i-- {
			a.op(vm.DUP1 + vm.OpCode(n-1-i))
			if i > 0 {
				a.push(uint64(32 * i)).op(vm.ADD)
			}
			a.op(vm.CALLDATALOAD) // [next, len, p, t(n-1) … t(i)]
		}
		a.op(vm.DUP1 + vm.OpCode(n+1)).push(0) // [next, len, p, t(n-1) … t0, len, 0]
		a.op(vm.LOG0 + vm.OpCode(n))           // [next, len, p]: LOGn(offset 0, len, t0 … t(n-1))
		a.op(vm.POP, vm.POP).jump("loop")      // [next]
	}

	// call: a 20-byte address, a 2-byte length, the callee's calldata.
	a.label("call").op(vm.POP)                          // [p]
	a.op(vm.DUP1).push(20).op(vm.ADD)                   // [p, q]
	a.op(vm.DUP1, vm.CALLDATALOAD).push(240).op(vm.SHR) // [p, q, len]
	a.op(vm.SWAP1).push(2).op(vm.ADD)                   // [p, len, d]
	a.op(vm.DUP2, vm.DUP2).push(0).op(vm.CALLDATACOPY)  // [p, len, d]: memory[0:len] = calldata
	a.op(vm.DUP2, vm.ADD)                               // [p, len, next]
	a.op(vm.DUP1, vm.CALLDATASIZE, vm.LT).jumpIf("bad") // [p, len, next]: revert when truncated
	a.op(vm.SWAP2)                                      // [next, len, p]
	a.op(vm.CALLDATALOAD).push(96).op(vm.SHR)           // [next, len, addr]
	a.push(0).push(0).op(vm.DUP4).push(0).push(0)       // [next, len, addr, 0, 0, len, 0, 0]
	a.op(vm.DUP6, vm.GAS, vm.CALL)                      // [next, len, addr, ok]: CALL(gas, addr, 0, 0, len, 0, 0)
	a.op(vm.ISZERO).jumpIf("bad")                       // [next, len, addr]: a failed call reverts
	a.op(vm.POP, vm.POP).jump("loop")                   // [next]

	a.label("done").op(vm.STOP)
	a.label("bad").push(0).op(vm.DUP1, vm.REVERT)
	return a.assemble()
}

// Calldata encodes logs as the calldata of one transaction to the emitter at `to`. A log of
// another address becomes a call record to that emitter (consecutive logs of one address share
// a call), so the logs are emitted in the order given with consecutive log indexes.
func Calldata(to common.Address, logs []Log) ([]byte, error) {
	var out []byte
	for i := 0; i < len(logs); {
		if logs[i].Address == to {
			var err error
			if out, err = appendLogRecord(out, &logs[i]); err != nil {
				return nil, fmt.Errorf("log %d: %w", i, err)
			}
			i++
			continue
		}
		j := i
		var inner []byte
		for ; j < len(logs) && logs[j].Address == logs[i].Address; j++ {
			var err error
			if inner, err = appendLogRecord(inner, &logs[j]); err != nil {
				return nil, fmt.Errorf("log %d: %w", j, err)
			}
		}
		if len(inner) > 0xFFFF {
			return nil, fmt.Errorf("logs %d..%d: %d bytes of records for %s do not fit one call record", i, j-1, len(inner), logs[i].Address)
		}
		out = append(out, callRecord)
		out = append(out, logs[i].Address[:]...)
		out = binary.BigEndian.AppendUint16(out, uint16(len(inner)))
		out = append(out, inner...)
		i = j
	}
	return out, nil
}

func appendLogRecord(b []byte, l *Log) ([]byte, error) {
	if len(l.Topics) > maxTopics {
		return nil, fmt.Errorf("%d topics: a log has at most %d", len(l.Topics), maxTopics)
	}
	if len(l.Data) > MaxLogData {
		return nil, fmt.Errorf("%d bytes of data: at most %d", len(l.Data), MaxLogData)
	}
	b = append(b, byte(len(l.Topics)))
	for _, t := range l.Topics {
		b = append(b, t[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.Data)))
	return append(b, l.Data...), nil
}

// devRules are the dev chain's fork rules (every fork the simulated backend runs), for the
// intrinsic gas of a transaction.
var devRules = params.AllDevChainProtocolChanges.Rules(big.NewInt(1), true, 1)

// txGas returns a gas limit that covers a transaction to `to` carrying logs as calldata: the
// intrinsic gas (or the EIP-7623 calldata floor, whichever is higher) plus an upper bound of
// the emitter's execution. Computing it saves an eth_estimateGas round trip per transaction;
// the tests check that no transaction runs out of it and that it is not far above what is
// used.
func txGas(to common.Address, data []byte, logs []Log) (uint64, error) {
	intrinsic, err := core.IntrinsicGas(data, nil, nil, common.Address{}, &to, nil, devRules)
	if err != nil {
		return 0, err
	}
	floor, err := core.FloorDataGas(devRules, common.Address{}, &to, nil, data, nil)
	if err != nil {
		return 0, err
	}
	exec := uint64(100) // the first dispatch and the stop at the end
	called := map[common.Address]bool{}
	for i := range logs {
		l := &logs[i]
		words := (uint64(len(l.Data)) + 31) / 32
		// dispatch and stack work (~150), the copy, and the LOG itself
		exec += 200 + 3*words + params.LogGas + params.LogTopicGas*uint64(len(l.Topics)) + params.LogDataGas*uint64(len(l.Data))
		if l.Address != to && (i == 0 || logs[i-1].Address != l.Address) {
			// a call record: its dispatch, copying the records, and the account access
			exec += 300 + 3*(uint64(len(data))+31)/32
			if called[l.Address] {
				exec += params.WarmStorageReadCostEIP2929
			} else {
				exec += params.ColdAccountAccessCostEIP2929
				called[l.Address] = true
			}
		}
	}
	// Memory grows once per frame to its largest record, never larger than the whole calldata;
	// a callee has a memory of its own.
	w := (uint64(len(data)) + 31) / 32
	mem := 3*w + w*w/512
	exec += mem * uint64(1+len(called))
	exec += exec / 8 // headroom, and the 1/64 a CALL keeps back
	return max(intrinsic+exec, floor), nil
}
