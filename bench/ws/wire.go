package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The WebSocket framing the workers read and write themselves (RFC 6455 §5.2): a worker reads
// its connections with epoll (poll.go), many frames per read, so it parses the bytes itself
// rather than through a library's per-connection reader.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxServerFrame is the longest frame a worker accepts: the node's event frames are about
// 500 bytes, its largest (a replayed ledger entry with long arguments) a few KiB.
const maxServerFrame = 60 << 10

var (
	errMaskedFrame   = errors.New("a masked frame from the server")
	errReservedBits  = errors.New("reserved bits set")
	errBadOpcode     = errors.New("a reserved opcode")
	errBadControl    = errors.New("a fragmented or long control frame")
	errFrameTooLarge = errors.New("a frame longer than the worker accepts")
)

// serverFrame is one frame as nextFrame reads it; payload points into the buffer parsed.
type serverFrame struct {
	op      byte
	fin     bool
	payload []byte
}

// nextFrame parses the server frame at the start of p. It returns the frame and the bytes it
// took, or n = 0 when p holds only part of a frame, or an error for bytes no server may send
// (masked, reserved bits or opcodes, a fragmented or long control frame, more than max bytes
// of payload). The node sends whole unmasked frames; a frame split over reads is completed by
// the next one (the caller keeps the rest).
func nextFrame(p []byte, max int) (f serverFrame, n int, err error) {
	if len(p) < 2 {
		return f, 0, nil
	}
	b0, b1 := p[0], p[1]
	if b0&0x70 != 0 {
		return f, 0, errReservedBits
	}
	if b1&0x80 != 0 {
		return f, 0, errMaskedFrame
	}
	f.op, f.fin = b0&0x0F, b0&0x80 != 0
	switch f.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || b1&0x7F > 125 {
			return f, 0, errBadControl
		}
	default:
		return f, 0, errBadOpcode
	}
	hdr, size := 2, uint64(b1&0x7F)
	switch size {
	case 126:
		if len(p) < 4 {
			return f, 0, nil
		}
		hdr, size = 4, uint64(binary.BigEndian.Uint16(p[2:]))
	case 127:
		if len(p) < 10 {
			return f, 0, nil
		}
		hdr, size = 10, binary.BigEndian.Uint64(p[2:])
	}
	if size > uint64(max) {
		return f, 0, fmt.Errorf("%w: %d bytes", errFrameTooLarge, size)
	}
	end := hdr + int(size)
	if len(p) < end {
		return f, 0, nil
	}
	f.payload = p[hdr:end]
	return f, end, nil
}

// clientFrame appends a final client frame of opcode op with payload p, masked with key (a
// client's frames are masked, RFC 6455 §5.3), to dst.
func clientFrame(dst []byte, op byte, p []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	for i, c := range p {
		dst = append(dst, c^key[i&3])
	}
	return dst
}

// closeCode reads a close frame's payload: its status code (1005, "none", when it has none)
// and reason.
func closeCode(p []byte) (code int, reason string) {
	if len(p) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}
