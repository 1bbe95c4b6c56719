package fund

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"paimon/kv"
)

// The outbox: with Info.Outbox, every command appends, for each primary record it changed
// (IsPrimaryRecord), one entry keyed O index(8) ord(4): the record's value after the command,
// or a tombstone when the command deleted it. The entries are written by EndBatch, through the
// same kv batch as the change, so PostgreSQL's sync (pgsync, on the leader) can drain them in
// index order and never miss a change. A replicated sync mark (CmdSyncMark) prunes what
// PostgreSQL holds, on every node.
//
// The entries depend on the commands only, never on how Raft grouped them into batches (which
// differs from node to node and across restarts): a record changed by several commands of one
// batch gets one entry per command. So every node holds a byte-identical outbox.

// OutboxEntry is one change of a primary record.
type OutboxEntry struct {
	Index uint64 // Raft index of the command that changed the record
	Ord   uint32 // position among the entries of that index (they are in key order)
	Time  int64  // that command's time, unix ns
	Key   []byte // the record's key
	Value []byte // the record's value after the command; nil when the command deleted it
}

// outboxItem is a change recorded while a batch is applied (overlay.commit, recordChanges).
type outboxItem struct {
	index   uint64
	time    int64
	key     []byte
	value   []byte
	present bool
}

func outboxKey(index uint64, ord uint32) []byte { return key(pOutbox, auditPos(index, ord)) }

// outboxKeyLen is the length of an outbox key: O index8 ord4.
const outboxKeyLen = 1 + 8 + 4

// appendOutboxValue: version, present flag, time, record key, then the value itself.
func appendOutboxValue(b []byte, it *outboxItem) []byte {
	b = append(b, recVersion, boolByte(it.present))
	b = binary.AppendVarint(b, it.time)
	b = appendString(b, string(it.key))
	return append(b, it.value...)
}

// decodeOutbox decodes one stored entry; the returned slices are copies.
func decodeOutbox(k, v []byte) (OutboxEntry, error) {
	if len(k) != outboxKeyLen || k[0] != pOutbox {
		return OutboxEntry{}, corrupt("outbox key", fmt.Errorf("%x", k))
	}
	e := OutboxEntry{Index: binary.BigEndian.Uint64(k[1:]), Ord: binary.BigEndian.Uint32(k[9:])}
	d := &dec{b: v}
	d.recordVersion()
	present := d.bool()
	e.Time = d.varint()
	e.Key = []byte(d.str())
	if d.err == nil {
		if present {
			e.Value = bytes.Clone(d.b)
			if e.Value == nil {
				e.Value = []byte{}
			}
		} else if len(d.b) != 0 {
			d.fail("tombstone with a value")
		}
		d.b = nil
	}
	if err := d.finish(); err != nil {
		return OutboxEntry{}, corrupt("outbox entry", err)
	}
	return e, nil
}

// ReadOutbox calls fn for the entries with Index > after, in (index, ord) order, until fn
// returns false or limit entries were passed (limit <= 0: no limit). The entry's slices are
// fn's to keep.
func ReadOutbox(r kv.Reader, after uint64, limit int, fn func(OutboxEntry) bool) error {
	if after == math.MaxUint64 {
		return nil
	}
	n := 0
	return scan(r, outboxKey(after+1, 0), []byte{pOutbox + 1}, false, func(k, v []byte) (bool, error) {
		e, err := decodeOutbox(k, v)
		if err != nil {
			return false, err
		}
		n++
		return fn(e) && (limit <= 0 || n < limit), nil
	})
}

