package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/raftstore"
)

// forward sends a request this node cannot serve (a write, or a leader or linearizable read on a
// follower) to the leader over the pooled client and relays its answer, so clients never need
// to find the leader. The request keeps the client's Authorization header (the leader checks
// the client's token itself) and gains the client's IP and this node's cluster signature. A
// request that was already forwarded is never forwarded again: if it reaches a node that is no
// longer the leader, the answer is NO_LEADER and the client retries.
func (s *Server) forward(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if rc.who.via != "" || (rc.who.cluster && rc.who.name != "cluster-secret") {
		return fmt.Errorf("%w: forwarded to %s, which is not the leader", raftstore.ErrNoLeader, s.cfg.NodeID)
	}
	leader, addr := s.store.LeaderHTTPAddr()
	if leader == "" || addr == "" || leader == s.cfg.NodeID {
		return raftstore.ErrNoLeader
	}
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
	if err := s.peers.DoTimeout(req, resp, s.cfg.ApplyTimeout+2*time.Second); err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) {
			return fmt.Errorf("%w: forwarding to leader %s: %w", raftstore.ErrTimeout, leader, err)
		}
		// The leader went away between the lookup and the call.
		return fmt.Errorf("%w: forwarding to leader %s at %s: %w", raftstore.ErrNoLeader, leader, addr, err)
	}
	resp.Header.Del(fasthttp.HeaderConnection)
	resp.CopyTo(&ctx.Response)
	return nil
}

// clientIP is the address of the client a request comes from: the forwarding member's report
// when a member forwarded it (members are trusted), else the peer address.
func clientIP(ctx *fasthttp.RequestCtx, rc *reqCtx) string {
	if rc.who.via != "" {
		if ip := ctx.Request.Header.Peek(hdrClientIP); len(ip) > 0 {
			return string(ip)
		}
	}
	return ctx.RemoteIP().String()
}
