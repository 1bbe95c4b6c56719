package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/alerts"
	"paimon/alerts/alertstest"
	"paimon/raftstore"
)

const testSecret = "0123456789abcdef-secret"

// receiver is a real HTTP webhook receiver on 127.0.0.1 that records what it is sent and
// answers what answer says for the n-th request (1-based) it gets.
type receiver struct {
	t      *testing.T
	answer func(n int, w http.ResponseWriter) // nil: 200
	mu     sync.Mutex
	n      int
	got    []received
}

type received struct {
	id       string
	at       time.Time
	status   int
	body     []byte
	verified bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.n++
	n := rc.n
	rc.mu.Unlock()
	rw := &statusWriter{ResponseWriter: w, status: 200}
	if rc.answer != nil {
		rc.answer(n, rw)
	}
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{id: r.Header.Get("X-Paimon-Alert-Id"), at: time.Now(), status: rw.status, body: body,
		verified: alerts.Verify(testSecret, body, r.Header.Get("X-Paimon-Signature"))})
	rc.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(s int) {
	w.status, w.wrote = s, true
	w.ResponseWriter.WriteHeader(s)
}

// delivered returns how many times each id was answered 2xx, and fails the test on an
// unverified signature or a body whose id differs from its header.
func (rc *receiver) delivered() map[string]int {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for _, g := range rc.got {
		if !g.verified {
			rc.t.Errorf("alert %s: signature does not verify", g.id)
		}
		var b struct{ ID string }
		if err := json.Unmarshal(g.body, &b); err != nil || b.ID != g.id {
			rc.t.Errorf("body id %q (%v) differs from X-Paimon-Alert-Id %q", b.ID, err, g.id)
		}
		if g.status/100 == 2 {
			out[g.id]++
		}
	}
	return out
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func startReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func testConfig(urls ...string) alerts.Config {
	c := alerts.DefaultConfig()
	c.MinBackoff, c.MaxBackoff, c.AttemptTimeout, c.PollInterval = 10*time.Millisecond, 100*time.Millisecond, 2*time.Second, 20*time.Millisecond
	for i, u := range urls {
		c.Webhooks = append(c.Webhooks, alerts.Webhook{Name: fmt.Sprintf("hook%d", i), URL: u, Secret: testSecret})
	}
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startDeliverer(t *testing.T, cfg alerts.Config, ob alerts.Outbox, l alerts.Leadership, set *metrics.Set) *alerts.Deliverer {
	t.Helper()
	d, err := alerts.New(cfg, ob, l, alerts.Deps{Logger: testLogger(t), Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// allDelivered waits until every id in ids was answered 2xx by rc and has a DELIVERED outcome
// for webhook.
func allDelivered(t *testing.T, rc *receiver, ob *alertstest.MemOutbox, webhook string, ids []string) {
	t.Helper()
	checkFor(t, 20*time.Second, func() error {
		got, outs := rc.delivered(), ob.Outcomes(webhook)
		for _, id := range ids {
			if got[id] == 0 {
				return fmt.Errorf("%s not delivered (receiver got %v)", id, got)
			}
			if outs[id].State != alerts.StateDelivered {
				return fmt.Errorf("%s: outcome %+v, want DELIVERED", id, outs[id])
			}
		}
		return nil
	})
}

func raiseN(ob *alertstest.MemOutbox, from, n int) []string {
	var ids []string
	for i := from; i < from+n; i++ {
		a := alert(i, "WARNING")
		ob.Raise(a)
		ids = append(ids, a.ID)
	}
	return ids
}

// TestDeliverRetriesUntilAccepted: a receiver answering 503 to its first attempts gets every
// alert, each signed, and each id recorded delivered; the metrics count the attempts.
func TestDeliverRetriesUntilAccepted(t *testing.T) {
	rc, srv := startReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 5)
	set := metrics.NewSet()
	d := startDeliverer(t, testConfig(srv.URL), ob, alertstest.Leading(), set)
	allDelivered(t, rc, ob, "hook0", ids)
	more := raiseN(ob, 6, 3)
	d.Notify()
	allDelivered(t, rc, ob, "hook0", append(ids, more...))
	if n := len(rc.requests()); n != 8+3 {
		t.Errorf("receiver got %d requests, want 11 (3 refused, 8 alerts)", n)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{`paimon_alerts_attempts_total{webhook="hook0"} 11`, `paimon_alerts_attempt_failures_total{webhook="hook0"} 3`,
		`paimon_alerts_delivered_total{webhook="hook0"} 8`, `paimon_alerts_failed_total{webhook="hook0"} 0`, `paimon_alerts_lag_seconds{webhook="hook0"} 0`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, buf.String())
		}
	}
	if oc := ob.Outcomes("hook0")["a-1"]; oc.Attempts != 4 || oc.Status != 200 {
		t.Errorf("a-1 outcome %+v, want 4 attempts and status 200", oc)
	}
}

// TestDeliverReceiverDownThenUp: nothing listens on the webhook's address while alerts pile
// up (more than a page); once a receiver listens there it gets every one of them, in order.
func TestDeliverReceiverDownThenUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 12)
	cfg := testConfig("http://user:url-password@" + addr + "/hook/url-token")
	cfg.PageSize = 5
	d := startDeliverer(t, cfg, ob, alertstest.Leading(), nil)
	checkFor(t, 10*time.Second, func() error {
		if s := d.Status()[0]; s.Attempts < 5 || s.LastStatus != 0 || s.LastError == "" || !s.Busy {
			return fmt.Errorf("status %+v: want at least 5 failed attempts at a-1", s)
		}
		return nil
	})
	if st := d.Status()[0]; st.AlertID != "a-1" || !strings.Contains(st.LastError, "refused") {
		t.Errorf("status while down: %+v", st)
	}
	if e := d.Status()[0].LastError; strings.Contains(e, "url-token") || strings.Contains(e, "url-password") || strings.Contains(e, "/hook") {
		t.Errorf("the error shows the webhook URL: %s", d.Status()[0].LastError)
	}
	more := raiseN(ob, 13, 3) // raised while the receiver is down
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	rc := &receiver{t: t}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	ids = append(ids, more...)
	allDelivered(t, rc, ob, "hook0", ids)
	for i, r := range rc.requests() {
		if r.id != ids[i] {
			t.Fatalf("request %d was %s, want %s (outbox order)", i, r.id, ids[i])
		}
	}
	if ob.MaxPage() > 5 {
		t.Errorf("read pages of %d alerts, alerts.page_size is 5", ob.MaxPage())
	}
}

// TestDeliverLeaderKilledBeforeAck: a leader sends an alert, the receiver takes it, and the
// leader dies before its acknowledgement commits. The next leader sends it again: the
// receiver sees the same id twice and dedupes it; every alert ends up recorded delivered.
func TestDeliverLeaderKilledBeforeAck(t *testing.T) {
	rc, srv := startReceiver(t, nil)
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 3)
	cfg := testConfig(srv.URL)
	first := blockingRecord{MemOutbox: ob, called: make(chan []alerts.Outcome, 1)}
	d1 := startDeliverer(t, cfg, first, alertstest.Leading(), metrics.NewSet())
	var acked []alerts.Outcome
	select {
	case acked = <-first.called:
	case <-time.After(10 * time.Second):
		t.Fatal("the first leader never tried to acknowledge")
	}
	if acked[0].AlertID != "a-1" || acked[0].State != alerts.StateDelivered {
		t.Fatalf("first acknowledgement %+v", acked)
	}
	if err := d1.Close(); err != nil { // killed: the ack never commits
		t.Fatal(err)
	}
	if err := d1.Close(); err != nil { // Close is idempotent
		t.Fatal(err)
	}
	if got := rc.delivered(); got["a-1"] != 1 || len(ob.Outcomes("hook0")) != 0 {
		t.Fatalf("after the first leader: receiver %v, outcomes %v", got, ob.Outcomes("hook0"))
	}
	startDeliverer(t, cfg, ob, alertstest.Leading(), metrics.NewSet())
	allDelivered(t, rc, ob, "hook0", ids)
	got := rc.delivered()
	if got["a-1"] != 2 || got["a-2"] != 1 || got["a-3"] != 1 {
		t.Errorf("deliveries by id %v, want a-1 twice (sent by both leaders), the others once", got)
	}
	seen := map[string]bool{} // what a receiver deduplicating by id keeps
	for _, r := range rc.requests() {
		seen[r.id] = true
	}
	if len(seen) != 3 {
		t.Errorf("distinct ids %v, want 3", seen)
	}
}

