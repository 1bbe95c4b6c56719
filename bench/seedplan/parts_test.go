package main

import (
	"testing"
	"time"

	"paimon/bench/internal/benchkit"
)

// TestMissingCountsEveryAbsentOrWrongWrite: the loss check counts an acknowledged write absent
// from a place, and one present with another price, and nothing else.
func TestMissingCountsEveryAbsentOrWrongWrite(t *testing.T) {
	st := &writerState{asset: writerAsset(0), acks: []ack{{100, 1}, {101, 2}, {102, 3}}}
	v := &verifyResult{}
	if n := missing(v, "node1", st, map[int64]uint64{100: 1, 101: 2, 102: 3, 103: 9}); n != 0 || len(v.Problems) != 0 {
		t.Fatalf("all present: %d missing, %v", n, v.Problems)
	}
	if n := missing(v, "node2", st, map[int64]uint64{100: 1, 102: 4}); n != 2 || len(v.Problems) != 1 {
		t.Fatalf("one absent, one wrong: %d missing, %v", n, v.Problems)
	}
}

func TestNumber(t *testing.T) {
	frame := []byte(`{"type":"event","channel":"prices","seq":7,"data":{"asset":"0x5eed01","price":"1764700000123456","time":"x"}}`)
	if v, ok := number(frame, priceField); !ok || v != 1764700000123456 {
		t.Errorf("price %d %v", v, ok)
	}
	if v, ok := number([]byte(`{"blockNumber":4242,"x":1}`), blockField); !ok || v != 4242 {
		t.Errorf("block %d %v", v, ok)
	}
	if _, ok := number([]byte(`{"other":1}`), blockField); ok {
		t.Error("a frame without the field has no number")
	}
}

// TestCountUnsent: the requests never handed out are the timeline's last ones, each counted
// with its wait until the cut-off.
func TestCountUnsent(t *testing.T) {
	tl := benchkit.Timeline{Rate: 10, Duration: time.Second}
	start := time.Now()
	var h benchkit.Hist
	if n := countUnsent(tl, 6, start, start.Add(time.Second), &h); n != 4 {
		t.Fatalf("%d unsent, want 4", n)
	}
	m := benchkit.NewMerged()
	m.AddHist(&h)
	// Requests 6..9 are due at 0.6..0.9 s: waits of 400, 300, 200, 100 ms.
	if m.N() != 4 || m.Max() != 400_000 {
		t.Errorf("n %d, max %d µs", m.N(), m.Max())
	}
	if n := countUnsent(tl, 10, start, start, &h); n != 0 {
		t.Errorf("all sent: %d unsent", n)
	}
}

// TestDeckCoversEveryEndpointOnEveryNode: over 3 × the deck's length, every endpoint reaches
// every node, also with a deck whose length is a multiple of 3.
func TestDeckCoversEveryEndpointOnEveryNode(t *testing.T) {
	d := deck(append(endpoints, endpoint{"extra", "/x", public, 3 - len(deck(endpoints, 1))%3}), 1)
	if len(d)%3 != 0 {
		t.Fatalf("deck of %d", len(d))
	}
	seen := map[[2]int]bool{}
	for i := int64(0); i < 3*int64(len(d)); i++ {
		k, n := pick(d, 3, i)
		seen[[2]int{k, n}] = true
	}
	if len(seen) != 3*(len(endpoints)+1) {
		t.Errorf("%d (endpoint, node) pairs of %d", len(seen), 3*(len(endpoints)+1))
	}
}

func TestSeries(t *testing.T) {
	if got := series(`h{route="r"}`, "_sum"); got != `h_sum{route="r"}` {
		t.Errorf("labelled: %s", got)
	}
	if got := series("h", "_count"); got != "h_count" {
		t.Errorf("plain: %s", got)
	}
	if !stageSeries(`paimon_http_request_seconds_count{route="admin_prices"}`) || !stageSeries("paimon_raft_commit_seconds_sum") ||
		stageSeries("paimon_raft_commit_seconds_bucket") || stageSeries(`paimon_http_request_seconds_sum{route="fund_overview"}`) {
		t.Error("stageSeries picks the wrong series")
	}
}
