package fund

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/ethereum/go-ethereum/common"
	"paimon/kv"
)

// overlay is the Machine's per-batch write-back cache of the keys Apply reads and writes.
//
// Within one Raft batch the same records are read and rewritten many times (a deposit's mint
// and Deposit touch the same account; every deposit of an hour adds to the same flow bucket;
// a price update reads the current price twice). Each read of the store is a lookup in
// Pebble's indexed batch, memtables and tables, and each write adds a version to the batch and
// the memtable. The overlay answers repeated reads from memory and writes each key once, with
// its last value, at EndBatch (flush), in the order keys were first written (deterministic).
// It holds bytes, exactly what would have been written, so the store ends byte-identical.
//
// A command may be refused (a user error) only before it changes anything, but Apply still
// keeps a savepoint per command: the prior state of every entry a command changes is saved
// once, and rollback restores it (see Machine.rollback).
//
// The overlay keeps the key and value slices it is given (they are freshly built by the
// callers and never modified afterwards), so a cached key costs no copy beyond the one the
// caller made when it built the key.
//
// With the outbox on, it also knows which primary records each command changed: put notes
// an entry once per command, and commit (the command was not refused) records the entry's
// value after the command with the command's index and time. The values are the shared
// slices, so a record changed by several commands of a batch costs one slice header per
// command, and its outbox entries do not depend on how the commands were batched.
type overlay struct {
	idx     map[string]int32 // key → index in entries
	entries []overlayEntry   // in first-touch order
	undo    []overlayUndo    // prior entries saved by the current command
	order   []flushItem      // flush scratch
	cmd     uint32           // current command number, for undo
	cmdMark int              // len(entries) when the current command began

	// Outbox tracking (only when outbox is set): the primary records the current command
	// changed, and at the end of each command their values, with the command's index and time.
	outbox  bool
	touched []int32 // entries of primary records the current command changed
	// skipUnchanged, set by a command for itself (reset by begin), leaves out the records it
	// read and put back as they were. Only the commands of this release's rules set it
	// (version-2 logs and prices, price deletion): the others report what v0.1.0 reported.
	skipUnchanged bool
	changed       []outboxItem // one per (command, primary record it changed), in command order
}

type overlayEntry struct {
	key   []byte // owned by the overlay; idx's key shares its bytes
	v     []byte // current value (shared: never modified in place)
	ok    bool   // present
	dirty bool   // written in this batch
	base  baseState
	bv    []byte // value in the store, when base is basePresent
	cmd   uint32 // last command that saved this entry into undo
	tcmd  uint32 // last command that changed it, for outbox tracking (0: none)
	// readCmd is the last command that read the entry. startV and startOK are its value when
	// the command tcmd first changed it, known (startKnown) when that command had read it
	// first: a record the command read and put back as it was (a ledger entry reverted and
	// applied again to make room for a late log) is not reported as changed. Only reads of
	// the command count, so that what is reported does not depend on the batching.
	readCmd             uint32
	startV              []byte
	startOK, startKnown bool
}

// baseState is what the store holds under an entry's key.
type baseState uint8

const (
	baseUnknown baseState = iota // written blind: never read from the store
	baseAbsent
	basePresent
)

type overlayUndo struct {
	i    int32
	prev overlayEntry
}

func newOverlay() overlay { return overlay{idx: make(map[string]int32)} }

// reset forgets every entry (after a flush, or a Load).
func (o *overlay) reset() {
	clear(o.idx)
	clear(o.entries) // drop references to values
	o.entries = o.entries[:0]
	o.undo = o.undo[:0]
	o.cmdMark = 0
	o.touched = o.touched[:0]
	clear(o.changed)
	o.changed = o.changed[:0]
}

// keyString views an owned, never-modified key as a string without copying it.
func keyString(k []byte) string { return unsafe.String(unsafe.SliceData(k), len(k)) }

// get returns the value of k, reading it from r once per batch. The overlay keeps k.
func (o *overlay) get(r kv.Reader, k []byte) ([]byte, bool, error) {
	if i, ok := o.idx[string(k)]; ok {
		e := &o.entries[i]
		e.readCmd = o.cmd
		return e.v, e.ok, nil
	}
	v, err := r.Get(k)
	present := true
	if errors.Is(err, kv.ErrNotFound) {
		v, present = nil, false
	} else if err != nil {
		return nil, false, fmt.Errorf("fund: get: %w", err)
	}
	e := overlayEntry{key: k, v: v, ok: present, base: baseAbsent, readCmd: o.cmd}
	if present {
		e.base, e.bv = basePresent, v
	}
	o.add(e)
	return v, present, nil
}

func (o *overlay) add(e overlayEntry) *overlayEntry {
	o.idx[keyString(e.key)] = int32(len(o.entries))
	o.entries = append(o.entries, e)
	return &o.entries[len(o.entries)-1]
}

