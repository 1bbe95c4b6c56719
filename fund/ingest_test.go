package fund

import (
	"encoding/binary"
	"errors"
	"paimon/chainlog"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func blockRef(n uint64, fork byte) BlockRef {
	return BlockRef{Number: n, Hash: crypto.Keccak256Hash(be64(n), []byte{fork})}
}

// mint is a Transfer minting value to `to` in block bn.
func mint(bn, li uint64, to common.Address, value uint64) chainlog.Event {
	return mk("Transfer", bn, li, testNow+int64(bn), common.Address{}, to, e18(value))
}

func ingest(prev BlockRef, head BlockRef, evs ...chainlog.Event) *IngestCommand {
	return &IngestCommand{Time: testNow * 1e9, Prev: prev, Events: evs, Head: head, Blocks: []BlockRef{head}, Window: 64}
}

func (e *env) ingest(c *IngestCommand) *IngestResult {
	e.t.Helper()
	res := e.apply(EncodeIngest(c))
	r, ok := res.(*IngestResult)
	if !ok {
		e.t.Fatalf("ingest refused: %v", res)
	}
	return r
}

func TestIngestAdvancesTheCheckpointWithTheEvents(t *testing.T) {
	e := newEnv(t)
	b10, b20 := blockRef(10, 0), blockRef(20, 0)
	r := e.ingest(ingest(BlockRef{}, b10, mint(3, 0, addr(1), 5), mint(10, 1, addr(2), 7)))
	if r.Accepted != 2 {
		t.Fatalf("result %+v", r)
	}
	cp, ok, err := ReadIngestCheckpoint(e.st)
	if err != nil || !ok || cp.Block != b10 {
		t.Fatalf("checkpoint %+v %v %v", cp, ok, err)
	}
	// A range that does not continue the checkpoint changes nothing: it was proposed by a node
	// that no longer leads, or it is a replay.
	before := e.dump()
	for name, c := range map[string]*IngestCommand{
		"replayed range":         ingest(BlockRef{}, b10, mint(3, 0, addr(1), 5)),
		"wrong hash":             ingest(blockRef(10, 1), b20, mint(15, 0, addr(1), 1)),
		"skips ahead":            ingest(blockRef(15, 0), b20, mint(16, 0, addr(1), 1)),
		"event outside range":    ingest(b10, b20, mint(21, 0, addr(1), 1)),
		"event before the range": ingest(b10, b20, mint(9, 0, addr(1), 1)),
		"removed event":          ingest(b10, b20, removed(mint(15, 0, addr(1), 1))),
		"no window":              {Time: testNow * 1e9, Prev: b10, Head: b20},
		"ancestor above":         {Time: testNow * 1e9, Prev: b10, Head: b20, Reorg: true, Ancestor: 10, Window: 4},
		"head below ancestor":    {Time: testNow * 1e9, Prev: b10, Head: blockRef(5, 1), Reorg: true, Ancestor: 6, Window: 4},
	} {
		res := e.apply(EncodeIngest(c))
		var ve *ValidationError
		if err, _ := res.(error); !errors.As(err, &ve) {
			t.Fatalf("%s: result %v, want a refusal", name, res)
		}
		if after := e.dump(); after != before {
			t.Fatalf("%s: a refused range changed the state", name)
		}
	}
	r = e.ingest(ingest(b10, b20, mint(15, 0, addr(1), 1)))
	if cp, _, _ := ReadIngestCheckpoint(e.st); r.Accepted != 1 || cp.Block != b20 || len(cp.Window) != 2 {
		t.Fatalf("second range %+v, checkpoint %+v", r, cp)
	}
}

// TestIngestReorgEqualsTheCanonicalChain applies a fork and then the reorg that replaces it,
// and compares with a node that only ever saw the canonical chain: byte-identical states.
func TestIngestReorgEqualsTheCanonicalChain(t *testing.T) {
	common1 := []chainlog.Event{mint(5, 0, addr(1), 10), mk("NavUpdated", 8, 0, testNow+8, e18(1), u(1_010_000_000_000_000_000), testNow+8)}
	orphan := []chainlog.Event{mint(11, 0, addr(2), 3), mk("Transfer", 12, 0, testNow+12, addr(1), addr(3), e18(4)),
		mk("NavUpdated", 12, 1, testNow+12, u(1_010_000_000_000_000_000), u(1_020_000_000_000_000_000), testNow+12)}
	canon := []chainlog.Event{mk("Transfer", 11, 0, testNow+11, addr(1), addr(4), e18(2)), mint(13, 0, addr(5), 6)}
	for i := range orphan {
		orphan[i].BlockHash = blockRef(orphan[i].BlockNumber, 1).Hash
		orphan[i].TxHash = crypto.Keccak256Hash(orphan[i].TxHash[:], []byte("orphan"))
	}
	b10 := blockRef(10, 0)

	forked := newEnv(t)
	forked.ingest(ingest(BlockRef{}, b10, common1...))
	forked.ingest(ingest(b10, blockRef(12, 1), orphan...))
	reorg := ingest(blockRef(12, 1), blockRef(13, 0), canon...)
	reorg.Reorg, reorg.Ancestor = true, 10
	if r := forked.ingest(reorg); r.Reverted != 3 || r.Accepted != 2 {
		t.Fatalf("reorg result %+v, want 3 reverted and 2 accepted", r)
	}

	straight := newEnv(t)
	straight.ingest(ingest(BlockRef{}, b10, common1...))
	straight.ingest(ingest(b10, blockRef(13, 0), canon...))
	if forked.dump() != straight.dump() {
		t.Fatalf("the state after the reorg differs from the canonical chain's:\n%s\n---\n%s", forked.dump(), straight.dump())
	}
}

func TestIngestCodecIsStrict(t *testing.T) {
	c := ingest(blockRef(1, 0), blockRef(2, 0), mint(2, 0, addr(1), 1))
	c.Reorg, c.Ancestor, c.Skipped = true, 0, 3
	b := EncodeIngest(c)
	got, err := DecodeIngest(b)
	if err != nil || got.Head != c.Head || got.Prev != c.Prev || !got.Reorg || got.Skipped != 3 || len(got.Events) != 1 || got.Window != 64 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"truncated": b[:len(b)-1],
		"trailing":  append(append([]byte(nil), b...), 0),
		"bad flag": func() []byte {
			x := append([]byte(nil), b...)
			x[2+len(binary.AppendVarint(nil, c.Time))+len(appendBlockRef(nil, c.Prev))] = 7
			return x
		}(),
	} {
		if _, err := DecodeIngest(bad); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
