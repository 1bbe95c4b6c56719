package node

import (
	"context"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"paimon/config"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
)

// sixDecimalsCode is runtime bytecode that answers every call with the word 6 (PUSH1 6,
// PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN): decimals() is 6, symbol() and name() are not
// strings.
var sixDecimalsCode = common.FromHex("0x600660005260206000f3")

// TestAssetMetaProposer: the leader proposes the configured metadata as configured, reads an
// unconfigured asset's decimals from the token once (eth_call against a real EVM), counts 18
// for a token without code, and proposes nothing more once the state holds it all.
func TestAssetMetaProposer(t *testing.T) {
	configured, sixer, plain := fundtest.Addr("meta configured"), fundtest.Addr("meta six decimals"), fundtest.Addr("meta no code")
	backend := simulated.NewBackend(types.GenesisAlloc{sixer: {Code: sixDecimalsCode, Balance: big.NewInt(0)}})
	defer backend.Close()

	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.start(0)
	defer c.stopAll()
	c.waitLeader(10 * time.Second)
	c.waitClusterVersion(0)
	store := c.nodes[0].Store()
	ch := fundtest.NewChain(fundtest.ChainConfig{Seed: 5})
	ch.AssetAdded(sixer, fundtest.TierL2, 5000)
	ch.AssetAdded(plain, fundtest.TierL3, 5000)
	ctx := context.Background()
	if _, err := store.Propose(ctx, fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: ch.Events()})); err != nil {
		t.Fatal(err)
	}

	eight := 8
	p := newAssetMetaProposer(store, []config.FundAsset{{Address: configured.Hex(), Symbol: "CFG", Name: "Configured", Decimals: &eight}},
		[]contractCaller{backend.Client()}, testutil.Logger(t, "meta", slog.LevelWarn), nil)
	n, err := p.check(ctx)
	if err != nil || n != 3 {
		t.Fatalf("first check: %d changed, %v", n, err)
	}
	v, err := store.Read()
	if err != nil {
		t.Fatal(err)
	}
	got, err := fund.AssetMetadata(v)
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[common.Address]fund.AssetMeta{
		configured: {Token: configured, Decimals: 8, Symbol: "CFG", Name: "Configured"},
		sixer:      {Token: sixer, Decimals: 6},
		plain:      {Token: plain, Decimals: 18},
	}
	if len(got) != len(want) {
		t.Fatalf("metadata %+v", got)
	}
	for _, m := range got {
		if want[m.Token] != m {
			t.Errorf("metadata of %s: %+v, want %+v", m.Token, m, want[m.Token])
		}
	}
	if n, err := p.check(ctx); err != nil || n != 0 {
		t.Fatalf("second check: %d changed, %v", n, err)
	}
}

func TestABIText(t *testing.T) {
	word := func(n int) []byte { b := make([]byte, 32); b[31] = byte(n); return b }
	abiString := append(append(word(32), word(4)...), append([]byte("USDT"), make([]byte, 28)...)...)
	bytes32 := append([]byte("DAI"), make([]byte, 29)...)
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{abiString, "USDT"}, {bytes32, "DAI"}, {word(6), ""}, {nil, ""}, {append(word(32), word(200)...), ""},
	} {
		if got := abiText(tc.in); got != tc.want {
			t.Errorf("abiText(%x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
