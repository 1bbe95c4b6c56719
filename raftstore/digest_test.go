package raftstore

import (
	"context"
	"fmt"
	"testing"

	"paimon/kv"
)

// TestDigestState: equal states digest equally; a changed value, an added key, a key moved
// to another name, or a value's byte moved into its key each change the digest, and the
// prefix digests say which prefix differs.
func TestDigestState(t *testing.T) {
	build := func(kvs ...string) StateDigest {
		t.Helper()
		m := kv.NewMem()
		for i := 0; i < len(kvs); i += 2 {
			if err := m.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				t.Fatal(err)
			}
		}
		d, err := DigestState(m, 7)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := build("m/applied", "7", "Pa", "1", "Pb", "2", "Hx", "3")
	if again := build("Hx", "3", "Pb", "2", "Pa", "1", "m/applied", "7"); again.Digest != base.Digest {
		t.Fatalf("the same state digests differently: %s, %s", base.Digest, again.Digest)
	}
	if base.Index != 7 || base.Keys != 4 || base.Prefixes["P"].Keys != 2 || len(base.Prefixes) != 3 {
		t.Fatalf("digest %+v", base)
	}
	for name, d := range map[string]StateDigest{
		"changed value": build("m/applied", "7", "Pa", "1", "Pb", "9", "Hx", "3"),
		"added key":     build("m/applied", "7", "Pa", "1", "Pb", "2", "Hx", "3", "Pc", ""),
		"renamed key":   build("m/applied", "7", "Pa", "1", "Pc", "2", "Hx", "3"),
		"byte moved":    build("m/applied", "7", "Pa", "1", "Pb2", "", "Hx", "3"),
	} {
		if d.Digest == base.Digest {
			t.Errorf("%s: same digest", name)
		}
		if d.Prefixes["P"].Digest == base.Prefixes["P"].Digest || d.Prefixes["H"] != base.Prefixes["H"] || d.Prefixes["m"] != base.Prefixes["m"] {
			t.Errorf("%s: the prefix digests do not single out P: %+v vs %+v", name, d.Prefixes, base.Prefixes)
		}
	}
}

// TestDigestReplicasEqual: three replicas at the same applied index digest equally.
func TestDigestReplicasEqual(t *testing.T) {
	stores := openTestCluster(t, 3)
	l := leaderOf(stores)
	var last Result
	for i := range 30 {
		last = propose(t, l, fmt.Sprintf("k%02d", i), fmt.Sprint(i))
	}
	var want StateDigest
	for i, s := range stores {
		if err := s.WaitApplied(context.Background(), last.Index); err != nil {
			t.Fatal(err)
		}
		v, err := s.Read()
		if err != nil {
			t.Fatal(err)
		}
		d, err := DigestState(v.Reader, v.Index)
		v.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d.Index != last.Index || d.Prefixes["k"].Keys != 30 {
			t.Fatalf("%s: digest at %d with %d k/ keys, want %d and 30", s.NodeID(), d.Index, d.Prefixes["k"].Keys, last.Index)
		}
		if i == 0 {
			want = d
		} else if d.Digest != want.Digest {
			t.Fatalf("%s digests %s at %d, %s %s", s.NodeID(), d.Digest, d.Index, stores[0].NodeID(), want.Digest)
		}
	}
}
