// Package kv is the ordered key-value interface the fund's state machine is written against.
//
// It sits between the domain (fund) and the storage engine (raftstore's Pebble) so that the
// domain stays pure: fund reads and writes through these interfaces and never imports Pebble,
// and raftstore adapts a Pebble batch or snapshot to them. kv.Mem is an in-memory
// implementation for the domain's unit tests and fuzzers.
package kv

import "errors"

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("kv: not found")

// Reader reads a consistent view of the state.
type Reader interface {
	// Get returns a copy of the value stored at key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for each key in [lower, upper) in ascending order, or descending when
	// reverse is set, until fn returns false. A nil upper means no upper bound. The slices
	// passed to fn are only valid during the call.
	Scan(lower, upper []byte, reverse bool, fn func(key, value []byte) bool) error
}

// Writer changes the state. Writes become visible atomically when the surrounding batch
// commits; a ReadWriter sees its own writes before that.
type Writer interface {
	// Set stores value at key. The store copies both slices.
	Set(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
	// DeleteRange removes every key in [start, end); an empty range is not an error. The
	// outbox is pruned with one call, which Pebble records as a single range tombstone
	// instead of one tombstone per key.
	DeleteRange(start, end []byte) error
}

// ReadWriter reads its own writes.
type ReadWriter interface {
	Reader
	Writer
}

// PrefixEnd returns the smallest key greater than every key with the given prefix, for use as
// an exclusive upper bound. It returns nil (no bound) for a prefix of only 0xff bytes.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
