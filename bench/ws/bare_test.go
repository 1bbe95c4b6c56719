package main

import (
	"encoding/binary"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund/fundtest"
	"paimon/readmodel"
)

// TestBareEventFrame: the baseline's frame for a mint is a final unmasked text frame whose
// payload the workers read as the node's transactions event, with the minted value.
func TestBareEventFrame(t *testing.T) {
	raw := fundtest.MintLog(fundtest.Addr("bare"), 1, 1_750_000_000_123_456)
	evs, err := fundtest.Decode(fundtest.Registry(), []chainlog.RawLog{raw})
	if err != nil {
		t.Fatal(err)
	}
	data, err := readmodel.LedgerJSONOf(&evs[0], time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	f := bareEventFrame(7, data)
	if f[0] != 0x81 {
		t.Fatalf("first byte %#x, want a final text frame", f[0])
	}
	var n, hdr int
	switch f[1] {
	case 126:
		n, hdr = int(binary.BigEndian.Uint16(f[2:4])), 4
	case 127:
		n, hdr = int(binary.BigEndian.Uint64(f[2:10])), 10
	default:
		n, hdr = int(f[1]), 2
	}
	if n != len(f)-hdr {
		t.Fatalf("length %d, payload %d", n, len(f)-hdr)
	}
	kind, v := classify(f[hdr:])
	if kind != frameEvent || v != 1_750_000_000_123_456 {
		t.Fatalf("classify: %v %d of %s", kind, v, f[hdr:])
	}
}
