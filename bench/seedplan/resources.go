package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"paimon/bench/internal/benchkit"
)

// Resources: CPU seconds of each node over the run and its peak resident memory (VmHWM), from
// /proc; the same for PostgreSQL (the postmaster and its children) and the runner; the
// machine's busy CPU (/proc/stat, other people's work included); and the PostgreSQL sync lag
// every node reports in GET /v1/cluster/status, sampled every second.

// nodeUse is one node's resources over the run.
type nodeUse struct {
	ID         string  `json:"id"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Cores      float64 `json:"cores"` // CPU seconds / run length
	PeakRSSMiB float64 `json:"peakRssMiB"`
	// FSMBusy is the share of the run the node's state machine spent applying batches (its
	// paimon_fsm_apply_seconds): the write path's one serial stage, at 1 it is the limit.
	FSMBusy            float64 `json:"fsmBusy"`
	FSMEntriesPerBatch float64 `json:"fsmEntriesPerBatch"`
	// WritePath is where a write's time went on this node: the run's average of each stage
	// the node timed (writeStages), none it did not time (a follower proposes nothing).
	WritePath []stageUse `json:"writePath,omitempty"`
}

// stageUse is one stage of the write path on one node: how often the node timed it over the
// run and its average length.
type stageUse struct {
	Stage string  `json:"stage"`
	Count float64 `json:"count"`
	AvgMs float64 `json:"avgMs"`
}

// writeStages are the histograms of /metrics whose averages say where a write's time goes
// (raftstore/DESIGN.md "Where a write's time goes"), in the order a write meets them.
var writeStages = []struct{ metric, stage string }{
	{`paimon_http_request_seconds{route="admin_prices"}`, "answered"},
	{"paimon_raft_propose_seconds", "proposed"},
	{"paimon_raft_leader_append_seconds", "leader append"},
	{"paimon_raft_replication_rpc_seconds", "replication rpc"},
	{"paimon_raft_follower_store_seconds", "follower append"},
	{"paimon_raft_commit_seconds", "committed"},
	{"paimon_fsm_apply_seconds", "apply batch"},
}

// usage is every figure of the resources section.
type usage struct {
	Seconds          float64   `json:"seconds"` // the measured run's length
	Nodes            []nodeUse `json:"nodes"`
	PostgresCPU      float64   `json:"postgresCpuSeconds"`
	PostgresRSSMiB   float64   `json:"postgresRssMiB"` // sum over its processes at the end
	RunnerCPU        float64   `json:"runnerCpuSeconds"`
	RunnerPeakRSSMiB float64   `json:"runnerPeakRssMiB"`
	MachineBusy      float64   `json:"machineBusyCores"` // average busy cores of the whole machine
	PGLagMaxSeconds  float64   `json:"pgLagMaxSeconds"`
	PGLagMaxIndex    uint64    `json:"pgLagMaxIndex"`
	PGLagEndSeconds  float64   `json:"pgLagEndSeconds"`
	PGLagSamples     int       `json:"pgLagSamples"`
	PGLastError      string    `json:"pgLastError,omitempty"`
}

// meter takes the before and after readings and samples the sync lag in between.
type meter struct {
	c      *cluster
	pgDir  string // PostgreSQL's data folder, "" when it is not ours
	start  time.Time
	cpu0   []float64
	fsm0   []fsmCounters
	pg0    float64
	self0  float64
	stat0  [2]uint64
	mu     sync.Mutex
	u      usage
	cancel context.CancelFunc
	done   chan struct{}
}

func startMeter(ctx context.Context, c *cluster, pgDir string) *meter {
	m := &meter{c: c, pgDir: pgDir, start: time.Now(), self0: benchkit.SelfCPUSeconds(), stat0: machineJiffies(), done: make(chan struct{})}
	for _, n := range c.members {
		m.cpu0 = append(m.cpu0, n.proc.CPUSeconds())
		m.fsm0 = append(m.fsm0, n.fsm(ctx))
	}
	m.pg0, _ = postgresUse(pgDir)
	ctx, m.cancel = context.WithCancel(ctx)
	go m.sample(ctx)
	return m
}

func (m *meter) sample(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range m.c.members {
			st, err := n.status(ctx)
			if err != nil || !st.PGSync.Running {
				continue // the leader runs the sync and reports the lag
			}
			m.mu.Lock()
			m.u.PGLagSamples++
			m.u.PGLagMaxSeconds = max(m.u.PGLagMaxSeconds, st.PGSync.LagSeconds)
			m.u.PGLagMaxIndex = max(m.u.PGLagMaxIndex, st.PGSync.LagIndex)
			m.u.PGLagEndSeconds = st.PGSync.LagSeconds
			if st.PGSync.LastError != "" {
				m.u.PGLastError = st.PGSync.LastError
			}
			m.mu.Unlock()
		}
	}
}

// stop ends the sampling and reads the figures.
func (m *meter) stop() usage {
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.u
	u.Seconds = time.Since(m.start).Seconds()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, n := range m.c.members {
		cpu := n.proc.CPUSeconds() - m.cpu0[i]
		nu := nodeUse{ID: n.id, CPUSeconds: cpu, Cores: cpu / u.Seconds, PeakRSSMiB: peakRSS(n.proc.Pid())}
		f, f0 := n.fsm(ctx), m.fsm0[i]
		if f.batches > f0.batches {
			nu.FSMBusy = (f.seconds - f0.seconds) / u.Seconds
			nu.FSMEntriesPerBatch = (f.entries - f0.entries) / (f.batches - f0.batches)
		}
		for _, st := range writeStages {
			sum := f.hist[series(st.metric, "_sum")] - f0.hist[series(st.metric, "_sum")]
			count := f.hist[series(st.metric, "_count")] - f0.hist[series(st.metric, "_count")]
			if count > 0 {
				nu.WritePath = append(nu.WritePath, stageUse{Stage: st.stage, Count: count, AvgMs: 1000 * sum / count})
			}
		}
		u.Nodes = append(u.Nodes, nu)
	}
	pg, rss := postgresUse(m.pgDir)
	u.PostgresCPU, u.PostgresRSSMiB = pg-m.pg0, rss
	u.RunnerCPU = benchkit.SelfCPUSeconds() - m.self0
	u.RunnerPeakRSSMiB = peakRSS(os.Getpid())
	s1 := machineJiffies()
	if s1[1] > m.stat0[1] {
		u.MachineBusy = float64(s1[0]-m.stat0[0]) / 100 / u.Seconds
	}
	return u
}

// peakRSS reads VmHWM (the peak resident set) of a process, in MiB; 0 when unknown.
func peakRSS(pid int) float64 {
	return statusKiB(pid, "VmHWM:") / 1024
}

func statusKiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == field {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// postgresUse returns the CPU seconds and the resident memory (MiB) of the PostgreSQL server
// whose data folder is dir: the postmaster (its pid is the first line of postmaster.pid) and
// its children. Children that exited took their CPU time with them, so this is a lower bound.
func postgresUse(dir string) (cpu, rssMiB float64) {
	if dir == "" {
		return 0, 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		st, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pid, ppid := statPids(st)
		if pid != pm && ppid != pm {
			continue
		}
		cpu += benchkit.StatCPUSeconds(st)
		rssMiB += statusKiB(pid, "VmRSS:") / 1024
	}
	return cpu, rssMiB
}

// statPids reads the pid (field 1) and the parent pid (field 4) of a /proc/PID/stat text.
func statPids(stat []byte) (pid, ppid int) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(stat[:bytes.IndexByte(stat, ' ')])))
	f := strings.Fields(string(stat[i+1:]))
	if len(f) > 1 {
		ppid, _ = strconv.Atoi(f[1])
	}
	return pid, ppid
}

// machineJiffies returns the busy and total clock ticks of every CPU since boot (/proc/stat).
func machineJiffies() [2]uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]uint64{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return [2]uint64{}
	}
	var busy, total uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return [2]uint64{busy, total}
}

// fsmCounters are a node's state-machine counters from /metrics: seconds spent applying
// batches, batches and entries applied; and the sums and counts of the writeStages
// histograms, by series name ("paimon_raft_commit_seconds_sum").
type fsmCounters struct {
	seconds, batches, entries float64
	hist                      map[string]float64
}

// fsm reads n's fsmCounters; zero when /metrics does not answer.
func (n *member) fsm(ctx context.Context) fsmCounters {
	f := fsmCounters{hist: map[string]float64{}}
	b, err := n.api.Get(ctx, "/metrics", false)
	if err != nil {
		return f
	}
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch name {
		case "paimon_fsm_apply_seconds_sum":
			f.seconds = x
		case "paimon_fsm_apply_seconds_count":
			f.batches = x
		case "paimon_fsm_applied_entries_total":
			f.entries = x
		}
		if stageSeries(name) {
			f.hist[name] = x
		}
	}
	return f
}

// stageSeries reports whether a /metrics series is the sum or count of a writeStages histogram.
func stageSeries(name string) bool {
	for _, st := range writeStages {
		if name == series(st.metric, "_sum") || name == series(st.metric, "_count") {
			return true
		}
	}
	return false
}

// series is the name of a histogram's series with suffix: series(`h{route="r"}`, "_sum") is
// `h_sum{route="r"}`.
func series(metric, suffix string) string {
	base, labels, ok := strings.Cut(metric, "{")
	if !ok {
		return metric + suffix
	}
	return base + suffix + "{" + labels
}
