package main

import (
	"strings"
	"testing"
)

// eventSample is a transactions event as the node sends it (printed by a run of the tool).
const eventSample = `{"type":"event","channel":"transactions","seq":5,"data":{"txHash":"0xac6bf32bd9b52ebb47dad1355fc4827ceb6daf64385eae38e1204b3c33f848f4","logIndex":0,"blockNumber":1000000,"blockHash":"0x072479e5192ad160d29b1fdf3514cc69c7a2122c200db804cbfedfa4f22a8b3a","blockTime":"2025-06-15T15:06:40Z","contract":"0x8505c32631034a7ce8800239c08547e0434edad9","event":"Transfer","args":{"from":"0x0000000000000000000000000000000000000000","to":"0x0097820fa74890e746facf3668c99d7c5982d43f","value":"1795663456620681"}}}`

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame string
		kind  frameKind
		value int64
	}{
		{"event", eventSample, frameEvent, 1795663456620681},
		{"event, small value", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":"7"}}}`, frameEvent, 7},
		{"event without value", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{}}}`, frameBadEvent, 0},
		{"value not a number", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":"0x10"}}}`, frameBadEvent, 0},
		{"empty value", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":""}}}`, frameBadEvent, 0},
		{"unterminated", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":"123`, frameBadEvent, 0},
		{"19 digits", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":"1234567890123456789"}}}`, frameBadEvent, 0},
		{"18 digits", `{"type":"event","channel":"transactions","seq":1,"data":{"args":{"value":"999999999999999999"}}}`, frameEvent, 999999999999999999},
		{"event on another channel", `{"type":"event","channel":"fund:overview","seq":1,"data":{"value":"1"}}`, frameOther, 0},
		{"pending", `{"type":"pending","channel":"transactions","data":{"args":{"value":"1"}}}`, frameOther, 0},
		{"subscribed", `{"type":"subscribed","channels":["transactions"],"seq":4}`, frameSubscribed, 0},
		{"reset", `{"type":"reset","channel":"transactions","seq":9}`, frameReset, 0},
		{"error", `{"type":"error","code":"FORBIDDEN","message":"transactions needs the viewer role"}`, frameError, 0},
		{"pong", `{"type":"pong"}`, frameOther, 0},
		{"empty", ``, frameOther, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, v := classify([]byte(tc.frame))
			if kind != tc.kind || v != tc.value {
				t.Errorf("classify = %d, %d; want %d, %d", kind, v, tc.kind, tc.value)
			}
		})
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	p := []byte(eventSample)
	if n := testing.AllocsPerRun(100, func() { classify(p) }); n != 0 {
		t.Errorf("classify allocates %v times per frame", n)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte(eventSample))
	f.Add([]byte(`{"type":"event","channel":"transactions","value":"`))
	f.Add([]byte(`{"type":"event","channel":"transactions","value":"99999999999999999999"}`))
	f.Add([]byte(`{"type":"subscribed","channels":[]}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		kind, v := classify(p)
		if v < 0 || (kind != frameEvent && v != 0) {
			t.Fatalf("kind %d with value %d", kind, v)
		}
		if kind == frameEvent && !strings.Contains(string(p), `"value":"`) {
			t.Fatal("an event without a value key")
		}
	})
}