// TestDeliverRefusedNotRetried: a 400 is not retried; the alert is recorded FAILED for that
// webhook with the status and the receiver's answer, and the next alerts still go through.
func TestDeliverRefusedNotRetried(t *testing.T) {
	rc, srv := startReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "unknown field\n  details")
		}
	})
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 3)
	set := metrics.NewSet()
	startDeliverer(t, testConfig(srv.URL), ob, alertstest.Leading(), set)
	allDelivered(t, rc, ob, "hook0", ids[1:])
	oc := ob.Outcomes("hook0")["a-1"]
	if oc.State != alerts.StateFailed || oc.Status != 400 || oc.Attempts != 1 || oc.Reason != "HTTP 400, not retried: unknown field details" {
		t.Errorf("a-1 outcome %+v, want FAILED, 400, 1 attempt and the answer", oc)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (no retry of the 400)", n)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `paimon_alerts_failed_total{webhook="hook0"} 1`) {
		t.Errorf("metrics:\n%s", buf.String())
	}
}

// TestDeliverTooManyRequests: a 429 with Retry-After is retried after the time it asks for.
func TestDeliverTooManyRequests(t *testing.T) {
	rc, srv := startReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 1)
	cfg := testConfig(srv.URL)
	cfg.MaxBackoff = 5 * time.Second
	startDeliverer(t, cfg, ob, alertstest.Leading(), nil)
	allDelivered(t, rc, ob, "hook0", ids)
	reqs := rc.requests()
	if len(reqs) != 2 || reqs[0].status != 429 {
		t.Fatalf("requests %+v, want a 429 then a 200", reqs)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, Retry-After asked for 1s", gap)
	}
}

