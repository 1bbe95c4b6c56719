package fund

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/kv"
)

// CmdIngest applies one confirmed block range of the chain, as the leader's chain poller
// proposes it: the range's events and the new ingest checkpoint advance together, in one Raft
// entry. Appended to the command list after CmdSyncMark (4).
const CmdIngest byte = 5

// pIngest holds the ingest checkpoint: the last block applied and the recent blocks kept to
// find the common ancestor of a reorg.
const pIngest = 'I'

// BlockRef names a block by number and hash, with its parent's hash (EVENTS.md: the ingester
// keeps number, hash and parent hash of the blocks it applied, so that even the oldest kept
// block can prove its parent is the common ancestor of a reorg).
type BlockRef struct {
	Number     uint64
	Hash       common.Hash
	ParentHash common.Hash
}

// IngestCommand is one range of the chain. Prev is the checkpoint it continues: a command
// whose Prev is not the state's checkpoint is refused and changes nothing, so two nodes that
// both believe they lead can never apply the same range twice, and a range is never applied
// out of order. With Reorg set, the ledger entries of every block above Ancestor (an orphaned
// fork) are reverted, newest first, before the range's events are applied.
type IngestCommand struct {
	// Version is the command's version: 1 (v0.1.0's) or RiskVersion; 0 encodes RiskVersion.
	// Both apply v0.1.0's ledger rules; they differ in the risk events (risk.go), and version
	// 2 needs this release's cluster version, so its first command starts the books
	// (BooksVersion, books.go).
	Version  byte
	Time     int64 // unix ns
	Prev     BlockRef
	Reorg    bool
	Ancestor uint64 // the common ancestor's number, when Reorg
	Events   []chainlog.Event
	Skipped  int        // logs of the range that could not be decoded (counted, not applied)
	Head     BlockRef   // the range's last block: the new checkpoint
	Blocks   []BlockRef // blocks of the range whose hashes the poller knows, kept for reorgs
	Window   int        // how many kept blocks the checkpoint holds at most
}

// BooksVersion is the version of CmdIngest whose first command starts the books: RiskVersion,
// the first version that needs this release's cluster version.
const BooksVersion = RiskVersion

// IngestResult is the result of a CmdIngest command.
type IngestResult struct {
	Accepted, Duplicates, Reverted int
}

// IngestCheckpoint is where chain ingest stands.
type IngestCheckpoint struct {
	Block   BlockRef   // the last block applied
	Window  []BlockRef // recent blocks, ascending by number
	Updated int64      // time of the command that set it, unix ns
}

// EncodeIngest encodes c as a CmdIngest command.
func EncodeIngest(c *IngestCommand) []byte {
	b := make([]byte, 0, 128+160*len(c.Events)+40*len(c.Blocks))
	v := c.Version
	if v == 0 || v > RiskVersion {
		v = RiskVersion
	}
	b = append(b, CmdIngest, v)
	b = binary.AppendVarint(b, c.Time)
	b = appendBlockRef(b, c.Prev)
	if c.Reorg {
		b = append(b, 1)
		b = binary.AppendUvarint(b, c.Ancestor)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(max(c.Skipped, 0)))
	b = binary.AppendUvarint(b, uint64(len(c.Events)))
	for i := range c.Events {
		b = appendEvent(b, &c.Events[i])
	}
	b = appendBlockRef(b, c.Head)
	b = binary.AppendUvarint(b, uint64(len(c.Blocks)))
	for _, r := range c.Blocks {
		b = appendBlockRef(b, r)
	}
	return binary.AppendUvarint(b, uint64(max(c.Window, 0)))
}

func appendBlockRef(b []byte, r BlockRef) []byte {
	b = binary.AppendUvarint(b, r.Number)
	b = append(b, r.Hash[:]...)
	return append(b, r.ParentHash[:]...)
}

func (d *dec) blockRef() BlockRef {
	r := BlockRef{Number: d.uvarint()}
	copy(r.Hash[:], d.fixed(32))
	copy(r.ParentHash[:], d.fixed(32))
	return r
}

