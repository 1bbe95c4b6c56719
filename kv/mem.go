package kv

import (
	"bytes"
	"slices"
	"sort"
)

// Mem is an in-memory ReadWriter for tests and fuzzers. It is not safe for concurrent use.
type Mem struct {
	keys [][]byte // sorted
	vals map[string][]byte
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{vals: make(map[string][]byte)} }

// Get implements Reader.
func (m *Mem) Get(key []byte) ([]byte, error) {
	v, ok := m.vals[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// Set implements Writer.
func (m *Mem) Set(key, value []byte) error {
	k := string(key)
	if _, ok := m.vals[k]; !ok {
		i := sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], key) >= 0 })
		m.keys = append(m.keys, nil)
		copy(m.keys[i+1:], m.keys[i:])
		m.keys[i] = []byte(k)
	}
	m.vals[k] = append([]byte(nil), value...)
	return nil
}

// Delete implements Writer.
func (m *Mem) Delete(key []byte) error {
	k := string(key)
	if _, ok := m.vals[k]; !ok {
		return nil
	}
	delete(m.vals, k)
	i := sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], key) >= 0 })
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
	return nil
}

// DeleteRange implements Writer.
func (m *Mem) DeleteRange(start, end []byte) error {
	lo := sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], start) >= 0 })
	hi := sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], end) >= 0 })
	if lo >= hi {
		return nil
	}
	for _, k := range m.keys[lo:hi] {
		delete(m.vals, string(k))
	}
	m.keys = slices.Delete(m.keys, lo, hi)
	return nil
}

// Scan implements Reader. The callback may not modify the store.
func (m *Mem) Scan(lower, upper []byte, reverse bool, fn func(key, value []byte) bool) error {
	lo := sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], lower) >= 0 })
	hi := len(m.keys)
	if upper != nil {
		hi = sort.Search(len(m.keys), func(i int) bool { return bytes.Compare(m.keys[i], upper) >= 0 })
	}
	if reverse {
		for i := hi - 1; i >= lo; i-- {
			if !fn(m.keys[i], m.vals[string(m.keys[i])]) {
				return nil
			}
		}
		return nil
	}
	for i := lo; i < hi; i++ {
		if !fn(m.keys[i], m.vals[string(m.keys[i])]) {
			return nil
		}
	}
	return nil
}

// Len returns the number of keys, for tests.
func (m *Mem) Len() int { return len(m.keys) }

// Clone returns a copy of m that later writes to either do not change, for tests that keep
// the state at one point (a read at an older index).
func (m *Mem) Clone() *Mem {
	c := &Mem{keys: make([][]byte, len(m.keys)), vals: make(map[string][]byte, len(m.vals))}
	for i, k := range m.keys {
		c.keys[i] = slices.Clone(k)
		c.vals[string(k)] = slices.Clone(m.vals[string(k)])
	}
	return c
}

// Dump calls fn for every key and value in order, for tests that compare whole states.
func (m *Mem) Dump(fn func(key, value []byte)) {
	for _, k := range m.keys {
		fn(k, m.vals[string(k)])
	}
}
