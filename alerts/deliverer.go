package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/raftstore"
	"paimon/version"
)

// Deps are what a Deliverer uses besides its configuration, the outbox and the leadership.
type Deps struct {
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *metrics.Set // nil: a set of its own; one Deliverer per set
	Now     func() time.Time
	// Client sends the requests; nil: a client of its own that follows no redirect (a signed
	// POST is not replayed elsewhere; a 3xx is a failed delivery). Its timeout, if any, should
	// not be shorter than alerts.attempt_timeout.
	Client *http.Client
}

// WebhookStatus is one webhook's delivery as this node sees it.
type WebhookStatus struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	// Busy is true while this node (the leader) is sending an alert to it.
	Busy bool `json:"busy"`
	// AlertID is the alert being sent, Attempts how many requests were made for it so far,
	// LastStatus and LastError the last one's outcome, NextAttempt when the next is due.
	AlertID     string    `json:"alertId,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	LastStatus  int       `json:"lastStatus,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Since is when the alert being sent was raised: the delivery lag.
	Since time.Time `json:"since,omitzero"`
}

// Deliverer sends the outbox's alerts to the configured webhooks while this node leads: one
// worker per webhook, each reading the outbox a page at a time in order, sending each alert
// until the receiver takes it or refuses it for good, and recording that outcome in the
// outbox. Nothing it does blocks its callers: Notify never waits, and apply only ever writes
// the outbox. New does no I/O; Start runs it; Close stops it and waits for every goroutine.
type Deliverer struct {
	cfg        Config
	outbox     Outbox
	leader     Leadership
	logger     *slog.Logger
	now        func() time.Time
	client     *http.Client
	ownsClient bool
	hooks      []*hook

	m struct {
		attempts, failures, delivered, failed map[string]*metrics.Counter
	}

	set *metrics.Set

	// mu guards the lifecycle, cfg and hooks; Reload swaps cfg and hooks while no worker runs.
	mu      sync.Mutex
	parent  context.Context // Start's
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// hook is a webhook and its worker's state.
type hook struct {
	Webhook
	min  Severity
	wake chan struct{} // capacity 1: Notify never blocks

	mu     sync.Mutex
	status WebhookStatus
}

// New returns an unstarted Deliverer for the webhooks of cfg.
func New(cfg Config, outbox Outbox, leader Leadership, deps Deps) (*Deliverer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if outbox == nil || leader == nil {
		return nil, errors.New("alerts: New needs an outbox and a leadership")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewSet()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	d := &Deliverer{cfg: cfg, outbox: outbox, leader: leader, logger: deps.Logger.With("component", "alerts"),
		now: deps.Now, client: deps.Client}
	if d.client == nil {
		d.ownsClient = true
		d.client = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	d.m.attempts = map[string]*metrics.Counter{}
	d.m.failures = map[string]*metrics.Counter{}
	d.m.delivered = map[string]*metrics.Counter{}
	d.m.failed = map[string]*metrics.Counter{}
	d.set = deps.Metrics
	d.hooks = d.newHooks(cfg)
	return d, nil
}

// newHooks makes a hook per webhook of cfg, with its metrics (registered once per webhook name;
// the lag gauge reads whichever hook has the name when scraped).
func (d *Deliverer) newHooks(cfg Config) []*hook {
	var hooks []*hook
	for _, w := range cfg.Webhooks {
		h := &hook{Webhook: w, min: w.minSeverity(), wake: make(chan struct{}, 1)}
		h.status = WebhookStatus{Name: w.Name, Format: w.format()}
		hooks = append(hooks, h)
		label := fmt.Sprintf(`{webhook=%q}`, w.Name)
		d.m.attempts[w.Name] = d.set.GetOrCreateCounter("paimon_alerts_attempts_total" + label)
		d.m.failures[w.Name] = d.set.GetOrCreateCounter("paimon_alerts_attempt_failures_total" + label)
		d.m.delivered[w.Name] = d.set.GetOrCreateCounter("paimon_alerts_delivered_total" + label)
		d.m.failed[w.Name] = d.set.GetOrCreateCounter("paimon_alerts_failed_total" + label)
		name := w.Name
		d.set.GetOrCreateGauge("paimon_alerts_lag_seconds"+label, func() float64 {
			for _, h := range d.currentHooks() {
				if h.Name != name {
					continue
				}
				h.mu.Lock()
				defer h.mu.Unlock()
				if !h.status.Busy {
					return 0
				}
				return max(d.now().Sub(h.status.Since).Seconds(), 0)
			}
			return 0
		})
	}
	return hooks
}

func (d *Deliverer) currentHooks() []*hook {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hooks
}

// Reload replaces the webhooks and the delivery settings (a configuration reload). cfg is
// validated first; when refused, nothing changes. A running Deliverer stops its workers (a
// request in flight is abandoned and sent again: delivery is at least once) and starts them
// again with the new webhooks, each resuming from the first alert without an outcome for it.
func (d *Deliverer) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.started {
		d.cancel()
		<-d.done
	}
	// The workers are stopped: the metric maps and cfg are this goroutine's alone.
	d.cfg, d.hooks = cfg, d.newHooks(cfg)
	if d.started {
		d.run()
	}
	return nil
}

// Start runs the Deliverer in the background until ctx ends or Close: while this node leads,
// each webhook's worker resumes from the outbox (the alerts without an outcome for it).
func (d *Deliverer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.started {
		return ErrStarted
	}
	d.started = true
	d.parent = ctx
	d.run()
	return nil
}

// run starts the leadership loop under d.parent; d.mu is held.
func (d *Deliverer) run() {
	ctx, cancel := context.WithCancel(d.parent)
	d.cancel, d.done = cancel, make(chan struct{})
	changes, unsubscribe := d.leader.SubscribeLeadership()
	hooks, done := d.hooks, d.done
	go func() {
		defer close(done)
		defer unsubscribe()
		raftstore.WhileLeader(ctx, changes, func(ctx context.Context) { d.lead(ctx, hooks) })
	}()
}

// Close stops the Deliverer and waits for its goroutines; a request in flight is abandoned (its
// alert is sent again by the next leader). It is safe to call more than once.
func (d *Deliverer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if d.ownsClient {
		d.client.CloseIdleConnections()
	}
	return nil
}

// Notify tells the workers the outbox has new alerts (the node calls it when it applies one);
// without it they look every alerts.poll_interval. It never blocks.
func (d *Deliverer) Notify() {
	for _, h := range d.currentHooks() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// Status returns each webhook's delivery state as this node sees it (only the leader sends).
func (d *Deliverer) Status() []WebhookStatus {
	hooks := d.currentHooks()
	out := make([]WebhookStatus, 0, len(hooks))
	for _, h := range hooks {
		h.mu.Lock()
		out = append(out, h.status)
		h.mu.Unlock()
	}
	return out
}

// lead runs one worker per webhook for one term of leadership.
func (d *Deliverer) lead(ctx context.Context, hooks []*hook) {
	d.logger.Info("delivering alerts", "webhooks", len(hooks))
	var wg sync.WaitGroup
	for _, h := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx, h)
		}()
	}
	wg.Wait()
}

