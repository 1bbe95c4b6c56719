package report

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
)

// BenchmarkOpenDayReport measures the rebuild of the open day's daily report in JSON as the
// server does it after each ingested batch (bench/RESULTS.md §19), on a day of 60,000 and then
// 150,000 ledger entries (500 a block, a block a second: the load plan's rate; a twelfth of
// them NavUpdated) in Pebble, the node's store. Before each build a block of 10 more events is
// applied (not timed), as on a node where every batch invalidates the cached report. "scan" is
// the code before the running sums (Build, which scans and decodes the day's ledger, and reads
// the day's NAV points); "sums" is build with the FlowSums, the flows from the running sums
// the batches moved (the first build, not timed, scans once); "cache" is the server's path, Cache.Render
// with the sums, which reads no NAV point for the JSON. ns/op is one build and rendering.
//
//	go test ./report -run XXX -bench OpenDayReport -benchtime 20x -count 3
func BenchmarkOpenDayReport(b *testing.B) {
	l := newOpenDayLedger(b)
	for _, entries := range []int{60_000, 150_000} {
		l.grow(b, entries)
		for _, mode := range []string{"scan", "sums", "cache"} {
			b.Run(fmt.Sprintf("entries=%d/%s", entries, mode), func(b *testing.B) {
				if mode != "scan" {
					l.build(b, "sums") // the period's running sums start from one scan
				}
				used := l.fs.fromSums
				for b.Loop() {
					b.StopTimer()
					l.block(b, 10)
					b.StartTimer()
					l.build(b, mode)
				}
				if mode != "scan" && l.fs.fromSums == used {
					b.Fatal("the running sums were not used")
				}
			})
		}
	}
}

// openDayLedger is a Machine applying one day's chain into Pebble, with the running sums
// observing it.
type openDayLedger struct {
	db      *pebble.DB
	m       *fund.Machine
	fs      *FlowSums
	rng     *rand.Rand
	index   uint64
	bn      uint64
	time    int64
	entries int
	day     Period
}

