package server

import (
	"time"

	"github.com/valyala/fasthttp"

	"paimon/version"
)

// Component statuses in GET /v1/system/health (docs/API.md "System health" gives each rule).
const (
	healthOK       = "ok"
	healthDegraded = "degraded"
	healthDown     = "down"
	healthDisabled = "disabled"
)

// ComponentHealth is one component in GET /v1/system/health. Reason is a fixed phrase, never a
// component's error text: errors may carry URLs with credentials or DSNs.
type ComponentHealth struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Reason  string `json:"reason,omitempty"`
}

// healthComponents names every component once: a struct, not a map, so none can be left out.
type healthComponents struct {
	Raft     ComponentHealth `json:"raft"`
	Pebble   ComponentHealth `json:"pebble"`
	Cache    ComponentHealth `json:"cache"`
	Ingest   ComponentHealth `json:"ingest"`
	PGSync   ComponentHealth `json:"pgsync"`
	Push     ComponentHealth `json:"push"`
	Executor ComponentHealth `json:"executor"`
	Alerts   ComponentHealth `json:"alerts"`
}

func (c *healthComponents) all() []*ComponentHealth {
	return []*ComponentHealth{&c.Raft, &c.Pebble, &c.Cache, &c.Ingest, &c.PGSync, &c.Push, &c.Executor, &c.Alerts}
}

// serveSystemHealth is GET /v1/system/health (public): every component's status as this node
// sees it, from the status each one reports. It answers 200 whatever the components say (the
// body's status says ok or degraded); /readyz is the load balancer's check.
func (s *Server) serveSystemHealth(ctx *fasthttp.RequestCtx) error {
	st := s.store.Status()
	rel := version.Release()
	comp := func(status, reason string) ComponentHealth {
		return ComponentHealth{Status: status, Version: rel, Reason: reason}
	}
	var c healthComponents

	// Raft and Pebble: the store applies every entry to Pebble, and a failed apply (a Pebble
	// error among them) stops the state machine for good.
	switch {
	case st.Fatal != nil:
		c.Raft = comp(healthDown, "the state machine failed")
		c.Pebble = comp(healthDown, "the state machine failed")
	case st.State == "Shutdown":
		c.Raft = comp(healthDown, "shut down")
		c.Pebble = comp(healthOK, "")
	case st.LeaderID == "":
		c.Raft = comp(healthDegraded, "no leader")
		c.Pebble = comp(healthOK, "")
	case !st.Settled:
		c.Raft = comp(healthDegraded, "applying the log: behind the commit index")
		c.Pebble = comp(healthOK, "")
	default:
		c.Raft = comp(healthOK, "")
		c.Pebble = comp(healthOK, "")
	}
	if st.DiskLow && st.Fatal == nil {
		// The store refuses writes and its log and state wait (raftstore/disk.go).
		c.Pebble = comp(healthDegraded, "the data folder is below its free-space reserve: writes refused")
	}
	c.Raft.Version = st.ClusterVersion // the cluster version applied here

	// The view cache is always on and has no failure of its own: a miss reads the store.
	c.Cache = comp(healthOK, "")

	c.Ingest = comp(healthDisabled, "")
	if s.deps.Ingest != nil {
		switch is := s.deps.Ingest.Status(); {
		case !is.Enabled:
		case is.Halted:
			c.Ingest = comp(healthDegraded, "halted")
		case is.Running && is.LastError != "":
			c.Ingest = comp(healthDegraded, "the last poll failed")
		default:
			c.Ingest = comp(healthOK, "")
		}
	}

	c.PGSync = comp(healthDisabled, "")
	if s.deps.PGSync != nil {
		switch ps := s.deps.PGSync.Status(); {
		case !ps.Enabled:
		case ps.LastError != "":
			c.PGSync = comp(healthDegraded, "the last sync failed")
		default:
			c.PGSync = comp(healthOK, "")
		}
	}

	c.Push = comp(healthDisabled, "")
	if s.deps.Push != nil {
		c.Push = comp(healthOK, "")
	}
	c.Executor = comp(healthDisabled, "")
	if s.deps.Executor != nil {
		switch es := s.deps.Executor.Status(); {
		case !es.Leading:
			c.Executor = comp(healthOK, "") // it runs on the leader only
		case es.RPCs > 0 && es.RPCsDown == es.RPCs:
			c.Executor = comp(healthDegraded, "every RPC endpoint is down")
		case es.RPCsDown > 0:
			c.Executor = comp(healthDegraded, "an RPC endpoint is down")
		case es.Stuck > 0:
			c.Executor = comp(healthDegraded, "a transaction is stuck")
		default:
			c.Executor = comp(healthOK, "")
		}
	}

	c.Alerts = comp(healthDisabled, "")
	if s.deps.Alerts != nil {
		if ws := s.deps.Alerts.Status(); len(ws) > 0 {
			c.Alerts = comp(healthOK, "")
			for _, w := range ws {
				if w.LastError != "" || w.LastStatus >= 300 {
					c.Alerts = comp(healthDegraded, "a webhook's last delivery attempt failed")
					break
				}
			}
		}
	}

	overall := healthOK
	for _, h := range c.all() {
		if h.Status != healthOK && h.Status != healthDisabled {
			overall = healthDegraded
		}
	}
	out := struct {
		Status        string           `json:"status"`
		NodeID        string           `json:"nodeId"`
		Version       string           `json:"version"`
		Release       string           `json:"release"`
		UptimeSeconds float64          `json:"uptimeSeconds"`
		Components    healthComponents `json:"components"`
	}{overall, st.NodeID, st.Version, rel, time.Since(s.started).Seconds(), c}
	return s.writeJSON(ctx, out, st.AppliedIndex)
}
