package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
)

// The write load: operator price updates (POST /v1/admin/prices, one price per request, so one
// Raft command each), open loop. Each worker owns an asset of its own (writerAsset) and sends
// one write at a time, so an asset's prices reach the leader in the order of their times and
// each acknowledged write becomes the asset's current price: it is pushed on the WebSocket
// "prices" channel, where the probe clients measure delivery. The unique key of a write is
// (asset, time): write n of worker w has time priceBase + n. Its price is the send time in
// microseconds since the epoch, which the WebSocket clients subtract from their receive time.

// writerAsset is worker w's asset: 0x5eed followed by w+1 in 36 hex digits, no real token.
func writerAsset(w int) string { return fmt.Sprintf("0x5eed%036x", w+1) }

// ack is one acknowledged write.
type ack struct {
	time  int64  // unix seconds: the write's key within its asset
	price uint64 // the send time, µs
}

// writerState is one worker's asset and what was acknowledged on it.
type writerState struct {
	asset string
	next  int64 // the next write's time offset
	acks  []ack
}

// writer sends the write timeline, request i to node i mod 3 (followers forward to the leader).
type writer struct {
	tl      benchkit.Timeline
	nodes   []*member
	token   string
	base    int64 // priceBase
	timeout time.Duration
	states  []*writerState

	lat                   benchkit.Hist // µs, due → acknowledged (failures at their length)
	ok, failed            atomic.Int64
	maxIndex              atomic.Uint64
	late                  benchkit.Hist
	mu                    sync.Mutex
	errs                  map[string]int
	firstErr              string
	start                 time.Time
	firstSend, lastAnswer atomic.Int64 // unix ns
	handed                atomic.Int64 // requests handed to a worker
	unsent                int64        // never sent (see drive)
	cut                   time.Time
}

func newWriter(tl benchkit.Timeline, nodes []*member, token string, workers int, timeout time.Duration) *writer {
	w := &writer{tl: tl, nodes: nodes, token: token, timeout: timeout, errs: map[string]int{},
		base: time.Now().Add(-72 * time.Hour).Truncate(time.Hour).Unix()}
	for i := range workers {
		w.states = append(w.states, &writerState{asset: writerAsset(i)})
	}
	return w
}

func (w *writer) run(ctx context.Context, start time.Time) {
	w.start = start
	w.cut = drive(ctx, w.tl, start, w.timeout, len(w.states), func(i int, ch <-chan int64) { w.worker(ch, w.states[i]) })
	w.unsent = countUnsent(w.tl, w.handed.Load(), start, w.cut, &w.lat)
}

func (w *writer) worker(ch <-chan int64, st *writerState) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for i := range ch {
		w.handed.Add(1)
		due := w.start.Add(w.tl.Due(i))
		m := w.nodes[i%int64(len(w.nodes))]
		t := w.base + st.next
		st.next++
		sent := time.Now()
		price := uint64(sent.UnixMicro())
		req.Reset()
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://" + m.httpAddr + "/v1/admin/prices")
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.SetContentType("application/json")
		req.SetBodyString(`{"prices":[{"asset":"` + st.asset + `","price":"` + strconv.FormatUint(price, 10) + `","time":"` + strconv.FormatInt(t, 10) + `"}]}`)
		req.SetTimeout(w.timeout)
		w.firstSend.CompareAndSwap(0, sent.UnixNano())
		err := m.writes.Do(req, resp)
		done := time.Now()
		w.lat.Add(done.Sub(due).Microseconds())
		w.late.Add(sent.Sub(due).Microseconds())
		w.lastAnswer.Store(done.UnixNano())
		code := resp.StatusCode()
		var r struct{ Index uint64 }
		switch {
		case err != nil:
			w.fail("transport: "+errKind(err), err.Error())
		case code != 200:
			w.fail(fmt.Sprintf("http %d", code), fmt.Sprintf("%d %s", code, benchkit.Snippet(resp.Body())))
		case json.Unmarshal(resp.Body(), &r) != nil || r.Index == 0:
			w.fail("no index", benchkit.Snippet(resp.Body()))
		default:
			w.ok.Add(1)
			st.acks = append(st.acks, ack{time: t, price: price})
			for m := w.maxIndex.Load(); r.Index > m && !w.maxIndex.CompareAndSwap(m, r.Index); m = w.maxIndex.Load() {
			}
		}
		resp.Reset()
	}
}

func (w *writer) fail(key, msg string) {
	w.failed.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs[key]++
	if w.firstErr == "" {
		w.firstErr = msg
	}
}

// acked returns the number of acknowledged writes.
func (w *writer) acked() int {
	n := 0
	for _, st := range w.states {
		n += len(st.acks)
	}
	return n
}