// work delivers to one webhook, in outbox order, from the first alert without an outcome for
// it. Its memory is one page of the outbox, however far behind the receiver is.
func (d *Deliverer) work(ctx context.Context, h *hook) {
	defer h.setIdle()
	var cursor uint64 // every alert up to it has an outcome for h, or is below h's severity
	var settled []Outcome
	for ctx.Err() == nil {
		page, err := d.outbox.Entries(ctx, cursor, d.cfg.PageSize)
		if err != nil {
			if ctx.Err() == nil {
				d.logger.Warn("read alert outbox", "webhook", h.Name, "error", err)
				sleep(ctx, d.cfg.PollInterval)
			}
			continue
		}
		for i := range page {
			e := &page[i]
			if _, ok := e.outcome(h.Name); ok {
				continue
			}
			sev, err := e.Alert.severity()
			if err == nil && sev < h.min {
				continue
			}
			// Alerts that need no request (unrenderable, expired) are recorded together, in
			// order, before the next one that does.
			if o, ok := d.settleWithoutSending(h, e, err); ok {
				settled = append(settled, o)
				continue
			}
			if !d.record(ctx, h, settled) {
				return
			}
			settled = settled[:0]
			o, ok := d.send(ctx, h, e)
			if !ok || !d.record(ctx, h, []Outcome{o}) {
				return
			}
		}
		if !d.record(ctx, h, settled) {
			return
		}
		settled = settled[:0]
		if len(page) > 0 {
			cursor = page[len(page)-1].Seq
		}
		if len(page) < d.cfg.PageSize {
			select {
			case <-ctx.Done():
			case <-h.wake:
			case <-time.After(d.cfg.PollInterval):
			}
		}
	}
}