// OutboxStats returns the number of outbox entries with Index > after and the time of the
// oldest one (the lowest index; 0 when none), for lag reporting. It counts by scanning.
func OutboxStats(r kv.Reader, after uint64) (count int, oldest int64, err error) {
	if after == math.MaxUint64 {
		return 0, 0, nil
	}
	err = scan(r, outboxKey(after+1, 0), []byte{pOutbox + 1}, false, func(k, v []byte) (bool, error) {
		if count == 0 {
			e, err := decodeOutbox(k, v)
			if err != nil {
				return false, err
			}
			oldest = e.Time
		}
		count++
		return true, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return count, oldest, nil
}

// recordChanges ends a command that changed state: the primary records it changed through the
// overlay and, if its value changed, the fund singleton (which the Machine keeps outside the
// overlay) become outbox items with the command's index and time.
func (m *Machine) recordChanges(index uint64, t int64, before *fundState) {
	m.overlay.commit(index, t)
	if m.fund == *before {
		return
	}
	it := outboxItem{index: index, time: t, key: []byte{pFund}}
	if enc := m.fund.encode(); !bytes.Equal(enc, initialFund) && !bytes.Equal(enc, initialBooksFund) {
		it.value, it.present = enc, true
	}
	m.overlay.changed = append(m.overlay.changed, it)
}

// writeOutbox writes the batch's outbox entries in key order and applies a sync mark set in
// the batch: one DeleteRange drops every entry at or below it, and the batch's own entries at
// or below it are not written, which is what a node that applied the mark in a later batch
// would hold after pruning. Every entry, written or pruned, is also appended to the batch's
// Changes.Records, sharing the key and value slices (never modified, see overlay).
func (m *Machine) writeOutbox(w kv.Writer) error {
	if m.pruneTo > 0 {
		if err := w.DeleteRange([]byte{pOutbox}, outboxKey(m.pruneTo+1, 0)); err != nil {
			return fmt.Errorf("fund: prune outbox to %d: %w", m.pruneTo, err)
		}
	}
	items := m.overlay.changed
	slices.SortFunc(items, func(a, b outboxItem) int {
		if c := cmp.Compare(a.index, b.index); c != 0 {
			return c
		}
		return bytes.Compare(a.key, b.key)
	})
	if len(items) > 0 {
		m.changes.Records = slices.Grow(m.changes.Records, len(items))
	}
	// The store copies what it is given: one scratch buffer serves every key and value.
	buf := m.outboxBuf[:0]
	var ord uint32
	for i := range items {
		it := &items[i]
		if i > 0 && items[i-1].index == it.index {
			ord++
		} else {
			ord = 0
		}
		rec := OutboxEntry{Index: it.index, Ord: ord, Time: it.time, Key: it.key}
		if it.present {
			rec.Value = it.value
			if rec.Value == nil {
				rec.Value = []byte{} // as ReadOutbox returns it: present, not deleted
			}
		}
		m.changes.Records = append(m.changes.Records, rec)
		if it.index <= m.pruneTo {
			continue
		}
		buf = append(buf[:0], pOutbox)
		buf = binary.BigEndian.AppendUint64(buf, it.index)
		buf = binary.BigEndian.AppendUint32(buf, ord)
		buf = appendOutboxValue(buf, it)
		if err := w.Set(buf[:outboxKeyLen], buf[outboxKeyLen:]); err != nil {
			return fmt.Errorf("fund: write outbox %d-%d: %w", it.index, ord, err)
		}
	}
	m.outboxBuf = buf[:0]
	m.pruneTo = 0
	return nil
}

// SyncMarkCommand is the replicated sync high-water mark: PostgreSQL holds every change up to
// Index. Time (unix ns) is when the proposer set it.
type SyncMarkCommand struct {
	Index uint64
	Time  int64
}

// SyncMarkResult is the result of a CmdSyncMark command: Pruned is false when the mark was not
// above the current one (nothing changed).
type SyncMarkResult struct {
	Pruned bool
}

// EncodeSyncMark encodes the replicated high-water mark: PostgreSQL holds everything up to
// index. Applying it prunes the outbox entries with Index <= index (one DeleteRange) and
// records the mark; a mark at or below the current one changes nothing, and a mark at or
// above the mark command's own index (above the applied index) is refused as a user error.
// The result is *SyncMarkResult.
func EncodeSyncMark(index uint64, time int64) []byte {
	b := []byte{CmdSyncMark, codecVersion}
	b = binary.AppendUvarint(b, index)
	return binary.AppendVarint(b, time)
}

// DecodeSyncMark decodes a CmdSyncMark command strictly; errors wrap ErrBadCommand.
func DecodeSyncMark(cmd []byte) (*SyncMarkCommand, error) {
	d, err := newDec(cmd, CmdSyncMark)
	if err != nil {
		return nil, err
	}
	c := &SyncMarkCommand{Index: d.uvarint(), Time: d.varint()}
	return c, d.finish()
}

func syncMarkKey() []byte { return []byte{pSyncMark} }

func encodeSyncMark(index uint64, t int64) []byte {
	b := []byte{recVersion}
	b = binary.AppendUvarint(b, index)
	return binary.AppendVarint(b, t)
}

func decodeSyncMark(v []byte) (uint64, int64, error) {
	d := &dec{b: v}
	d.recordVersion()
	index, t := d.uvarint(), d.varint()
	if err := d.finish(); err != nil {
		return 0, 0, corrupt("sync mark", err)
	}
	return index, t, nil
}

// SyncMark returns the replicated high-water mark (0 when none) and the time it was set.
func SyncMark(r kv.Reader) (index uint64, time int64, err error) {
	v, err := r.Get(syncMarkKey())
	if errors.Is(err, kv.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("fund: read sync mark: %w", err)
	}
	return decodeSyncMark(v)
}

// applySyncMark moves the mark forward; the outbox is pruned at EndBatch (writeOutbox), after
// the batch's own entries are known. The mark must be below the command's own index: the
// entries it covers must have been applied (and read from the outbox) before it was proposed.
func (ac *applyContext) applySyncMark(c *SyncMarkCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if c.Index >= ac.index {
		return invalidParam("ac.index", "sync mark %d is above the applied ac.index %d", c.Index, ac.index-1), nil
	}
	v, ok, err := ac.get(syncMarkKey())
	if err != nil {
		return nil, err
	}
	var cur uint64
	if ok {
		if cur, _, err = decodeSyncMark(v); err != nil {
			return nil, err
		}
	}
	if c.Index <= cur {
		return &SyncMarkResult{}, nil // marks never move backwards
	}
	if err := ac.set(syncMarkKey(), encodeSyncMark(c.Index, c.Time)); err != nil {
		return nil, err
	}
	ac.pruneTo = c.Index
	return &SyncMarkResult{Pruned: true}, nil
}

// SetSyncMark writes the replicated high-water mark directly, outside any command: a state
// rebuilt from PostgreSQL (`paimon pg restore`) starts with PostgreSQL's synced index as its
// mark, since everything up to it is already there.
func SetSyncMark(w kv.Writer, index uint64, time int64) error {
	return w.Set(syncMarkKey(), encodeSyncMark(index, time))
}
