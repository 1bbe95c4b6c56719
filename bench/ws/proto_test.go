package main

import (
	"paimon/bench/internal/benchkit"
	"reflect"
	"strings"
	"testing"
)

func sampleReport() *report {
	var h benchkit.Hist
	for _, v := range []int64{1200, 1500, 9000, 250000} {
		h.Add(v)
	}
	return &report{Type: repStats, Opened: 6600, Refused: 1, Failed: 2, SubscribeFailed: 3, FirstRefusal: `429 Too Many Requests from 127.0.0.7: {"error":{}}`,
		Open: 6599, Closed: 1, CloseCodes: map[string]int{"1008": 1}, FirstClose: `close 1008 "slow consumer"`,
		Received: 4, Resets: 1, MinPerConn: 0, MaxPerConn: 4, Latency: h.Wire(), Sample: eventSample, FrameLen: len(eventSample), CPUSeconds: 12.5}
}

func TestReportRoundTrip(t *testing.T) {
	for _, r := range []*report{sampleReport(), {Type: repProgress, Opened: 10}, {Type: repFatal, Message: "boom"}, {Type: repReady}} {
		line := encodeReport(r)
		if line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		got, err := decodeReport(line)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestDecodeReportRefuses(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"empty", "", "empty"},
		{"not json", "stats", "bad report"},
		{"cut short", `{"type":"stats","opened":`, "bad report"},
		{"two objects", `{"type":"ready"} {"type":"ready"}`, "more than one"},
		{"unknown type", `{"type":"hello"}`, "unknown type"},
		{"unknown field", `{"type":"ready","extra":1}`, "unknown field"},
		{"negative count", `{"type":"ready","opened":-1}`, "negative"},
		{"negative close count", `{"type":"stats","closeCodes":{"1008":-2}}`, "close code"},
		{"min above max", `{"type":"stats","minPerConn":5,"maxPerConn":4}`, "minPerConn"},
		{"negative cpu", `{"type":"stats","cpuSeconds":-1}`, "CPU"},
		{"histogram mismatch", `{"type":"stats","received":2,"latencyUs":{"buckets":[[5,1]],"n":1,"sum":5,"max":5}}`, "latencies"},
		{"bad histogram", `{"type":"stats","received":1,"latencyUs":{"buckets":[[99999,1]],"n":1,"sum":5,"max":5}}`, "bucket"},
		{"wrong type", `{"type":"stats","opened":"many"}`, "bad report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeReport([]byte(tc.line))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestTotals(t *testing.T) {
	a, b := sampleReport(), sampleReport()
	b.MinPerConn, b.MaxPerConn, b.CloseCodes = 2, 9, map[string]int{"1008": 2, "eof": 1}
	empty := &report{Type: repStats} // a worker whose connections all failed
	tot := totals([]*report{empty, a, b})
	if tot.Opened != 13200 || tot.Open != 13198 || tot.Received != 8 || tot.MinPerConn != 0 || tot.MaxPerConn != 9 ||
		tot.CloseCodes["1008"] != 3 || tot.CloseCodes["eof"] != 1 || tot.CPUSeconds != 25 || tot.FirstRefusal == "" {
		t.Errorf("totals = %+v", tot)
	}
	a.MinPerConn = 3
	b.MinPerConn = 2
	if got := totals([]*report{empty, a, b}).MinPerConn; got != 2 {
		t.Errorf("min per connection over workers = %d, want 2", got)
	}
}

func FuzzDecodeReport(f *testing.F) {
	f.Add(encodeReport(sampleReport()))
	f.Add([]byte(`{"type":"progress","opened":3}`))
	f.Add([]byte(`{"type":"stats","received":1,"latencyUs":{"buckets":[[5,1]],"n":1,"sum":5,"max":5}}`))
	f.Add([]byte(`{"type":"fatal","message":"x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := decodeReport(line)
		if err != nil {
			return
		}
		// What is accepted can be merged and re-encoded as an acceptable line.
		m := benchkit.NewMerged()
		m.Add(r.Latency)
		_ = m.Quantile(0.99)
		if _, err := decodeReport(encodeReport(r)); err != nil {
			t.Fatalf("re-encoded report refused: %v", err)
		}
	})
}
