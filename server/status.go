package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/alerts"
	"paimon/raftstore"
	"paimon/version"
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

// serveReady answers 200 when this node has caught up (rqlite's /readyz?sync): the leader once
// it has applied everything committed before its term; a follower once it has heard from the
// current leader since it started and has applied up to the index the leader reports having
// applied (every acknowledged write is applied there), which it asks the leader for with a
// ready probe, so that from its first 200 its local reads include every write acknowledged
// before that request. After that first catch-up a follower is ready while it keeps up with
// its own commit index, as before, without asking the leader again. Otherwise 503 with the
// reason. A node restarted after kill -9 thus stays not ready until it has caught up.
func (s *Server) serveReady(ctx *fasthttp.RequestCtx) error {
	st := s.store.Status()
	reason := ""
	leaderApplied := uint64(0)
	// A busy node trails an index by a batch; give it a moment.
	waitFor := func(index uint64) bool {
		wctx, cancel := context.WithTimeout(context.Background(), readyWait)
		defer cancel()
		return s.store.WaitApplied(wctx, index) == nil
	}
	switch {
	case st.Fatal != nil:
		reason = "the state machine failed: " + st.Fatal.Error()
	case s.ln != nil && s.ln.failing.Load():
		// Only a connection opened before the failure gets this answer: new ones wait in the
		// listen queue until accept recovers.
		reason = "accepting connections fails (out of file descriptors?): see paimon_http_accept_errors_total"
	case st.LeaderID == "":
		reason = "no leader"
	case st.State == "Leader":
		// Ready once settled (its no-op of this term applied), as the local reads' gate asks
		// (leadsSettled): waiting for the commit index alone answered 200 before the no-op
		// committed, and the next /readyz, or a local read, said not caught up (systest's
		// single-node tests at load 15).
		if !st.Settled && !s.waitSettled() {
			reason = "catching up: the log committed before this node led is not applied yet"
		} else {
			s.leadsSettled()
		}
	case len(ctx.Request.Header.Peek(hdrReadyProbe)) > 0:
		// A probe asks the leader only: never probe further.
		reason = "not the leader"
	case st.LastContact.IsZero():
		reason = "has not heard from the leader since it started"
	case s.caughtUp.Load():
		// Caught up with the leader once since it started: from here on it trails the leader
		// by what replication takes, like any follower, and is ready while it keeps up with the
		// commit index it holds (no probe of the leader any more).
		if !st.Settled && !(st.AppliedIndex < st.CommitIndex && waitFor(st.CommitIndex)) {
			reason = "applying the log: behind the commit index"
		}
	default:
		leaderApplied, reason = s.catchUpWithLeader(st)
	}
	applied := s.store.AppliedIndex()
	if reason != "" {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		out := map[string]any{"status": "not ready", "reason": reason, "appliedIndex": applied, "commitIndex": st.CommitIndex}
		if leaderApplied > 0 {
			out["leaderAppliedIndex"] = leaderApplied
		}
		return s.writeJSON(ctx, out, applied)
	}
	return s.writeJSON(ctx, map[string]any{"status": "ready", "leader": st.LeaderID, "appliedIndex": applied}, applied)
}

// waitSettled waits up to readyWait for this node, leading, to settle (raftstore.WaitSettled).
func (s *Server) waitSettled() bool {
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	return s.store.WaitSettled(ctx) == nil
}

// readyWait is how long /readyz waits for the local state to reach the index it must reach.
const readyWait = time.Second

// catchUpWait is how long a follower that has not caught up since it started waits to apply
// the index the leader reported. Longer than readyWait: the leader's index moves on while the
// follower applies, so each attempt needs the follower to cover the whole replication lag
// within it, and a restarted follower under a steady write load on a starved machine (the
// suite on 2 cores) trailed by more than a second now and then: with readyWait it stayed not
// ready for 20 s ("applied 7281, the leader has applied 7298", systest.TestGracefulLeaderRestart).
const catchUpWait = 5 * time.Second

