package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/raftstore"
)

// catchUp returns once this node has applied everything the leader had committed when it was
// called: the leader's read index (it confirms its leadership with a quorum first), asked
// over GET /v1/cluster/readindex by a follower, then waited for locally. auth uses it before
// refusing a session token it does not know (a login applied on the leader but not yet here).
// Its errors are the API's: no leader or a leader that cannot be reached is NO_LEADER, waiting
// too long UNAVAILABLE (503, the client retries); a leader that does not serve the endpoint (an
// older release) refuses the token (AUTH_INVALID, as before the check existed).
func (s *Server) catchUp(ctx context.Context) error {
	var index uint64
	var err error
	if s.store.IsLeader() {
		index, err = s.store.ReadIndex(ctx)
	} else {
		index, err = s.leaderReadIndex(ctx)
	}
	if err != nil {
		return err
	}
	return s.store.WaitApplied(ctx, index)
}

// leaderReadIndex asks the leader for its read index.
func (s *Server) leaderReadIndex(ctx context.Context) (uint64, error) {
	leader, addr := s.store.LeaderHTTPAddr()
	if leader == "" || addr == "" || leader == s.cfg.NodeID {
		return 0, raftstore.ErrNoLeader
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("GET")
	req.SetRequestURI(s.peerURL(addr, "/v1/cluster/readindex"))
	s.signCluster(req)
	timeout := s.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := s.peers.DoTimeout(req, resp, timeout); err != nil {
		return 0, fmt.Errorf("%w: read index of the leader %s at %s: %w", raftstore.ErrNoLeader, leader, addr, err)
	}
	switch resp.StatusCode() {
	case 200:
	case 404, 405:
		return 0, fmt.Errorf("%w (the leader %s cannot check sessions)", auth.ErrSessionInvalid, leader)
	default:
		return 0, fmt.Errorf("%w: read index of the leader %s: %d %.200s", raftstore.ErrNoLeader, leader, resp.StatusCode(), resp.Body())
	}
	var body struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal(resp.Body(), &body); err != nil {
		return 0, fmt.Errorf("%w: read index of the leader %s: %w", raftstore.ErrNoLeader, leader, err)
	}
	return body.Index, nil
}

// clusterReadIndex answers a member's GET /v1/cluster/readindex with this leader's read
// index: the commit index once a quorum has confirmed this node still leads.
func (s *Server) clusterReadIndex(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if !rc.who.Cluster || rc.who.Via == "" {
		return fmt.Errorf("%w: %s is for cluster members", errForbidden, ctx.Path())
	}
	c, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	index, err := s.store.ReadIndex(c)
	if err != nil {
		return err
	}
	var num [20]byte
	ctx.SetContentType(contentJSON)
	ctx.SetBody(append(strconv.AppendUint(append(num[:0:0], `{"index":`...), index, 10), '}'))
	return nil
}
