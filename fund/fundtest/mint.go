package fundtest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// mintBlock numbers the blocks of MintLog: one more for each log made by this process,
// starting at the process's start time in microseconds. A process makes far fewer than a
// million logs a second, so the logs of a later run (a second load against the same cluster)
// still come after the earlier run's in ledger order; and every count is far above the
// sample walkthrough's blocks (near 45,600,000). Two processes writing at once would be
// further apart than the reorder window: one load process per cluster.
var mintBlock = func() *atomic.Uint64 {
	var c atomic.Uint64
	c.Store(uint64(time.Now().UnixMicro()))
	return &c
}()

// NextBlock returns the next block of the counter MintLog uses, for a test's own events that
// must follow the mints in ledger order.
func NextBlock() uint64 { return mintBlock.Add(1) }

// MintLog is a vault Transfer from the zero address minting value shares to `to`, in a
// transaction of its own whose hash is derived from (to, seq): the same (to, seq) is always the
// same transaction, so a retried write is a duplicate and never a second apply. Cluster tests
// and load tools use it as a write whose effect (the account's shares) counts applies exactly.
// Its block is the next of a process-wide counter, so that the logs one process makes arrive
// (nearly) in ledger order, as a chain's would: the state machine applies a log that belongs
// before others at its place (reverting and re-applying the ones after it) and refuses one
// more than the reorder window behind.
func MintLog(to common.Address, seq int, value int64) chainlog.RawLog {
	ev, err := NewEvent("Transfer", common.Address{}, to, big.NewInt(value))
	if err != nil {
		panic(err) // the event and its arguments are fixed
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("mint/%s/%d", to.Hex(), seq)))
	ev.TxHash = common.Hash(h)
	ev.BlockNumber = NextBlock()
	ev.BlockHash = common.Hash(sha256.Sum256(h[:]))
	ev.BlockTime = 1_750_000_000 + int64(seq)
	raw, err := Encode(ev)
	if err != nil {
		panic(err)
	}
	return raw
}

// Body is the JSON body of POST /v1/admin/logs for logs.
func Body(logs ...chainlog.RawLog) []byte {
	b, err := json.Marshal(map[string][]chainlog.RawLog{"logs": logs})
	if err != nil {
		panic(err)
	}
	return b
}
