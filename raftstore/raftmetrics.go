package raftstore

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	gometrics "github.com/hashicorp/go-metrics"
)

// hashicorp/raft times its stages through go-metrics' process-wide sink. raftSink turns the
// timings that make up a write's path into histograms of the store's metric set (seconds), so
// /metrics shows where a proposal's time goes: the leader's log append, the replication round,
// the follower's log append, the hand-off to the state machine (store.go, DESIGN.md "Where a
// write's time goes"). The sink is process-wide like go-metrics itself: with several stores in
// one process (tests) the one opened last receives them.

// raftTimings maps a go-metrics key (joined with ".") to the histogram it feeds.
var raftTimings = map[string]string{
	// leader: the batch's log append (raft-wal write and fsync) in the leader loop
	"raft.leader.dispatchLog": "paimon_raft_leader_append_seconds",
	// leader: the batch's dispatch to its commit (replication round, a follower's fsync)
	"raft.commitTime": "paimon_raft_commit_seconds",
	// leader and followers: committed entries handed to the state machine's goroutine
	"raft.fsm.enqueue": "paimon_raft_fsm_enqueue_seconds",
	// leader: one AppendEntries RPC to a follower, sent to answered
	"raft.replication.appendEntries.rpc": "paimon_raft_replication_rpc_seconds",
	// followers: one AppendEntries from the leader, whole and its log append (fsync)
	"raft.rpc.appendEntries":           "paimon_raft_follower_append_seconds",
	"raft.rpc.appendEntries.storeLogs": "paimon_raft_follower_store_seconds",
	// every node: a snapshot's capture on the state machine's goroutine, and its stream to disk
	"raft.snapshot.create":  "paimon_raft_snapshot_create_seconds",
	"raft.snapshot.persist": "paimon_raft_snapshot_persist_seconds",
}

// raftSaturation maps go-metrics' saturation samples (the share of time Raft's main and state
// machine goroutines were busy, reported about every second) to gauges of the last sample.
var raftSaturation = map[string]string{
	"raft.thread.main.saturation": "paimon_raft_main_saturation",
	"raft.thread.fsm.saturation":  "paimon_raft_fsm_saturation",
}

var raftTimingBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type raftSinkTarget struct {
	timings    map[string]*metrics.PrometheusHistogram
	saturation map[string]*atomic.Uint32 // float32 bits
}

type raftSink struct {
	gometrics.BlackholeSink
	target atomic.Pointer[raftSinkTarget]
}

var (
	theRaftSink     raftSink
	installRaftSink sync.Once
)

// useRaftMetrics makes set receive hashicorp/raft's timings from now on.
func useRaftMetrics(set *metrics.Set) {
	t := &raftSinkTarget{timings: map[string]*metrics.PrometheusHistogram{}, saturation: map[string]*atomic.Uint32{}}
	for key, name := range raftTimings {
		t.timings[key] = set.GetOrCreatePrometheusHistogramExt(name, raftTimingBuckets)
	}
	for key, name := range raftSaturation {
		v := new(atomic.Uint32)
		t.saturation[key] = v
		set.GetOrCreateGauge(name, func() float64 { return float64(math.Float32frombits(v.Load())) })
	}
	theRaftSink.target.Store(t)
	installRaftSink.Do(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		_, _ = gometrics.NewGlobal(cfg, &theRaftSink)
	})
}

func (s *raftSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

func (s *raftSink) AddSampleWithLabels(key []string, val float32, _ []gometrics.Label) {
	t := s.target.Load()
	if t == nil || len(key) < 2 || key[0] != "raft" {
		return
	}
	k := strings.Join(key, ".")
	if h := t.timings[k]; h != nil {
		h.Update(float64(val) / 1000) // go-metrics times in milliseconds
	} else if g := t.saturation[k]; g != nil {
		g.Store(math.Float32bits(val))
	}
}