// TestDeliverSeverityAndExpiry: each webhook gets the alerts at or above its min_severity; an
// alert older than max_age is marked failed without a request.
func TestDeliverSeverityAndExpiry(t *testing.T) {
	rcAll, srvAll := startReceiver(t, nil)
	rcCrit, srvCrit := startReceiver(t, nil)
	ob := &alertstest.MemOutbox{}
	old := alert(0, "CRITICAL")
	old.Time = time.Now().Add(-48 * time.Hour)
	ob.Raise(old)
	for i, sev := range []string{"INFO", "WARNING", "HIGH", "CRITICAL"} {
		ob.Raise(alert(i+1, sev))
	}
	cfg := testConfig(srvAll.URL, srvCrit.URL)
	cfg.Webhooks[0].MinSeverity = "info"
	cfg.Webhooks[1].MinSeverity = "Critical"
	startDeliverer(t, cfg, ob, alertstest.Leading(), nil)
	allDelivered(t, rcAll, ob, "hook0", []string{"a-1", "a-2", "a-3", "a-4"})
	allDelivered(t, rcCrit, ob, "hook1", []string{"a-4"})
	for _, hook := range []string{"hook0", "hook1"} {
		if oc := ob.Outcomes(hook)["a-0"]; oc.State != alerts.StateFailed || !strings.HasPrefix(oc.Reason, "expired") || oc.Attempts != 0 {
			t.Errorf("%s: expired alert outcome %+v", hook, oc)
		}
	}
	if outs := ob.Outcomes("hook1"); len(outs) != 2 {
		t.Errorf("hook1 outcomes %v: want only a-0 (expired) and a-4", outs)
	}
	for _, r := range append(rcAll.requests(), rcCrit.requests()...) {
		if r.id == "a-0" {
			t.Error("the expired alert was sent")
		}
	}
}

// TestDeliverFollowsLeadership: a follower sends nothing; it starts when it leads, stops when it
// steps down, and a second Start or a Start after Close is refused.
func TestDeliverFollowsLeadership(t *testing.T) {
	rc, srv := startReceiver(t, nil)
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 2)
	l := &alertstest.Leader{}
	d := startDeliverer(t, testConfig(srv.URL), ob, l, nil)
	if err := d.Start(context.Background()); err != alerts.ErrStarted {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("a follower sent %d requests", n)
	}
	l.Set(raftstore.Leadership{Leading: true, Term: 1})
	allDelivered(t, rc, ob, "hook0", ids)
	d.Close()
	if err := d.Start(context.Background()); err != alerts.ErrClosed {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestNewRefusesBadConfig: the constructor validates.
func TestNewRefusesBadConfig(t *testing.T) {
	cfg := testConfig("ftp://example.com/")
	if _, err := alerts.New(cfg, &alertstest.MemOutbox{}, alertstest.Leading(), alerts.Deps{}); err == nil || !strings.Contains(err.Error(), "alerts.webhooks[0].url") {
		t.Errorf("New = %v, want the url refused", err)
	}
}

// TestDeliverWebhooksIndependent: a webhook whose receiver is down does not hold up another.
func TestDeliverWebhooksIndependent(t *testing.T) {
	rcDown, srvDown := startReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
	rcUp, srvUp := startReceiver(t, nil)
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 4)
	d := startDeliverer(t, testConfig(srvDown.URL, srvUp.URL), ob, alertstest.Leading(), nil)
	allDelivered(t, rcUp, ob, "hook1", ids)
	if outs := ob.Outcomes("hook0"); len(outs) != 0 {
		t.Errorf("the failing webhook has outcomes %v", outs)
	}
	if len(rcDown.requests()) == 0 || d.Status()[0].LastStatus != http.StatusBadGateway || d.Status()[0].AlertID != "a-1" {
		t.Errorf("the failing webhook's status %+v", d.Status()[0])
	}
}

