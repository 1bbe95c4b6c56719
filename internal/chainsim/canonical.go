package chainsim

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// Addresses returns the fund contracts' addresses, where the emitters run: those of
// fundtest (vault, redemption manager, asset controller, oracle), the default config's.
func Addresses() []common.Address {
	return []common.Address{fundtest.VaultAddress, fundtest.RedemptionManagerAddress, fundtest.AssetControllerAddress, fundtest.OracleAddress}
}

// canonicalLogsPerQuery is about how many logs one eth_getLogs of Canonical asks for.
const canonicalLogsPerQuery = 20_000

// Canonical returns every log of the fund's contracts on the canonical chain, in chain order
// (block, then log index), read with eth_getLogs from genesis to the head in ranges. The chain
// does not move while it reads (mining and reorgs wait), so the result is one consistent
// chain: tests compare a node's state with a replay of exactly these logs.
func (s *Sim) Canonical(ctx context.Context) ([]types.Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return nil, err
	}
	head := s.head.number
	step := uint64(2000)
	if s.stats.CanonicalEvents > 0 && head > 0 {
		perBlock := uint64(s.stats.CanonicalEvents)/head + 1
		step = max(1, min(step, canonicalLogsPerQuery/perBlock))
	}
	out := make([]types.Log, 0, max(s.stats.CanonicalEvents, 0))
	for from := uint64(0); from <= head; from += step {
		to := min(from+step-1, head)
		logs, err := s.client.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to), Addresses: Addresses(),
		})
		if err != nil {
			return nil, fmt.Errorf("chainsim: eth_getLogs %d..%d: %w", from, to, err)
		}
		out = append(out, logs...)
	}
	if len(out) != s.stats.CanonicalEvents {
		return out, fmt.Errorf("chainsim: the chain holds %d logs, the simulator emitted %d that should be canonical", len(out), s.stats.CanonicalEvents)
	}
	return out, nil
}

// RawLog converts a log as eth_getLogs returns it into the fund's RawLog (with its
// blockTimestamp), for chainlog.Registry.Decode or POST /v1/admin/logs.
func RawLog(l *types.Log) chainlog.RawLog {
	r := chainlog.RawLog{
		Address:          l.Address.Hex(),
		Topics:           make([]string, len(l.Topics)),
		Data:             hexutil.Encode(l.Data),
		BlockNumber:      hexutil.EncodeUint64(l.BlockNumber),
		BlockHash:        l.BlockHash.Hex(),
		TransactionHash:  l.TxHash.Hex(),
		LogIndex:         hexutil.EncodeUint64(uint64(l.Index)),
		TransactionIndex: hexutil.EncodeUint64(uint64(l.TxIndex)),
		Removed:          l.Removed,
	}
	for i, t := range l.Topics {
		r.Topics[i] = t.Hex()
	}
	if l.BlockTimestamp != 0 {
		r.BlockTimestamp = hexutil.EncodeUint64(l.BlockTimestamp)
	}
	return r
}

// RawLogs converts logs with RawLog.
func RawLogs(logs []types.Log) []chainlog.RawLog {
	out := make([]chainlog.RawLog, len(logs))
	for i := range logs {
		out[i] = RawLog(&logs[i])
	}
	return out
}