// DecodeIngest decodes a CmdIngest command strictly; errors wrap ErrBadCommand.
func DecodeIngest(cmd []byte) (*IngestCommand, error) {
	d, err := newDec(cmd, CmdIngest)
	if err != nil {
		return nil, err
	}
	c := &IngestCommand{Version: d.ver, Time: d.varint(), Prev: d.blockRef()}
	switch d.u8() {
	case 0:
	case 1:
		c.Reorg, c.Ancestor = true, d.uvarint()
	default:
		d.fail("reorg flag")
	}
	c.Skipped = d.count(0)
	n := d.count(minEventSize)
	if d.err == nil && n > 0 {
		c.Events = make([]chainlog.Event, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.event(&c.Events[i])
		}
	}
	c.Head = d.blockRef()
	if k := d.count(65); d.err == nil && k > 0 {
		c.Blocks = make([]BlockRef, k)
		for i := range c.Blocks {
			c.Blocks[i] = d.blockRef()
		}
	}
	c.Window = int(d.uvarint())
	return c, d.finish()
}

func ingestKey() []byte { return []byte{pIngest} }

func (cp *IngestCheckpoint) encode() []byte {
	b := []byte{recVersion}
	b = appendBlockRef(b, cp.Block)
	b = binary.AppendVarint(b, cp.Updated)
	b = binary.AppendUvarint(b, uint64(len(cp.Window)))
	for _, r := range cp.Window {
		b = appendBlockRef(b, r)
	}
	return b
}

func decodeIngestCheckpoint(v []byte) (IngestCheckpoint, error) {
	d := &dec{b: v}
	d.recordVersion()
	cp := IngestCheckpoint{Block: d.blockRef(), Updated: d.varint()}
	if n := d.count(65); d.err == nil && n > 0 {
		cp.Window = make([]BlockRef, n)
		for i := range cp.Window {
			cp.Window[i] = d.blockRef()
		}
	}
	if err := d.finish(); err != nil {
		return IngestCheckpoint{}, corrupt("ingest checkpoint", err)
	}
	return cp, nil
}

// ReadIngestCheckpoint returns the ingest checkpoint; ok is false when nothing was ingested.
func ReadIngestCheckpoint(r kv.Reader) (cp IngestCheckpoint, ok bool, err error) {
	v, err := r.Get(ingestKey())
	if errors.Is(err, kv.ErrNotFound) {
		return IngestCheckpoint{}, false, nil
	}
	if err != nil {
		return IngestCheckpoint{}, false, fmt.Errorf("fund: read ingest checkpoint: %w", err)
	}
	cp, err = decodeIngestCheckpoint(v)
	return cp, err == nil, err
}

// maxIngestWindow bounds the blocks a checkpoint keeps, whatever a command asks.
const maxIngestWindow = 100_000