// settleWithoutSending returns the outcome of an alert that is not sent: one that cannot be
// rendered (renderErr or its body), or one older than alerts.max_age.
func (d *Deliverer) settleWithoutSending(h *hook, e *Entry, renderErr error) (Outcome, bool) {
	if renderErr == nil {
		_, renderErr = Body(e.Alert, h.format(), h.RoutingKey)
	}
	if renderErr != nil {
		d.logger.Error("alert cannot be sent", "webhook", h.Name, "id", e.Alert.ID, "error", renderErr)
		return d.outcome(h, e, StateFailed, 0, renderErr.Error(), 0), true
	}
	if age := d.now().Sub(e.Alert.Time); age > d.cfg.MaxAge {
		return d.outcome(h, e, StateFailed, 0, fmt.Sprintf("expired: raised %s ago, alerts.max_age is %s", age.Round(time.Second), d.cfg.MaxAge), 0), true
	}
	return Outcome{}, false
}

func (d *Deliverer) outcome(h *hook, e *Entry, state string, status int, reason string, attempts int) Outcome {
	return Outcome{Seq: e.Seq, AlertID: e.Alert.ID, Webhook: h.Name, State: state, Status: status,
		Reason: reason, Attempts: attempts, Time: d.now().UTC()}
}

// send posts the alert until the receiver takes it (2xx) or refuses it for good (a 4xx other
// than 408 and 429, a 3xx), waiting a jittered, doubling, bounded backoff between attempts. It
// returns false when ctx ends first (leadership lost, Close): the alert has no outcome and
// the next leader sends it again.
func (d *Deliverer) send(ctx context.Context, h *hook, e *Entry) (Outcome, bool) {
	body, _ := Body(e.Alert, h.format(), h.RoutingKey) // settleWithoutSending rendered it
	h.update(func(s *WebhookStatus) {
		*s = WebhookStatus{Name: s.Name, Format: s.Format, Busy: true, AlertID: e.Alert.ID, Since: e.Alert.Time}
	})
	backoff := d.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, answer, err := d.post(ctx, h, e.Alert.ID, body)
		d.m.attempts[h.Name].Inc()
		if ctx.Err() != nil {
			return Outcome{}, false
		}
		switch {
		case err == nil && status >= 200 && status < 300:
			d.m.delivered[h.Name].Inc()
			h.update(func(s *WebhookStatus) { s.Attempts, s.LastStatus, s.LastError = attempt, status, "" })
			return d.outcome(h, e, StateDelivered, status, "", attempt), true
		case err == nil && !retryable(status):
			d.m.failures[h.Name].Inc()
			d.m.failed[h.Name].Inc()
			reason := fmt.Sprintf("HTTP %d, not retried", status)
			if answer != "" {
				reason += ": " + answer
			}
			d.logger.Warn("alert refused by receiver", "webhook", h.Name, "id", e.Alert.ID, "status", status)
			h.update(func(s *WebhookStatus) { s.Attempts, s.LastStatus, s.LastError = attempt, status, reason })
			return d.outcome(h, e, StateFailed, status, reason, attempt), true
		}
		d.m.failures[h.Name].Inc()
		reason := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			reason = err.Error()
		} else if answer != "" {
			reason += ": " + answer
		}
		if age := d.now().Sub(e.Alert.Time); age > d.cfg.MaxAge {
			d.m.failed[h.Name].Inc()
			reason = fmt.Sprintf("expired after %d attempts (alerts.max_age %s): %s", attempt, d.cfg.MaxAge, reason)
			return d.outcome(h, e, StateFailed, status, reason, attempt), true
		}
		wait := jitter(backoff)
		if retryAfter > wait {
			wait = min(retryAfter, d.cfg.MaxBackoff)
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
		if attempt == 1 || attempt%10 == 0 {
			d.logger.Warn("alert delivery failed, retrying", "webhook", h.Name, "id", e.Alert.ID, "attempt", attempt, "error", reason, "wait", wait)
		}
		next := d.now().Add(wait)
		h.update(func(s *WebhookStatus) {
			s.Attempts, s.LastStatus, s.LastError, s.NextAttempt = attempt, status, reason, next
		})
		if !sleep(ctx, wait) {
			return Outcome{}, false
		}
	}
}

