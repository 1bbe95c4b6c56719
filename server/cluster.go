package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/fund"
	"paimon/internal/redact"
	"paimon/raftstore"
)

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// joinRequest is the body of POST /v1/cluster/join.
type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	Voter    *bool  `json:"voter"`
}

// decodeStrict decodes a JSON object into v, refusing unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return validation("request body is empty", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return validation("malformed JSON body: "+err.Error(), nil)
	}
	if dec.More() {
		return validation("malformed JSON body: data after the object", nil)
	}
	return nil
}

// parseMember validates a join or notify body.
func parseMember(body []byte) (raftstore.Member, error) {
	var jr joinRequest
	if err := decodeStrict(body, &jr); err != nil {
		return raftstore.Member{}, err
	}
	if !nodeIDRe.MatchString(jr.ID) {
		return raftstore.Member{}, validation("id must be 1-64 letters, digits, '.', '_' or '-'", map[string]any{"field": "id"})
	}
	for field, addr := range map[string]string{"raftAddr": jr.RaftAddr, "httpAddr": jr.HTTPAddr} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return raftstore.Member{}, validation(field+" must be host:port", map[string]any{"field": field})
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return raftstore.Member{}, validation(field+" must be an address other nodes can dial, not "+host, map[string]any{"field": field})
		}
	}
	m := raftstore.Member{ID: jr.ID, RaftAddr: jr.RaftAddr, HTTPAddr: jr.HTTPAddr, Voter: true}
	if jr.Voter != nil {
		m.Voter = *jr.Voter
	}
	return m, nil
}

// clusterJoin adds a node (on the leader; followers forward). Its Raft address must complete
// the cluster handshake (the store dials it through the authenticated transport): a member
// that cannot be reached would only weaken the quorum. That is the only check, and it speaks
// only the cluster's own protocol: the node dials nothing else an admin names (its HTTP
// address is recorded, and GET /v1/cluster/status reports whether it answers), and the answer
// is reachable or not, never what a foreign service at the address said.
func (s *Server) clusterJoin(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	m, err := parseMember(ctx.PostBody())
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	idx, err := s.store.Join(cctx, m)
	if errors.Is(err, raftstore.ErrUnreachable) {
		// The detail (a TLS error, a refused handshake) is for the operator's log only.
		s.logger.Info("cluster join: raft address unreachable", "id", m.ID, "raft_addr", m.RaftAddr, "error", redact.String(err.Error()))
		return validation(fmt.Sprintf("raftAddr %s is not reachable: no member of this cluster (a paimon node with its cluster secret) answered there", m.RaftAddr), map[string]any{"field": "raftAddr"})
	}
	if err != nil {
		return membershipError(err)
	}
	s.logger.Info("cluster join", "id", m.ID, "raft_addr", m.RaftAddr, "http_addr", m.HTTPAddr, "by", rc.who.Name)
	if ai := s.audit(ctx, rc, "cluster.join", m.ID, nil, m); ai > idx {
		idx = ai
	}
	return s.writeJSON(ctx, map[string]any{"index": idx}, idx)
}

// clusterRemove takes a node out (on the leader; followers forward).
func (s *Server) clusterRemove(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	var body struct {
		ID string `json:"id"`
	}
	if err := decodeStrict(ctx.PostBody(), &body); err != nil {
		return err
	}
	if !nodeIDRe.MatchString(body.ID) {
		return validation("id must be 1-64 letters, digits, '.', '_' or '-'", map[string]any{"field": "id"})
	}
	cctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	idx, err := s.store.Remove(cctx, body.ID)
	if err != nil {
		return membershipError(err)
	}
	s.logger.Info("cluster remove", "id", body.ID, "by", rc.who.Name)
	if ai := s.audit(ctx, rc, "cluster.remove", body.ID, body, nil); ai > idx {
		idx = ai
	}
	return s.writeJSON(ctx, map[string]any{"index": idx}, idx)
}

// clusterNotify records a node that is forming a cluster and answers with this node.
func (s *Server) clusterNotify(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	m, err := parseMember(ctx.PostBody())
	if err != nil {
		return err
	}
	if rc.who.Via != m.ID {
		return validation("a node may only announce itself", nil)
	}
	s.store.Noticed(m)
	return s.writeJSON(ctx, s.self(), s.store.AppliedIndex())
}

func (s *Server) self() raftstore.Member {
	st := s.store.Status()
	return raftstore.Member{ID: s.cfg.NodeID, RaftAddr: s.cfg.RaftAddr, HTTPAddr: s.cfg.AdvertiseAddr(), Voter: true,
		Version: st.Version, DiskLow: st.DiskLow}
}

func membershipError(err error) error {
	switch {
	case errors.Is(err, raftstore.ErrConflict), errors.Is(err, raftstore.ErrTooOld):
		return &apiError{Status: 409, Code: "CONFLICT", Message: err.Error()}
	case errors.Is(err, raftstore.ErrUnreachable):
		// Never err's text: it may carry what a foreign service at the address answered.
		return validation("raftAddr is not reachable", map[string]any{"field": "raftAddr"})
	case errors.Is(err, raftstore.ErrUnknownNode):
		return &apiError{Status: 404, Code: "NOT_FOUND", Message: err.Error()}
	}
	return err
}

func (s *Server) pingTimeout(addr string, timeout time.Duration) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.peerURL(addr, "/healthz"))
	if err := s.peers.DoTimeout(req, resp, timeout); err != nil {
		return err
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("status %d", resp.StatusCode())
	}
	return nil
}

// audit records a privileged action whose change could not carry its own audit entry (a
// membership change is a Raft configuration entry) in an entry of its own right after it, and
// returns that entry's index. A failure is logged: the change itself has happened.
func (s *Server) audit(ctx *fasthttp.RequestCtx, rc *reqCtx, action, resource string, before, after any) uint64 {
	enc := func(v any) []byte {
		if v == nil {
			return nil
		}
		b, _ := json.Marshal(v)
		return b
	}
	res, err := s.propose(fund.EncodeAudit(&fund.AuditCommand{
		Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Action: action, Resource: resource,
		Before: enc(before), After: enc(after),
	}))
	if err != nil {
		s.logger.Warn("audit entry not recorded", "action", action, "resource", resource, "error", err)
		return 0
	}
	return res.Index
}
