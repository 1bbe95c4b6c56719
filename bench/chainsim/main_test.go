package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/config"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-rate", "flood", "-reorg-depth", "3", "-reorg-every", "10"})
	if err != nil {
		t.Fatal(err)
	}
	if o.sim.Rate != chainsim.Flood || o.sim.ReorgDepth != 3 || o.sim.ReorgEvery != 10 || o.sim.Addr != "127.0.0.1:8545" || o.confirmations != 15 {
		t.Fatalf("options %+v", o)
	}
	for _, args := range [][]string{
		{"-rate", "fast"},
		{"-rate", "-1"},
		{"-block-interval", "0"},
		{"-reorg-every", "5"}, // no depth
		{"-log-level", "loud"},
		{"extra"},
		{"-approval-share", "0.5"}, // needs -fund-contracts
		{"-executor-key-out", "k"},
		{"-fund-contracts", "-rate", "10"},
		{"-fund-contracts", "-reorg-depth", "2", "-reorg-every", "5"},
		{"-fund-contracts", "-approval-share", "1.5"},
		{"-fund-contracts", "-users", "0"},
		{"-fund-contracts", "-user-rate", "-1"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestParseFundFlags(t *testing.T) {
	o, err := parseFlags([]string{"-fund-contracts", "-approval-share", "0.3", "-config-out", "x.toml", "-users", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if th := o.fund.params().ApprovalThreshold; th.String() != "100000000000000000000000" {
		t.Fatalf("threshold %s", th)
	}
	if !o.fund.enabled || o.fund.approvalShare != 0.3 || o.sim.Rate != 0 || o.fund.executorKeyOut != "x.toml.executor.key" || len(o.sim.Accounts) != 5 {
		t.Fatalf("options %+v", o)
	}
}

// TestRunFundContracts runs -fund-contracts for a few seconds and checks the config and the
// key it writes: the deployed contracts to ingest, and an [executor] section whose key file
// holds the executor's key.
func TestRunFundContracts(t *testing.T) {
	dir := t.TempDir()
	out, keyOut := filepath.Join(dir, "chainsim.toml"), filepath.Join(dir, "exec.key")
	o, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-block-interval", "100ms", "-fund-contracts", "-user-rate", "20",
		"-approval-share", "0.5", "-duration", "3s", "-progress", "1s", "-config-out", out, "-executor-key-out", keyOut,
		"-confirmations", "2", "-log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, o, "go run ./bench/chainsim"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Ingest.Contracts) != 4 || c.Executor.KeyFile != keyOut || c.Executor.ChainID != chainsim.ChainID {
		t.Fatalf("ingest %+v executor %+v", c.Ingest.Contracts, c.Executor)
	}
	for _, ct := range c.Ingest.Contracts {
		if strings.EqualFold(ct.Address, fundtest.VaultAddress.Hex()) {
			t.Fatalf("the config lists the emitter's address %s", ct.Address)
		}
	}
	key, err := crypto.LoadECDSA(keyOut)
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(key.PublicKey) != o.sim.Accounts[1] {
		t.Fatal("the key written is not the executor's")
	}
}

// TestRun runs the command for a second on a free port and checks the config it writes.
func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "chainsim.toml")
	o, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-block-interval", "100ms", "-rate", "50",
		"-duration", "1s", "-progress", "300ms", "-config-out", out, "-confirmations", "2", "-log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, o, "go run ./bench/chainsim"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingest.ChainID != chainsim.ChainID || c.Ingest.Confirmations != 2 || len(c.Ingest.RPCURLs) != 1 {
		t.Fatalf("ingest %+v", c.Ingest)
	}
}
