package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/raftstore"
)

func (s *Server) notLeaderError() error {
	if s.store.Status().LeaderID == "" {
		return raftstore.ErrNoLeader
	}
	return raftstore.ErrNotLeader
}

func (s *Server) serveHealth(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.SetContentType(contentJSON)
	ctx.SetBodyString(`{"status":"ok"}`)
	return nil
}

// serveReady answers 200 when the node has a leader and has applied everything it knows to be
// committed; otherwise 503 with the reason.
func (s *Server) serveReady(ctx *fasthttp.RequestCtx) error {
	st := s.store.Status()
	reason := ""
	switch {
	case st.Fatal != nil:
		reason = "the state machine failed: " + st.Fatal.Error()
	case s.ln != nil && s.ln.failing.Load():
		// Only a connection opened before the failure gets this answer: new ones wait in the
		// listen queue until accept recovers.
		reason = "accepting connections fails (out of file descriptors?): see paimon_http_accept_errors_total"
	case st.LeaderID == "":
		reason = "no leader"
	case !st.Settled && st.AppliedIndex < st.CommitIndex:
		// A busy node trails its commit index by a batch; give it a moment.
		wctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.store.WaitApplied(wctx, st.CommitIndex); err != nil {
			reason = "applying the log: behind the commit index"
		}
		cancel()
	case !st.Settled:
		reason = "catching up: the log committed before this node started is not applied yet"
	}
	if reason != "" {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return s.writeJSON(ctx, map[string]any{"status": "not ready", "reason": reason, "appliedIndex": st.AppliedIndex, "commitIndex": st.CommitIndex}, st.AppliedIndex)
	}
	return s.writeJSON(ctx, map[string]any{"status": "ready", "leader": st.LeaderID, "appliedIndex": st.AppliedIndex}, st.AppliedIndex)
}

type clusterNode struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raftAddr"`
	HTTPAddr  string `json:"httpAddr"`
	Suffrage  string `json:"suffrage"`
	Reachable bool   `json:"reachable"`
}

// PGSyncStatus is the PostgreSQL sync's state as /v1/cluster/status reports it.
type PGSyncStatus struct {
	Enabled     bool    `json:"enabled"`
	Running     bool    `json:"running"`
	SyncedIndex uint64  `json:"syncedIndex"`
	LagIndex    uint64  `json:"lagIndex"`
	LagSeconds  float64 `json:"lagSeconds"`
	LastError   string  `json:"lastError"`
}

func (s *Server) serveClusterStatus(ctx *fasthttp.RequestCtx) error {
	st := s.store.Status()
	members, err := s.store.Members()
	if err != nil {
		return err
	}
	out := struct {
		NodeID        string        `json:"nodeId"`
		Leader        string        `json:"leader"`
		State         string        `json:"state"`
		Term          uint64        `json:"term"`
		AppliedIndex  uint64        `json:"appliedIndex"`
		CommitIndex   uint64        `json:"commitIndex"`
		LastContactMs int64         `json:"lastContactMs"`
		Nodes         []clusterNode `json:"nodes"`
		PGSync        PGSyncStatus  `json:"pgsync"`
	}{
		NodeID: st.NodeID, Leader: st.LeaderID, State: st.State, Term: st.Term,
		AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex, LastContactMs: -1,
		Nodes: make([]clusterNode, len(members)),
	}
	if !st.LastContact.IsZero() {
		out.LastContactMs = time.Since(st.LastContact).Milliseconds()
	}
	if s.cfg.PGSync != nil {
		out.PGSync = s.cfg.PGSync()
	}
	// Reachability is this node's view: its own API answers, and each other member's /healthz
	// answers within a short timeout (asked concurrently).
	var wg sync.WaitGroup
	for i, m := range members {
		cn := &out.Nodes[i]
		*cn = clusterNode{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr, Suffrage: "nonvoter"}
		if m.Voter {
			cn.Suffrage = "voter"
		}
		switch {
		case m.ID == st.NodeID:
			cn.Reachable = true
		case m.HTTPAddr != "":
			wg.Add(1)
			go func() {
				defer wg.Done()
				cn.Reachable = s.pingTimeout(m.HTTPAddr, 500*time.Millisecond) == nil
			}()
		}
	}
	wg.Wait()
	return s.writeJSON(ctx, out, st.AppliedIndex)
}

// serveIngestStatus reports chain ingest; it is a leader route, since ingest runs there.
func (s *Server) serveIngestStatus(ctx *fasthttp.RequestCtx) error {
	if s.cfg.IngestStatus == nil {
		return s.writeJSON(ctx, map[string]any{"chainId": s.cfg.ChainID, "enabled": false, "leaderOnly": true, "rpc": []any{}}, s.store.AppliedIndex())
	}
	return s.writeJSON(ctx, s.cfg.IngestStatus(), s.store.AppliedIndex())
}

// pgVerify compares this node's state with PostgreSQL (GET /v1/admin/pg/verify?wait=30s). It
// answers 200 with the report whether or not they differ (the report's "differences" says),
// and 503 when PostgreSQL cannot be compared (disabled, unreachable, or still behind).
func (s *Server) pgVerify(ctx *fasthttp.RequestCtx) error {
	wait := 30 * time.Second
	if v := ctx.QueryArgs().Peek("wait"); len(v) > 0 {
		d, err := time.ParseDuration(string(v))
		if err != nil || d < 0 || d > 10*time.Minute {
			return validation(fmt.Sprintf("wait %q must be a duration such as \"30s\", at most 10m", v), nil)
		}
		wait = d
	}
	if s.cfg.PGVerify == nil {
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "this node cannot verify PostgreSQL"}
	}
	vctx, cancel := context.WithTimeout(context.Background(), wait+5*time.Minute)
	defer cancel()
	rep, _, err := s.cfg.PGVerify(vctx, wait)
	if err != nil {
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "verify: " + err.Error()}
	}
	return s.writeJSON(ctx, rep, s.store.AppliedIndex())
}
