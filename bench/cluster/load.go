package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// retryPause is how long a client waits after a failed request before it tries again, so a
// cluster without a leader is not hammered.
const retryPause = 10 * time.Millisecond

// writer is one client's account: every write mints one share per log to owner, with a
// sequence number that makes the log unique, and a failed write is retried with the same
// sequence (MintLog is idempotent), so the account's shares count the acknowledged writes.
type writer struct {
	Label    string         `json:"label"`
	Owner    common.Address `json:"owner"`
	Acked    int            `json:"acked"`   // logs acknowledged (accepted, or duplicate on a retry)
	InDoubt  bool           `json:"inDoubt"` // the last write failed and was never acknowledged
	retrying bool
	maxIndex uint64
}

// tally is one client's measured requests: successes' latencies per node, failures by kind.
type tally struct {
	lat  [][]time.Duration // per member index
	ok   int
	errs map[string]int
}

func newTally(n int) *tally { return &tally{lat: make([][]time.Duration, n), errs: map[string]int{}} }

// writeClient is one sequential writer with its reused request and response.
type writeClient struct {
	c        *cluster
	w        *writer
	perWrite int // logs per POST
	targets  []*member
	next     int // rotation over targets
	req      *fasthttp.Request
	resp     *fasthttp.Response
	logs     []chainlog.RawLog
}

func (c *cluster) newWriteClient(w *writer, perWrite int, targets []*member, start int) *writeClient {
	wc := &writeClient{c: c, w: w, perWrite: perWrite, targets: targets, next: start,
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(), logs: make([]chainlog.RawLog, perWrite)}
	wc.req.Header.SetMethod(fasthttp.MethodPost)
	wc.req.Header.SetContentType("application/json")
	wc.req.Header.Set("Authorization", "Bearer "+c.token)
	return wc
}

func (wc *writeClient) release() {
	fasthttp.ReleaseRequest(wc.req)
	fasthttp.ReleaseResponse(wc.resp)
}

// attempt posts the writer's next perWrite logs to the next target once. It returns the member
// index it went to, the request's latency and "" when the write was acknowledged, else the
// kind of failure.
func (wc *writeClient) attempt() (int, time.Duration, string) {
	for i := range wc.logs {
		wc.logs[i] = fundtest.MintLog(wc.w.Owner, wc.w.Acked+i, 1)
	}
	body := fundtest.Body(wc.logs...)
	mi := wc.next % len(wc.targets)
	wc.next++
	m := wc.targets[mi]
	wc.req.SetRequestURI("http://" + m.httpAddr + "/v1/admin/logs")
	wc.req.SetBody(body)
	t0 := time.Now()
	err := m.client.Do(wc.req, wc.resp)
	dt := time.Since(t0)
	if kind := classify(err, wc.resp.StatusCode(), wc.resp.Body()); kind != "" {
		wc.w.retrying = true
		return m.index, dt, kind
	}
	var r struct {
		Accepted, Duplicates int
		Index                uint64
	}
	if err := json.Unmarshal(wc.resp.Body(), &r); err != nil {
		wc.w.retrying = true
		return m.index, dt, "200 with an unreadable body"
	}
	switch {
	case r.Accepted+r.Duplicates != wc.perWrite:
		wc.w.retrying = true
		return m.index, dt, fmt.Sprintf("200 with %d accepted + %d duplicates of %d logs", r.Accepted, r.Duplicates, wc.perWrite)
	case r.Duplicates > 0 && !wc.w.retrying:
		// Never sent before, yet already applied: counted, and the verification will see it.
		wc.w.Acked += wc.perWrite
		return m.index, dt, "DUPLICATE on a first attempt"
	}
	wc.w.Acked += wc.perWrite
	wc.w.retrying = false
	wc.w.maxIndex = max(wc.w.maxIndex, r.Index)
	return m.index, dt, ""
}