func newOpenDayLedger(b *testing.B) *openDayLedger {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{MemTableSize: 64 << 20, Logger: quietPebble{b}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	info := fund.Info{FundID: "open-day"}
	fs := NewFlowSums()
	start := int64(20094*secondsPerDay + 3600) // 2025-01-06 01:00 UTC
	return &openDayLedger{db: db, m: fund.NewMachine(info, readmodel.NewViews(info), fund.Observers{fs}), fs: fs,
		rng: rand.New(rand.NewPCG(14, 19)), bn: 1000, time: start, day: PeriodOf(Daily, time.Unix(start, 0).UTC())}
}

// grow applies blocks of 500 events until the day holds n entries.
func (l *openDayLedger) grow(b *testing.B, n int) {
	for l.entries < n {
		l.block(b, min(500, n-l.entries))
	}
}

// openDayEvents are the events of the benchmark's chain, repeated by weight.
var openDayEvents = []string{"Deposit", "Deposit", "Deposit", "Transfer", "Transfer", "Transfer",
	"Withdraw", "RedemptionRequested", "RedemptionSettled", "NavUpdated", "RedemptionFeeAdded", "ManagementFeeCollected"}

// block applies the next block, of n events a second after the last, as one Raft batch.
func (l *openDayLedger) block(b *testing.B, n int) {
	l.bn++
	l.time++
	evs := make([]chainlog.Event, n)
	amount := func() *uint256.Int { return uint256.NewInt(1 + l.rng.Uint64N(1e12)) }
	who := func() any { return chainlogtest.Address(1 + l.rng.IntN(1000)) }
	for i := range evs {
		name := openDayEvents[l.rng.IntN(len(openDayEvents))]
		var args []any
		switch name {
		case "Deposit":
			args = []any{who(), who(), amount(), amount()}
		case "Transfer":
			args = []any{who(), who(), amount()}
		case "Withdraw":
			args = []any{who(), who(), who(), amount(), amount()}
		case "RedemptionRequested":
			args = []any{l.rng.IntN(5000), who(), who(), amount(), amount(), amount(), 0, false, l.time + secondsPerDay, 1}
		case "RedemptionSettled":
			args = []any{l.rng.IntN(5000), who(), who(), amount(), amount(), amount(), 0}
		case "NavUpdated":
			args = []any{amount(), amount(), l.time}
		case "RedemptionFeeAdded":
			args = []any{amount()}
		case "ManagementFeeCollected":
			args = []any{amount(), amount(), secondsPerDay}
		}
		evs[i] = chainlogtest.Event(name, l.bn, uint64(i), l.time, args...)
	}
	l.index++
	batch := l.db.NewIndexedBatch()
	rw := pebbleRW{pebbleReader{batch}, batch}
	res, err := l.m.Apply(rw, l.index, fund.EncodeLogs(&fund.LogsCommand{Time: (l.time + 1) * 1e9, Events: evs}))
	if err != nil {
		b.Fatal(err)
	}
	if v, ok := res.(*fund.ValidationError); ok {
		b.Fatal(v)
	}
	if err := l.m.EndBatch(rw, l.index); err != nil {
		b.Fatal(err)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	_ = batch.Close()
	l.m.Committed()
	l.entries += n
}

// build builds the open day's report from a snapshot at the last index and renders its JSON:
// by scanning (mode "scan"), with the running sums ("sums"), or as the server does ("cache").
func (l *openDayLedger) build(b *testing.B, mode string) {
	snap := l.db.NewSnapshot()
	defer snap.Close()
	r := pebbleReader{snap}
	var rep *Report
	var err error
	switch mode {
	case "scan":
		rep, err = Build(r, l.day)
	case "sums":
		rep, err = build(r, l.day, l.fs, l.index, true)
	default:
		var body []byte
		if body, _, _, err = NewCache(1, l.fs).Render(r, l.index, l.day, JSON); err == nil && !bytes.Contains(body, []byte(`"deposits":"0"`)) {
			return
		}
		b.Fatalf("the open day's report: %v %.200s", err, body)
	}
	if err == nil {
		_, err = rep.JSON()
	}
	if err != nil {
		b.Fatal(err)
	}
	if rep.Flows.Deposits == "0" || rep.Closed {
		b.Fatalf("the open day's report: deposits %s, closed %v", rep.Flows.Deposits, rep.Closed)
	}
}

// pebbleReader adapts a Pebble reader (a snapshot, an indexed batch) to kv.Reader as the node's
// store does (raftstore/state.go, which steps scans with NextPrefix).
type pebbleReader struct{ r pebble.Reader }

func (p pebbleReader) Get(key []byte) ([]byte, error) {
	v, c, err := p.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	return out, c.Close()
}

func (p pebbleReader) Scan(lo, hi []byte, rev bool, fn func(k, v []byte) bool) error {
	it, err := p.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	ok := false
	if rev {
		ok = it.Last()
	} else {
		ok = it.First()
	}
	for ok && fn(it.Key(), it.Value()) {
		if rev {
			ok = it.Prev()
		} else {
			ok = it.NextPrefix()
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return err
	}
	return it.Close()
}

// pebbleRW adapts an indexed Pebble batch to kv.ReadWriter.
type pebbleRW struct {
	pebbleReader
	b *pebble.Batch
}

func (w pebbleRW) Set(key, value []byte) error         { return w.b.Set(key, value, nil) }
func (w pebbleRW) Delete(key []byte) error             { return w.b.Delete(key, nil) }
func (w pebbleRW) DeleteRange(start, end []byte) error { return w.b.DeleteRange(start, end, nil) }

// quietPebble drops Pebble's informational lines and logs its errors to the benchmark.
type quietPebble struct{ tb testing.TB }

func (quietPebble) Infof(string, ...any)           {}
func (q quietPebble) Errorf(f string, args ...any) { q.tb.Logf(f, args...) }
func (quietPebble) Fatalf(f string, args ...any)   { panic(fmt.Sprintf(f, args...)) }
