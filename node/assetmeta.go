package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/chainlog"
	"paimon/config"
	"paimon/fund"
	"paimon/raftstore"
)

// assetMetaInterval is how often the leader compares the asset metadata it knows with the
// replicated metadata (new assets appear with chain events; a proposal the cluster version
// refused mid-upgrade is tried again).
const assetMetaInterval = 10 * time.Second

// assetMetaRetry is how long a token whose eth_call failed (a transport error) waits before
// it is asked again.
const assetMetaRetry = 5 * time.Minute

// contractCaller is the eth_call the proposer needs (ethclient.Client, simulated.Client).
type contractCaller interface {
	CallContract(ctx context.Context, msg ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
}

// assetMetaProposer replicates the fund's asset metadata while this node leads: decimals
// change what the books value an asset at, which every node must compute alike, so they reach
// the state machine in fund.CmdAssetMeta, never from a node's own configuration at apply time.
// It proposes what [[fund.assets]] configures and, for an asset the configuration does not
// give decimals for, what the token contract answers to decimals() (and symbol(), name()),
// read once by eth_call when an RPC is configured. An asset it knows nothing about is not
// proposed (it counts with 18 decimals). The command needs the cluster version that starts
// the books: mid-upgrade it is refused and tried again.
type assetMetaProposer struct {
	store      *raftstore.Store
	configured map[common.Address]config.FundAsset
	callers    []contractCaller
	logger     *slog.Logger
	now        func() time.Time
	interval   time.Duration

	// read holds what eth_call answered (final once present); failed when a token was last
	// asked without an answer.
	read   map[common.Address]fund.AssetMeta
	failed map[common.Address]time.Time

	leaderLoop
}

func newAssetMetaProposer(store *raftstore.Store, assets []config.FundAsset, callers []contractCaller, logger *slog.Logger, now func() time.Time) *assetMetaProposer {
	if now == nil {
		now = time.Now
	}
	p := &assetMetaProposer{store: store, configured: map[common.Address]config.FundAsset{}, callers: callers, logger: logger, now: now,
		interval: assetMetaInterval, read: map[common.Address]fund.AssetMeta{}, failed: map[common.Address]time.Time{}}
	for _, a := range assets {
		if addr, err := chainlog.ParseAddress(a.Address); err == nil { // Validate checked it
			p.configured[addr] = a
		}
	}
	return p
}

// dialCallers connects to the RPC endpoints for eth_call (no I/O until the first call).
func dialCallers(urls []string) ([]contractCaller, func(), error) {
	var out []contractCaller
	var clients []*ethclient.Client
	for _, u := range urls {
		c, err := ethclient.Dial(u)
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return nil, nil, fmt.Errorf("ingest.rpc_urls %s: %w", u, err)
		}
		clients = append(clients, c)
		out = append(out, c)
	}
	return out, func() {
		for _, c := range clients {
			c.Close()
		}
	}, nil
}

// Start follows leadership until Close.
func (p *assetMetaProposer) Start() {
	p.start(p.store, p.lead)
}

