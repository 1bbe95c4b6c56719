package readmodel

import (
	"encoding/binary"

	"github.com/holiman/uint256"
	"paimon/fund"
)

// The read model reads fund's key layout (fund/DESIGN.md, "State and key layout") through
// fund's prefixes; numbers in keys are big-endian so that scans are ordered.

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func be64get(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func flowKey(hour int64) []byte { return key(fund.PrefixFlow, be64(uint64(hour))) }

// oneE18 is 1.0 in the 1e18 scale of prices and share prices.
var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)