// catchUpWithLeader asks the leader st names for the index it has applied (a ready probe) and
// waits up to catchUpWait for this node to apply it; then the node has caught up since it
// started (caughtUp). Otherwise it returns why not.
func (s *Server) catchUpWithLeader(st raftstore.Status) (leaderApplied uint64, reason string) {
	leaderApplied, err := s.leaderApplied(st.LeaderID)
	if err != nil {
		return 0, "cannot learn the leader's applied index: " + err.Error()
	}
	if st.AppliedIndex < leaderApplied {
		wctx, cancel := context.WithTimeout(context.Background(), catchUpWait)
		defer cancel()
		if s.store.WaitApplied(wctx, leaderApplied) != nil {
			return leaderApplied, fmt.Sprintf("catching up: applied %d, the leader has applied %d", s.store.AppliedIndex(), leaderApplied)
		}
	}
	s.caughtUp.Store(true)
	return leaderApplied, ""
}

// leadsSettled reports whether this node leads and has applied everything committed before
// its term; it then has caught up (caughtUp) as well.
func (s *Server) leadsSettled() bool {
	if s.store.IsLeader() && s.store.Settled() {
		s.caughtUp.Store(true)
		return true
	}
	return false
}

// catchUpEvery is how often catchUpAfterStart tries until the node has caught up.
const catchUpEvery = 50 * time.Millisecond

// catchUpAfterStart runs from Start until the node has caught up with the leader since it started
// (caughtUp), which local reads wait for: the state commits without fsync
// (raftstore/DESIGN.md), so a node killed with -9 can reopen a few entries behind what it
// served before, and it replays them only once it learns the commit index from a leader.
// Until then its replica is older than answers it may already have given: serving it would
// send a reader back in time (chaos/DESIGN.md Findings 4). The test is /readyz's: lead,
// settled; or have heard from the leader and applied the index the leader has applied.
func (s *Server) catchUpAfterStart(stop <-chan struct{}) {
	t := time.NewTicker(catchUpEvery)
	defer t.Stop()
	for !s.caughtUp.Load() {
		if st := s.store.Status(); !s.leadsSettled() && st.State != "Leader" && st.LeaderID != "" && !st.LastContact.IsZero() {
			s.catchUpWithLeader(st)
		}
		if s.caughtUp.Load() {
			s.logger.Info("caught up with the leader since the start: serving local reads", "applied_index", s.store.AppliedIndex())
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// hdrReadyProbe marks a follower's /readyz call to the leader: the answer is the leader's own
// readiness and applied index, and a node that is not the leader answers 503 at once.
const hdrReadyProbe = "X-Paimon-Ready-Probe"

// leaderApplied asks the leader's /readyz (a ready probe) for the index it has applied.
func (s *Server) leaderApplied(leader string) (uint64, error) {
	id, addr := s.store.LeaderHTTPAddr()
	if id != leader || addr == "" {
		return 0, fmt.Errorf("no address known for leader %s", leader)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.peerURL(addr, "/readyz"))
	req.Header.Set(hdrReadyProbe, "1")
	if err := s.peers.DoTimeout(req, resp, readyWait); err != nil {
		return 0, fmt.Errorf("leader %s: %w", leader, err)
	}
	var out struct {
		Status       string `json:"status"`
		Reason       string `json:"reason"`
		AppliedIndex uint64 `json:"appliedIndex"`
	}
	if err := json.Unmarshal(resp.Body(), &out); err != nil || resp.StatusCode() != 200 {
		return 0, fmt.Errorf("leader %s answered %d: %s", leader, resp.StatusCode(), out.Reason)
	}
	return out.AppliedIndex, nil
}

type clusterNode struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raftAddr"`
	HTTPAddr  string `json:"httpAddr"`
	Suffrage  string `json:"suffrage"`
	Reachable bool   `json:"reachable"`
	// Version is the highest cluster version the member supports, as it answers the notify
	// endpoint; null for a release before cluster versions (v0.1.0) or a member that does not
	// answer.
	Version *string `json:"version"`
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
		NodeID         string        `json:"nodeId"`
		Version        string        `json:"version"`
		Release        string        `json:"release"`
		ClusterVersion string        `json:"clusterVersion"`
		Leader         string        `json:"leader"`
		State          string        `json:"state"`
		Term           uint64        `json:"term"`
		AppliedIndex   uint64        `json:"appliedIndex"`
		CommitIndex    uint64        `json:"commitIndex"`
		LastContactMs  int64         `json:"lastContactMs"`
		Nodes          []clusterNode `json:"nodes"`
		PGSync         PGSyncStatus  `json:"pgsync"`
		// Alerts is each webhook's delivery as this node sees it: the leader sends.
		Alerts []alerts.WebhookStatus `json:"alerts"`
	}{
		NodeID: st.NodeID, Version: st.Version, Release: version.Release(), ClusterVersion: st.ClusterVersion,
		Leader: st.LeaderID, State: st.State, Term: st.Term,
		AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex, LastContactMs: -1,
		Nodes: make([]clusterNode, len(members)), Alerts: []alerts.WebhookStatus{},
	}
	if s.deps.Alerts != nil {
		out.Alerts = s.deps.Alerts.Status()
	}
	if !st.LastContact.IsZero() {
		out.LastContactMs = time.Since(st.LastContact).Milliseconds()
	}
	if s.deps.PGSync != nil {
		ps := s.deps.PGSync.Status()
		out.PGSync = PGSyncStatus{Enabled: ps.Enabled, Running: ps.Running, SyncedIndex: ps.SyncedIndex,
			LagIndex: ps.LagIndex, LagSeconds: ps.LagSeconds, LastError: ps.LastError}
	}
	// Reachability is this node's view: its own API answers, and each other member answers the
	// cluster notify endpoint within a short timeout (asked concurrently), with the version it
	// supports.
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
			cn.Version = &st.Version
		case m.HTTPAddr != "":
			wg.Add(1)
			go func() {
				defer wg.Done()
				nctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				got, err := s.Peers().Notify(nctx, m.HTTPAddr, s.self())
				cn.Reachable = err == nil
				if err == nil && got.Version != "" {
					cn.Version = &got.Version
				}
			}()
		}
	}
	wg.Wait()
	return s.writeJSON(ctx, out, st.AppliedIndex)
}

