package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/fund/fundtest"
)

// writeTimeout bounds one POST /v1/admin/logs.
const writeTimeout = 10 * time.Second

// loader drives the updates: one mint per POST /v1/admin/logs, open-loop at a fixed rate.
type loader struct {
	url   string // http://host:port/v1/admin/logs
	token string
	to    common.Address // the account every mint of this run credits
	http  *fasthttp.Client

	sent, accepted, failed, late atomic.Int64
	writeLat                     benchkit.Hist // POST → answer, µs

	mu         sync.Mutex
	errs       map[string]int
	firstError string
	maxBehind  time.Duration
}

func newLoader(base, token string) *loader {
	// A recipient of its own per run: MintLog's logs are unique per (recipient, seq), so a
	// second run against the same node (-node) mints again instead of posting duplicates.
	h := sha256.Sum256([]byte("bench/ws " + time.Now().String()))
	return &loader{url: base + "/v1/admin/logs", token: token, to: common.BytesToAddress(h[:20]), errs: map[string]int{},
		http: &fasthttp.Client{MaxConnsPerHost: 4096, ReadTimeout: writeTimeout, WriteTimeout: writeTimeout}}
}

// loadResult is what the load phase did.
type loadResult struct {
	Rate        int                `json:"rate"`
	Seconds     float64            `json:"seconds"` // from the first send to the last answer
	Planned     int                `json:"planned"`
	Sent        int                `json:"sent"`
	Accepted    int                `json:"accepted"` // answered 200 with "accepted":1
	Failed      int                `json:"failed"`
	Late        int                `json:"late"` // sent more than one interval after their scheduled time
	MaxBehindMs float64            `json:"maxBehindMs"`
	Errors      map[string]int     `json:"errors,omitempty"`
	FirstError  string             `json:"firstError,omitempty"`
	WriteMs     benchkit.LatencyMs `json:"writeMs"` // POST → answer
}

// run sends rate writes a second for d: write i is due at start + i/rate and is sent then
// whether or not earlier ones were answered (open loop), so a slow node shows up as latency
// and late or failed writes rather than as a lower rate. It returns when every write sent has
// been answered or timed out; ctx stops sending.
func (l *loader) run(ctx context.Context, rate int, d time.Duration) *loadResult {
	interval := time.Second / time.Duration(rate)
	planned := int(d / interval)
	start := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
	var wg sync.WaitGroup
send:
	for i := range planned {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				break send
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break send
		}
		if behind := time.Since(due); behind > interval {
			l.late.Add(1)
			l.mu.Lock()
			l.maxBehind = max(l.maxBehind, behind)
			l.mu.Unlock()
		}
		l.sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.post(i)
		}()
	}
	wg.Wait()
	r := &loadResult{Rate: rate, Seconds: time.Since(start).Seconds(), Planned: planned, Sent: int(l.sent.Load()),
		Accepted: int(l.accepted.Load()), Failed: int(l.failed.Load()), Late: int(l.late.Load()), Errors: l.errs,
		FirstError: l.firstError, MaxBehindMs: benchkit.Millis(l.maxBehind)}
	m := benchkit.NewMerged()
	m.Add(l.writeLat.Wire())
	r.WriteMs = benchkit.LatencyOf(m)
	return r
}

// post sends write seq: one mint whose value is the send time in microseconds, which every
// client subtracts from its receive time.
func (l *loader) post(seq int) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	sentAt := time.Now()
	req.SetBody(fundtest.Body(fundtest.MintLog(l.to, seq, sentAt.UnixMicro())))
	req.SetRequestURI(l.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+l.token)
	err := l.http.DoTimeout(req, resp, writeTimeout)
	l.writeLat.Add(time.Since(sentAt).Microseconds())
	switch {
	case err != nil:
		l.fail("network", err.Error())
	case resp.StatusCode() != fasthttp.StatusOK:
		l.fail(fmt.Sprintf("http %d", resp.StatusCode()), fmt.Sprintf("%d %s", resp.StatusCode(), benchkit.Snippet(resp.Body())))
	default:
		var a struct {
			Accepted int `json:"accepted"`
		}
		if err := json.Unmarshal(resp.Body(), &a); err != nil || a.Accepted != 1 {
			l.fail("not accepted", benchkit.Snippet(resp.Body()))
			return
		}
		l.accepted.Add(1)
	}
}

func (l *loader) fail(kind, msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs[kind]++
	if l.firstError == "" {
		l.firstError = msg
	}
}
