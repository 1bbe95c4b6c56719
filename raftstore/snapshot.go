package raftstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// The snapshot stream is the whole Pebble state as a sequence of records:
//
//	header  "PAIMONSS" version(1)
//	record  0x01 uvarint(len key) key uvarint(len value) value      (ascending key order)
//	trailer 0x00 uvarint(record count) crc32c(everything before it, 4 bytes big-endian)
//
// Restore refuses a stream whose count, checksum or framing does not match, so a truncated or
// damaged snapshot never replaces good state.
const (
	snapshotMagic   = "PAIMONSS"
	snapshotVersion = 1
	recordKV        = 0x01
	recordEnd       = 0x00
	restoreBatchMax = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type fsmSnapshot struct {
	snap    *pebble.Snapshot
	release func()
	logger  *slog.Logger
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.snap); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot %s: %w", sink.ID(), err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {
	if err := s.snap.Close(); err != nil {
		s.logger.Warn("close snapshot", "error", err)
	}
	s.release()
}

func writeSnapshot(w io.Writer, snap *pebble.Snapshot) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)
	bw.WriteString(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	it, err := snap.NewIter(nil)
	if err != nil {
		return err
	}
	var count uint64
	var hdr [2*binary.MaxVarintLen64 + 1]byte
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		hdr[0] = recordKV
		n := 1 + binary.PutUvarint(hdr[1:], uint64(len(k)))
		bw.Write(hdr[:n])
		bw.Write(k)
		n = binary.PutUvarint(hdr[:], uint64(len(v)))
		bw.Write(hdr[:n])
		if _, err := bw.Write(v); err != nil {
			it.Close()
			return err
		}
		count++
	}
	if err := it.Close(); err != nil {
		return err
	}
	hdr[0] = recordEnd
	n := 1 + binary.PutUvarint(hdr[1:], count)
	bw.Write(hdr[:n])
	if err := bw.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	_, err = w.Write(sum[:])
	return err
}

// crcReader hashes every byte read through it.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
	}
	return b, err
}

func (c *crcReader) full(p []byte) error {
	if _, err := io.ReadFull(c.r, p); err != nil {
		return err
	}
	c.crc.Write(p)
	return nil
}

// readSnapshot loads a snapshot stream into an empty database and returns the number of keys.
func readSnapshot(r io.Reader, db *pebble.DB) (uint64, error) {
	cr := &crcReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc32.New(castagnoli)}
	head := make([]byte, len(snapshotMagic)+1)
	if err := cr.full(head); err != nil {
		return 0, fmt.Errorf("%w: snapshot header: %w", ErrCorrupt, err)
	}
	// Formats only grow: every version up to ours is read (upcast below where one changed),
	// a newer one is refused by name.
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a paimon snapshot", ErrCorrupt)
	}
	if v := head[len(snapshotMagic)]; v == 0 || v > snapshotVersion {
		return 0, fmt.Errorf("%w: %w: snapshot format version %d, this release reads versions 1 to %d: it was written by a newer release",
			ErrCorrupt, ErrFutureFormat, v, snapshotVersion)
	}
	b := db.NewBatch()
	var count uint64
	var buf []byte
	for {
		typ, err := cr.ReadByte()
		if err != nil {
			b.Close()
			return 0, fmt.Errorf("%w: snapshot truncated after %d records: %w", ErrCorrupt, count, err)
		}
		if typ == recordEnd {
			break
		}
		if typ != recordKV {
			b.Close()
			return 0, fmt.Errorf("%w: snapshot record type 0x%02x", ErrCorrupt, typ)
		}
		var kv [2][]byte
		for i := range kv {
			n, err := binary.ReadUvarint(cr)
			if err != nil || n > 1<<30 {
				b.Close()
				return 0, fmt.Errorf("%w: snapshot record %d length", ErrCorrupt, count)
			}
			if uint64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			p := buf[:n]
			if err := cr.full(p); err != nil {
				b.Close()
				return 0, fmt.Errorf("%w: snapshot record %d: %w", ErrCorrupt, count, err)
			}
			kv[i] = append([]byte(nil), p...)
		}
		if err := b.Set(kv[0], kv[1], nil); err != nil {
			b.Close()
			return 0, err
		}
		count++
		if b.Len() >= restoreBatchMax {
			if err := b.Commit(pebble.NoSync); err != nil {
				return 0, err
			}
			b = db.NewBatch()
		}
	}
	want, err := binary.ReadUvarint(cr)
	if err != nil || want != count {
		b.Close()
		return 0, fmt.Errorf("%w: snapshot has %d records, trailer says %d", ErrCorrupt, count, want)
	}
	sum := cr.crc.Sum32()
	var got [4]byte
	if _, err := io.ReadFull(cr.r, got[:]); err != nil || binary.BigEndian.Uint32(got[:]) != sum {
		b.Close()
		return 0, fmt.Errorf("%w: snapshot checksum mismatch", ErrCorrupt)
	}
	if _, err := cr.r.ReadByte(); !errors.Is(err, io.EOF) {
		b.Close()
		return 0, fmt.Errorf("%w: data after snapshot trailer", ErrCorrupt)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, err
	}
	return count, nil
}

func removeGen(st *stateDB, gen int) error {
	if err := os.RemoveAll(st.genDir(gen)); err != nil {
		return fmt.Errorf("clear state generation %d: %w", gen, err)
	}
	return nil
}