func (ac *applyContext) applyIngest(c *IngestCommand) (any, error) {
	ac.legacy, ac.riskV1 = true, c.Version < RiskVersion
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case c.Window < 1 || c.Window > maxIngestWindow:
		return invalidParam("window", "ingest window %d must be between 1 and %d", c.Window, maxIngestWindow), nil
	case c.Head.Number < c.Prev.Number && !c.Reorg:
		return invalidParam("head", "ingest range ends at block %d, before the checkpoint %d", c.Head.Number, c.Prev.Number), nil
	case c.Reorg && c.Ancestor >= c.Prev.Number:
		return invalidParam("ancestor", "reorg ancestor %d is not below the checkpoint %d", c.Ancestor, c.Prev.Number), nil
	case c.Reorg && c.Head.Number <= c.Ancestor:
		return invalidParam("head", "ingest range ends at block %d, not above the reorg ancestor %d", c.Head.Number, c.Ancestor), nil
	}
	specs := make([]*chainlog.Spec, len(c.Events))
	for i := range c.Events {
		ev := &c.Events[i]
		if ev.Removed {
			return invalidParam("events", "events[%d]: an ingested range carries confirmed events only", i), nil
		}
		if ev.BlockNumber > c.Head.Number || (c.Reorg && ev.BlockNumber <= c.Ancestor) || (!c.Reorg && ev.BlockNumber <= c.Prev.Number && c.Prev != (BlockRef{})) {
			return invalidParam("events", "events[%d]: block %d is outside the range", i, ev.BlockNumber), nil
		}
		s, verr := eventSpec(ev)
		if verr != nil {
			verr.Message = fmt.Sprintf("events[%d]: %s", i, verr.Message)
			return verr, nil
		}
		specs[i] = s
	}
	v, ok, err := ac.get(ingestKey())
	if err != nil {
		return nil, err
	}
	var cp IngestCheckpoint
	if ok {
		if cp, err = decodeIngestCheckpoint(v); err != nil {
			return nil, err
		}
	}
	if cp.Block != c.Prev {
		return &ValidationError{
			Message: fmt.Sprintf("the ingest checkpoint moved: this range continues block %d (%s), the state is at block %d (%s)",
				c.Prev.Number, chainlog.HexHash(c.Prev.Hash), cp.Block.Number, chainlog.HexHash(cp.Block.Hash)),
			Details: map[string]any{"checkpoint": cp.Block.Number},
		}, nil
	}
	res := &IngestResult{}
	if c.Reorg {
		n, err := ac.revertAbove(c.Ancestor)
		if err != nil {
			return nil, err
		}
		res.Reverted = n
		cp.Window = slices.DeleteFunc(cp.Window, func(r BlockRef) bool { return r.Number > c.Ancestor })
	}
	for i := range c.Events {
		dup, err := ac.legacyAdd(&c.Events[i], specs[i]) // v0.1.0's rules (legacy.go)
		if err != nil {
			return nil, err
		}
		if dup {
			res.Duplicates++
		} else {
			res.Accepted++
		}
	}
	cp.Block, cp.Updated = c.Head, c.Time
	cp.Window = mergeWindow(cp.Window, c.Blocks, c.Head, c.Window)
	if err := ac.set(ingestKey(), cp.encode()); err != nil {
		return nil, err
	}
	return res, nil
}

// mergeWindow adds the range's known blocks (and its head) to the kept blocks, one per number
// (the newest wins), ascending, trimmed to the last n.
func mergeWindow(w, add []BlockRef, head BlockRef, n int) []BlockRef {
	all := append(append(slices.Clone(w), add...), head)
	slices.SortStableFunc(all, func(a, b BlockRef) int {
		switch {
		case a.Number < b.Number:
			return -1
		case a.Number > b.Number:
			return 1
		}
		return 0
	})
	out := all[:0]
	for _, r := range all {
		if len(out) > 0 && out[len(out)-1].Number == r.Number {
			out[len(out)-1] = r
			continue
		}
		out = append(out, r)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// revertAbove reverts every ledger entry of a block above number, newest first (the reverse of
// the order they were applied in), and returns how many it reverted.
func (ac *applyContext) revertAbove(number uint64) (int, error) {
	lo := key(pLedger, be64(number+1))
	keys, err := ac.scanKeys(lo, []byte{pLedger + 1})
	if err != nil {
		return 0, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		v, ok, err := ac.get(keys[i])
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, corrupt("ledger", fmt.Errorf("entry %x vanished", keys[i]))
		}
		rec, err := decodeLedger(v)
		if err != nil {
			return 0, corrupt("ledger entry", err)
		}
		if len(keys[i]) != 1+ledgerPosLen {
			return 0, corrupt("ledger key", fmt.Errorf("%x", keys[i]))
		}
		if _, err := ac.revertEntry(ledgerPos(keys[i][1:]), rec); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// scanKeys returns the keys in [lo, hi) as the machine sees them now: the store's keys merged
// with the batch's writes in the overlay (its deletions hide the store's keys), ascending.
func (ac *applyContext) scanKeys(lo, hi []byte) ([][]byte, error) {
	present := map[string]bool{}
	err := ac.store.Scan(lo, hi, false, func(k, _ []byte) bool {
		present[string(k)] = true
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("fund: scan: %w", err)
	}
	for i := range ac.overlay.entries {
		e := &ac.overlay.entries[i]
		if bytes.Compare(e.key, lo) >= 0 && bytes.Compare(e.key, hi) < 0 {
			present[string(e.key)] = e.ok
		}
	}
	keys := make([][]byte, 0, len(present))
	for k, ok := range present {
		if ok {
			keys = append(keys, []byte(k))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys, nil
}
