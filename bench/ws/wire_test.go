package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestNextFrame(t *testing.T) {
	text := append([]byte{0x81, 5}, "hello"...)
	long := append([]byte{0x81, 126, 0x01, 0x00}, bytes.Repeat([]byte("a"), 256)...)
	huge := append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 1<<40)...)
	for _, tc := range []struct {
		name    string
		p       []byte
		op      byte
		n       int
		payload string
		err     error
	}{
		{name: "text", p: text, op: opText, n: 7, payload: "hello"},
		{name: "text and more", p: append(append([]byte{}, text...), 0x89, 0), op: opText, n: 7, payload: "hello"},
		{name: "16-bit length", p: long, op: opText, n: 260, payload: string(long[4:])},
		{name: "ping", p: []byte{0x89, 2, 'h', 'b'}, op: opPing, n: 4, payload: "hb"},
		{name: "close", p: []byte{0x88, 2, 0x03, 0xF0}, op: opClose, n: 4, payload: "\x03\xF0"},
		{name: "empty", p: nil},
		{name: "one byte", p: []byte{0x81}},
		{name: "cut payload", p: text[:6]},
		{name: "cut 16-bit length", p: long[:3]},
		{name: "cut 64-bit length", p: huge[:9]},
		{name: "masked", p: []byte{0x81, 0x85, 1, 2, 3, 4, 'h'}, err: errMaskedFrame},
		{name: "reserved bits", p: []byte{0xC1, 0}, err: errReservedBits},
		{name: "reserved opcode", p: []byte{0x83, 0}, err: errBadOpcode},
		{name: "fragmented ping", p: []byte{0x09, 0}, err: errBadControl},
		{name: "long ping", p: []byte{0x89, 126, 0, 200}, err: errBadControl},
		{name: "too large", p: huge, err: errFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := nextFrame(tc.p, maxServerFrame)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if n != tc.n || (n > 0 && (f.op != tc.op || string(f.payload) != tc.payload)) {
				t.Errorf("frame op %d payload %q, %d bytes; want op %d %q, %d", f.op, f.payload, n, tc.op, tc.payload, tc.n)
			}
		})
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, size := range []int{0, 5, 125, 126, 70000} {
		p := bytes.Repeat([]byte("z"), size)
		b := clientFrame(nil, opPong, p, key)
		if b[0] != 0x80|opPong || b[1]&0x80 == 0 {
			t.Fatalf("%d bytes: header % x", size, b[:2])
		}
		hdr := 2
		switch b[1] & 0x7F {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if !bytes.Equal(b[hdr:hdr+4], key[:]) || len(b) != hdr+4+size {
			t.Fatalf("%d bytes: frame of %d", size, len(b))
		}
		for i, c := range b[hdr+4:] {
			if c^key[i&3] != 'z' {
				t.Fatalf("%d bytes: byte %d not masked", size, i)
			}
		}
	}
}

func TestNextFrameDoesNotAllocate(t *testing.T) {
	p := append([]byte{0x81, 126, 0x01, 0x00}, bytes.Repeat([]byte("a"), 256)...)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = nextFrame(p, maxServerFrame) }); n != 0 {
		t.Errorf("nextFrame allocates %v times per frame", n)
	}
}

// FuzzNextFrame: any bytes parse into a frame within them, a cut frame, or an error; never a
// panic, and never a payload past what was given or above the limit.
func FuzzNextFrame(f *testing.F) {
	for _, s := range [][]byte{
		{0x81, 5, 'h', 'e', 'l', 'l', 'o'}, {0x89, 2, 'h', 'b'}, {0x88, 2, 0x03, 0xF0}, {0x81, 126, 0, 3, 'a', 'b', 'c'},
		{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}, {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, {0x81, 0x85, 1, 2, 3, 4}, {0x01, 1, 'a', 0x80, 1, 'b'}, {},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		fr, n, err := nextFrame(p, 1024)
		if err != nil || n == 0 {
			if n != 0 || fr.payload != nil {
				t.Fatalf("no frame, but n %d payload %q", n, fr.payload)
			}
			return
		}
		if n > len(p) || len(fr.payload) > 1024 || len(fr.payload) >= n || fr.op > 0xF {
			t.Fatalf("n %d of %d, payload %d bytes, op %d", n, len(p), len(fr.payload), fr.op)
		}
		if !bytes.Equal(p[n-len(fr.payload):n], fr.payload) {
			t.Fatal("the payload is not the frame's end")
		}
	})
}