// serveIngestStatus reports chain ingest; it is a leader route, since ingest runs there.
func (s *Server) serveIngestStatus(ctx *fasthttp.RequestCtx) error {
	if s.deps.Ingest == nil {
		return s.writeJSON(ctx, map[string]any{"chainId": s.cfg.ChainID, "enabled": false, "leaderOnly": true, "rpc": []any{}}, s.store.AppliedIndex())
	}
	return s.writeJSON(ctx, s.deps.Ingest.Status(), s.store.AppliedIndex())
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
	if s.deps.PGSync == nil {
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "this node cannot verify PostgreSQL"}
	}
	vctx, cancel := context.WithTimeout(context.Background(), wait+5*time.Minute)
	defer cancel()
	rep, err := s.deps.PGSync.Verify(vctx, wait)
	if err != nil {
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "verify: " + err.Error()}
	}
	return s.writeJSON(ctx, rep, s.store.AppliedIndex())
}

// serveStateDigest is GET /v1/admin/state/digest: a digest of this node's whole state at the
// index it has applied (raftstore.DigestState), to compare replicas at the same index.
func (s *Server) serveStateDigest(ctx *fasthttp.RequestCtx) error {
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	d, err := raftstore.DigestState(v.Reader, v.Index)
	if err != nil {
		return err
	}
	return s.writeJSON(ctx, d, v.Index)
}

// serveSystemConfig answers the node's effective configuration without secrets.
func (s *Server) serveSystemConfig(ctx *fasthttp.RequestCtx) error {
	return s.writeJSON(ctx, s.deps.SystemConfig, s.store.AppliedIndex())
}
