package raftstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"paimon/kv"
)

// StateDigest is a digest of the whole replicated state at one applied index: every key and
// value of the state store, in key order. Replicas at the same index hold the same state, so
// their digests must be equal (the chaos campaign compares them); Prefixes, the same digest
// per key prefix (its first byte: "m" for raftstore's keys, one letter per record kind of the
// state machine), tells where two replicas differ.
type StateDigest struct {
	Index    uint64                  `json:"index"`
	Digest   string                  `json:"digest"` // hex SHA-256
	Keys     int                     `json:"keys"`
	Prefixes map[string]PrefixDigest `json:"prefixes"`
}

// PrefixDigest is the digest of the keys under one prefix.
type PrefixDigest struct {
	Keys   int    `json:"keys"`
	Digest string `json:"digest"`
}

// DigestState reads every key of r, a view of the state at index (View.Reader, View.Index),
// and digests it: SHA-256 over each record as uvarint(len(key)) key uvarint(len(value)) value,
// in key order, so that no two different states share a stream.
func DigestState(r kv.Reader, index uint64) (StateDigest, error) {
	all := sha256.New()
	per := map[string]hash.Hash{}
	counts := map[string]int{}
	var n int
	var lb [2 * binary.MaxVarintLen64]byte
	err := r.Scan(nil, nil, false, func(k, v []byte) bool {
		p := string(k[:1])
		h := per[p]
		if h == nil {
			h = sha256.New()
			per[p] = h
		}
		for _, w := range []hash.Hash{all, h} {
			w.Write(binary.AppendUvarint(lb[:0], uint64(len(k))))
			w.Write(k)
			w.Write(binary.AppendUvarint(lb[:0], uint64(len(v))))
			w.Write(v)
		}
		counts[p]++
		n++
		return true
	})
	if err != nil {
		return StateDigest{}, err
	}
	d := StateDigest{Index: index, Digest: hex.EncodeToString(all.Sum(nil)), Keys: n, Prefixes: make(map[string]PrefixDigest, len(per))}
	for p, h := range per {
		d.Prefixes[p] = PrefixDigest{Keys: counts[p], Digest: hex.EncodeToString(h.Sum(nil))}
	}
	return d, nil
}