// classify names the failure of one request ("" for a 200): NO_LEADER answers, other statuses
// with their API code, and transport errors by cause.
func classify(err error, status int, body []byte) string {
	if err != nil {
		var errno syscall.Errno
		switch {
		case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
			return "transport: timeout"
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			return "transport: no free connection"
		case errors.Is(err, syscall.ECONNREFUSED):
			return "transport: connection refused"
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			return "transport: connection reset"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
			return "transport: connection closed"
		case errors.As(err, &errno):
			return "transport: " + errno.Error()
		}
		s := err.Error()
		if len(s) > 60 {
			s = s[:60] + "…"
		}
		return "transport: " + s
	}
	if status == 200 {
		return ""
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Error.Code == "NO_LEADER" {
		return "NO_LEADER"
	}
	if e.Error.Code == "" {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("HTTP %d %s", status, e.Error.Code)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// sequentialWrites is phase a: one client, one write at a time, to target. The first warm
// writes are not measured.
func (c *cluster) sequentialWrites(ctx context.Context, target *member, n, warm, perWrite int, w *writer) (*phaseResult, error) {
	wc := c.newWriteClient(w, perWrite, []*member{target}, 0)
	defer wc.release()
	t := newTally(len(c.members))
	var maxLat time.Duration
	for i := 0; i < warm && ctx.Err() == nil; {
		if _, _, kind := wc.attempt(); kind != "" {
			pause(ctx, retryPause)
			continue
		}
		i++
	}
	before := c.sample()
	for t.ok < n && ctx.Err() == nil {
		mi, dt, kind := wc.attempt()
		if kind != "" {
			t.errs[kind]++
			pause(ctx, retryPause)
			continue
		}
		t.ok++
		t.lat[mi] = append(t.lat[mi], dt)
		maxLat = max(maxLat, dt)
	}
	after := c.sample()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.resolve(ctx, wc)
	return c.summarize("sequential write", target.role(c)+" "+target.id, 1, []*tally{t}, before, after, perWrite), nil
}

// resolve retries a writer's last failed write after its phase, unmeasured, so that every
// write it sent is either acknowledged or known to be in doubt.
func (c *cluster) resolve(ctx context.Context, wc *writeClient) {
	deadline := time.Now().Add(15 * time.Second)
	for wc.w.retrying && ctx.Err() == nil && time.Now().Before(deadline) {
		if _, _, kind := wc.attempt(); kind != "" {
			pause(ctx, retryPause)
		}
	}
	wc.w.InDoubt = wc.w.retrying
}

// concurrentWrites is phase b: clients writers for warmup+d, each sending its requests to
// targets in turn (client i starts at target i mod len(targets)). Only requests started after
// the warm-up are measured.
func (c *cluster) concurrentWrites(ctx context.Context, clients int, warmup, d time.Duration, perWrite int, targets []*member, label string, writers []*writer) *phaseResult {
	return c.closedLoop(ctx, clients, warmup, d, func(i int) (func() (int, time.Duration, string), func()) {
		wc := c.newWriteClient(writers[i], perWrite, targets, i)
		return wc.attempt, func() { c.resolve(ctx, wc); wc.release() }
	}, func(tallies []*tally, before, after sample) *phaseResult {
		return c.summarize("concurrent write", label, clients, tallies, before, after, perWrite)
	})
}

// linearizableReads is phase c: clients readers of GET /v1/fund/overview?consistency=
// linearizable against targets in turn for warmup+d.
func (c *cluster) linearizableReads(ctx context.Context, clients int, warmup, d time.Duration, targets []*member, label string) *phaseResult {
	return c.closedLoop(ctx, clients, warmup, d, func(i int) (func() (int, time.Duration, string), func()) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		next := i
		return func() (int, time.Duration, string) {
				m := targets[next%len(targets)]
				next++
				req.SetRequestURI("http://" + m.httpAddr + "/v1/fund/overview?consistency=linearizable")
				t0 := time.Now()
				err := m.client.Do(req, resp)
				dt := time.Since(t0)
				return m.index, dt, classify(err, resp.StatusCode(), resp.Body())
			}, func() {
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
	}, func(tallies []*tally, before, after sample) *phaseResult {
		return c.summarize("linearizable read", label, clients, tallies, before, after, 1)
	})
}

// closedLoop runs clients goroutines, each calling its attempt function back to back (pausing
// briefly after a failure) until warmup+d has passed, then its done function. It samples the
// nodes when the measurement starts and when the last measured request has returned.
func (c *cluster) closedLoop(ctx context.Context, clients int, warmup, d time.Duration,
	newClient func(i int) (attempt func() (int, time.Duration, string), done func()),
	summarize func([]*tally, sample, sample) *phaseResult) *phaseResult {
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	tallies := make([]*tally, clients)
	var measured, finished sync.WaitGroup
	for i := range clients {
		tallies[i] = newTally(len(c.members))
		attempt, done := newClient(i)
		measured.Add(1)
		finished.Add(1)
		go func(t *tally) {
			defer finished.Done()
			defer done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				mi, dt, kind := attempt()
				if !t0.Before(measureFrom) {
					if kind == "" {
						t.ok++
						t.lat[mi] = append(t.lat[mi], dt)
					} else {
						t.errs[kind]++
					}
				}
				if kind != "" {
					pause(ctx, retryPause)
				}
			}
			measured.Done()
		}(tallies[i])
	}
	pause(ctx, time.Until(measureFrom))
	before := c.sample()
	measured.Wait()
	after := c.sample()
	finished.Wait()
	return summarize(tallies, before, after)
}

// latency is a distribution in milliseconds.
type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// distribution sorts ds in place and returns its percentiles (nearest rank).
func distribution(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.999999) - 1
		return benchkit.Millis(ds[min(max(i, 0), len(ds)-1)])
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return latency{Count: len(ds), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: benchkit.Millis(ds[len(ds)-1]),
		Mean: benchkit.Millis(sum / time.Duration(len(ds)))}
}
