package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"paimon/bench/internal/benchkit"
)

// The worker protocol. The runner starts each worker as this same program with -worker and
// talks to it over its standard input and output, one line each way:
//
//	runner → worker   "stats", "reset" or "quit" (or end of input, which also quits)
//	worker → runner   one JSON object per line: a report
//
// A worker prints a "progress" report every 250 ms while it connects, "ready" once every
// connection has been tried (and the ones that opened are subscribed), and "stats" in answer
// to each "stats" command. "reset" zeroes the received counts and the latency histogram (the
// runner sends it right before the load starts) and is answered with a "stats" report of the
// zeroed counts, so the runner knows it happened. "fatal" says the worker cannot go on.
const (
	cmdStats = "stats"
	cmdReset = "reset"
	cmdQuit  = "quit"
)

// Report types.
const (
	repProgress = "progress"
	repReady    = "ready"
	repStats    = "stats"
	repFatal    = "fatal"
)

// report is one line from a worker. Counts are cumulative since the worker started, except
// those that "reset" zeroes (noted).
type report struct {
	Type string `json:"type"`

	// Connecting.
	Opened          int    `json:"opened"`                 // connections upgraded and subscribed
	Refused         int    `json:"refused"`                // upgrades the node answered with an HTTP error
	Failed          int    `json:"failed"`                 // dials or handshakes that failed otherwise
	SubscribeFailed int    `json:"subscribeFailed"`        // upgraded, but subscribe was refused or never answered
	FirstRefusal    string `json:"firstRefusal,omitempty"` // "429 {...body...}"
	FirstError      string `json:"firstError,omitempty"`

	// Subscribed connections.
	Open       int            `json:"open"`                 // still open
	Closed     int            `json:"closed"`               // ended by the node or the network after subscribing
	CloseCodes map[string]int `json:"closeCodes,omitempty"` // "1008", "eof", "reset", ... → connections
	FirstClose string         `json:"firstClose,omitempty"` // the first one's close code and reason, or error

	// Frames since the last reset.
	Received   uint64            `json:"received"`   // transactions events with a value
	BadEvents  uint64            `json:"badEvents"`  // transactions events without one
	Resets     uint64            `json:"resets"`     // reset frames
	Errors     uint64            `json:"errors"`     // error frames
	Other      uint64            `json:"other"`      // any other frame
	MinPerConn uint64            `json:"minPerConn"` // fewest events one subscribed connection received
	MaxPerConn uint64            `json:"maxPerConn"`
	Latency    benchkit.HistWire `json:"latencyUs"`          // receive time − minted value, µs
	Sample     string            `json:"sample,omitempty"`   // the first event frame's payload, cut at 600 bytes
	FrameLen   int               `json:"frameLen,omitempty"` // that payload's length

	CPUSeconds float64 `json:"cpuSeconds"`        // the worker's user+system CPU so far
	Message    string  `json:"message,omitempty"` // fatal: why
}

// encodeReport renders r as one protocol line, with its newline.
func encodeReport(r *report) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // the report has only encodable fields
	}
	return append(b, '\n')
}

// decodeReport parses and checks one line from a worker. A worker is this same program, but
// the line crosses a process boundary (and a crashed worker's output may be cut anywhere), so
// it is validated like outside input.
func decodeReport(line []byte) (*report, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, errors.New("empty report")
	}
	var r report
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("bad report %.80q: %w", line, err)
	}
	if d.More() {
		return nil, fmt.Errorf("bad report %.80q: more than one object", line)
	}
	switch r.Type {
	case repProgress, repReady, repStats, repFatal:
	default:
		return nil, fmt.Errorf("bad report: unknown type %.40q", r.Type)
	}
	for name, v := range map[string]int{"opened": r.Opened, "refused": r.Refused, "failed": r.Failed,
		"subscribeFailed": r.SubscribeFailed, "open": r.Open, "closed": r.Closed, "frameLen": r.FrameLen} {
		if v < 0 {
			return nil, fmt.Errorf("bad report: %s is negative (%d)", name, v)
		}
	}
	for code, n := range r.CloseCodes {
		if n < 0 {
			return nil, fmt.Errorf("bad report: close code %.20q counted %d times", code, n)
		}
	}
	if r.MinPerConn > r.MaxPerConn {
		return nil, fmt.Errorf("bad report: minPerConn %d > maxPerConn %d", r.MinPerConn, r.MaxPerConn)
	}
	if r.CPUSeconds < 0 {
		return nil, fmt.Errorf("bad report: negative CPU time")
	}
	if err := r.Latency.Check(); err != nil {
		return nil, fmt.Errorf("bad report: %w", err)
	}
	if r.Latency.N != r.Received {
		return nil, fmt.Errorf("bad report: %d latencies for %d events", r.Latency.N, r.Received)
	}
	return &r, nil
}