func (p *assetMetaProposer) lead(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		if n, err := p.check(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, raftstore.ErrMidUpgrade) {
				p.logger.Debug("asset metadata waits for the cluster version", "error", err)
			} else {
				p.logger.Warn("asset metadata not replicated", "error", err)
			}
		} else if n > 0 {
			p.logger.Info("asset metadata replicated", "assets", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check proposes the metadata the proposer knows that the state lacks or holds otherwise, and
// returns how many assets' metadata changed.
func (p *assetMetaProposer) check(ctx context.Context) (int, error) {
	v, err := p.store.Read()
	if err != nil {
		return 0, err
	}
	have, err := fund.AssetMetadata(v)
	var tokens []common.Address
	if err == nil {
		err = v.Scan([]byte{fund.PrefixAsset}, []byte{fund.PrefixAsset + 1}, false, func(k, _ []byte) bool {
			if len(k) == 21 {
				tokens = append(tokens, common.Address(k[1:]))
			}
			return true
		})
	}
	v.Close()
	if err != nil {
		return 0, err
	}
	held := map[common.Address]fund.AssetMeta{}
	for _, m := range have {
		held[m.Token] = m
	}
	// The configured assets first (in their order), then the state's others (ascending).
	var want []fund.AssetMeta
	seen := map[common.Address]bool{}
	consider := func(token common.Address) {
		if seen[token] {
			return
		}
		seen[token] = true
		m, ok := p.wanted(ctx, token, held)
		if ok && (held[token] != m) && len(want) < fund.MaxAssetMetaPerCommand {
			want = append(want, m)
		}
	}
	for _, a := range sortedConfigured(p.configured) {
		consider(a)
	}
	for _, t := range tokens {
		consider(t)
	}
	if len(want) == 0 {
		return 0, nil
	}
	res, err := p.store.Propose(ctx, fund.EncodeAssetMeta(&fund.AssetMetaCommand{Time: p.now().UnixNano(), Assets: want}))
	if err != nil {
		return 0, err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return 0, verr
	}
	r, _ := res.Value.(*fund.AssetMetaResult)
	if r == nil {
		return 0, nil
	}
	return r.Changed, nil
}

func sortedConfigured(m map[common.Address]config.FundAsset) []common.Address {
	out := make([]common.Address, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && bytes.Compare(out[j][:], out[j-1][:]) < 0; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// wanted is the metadata the proposer would have the state hold for token; false when it knows
// nothing (yet) worth proposing.
func (p *assetMetaProposer) wanted(ctx context.Context, token common.Address, held map[common.Address]fund.AssetMeta) (fund.AssetMeta, bool) {
	c, configured := p.configured[token]
	if configured && c.Decimals != nil {
		return fund.AssetMeta{Token: token, Decimals: uint8(*c.Decimals), Symbol: c.Symbol, Name: c.Name}, true
	}
	if _, ok := held[token]; ok && !configured {
		return fund.AssetMeta{}, false // read once: the state has it
	}
	m, ok := p.read[token]
	if !ok && len(p.callers) > 0 && p.now().Sub(p.failed[token]) >= assetMetaRetry {
		var err error
		if m, err = p.callToken(ctx, token); err != nil {
			p.failed[token] = p.now()
			p.logger.Warn("eth_call of an asset's decimals failed", "token", chainlog.HexAddress(token), "error", err)
		} else {
			p.read[token], ok = m, true
		}
	}
	switch {
	case ok && configured:
		// Symbol and name from the configuration when it gives them.
		if c.Symbol != "" {
			m.Symbol = c.Symbol
		}
		if c.Name != "" {
			m.Name = c.Name
		}
		return m, true
	case ok:
		return m, true
	case configured && len(p.callers) == 0:
		return fund.AssetMeta{Token: token, Decimals: 18, Symbol: c.Symbol, Name: c.Name}, true
	}
	return fund.AssetMeta{}, false
}

// ERC-20 selectors.
var (
	selDecimals = []byte{0x31, 0x3c, 0xe5, 0x67}
	selSymbol   = []byte{0x95, 0xd8, 0x9b, 0x41}
	selName     = []byte{0x06, 0xfd, 0xde, 0x03}
)

// callToken reads decimals(), symbol() and name() of a token, trying each endpoint in turn. A
// token that answers no decimals() (no code, a revert, a value out of range) counts 18; a
// transport error on every endpoint is an error (asked again later).
func (p *assetMetaProposer) callToken(ctx context.Context, token common.Address) (fund.AssetMeta, error) {
	var errs []error
	for _, c := range p.callers {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := c.CallContract(cctx, ethereum.CallMsg{To: &token, Data: selDecimals}, nil)
		if err != nil && isTransport(err) {
			cancel()
			errs = append(errs, err)
			continue
		}
		m := fund.AssetMeta{Token: token, Decimals: 18}
		if err == nil && len(out) >= 32 {
			d := new(big.Int).SetBytes(out[:32])
			if d.IsUint64() && d.Uint64() <= fund.MaxDecimals {
				m.Decimals = uint8(d.Uint64())
			}
		}
		if out, err := c.CallContract(cctx, ethereum.CallMsg{To: &token, Data: selSymbol}, nil); err == nil {
			m.Symbol = abiText(out)
		}
		if out, err := c.CallContract(cctx, ethereum.CallMsg{To: &token, Data: selName}, nil); err == nil {
			m.Name = abiText(out)
		}
		cancel()
		return m, nil
	}
	return fund.AssetMeta{}, errors.Join(errs...)
}

// isTransport tells an endpoint that could not answer from a call the token refused (an EVM
// revert or error, answered by the endpoint as a JSON-RPC error).
func isTransport(err error) bool {
	var rpcErr interface{ ErrorCode() int }
	if errors.As(err, &rpcErr) {
		return false
	}
	s := err.Error()
	return !strings.Contains(s, "revert") && !strings.Contains(s, "execution")
}

// abiText decodes a string return value (ABI string, or bytes32 as older tokens return);
// "" when it is neither, or not printable text within fund.MaxAssetMetaText bytes.
func abiText(b []byte) string {
	var s []byte
	if len(b) >= 64 {
		off := new(big.Int).SetBytes(b[:32])
		if off.IsUint64() && off.Uint64() == 32 {
			n := new(big.Int).SetBytes(b[32:64])
			if n.IsUint64() && n.Uint64() <= uint64(len(b)-64) {
				s = b[64 : 64+n.Uint64()]
			}
		}
	}
	if s == nil && len(b) == 32 {
		s = bytes.TrimRight(b, "\x00")
	}
	if len(s) == 0 || len(s) > fund.MaxAssetMetaText || !utf8.Valid(s) {
		return ""
	}
	for _, r := range string(s) {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return string(s)
}
