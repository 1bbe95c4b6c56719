package fundtest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// MintLog is a vault Transfer from the zero address minting value shares to `to`, in a
// transaction of its own whose hash is derived from (to, seq): the same (to, seq) is always the
// same log, so a retried write is a duplicate and never a second apply. Cluster tests and load
// tools use it as a write whose effect (the account's shares) counts applies exactly.
func MintLog(to common.Address, seq int, value int64) chainlog.RawLog {
	ev, err := NewEvent("Transfer", common.Address{}, to, big.NewInt(value))
	if err != nil {
		panic(err) // the event and its arguments are fixed
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("mint/%s/%d", to.Hex(), seq)))
	ev.TxHash = common.Hash(h)
	ev.BlockNumber = uint64(1_000_000 + seq)
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