// TestDeliverAttemptTimeout: a receiver that does not answer within alerts.attempt_timeout is
// retried, and a redirect is not followed but recorded FAILED.
func TestDeliverAttemptTimeout(t *testing.T) {
	rc, srv := startReceiver(t, func(n int, w http.ResponseWriter) {
		switch n {
		case 1:
			time.Sleep(time.Second) // longer than the attempt timeout below
		case 3:
			w.Header().Set("Location", "https://elsewhere.example.com/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	})
	ob := &alertstest.MemOutbox{}
	raiseN(ob, 1, 2)
	cfg := testConfig(srv.URL)
	cfg.AttemptTimeout = 200 * time.Millisecond
	startDeliverer(t, cfg, ob, alertstest.Leading(), nil)
	allDelivered(t, rc, ob, "hook0", []string{"a-1"})
	checkFor(t, 10*time.Second, func() error {
		if oc := ob.Outcomes("hook0")["a-2"]; oc.State != alerts.StateFailed || oc.Status != http.StatusTemporaryRedirect {
			return fmt.Errorf("a-2 outcome %+v, want FAILED 307", oc)
		}
		return nil
	})
	if oc := ob.Outcomes("hook0")["a-1"]; oc.Attempts != 2 {
		t.Errorf("a-1 outcome %+v, want 2 attempts (the first timed out)", oc)
	}
}

// TestDeliverResumesAfterSteppingDown: a leader that steps down in the middle of retrying stops
// (nothing recorded), and when it leads again it resumes from the outbox.
func TestDeliverResumesAfterSteppingDown(t *testing.T) {
	var mu sync.Mutex
	up := false
	rc, srv := startReceiver(t, func(n int, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ob := &alertstest.MemOutbox{}
	ids := raiseN(ob, 1, 3)
	l := alertstest.Leading()
	d := startDeliverer(t, testConfig(srv.URL), ob, l, nil)
	checkFor(t, 10*time.Second, func() error {
		if s := d.Status()[0]; s.Attempts < 2 {
			return fmt.Errorf("status %+v, want 2 failed attempts", s)
		}
		return nil
	})
	l.Set(raftstore.Leadership{})
	checkFor(t, 10*time.Second, func() error {
		if d.Status()[0].Busy {
			return fmt.Errorf("still sending after stepping down: %+v", d.Status()[0])
		}
		return nil
	})
	if outs := ob.Outcomes("hook0"); len(outs) != 0 {
		t.Fatalf("outcomes %v recorded while the receiver refused everything", outs)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	l.Set(raftstore.Leadership{Leading: true, Term: 2})
	allDelivered(t, rc, ob, "hook0", ids)
}

// TestDeliverNoWebhooks: with no webhook configured the Deliverer leads, does nothing and
// closes.
func TestDeliverNoWebhooks(t *testing.T) {
	ob := &alertstest.MemOutbox{}
	raiseN(ob, 1, 2)
	d := startDeliverer(t, alerts.DefaultConfig(), ob, alertstest.Leading(), nil)
	d.Notify()
	if len(d.Status()) != 0 {
		t.Errorf("status %+v", d.Status())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReloadWebhooks: Reload swaps the webhooks of a running Deliverer: the webhook named
// hook0 moved to a new URL receives the alerts raised after (outcomes are kept per webhook
// name, so what was delivered under that name is not sent again), the old URL receives nothing
// more, and a config that does not validate changes nothing.
func TestReloadWebhooks(t *testing.T) {
	rcA, srvA := startReceiver(t, nil)
	rcB, srvB := startReceiver(t, nil)
	ob := &alertstest.MemOutbox{}
	first := raiseN(ob, 1, 3)
	d := startDeliverer(t, testConfig(srvA.URL), ob, alertstest.Leading(), nil)
	allDelivered(t, rcA, ob, "hook0", first)

	bad := testConfig(srvB.URL)
	bad.Webhooks[0].URL = "ftp://nowhere"
	if err := d.Reload(bad); err == nil {
		t.Fatal("Reload accepted a webhook with an ftp URL")
	}
	if st := d.Status(); len(st) != 1 || st[0].Name != "hook0" {
		t.Fatalf("after a refused reload: %+v", st)
	}

	// hook0 is now B.
	if err := d.Reload(testConfig(srvB.URL)); err != nil {
		t.Fatal(err)
	}
	before := len(rcA.requests())
	second := raiseN(ob, 4, 2)
	d.Notify()
	checkFor(t, 20*time.Second, func() error {
		got := rcB.delivered()
		for _, id := range second {
			if got[id] == 0 {
				return fmt.Errorf("%s not delivered to the new webhook (got %v)", id, got)
			}
		}
		return nil
	})
	if n := len(rcA.requests()); n != before {
		t.Errorf("the removed webhook got %d more requests", n-before)
	}
	if st := d.Status(); len(st) != 1 || st[0].Name != "hook0" {
		t.Errorf("status after the reload: %+v", st)
	}
}
