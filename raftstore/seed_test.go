package raftstore

import (
	"errors"
	"fmt"
	"testing"

	"paimon/kv"
)

func TestSeedStartsANodeAfterTheSeededIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Bootstrap = false // a seeded node has Raft state: it must not bootstrap
	err := Seed(cfg, testDeps(t), 500, func(rw kv.ReadWriter) error {
		for i := 0; i < 100; i++ {
			if err := rw.Set([]byte(fmt.Sprintf("k/seed%03d", i)), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Seed(cfg, testDeps(t), 500, func(kv.ReadWriter) error { return nil }); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("seeding a folder twice: %v", err)
	}
	ro, err := ReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Index != 500 {
		t.Fatalf("read-only view at %d", ro.Index)
	}
	ro.Close()

	s := openStore(t, cfg, &counterSM{})
	defer s.Close()
	if got := countKeys(t, s); got != 100 {
		t.Fatalf("%d seeded keys, want 100", got)
	}
	res := propose(t, s, "after", "seed")
	if res.Index <= 500 {
		t.Fatalf("first entry after the seed at index %d, want > 500 (it would be skipped as already applied)", res.Index)
	}
	if v, _ := readKey(t, s, "after"); v != "seed" {
		t.Fatalf("write after the seed: %q", v)
	}
	if _, err := ReadOnly(dir); err == nil {
		t.Fatal("read-only open of a running node's state succeeded")
	}
	nodes, err := s.Nodes()
	if err != nil || len(nodes) != 1 || nodes[0].ID != cfg.NodeID {
		t.Fatalf("members %v, %v", nodes, err)
	}
}