// put records a write (ok) or a delete (!ok) of k. The overlay keeps k and v: neither may be
// modified afterwards.
func (o *overlay) put(k, v []byte, ok bool) {
	i, found := o.idx[string(k)]
	var e *overlayEntry
	if !found {
		e = o.add(overlayEntry{key: k, cmd: o.cmd})
		i = int32(len(o.entries) - 1)
	} else {
		e = &o.entries[i]
		if e.cmd != o.cmd && int(i) < o.cmdMark {
			o.undo = append(o.undo, overlayUndo{i: i, prev: *e})
			e.cmd = o.cmd
		}
	}
	if o.outbox && e.tcmd != o.cmd && IsPrimaryRecord(k) {
		e.tcmd = o.cmd // restored by rollback with the rest of the entry
		e.startV, e.startOK, e.startKnown = e.v, e.ok, found && e.readCmd == o.cmd
		o.touched = append(o.touched, i)
	}
	e.v, e.ok, e.dirty = v, ok, true
}

// begin starts a command: later changes can be undone by rollback.
func (o *overlay) begin() {
	o.cmd++
	o.undo = o.undo[:0]
	o.cmdMark = len(o.entries)
	o.touched = o.touched[:0]
	o.skipUnchanged = false
}

// commit ends a command that was not rolled back: with outbox tracking, the primary records
// it changed are recorded with their values after it, its Raft index and its time. Values
// are shared, never modified in place, so this copies no bytes.
func (o *overlay) commit(index uint64, t int64) {
	for _, i := range o.touched {
		e := &o.entries[i]
		if o.skipUnchanged && e.startKnown && e.ok == e.startOK && bytes.Equal(e.v, e.startV) {
			continue // put back as it was
		}
		o.changed = append(o.changed, outboxItem{index: index, time: t, key: e.key, value: e.v, present: e.ok})
	}
	o.touched = o.touched[:0]
}

// rollback undoes every change since begin.
func (o *overlay) rollback() {
	for i := len(o.undo) - 1; i >= 0; i-- {
		u := &o.undo[i]
		o.entries[u.i] = u.prev
	}
	o.undo = o.undo[:0]
	for i := o.cmdMark; i < len(o.entries); i++ {
		delete(o.idx, keyString(o.entries[i].key))
		o.entries[i] = overlayEntry{}
	}
	o.entries = o.entries[:o.cmdMark]
	o.touched = o.touched[:0]
}

// flush writes every changed key to w, ordered by the first 8 bytes of the key and then by
// first touch, and resets the overlay. Writes that would leave the store as it is (a value
// equal to the stored one, a delete of an absent key) are skipped. The order is deterministic,
// and close to key order, which is the cheap order for Pebble: the memtable inserts a batch's
// keys with a cached skiplist position, which a key next to the previous one reuses instead of
// searching from the top (new ledger positions, index entries, NAV points and audit entries all
// land next to each other). Within the groups that share 8 bytes (a ledger index of one event
// name, contract or address; ledger positions of nearby blocks) first touch is chain order.
func (o *overlay) flush(w kv.Writer) error {
	order := o.order[:0]
	for i := range o.entries {
		e := &o.entries[i]
		switch {
		case !e.dirty:
		case e.ok && e.base == basePresent && bytes.Equal(e.v, e.bv):
		case !e.ok && e.base == baseAbsent:
		default:
			order = append(order, flushItem{head8(e.key), int32(i)})
		}
	}
	slices.SortFunc(order, func(a, b flushItem) int {
		if a.head != b.head {
			return cmp.Compare(a.head, b.head)
		}
		return cmp.Compare(a.i, b.i)
	})
	for _, it := range order {
		e := &o.entries[it.i]
		var err error
		if e.ok {
			err = w.Set(e.key, e.v)
		} else {
			err = w.Delete(e.key)
		}
		if err != nil {
			return fmt.Errorf("fund: write %x: %w", e.key, err)
		}
	}
	o.order = order[:0]
	o.reset()
	return nil
}

// writtenPrices appends to dst the assets whose current price (P asset20) the batch wrote or
// deleted, once each, in first-touch order; every P write of Apply goes through the overlay.
func (o *overlay) writtenPrices(dst []common.Address) []common.Address {
	for i := range o.entries {
		if e := &o.entries[i]; e.dirty && len(e.key) == 1+common.AddressLength && e.key[0] == pPrice {
			dst = append(dst, common.Address(e.key[1:]))
		}
	}
	return dst
}

// flushItem is an entry to write with the first 8 bytes of its key (big-endian, zero-padded)
// as its sort key; entries whose keys share those bytes keep their first-touch order.
type flushItem struct {
	head uint64
	i    int32
}

func head8(k []byte) uint64 {
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}
