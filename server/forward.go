package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/raftstore"
)

// forward sends a request this node cannot serve (a write, or a leader or linearizable read on a
// follower) to the leader over the pooled client and relays its answer, so clients never need
// to find the leader. The request keeps the client's Authorization header (the leader checks
// the client's token itself) and gains the client's IP and this node's cluster signature. A
// request that was already forwarded is never forwarded again: if it reaches a node that is no
// longer the leader, that node refuses it as not proposed (hdrRefused).
//
// While leadership moves (a leader that stops hands it over first), a forward can find no
// leader, a leader that refuses because it no longer leads, or a leader whose API has just
// closed. In each of those cases the request certainly did not reach the log, so it is sent
// again to the new leader, within the write's deadline (ApplyTimeout). A forward whose
// outcome is unknown (the connection broke after the request was sent, or the leader answered
// NO_LEADER without saying it did not propose it) is sent again only on a route marked resend
// (idempotent: POST /v1/admin/logs, where a log that the first attempt committed is then
// reported as a duplicate); any other is answered 503 UNAVAILABLE with details.outcome
// "unknown", never sent twice. NO_LEADER is answered only when the request certainly was not
// proposed (docs/API.md; chaos/DESIGN.md Findings 3).
func (s *Server) forward(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	return s.forwardWithin(ctx, rc, false, false)
}

// forwardHandOver forwards a request this node stopped leading with (prior, its proposal's
// error): refused because it was handing leadership over between its leader check and its
// proposal, or (an idempotent route) deposed with the proposal in flight, whose outcome is
// then unknown. Leadership is known to be moving, so the first attempt too waits for the new
// leader until the write's deadline, not forwardElection (an election after a hand-over on a
// loaded machine can take longer).
func (s *Server) forwardHandOver(ctx *fasthttp.RequestCtx, rc *reqCtx, prior error) error {
	return s.forwardWithin(ctx, rc, true, errors.Is(prior, errOutcomeUnknown))
}

// forwardWithin forwards the request, again to each next leader while it certainly did not
// reach the log (or, on a resend route, while its outcome is unknown), until ApplyTimeout.
// unknown says an earlier attempt (this node's own proposal) may have reached the log: then
// so may the request whatever the last attempt answers, and an error says so (outcome
// unknown, never NO_LEADER: a write that answered NO_LEADER after this node's deposed
// proposal later committed was reported as a duplicate when sent again, in
// node.TestLaggingAndNewNodesCatchUpBySnapshot).
func (s *Server) forwardWithin(ctx *fasthttp.RequestCtx, rc *reqCtx, handOver, unknown bool) (err error) {
	if rc.who.Via != "" || (rc.who.Cluster && rc.who.Name != "cluster-secret") {
		return fmt.Errorf("%w: forwarded to %s, which is not the leader", raftstore.ErrNoLeader, s.cfg.NodeID)
	}
	defer func() {
		if unknown && err != nil && !errors.Is(err, errOutcomeUnknown) {
			err = fmt.Errorf("%w: %w", err, errOutcomeUnknown)
		}
	}()
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	tried := ""
	for attempt := 0; ; attempt++ {
		leader, addr, err := s.awaitLeader(deadline, tried, attempt > 0 || handOver)
		if err != nil {
			return err
		}
		retry, err := s.forwardTo(ctx, rc, leader, addr, deadline, routes[rc.route].resend)
		unknown = unknown || errors.Is(err, errOutcomeUnknown)
		if !retry || !time.Now().Before(deadline) {
			return err
		}
		s.metrics.forwardRetries.Inc()
		if errors.Is(err, errOutcomeUnknown) {
			s.metrics.forwardResends.Inc()
		}
		tried = leader
	}
}

// forwardRetryPoll is how often a forward waiting for a (new) leader looks again; a leader
// that refused but is still reported as the leader is tried again after forwardRetrySame. A
// first attempt that finds no leader waits forwardElection for one: the election that follows
// a hand-over takes milliseconds, while a node cut off from the cluster still answers
// NO_LEADER promptly.
const (
	forwardRetryPoll = 5 * time.Millisecond
	forwardRetrySame = 50 * time.Millisecond
	forwardElection  = 250 * time.Millisecond
)

