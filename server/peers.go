package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/raftstore"
)

// PeerClient lets the store talk to other members while it forms or joins a cluster, through
// their HTTP API with this node's cluster signature. It implements raftstore.Peers.
type PeerClient struct{ s *Server }

// Peers returns the server's client for cluster formation.
func (s *Server) Peers() *PeerClient { return &PeerClient{s: s} }

var _ raftstore.Peers = (*PeerClient)(nil)

// Join implements raftstore.Peers.
func (p *PeerClient) Join(ctx context.Context, httpAddr string, me raftstore.Member) error {
	_, err := p.call(ctx, httpAddr, "/v1/cluster/join", me)
	return err
}

// Notify implements raftstore.Peers.
func (p *PeerClient) Notify(ctx context.Context, httpAddr string, me raftstore.Member) (raftstore.Member, error) {
	body, err := p.call(ctx, httpAddr, "/v1/cluster/notify", me)
	if err != nil {
		return raftstore.Member{}, err
	}
	var m raftstore.Member
	if err := json.Unmarshal(body, &m); err != nil {
		return raftstore.Member{}, fmt.Errorf("notify %s: bad answer: %w", httpAddr, err)
	}
	return m, nil
}

func (p *PeerClient) call(ctx context.Context, httpAddr, path string, me raftstore.Member) ([]byte, error) {
	me.Version, me.DiskLow = "", false // v0.1.0 refuses unknown fields in join and notify bodies
	body, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI(p.s.peerURL(httpAddr, path))
	req.Header.SetContentType(contentJSON)
	req.SetBody(body)
	p.s.signCluster(req)
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := p.s.peers.DoTimeout(req, resp, timeout); err != nil {
		return nil, fmt.Errorf("%s %s: %w", path, httpAddr, err)
	}
	if resp.StatusCode() != 200 {
		return nil, fmt.Errorf("%s %s: %d %s", path, httpAddr, resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...), nil
}