// retryable reports whether a non-2xx status may succeed later: 408, 429 and 5xx.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// post makes one attempt. status is 0 when no response came (err says why); retryAfter is the
// response's Retry-After (0 when absent); answer is the start of a non-2xx response's body,
// for the reason shown. For a refused request err is nil and the status tells.
func (d *Deliverer) post(ctx context.Context, h *hook, id string, body []byte) (status int, retryAfter time.Duration, answer string, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paimon-edge/"+version.Release())
	req.Header.Set("X-Paimon-Alert-Id", id)
	if h.Secret != "" {
		req.Header.Set("X-Paimon-Signature", Sign(h.Secret, body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, "", redact(err, h.URL)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		head := make([]byte, 200)
		n, _ := io.ReadFull(resp.Body, head)
		answer = strings.ToValidUTF8(strings.Join(strings.Fields(string(head[:n])), " "), "")
	}
	// Read (a bounded part of) the rest so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), d.now()), answer, nil
}

// redact removes the webhook's URL from a transport error: Slack's and others' URLs carry
// their credential, and the error is logged and shown in the status. The client wraps the
// cause in a *url.Error naming the URL (as it rewrote it); the cause alone says what failed.
func redact(err error, rawURL string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer within alerts.attempt_timeout")
	}
	return errors.New(strings.ReplaceAll(err.Error(), rawURL, "<webhook url>"))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// record proposes outcomes until one proposal commits; it returns false when ctx ends first.
// A proposal that failed may still have committed: recording twice is harmless (Outbox).
func (d *Deliverer) record(ctx context.Context, h *hook, outcomes []Outcome) bool {
	if len(outcomes) == 0 {
		return true
	}
	backoff := d.cfg.MinBackoff
	for {
		rctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
		err := d.outbox.Record(rctx, outcomes)
		cancel()
		if err == nil {
			h.setIdle()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.logger.Warn("record alert outcome", "webhook", h.Name, "id", outcomes[0].AlertID, "error", err)
		if !sleep(ctx, jitter(backoff)) {
			return false
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

func (h *hook) update(f func(*WebhookStatus)) {
	h.mu.Lock()
	f(&h.status)
	h.mu.Unlock()
}

// setIdle clears the in-flight part of the status, keeping the last outcome.
func (h *hook) setIdle() {
	h.update(func(s *WebhookStatus) { s.Busy, s.NextAttempt, s.Since = false, time.Time{}, time.Time{} })
}

// jitter draws a wait in [d/2, d], so that webhooks failing together do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
