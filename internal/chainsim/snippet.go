package chainsim

import (
	"fmt"
	"math"
	"strings"
	"time"

	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// ConfigSnippet returns a node configuration that ingests from this simulator: an [ingest]
// section with the chain id, the RPC URL, confirmations, start_block 0, a poll interval and a
// block range suited to the block interval and rate, and the four [[ingest.contracts]]. Every
// other section keeps the node's defaults, so the snippet is a complete config file. Before
// Start the URL is the configured address (its port may be 0).
func (s *Sim) ConfigSnippet(confirmations int) string {
	return s.ConfigSnippetFor(confirmations, fundtest.Contracts())
}

// ConfigSnippetFor is ConfigSnippet listing other contracts: those deployed on the chain
// (internal/fundchain) instead of the emitters at the default addresses.
func (s *Sim) ConfigSnippetFor(confirmations int, contracts []chainlog.ContractConfig) string {
	s.mu.Lock()
	url := s.url
	s.mu.Unlock()
	if url == "" {
		url = "http://" + s.cfg.Addr
	}
	// Poll about twice per block, within 50 ms .. 1 s (100 ms when blocks are mined on demand).
	poll := 100 * time.Millisecond
	if s.cfg.BlockInterval > 0 {
		poll = min(max(s.cfg.BlockInterval/2, 50*time.Millisecond), time.Second)
	}
	// A range of about 10,000 logs per eth_getLogs: the simulated node answers any range, and a
	// flood of thousands of logs per block would make the default 2000-block range enormous.
	maxRange := 2000
	perBlock := s.cfg.Rate * s.blockSeconds()
	if math.IsInf(s.cfg.Rate, 1) {
		perBlock = 2000
	}
	if perBlock > 0 {
		maxRange = max(1, min(maxRange, int(10_000/perBlock)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Paimon Edge: ingest from the chain simulator (go run ./bench/chainsim).\n")
	fmt.Fprintf(&b, "# Every other section keeps its default. Each simulator run is a new chain: start the\n")
	fmt.Fprintf(&b, "# node on an empty data folder (paimon serve -config FILE -data-dir ./data/chainsim,\n")
	fmt.Fprintf(&b, "# after rm -rf ./data/chainsim), not one that ingested another chain.\n")
	fmt.Fprintf(&b, "[ingest]\n")
	fmt.Fprintf(&b, "chain_id = %d\n", ChainID)
	fmt.Fprintf(&b, "rpc_urls = [%q]\n", url)
	fmt.Fprintf(&b, "confirmations = %d\n", confirmations)
	fmt.Fprintf(&b, "start_block = 0\n")
	fmt.Fprintf(&b, "poll_interval = %q\n", poll.String())
	fmt.Fprintf(&b, "max_block_range = %d\n", maxRange)
	for _, c := range contracts {
		fmt.Fprintf(&b, "\n[[ingest.contracts]]\nname = %q\nkind = %q\naddress = %q\n", c.Name, c.Kind, c.Address)
	}
	return b.String()
}