// awaitLeader returns the leader to forward to: once a leader is known and, after a refused
// attempt, once it is another one than tried (or forwardRetrySame has passed). The leader may
// be this node itself: it became the leader since the request arrived, and its own API serves
// the request as the leader.
func (s *Server) awaitLeader(deadline time.Time, tried string, retry bool) (leader, addr string, err error) {
	start := time.Now()
	if first := start.Add(forwardElection); !retry && first.Before(deadline) {
		deadline = first
	}
	for {
		leader, addr = s.store.LeaderHTTPAddr()
		if leader != "" && addr != "" && (leader != tried || time.Since(start) >= forwardRetrySame) {
			return leader, addr, nil
		}
		if !time.Now().Add(forwardRetryPoll).Before(deadline) {
			return "", "", raftstore.ErrNoLeader
		}
		time.Sleep(forwardRetryPoll)
	}
}

// forwardTo sends the request to the leader at addr once and relays its answer. It reports
// retry when the request certainly did not reach the log (no connection could be made, or the
// node refused it as not proposed) and may be given to the next leader; with resend (an
// idempotent route) also when its outcome is unknown: the connection broke after the request
// went out, or the leader answered NO_LEADER (a v0.1.0 leader says no more than that).
func (s *Server) forwardTo(ctx *fasthttp.RequestCtx, rc *reqCtx, leader, addr string, deadline time.Time, resend bool) (retry bool, err error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.CopyTo(req)
	req.SetRequestURI(s.peerURL(addr, string(ctx.RequestURI())))
	req.SetHost(addr)
	req.Header.Del(hdrCluster)
	req.Header.Set(hdrClientIP, clientIP(ctx, rc))
	s.signCluster(req)
	s.metrics.forwarded.Inc()
	if err := s.peers.DoTimeout(req, resp, time.Until(deadline)+2*time.Second); err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) {
			return false, fmt.Errorf("%w: forwarding to leader %s: %w", raftstore.ErrTimeout, leader, err)
		}
		if notConnected(err) {
			// The leader went away between the lookup and the call (its API closed): the
			// request was never sent.
			return true, fmt.Errorf("%w: forwarding to leader %s at %s: %w", raftstore.ErrNoLeader, leader, addr, err)
		}
		return resend, fmt.Errorf("%w: %w: forwarding to leader %s at %s: %w", raftstore.ErrNoLeader, errOutcomeUnknown, leader, addr, err)
	}
	if len(resp.Header.Peek(hdrRefused)) > 0 {
		return true, fmt.Errorf("%w: %s refused the forwarded request: it no longer leads", raftstore.ErrNoLeader, leader)
	}
	if !ctx.IsGet() && resp.StatusCode() == fasthttp.StatusServiceUnavailable && bytes.Contains(resp.Body(), []byte(`"NO_LEADER"`)) {
		// Without hdrRefused (a v0.1.0 leader's answer) NO_LEADER does not say the write was
		// not proposed, and this node's NO_LEADER must (docs/API.md).
		return resend, fmt.Errorf("%w: %w: %s answered NO_LEADER to the forwarded request", raftstore.ErrNoLeader, errOutcomeUnknown, leader)
	}
	resp.Header.Del(fasthttp.HeaderConnection)
	resp.CopyTo(&ctx.Response)
	return false, nil
}

// errOutcomeUnknown marks a leadership error after which the request may still be applied: a
// forward whose connection broke after the request was sent, or a proposal whose leader was
// deposed while it was in flight. It is answered 503 UNAVAILABLE with details.outcome
// "unknown" (never NO_LEADER, which says the request was not proposed) and never sent again,
// except on a route marked resend (idempotent), which goes to the (new) leader within
// apply_timeout.
var errOutcomeUnknown = errors.New("the request may have been applied")

// hdrRefused, on an error answer from a member, says the request was refused before it was
// proposed (the member does not lead, or is handing leadership over): the forwarding member
// may send it to the new leader.
const hdrRefused = "X-Paimon-Refused"

// refused reports whether err, answered to a request, means it was not proposed (see
// raftstore.Refused); one whose outcome is unknown is not.
func refused(err error) bool {
	return raftstore.Refused(err) && !errors.Is(err, errOutcomeUnknown)
}

// notConnected reports whether a client error means no connection was made, so the request
// was not sent.
func notConnected(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// clientIP is the address of the client a request comes from: the forwarding member's report
// when a member forwarded it (members are trusted), else the peer address.
func clientIP(ctx *fasthttp.RequestCtx, rc *reqCtx) string {
	if rc.who.Via != "" {
		if ip := ctx.Request.Header.Peek(hdrClientIP); len(ip) > 0 {
			return string(ip)
		}
	}
	return ctx.RemoteIP().String()
}
