package ingest

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

func parseHexQuantity(s string) (uint64, error) { return hexutil.DecodeUint64(s) }

// hashEqual compares a hex hash from a log with a hash, in any letter case.
func hashEqual(s string, h common.Hash) bool {
	b, err := hexutil.Decode(s)
	return err == nil && len(b) == 32 && common.BytesToHash(b) == h
}
