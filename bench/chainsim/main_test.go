package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"paimon/config"
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
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
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
