package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// phaseResult is one measured phase.
type phaseResult struct {
	Phase     string         `json:"phase"`
	Target    string         `json:"target"`
	Clients   int            `json:"clients"`
	LogsPer   int            `json:"logsPerRequest"`
	Ops       int            `json:"ops"` // acknowledged requests (writes: Raft commands) or 200 reads, measured
	Seconds   float64        `json:"seconds"`
	OpsPerSec float64        `json:"opsPerSec"`
	Latency   latency        `json:"latencyMs"`
	Leader    latency        `json:"leaderLatencyMs"`    // requests sent to the leader itself
	Forwarded latency        `json:"forwardedLatencyMs"` // requests sent to a follower, which forwards them
	Errors    map[string]int `json:"errors,omitempty"`
	Server    serverFigures  `json:"server"`
}

func (p *phaseResult) errorCount() int {
	n := 0
	for _, v := range p.Errors {
		n += v
	}
	return n
}

// serverFigures say where the CPU went during a phase (from /proc and the nodes' /metrics).
type serverFigures struct {
	LeaderID        string                 `json:"leaderId"`
	Nodes           map[string]nodeMetrics `json:"nodes"` // deltas over the phase
	LeaderCores     float64                `json:"leaderCores"`
	FollowerCores   float64                `json:"followerCores"` // both followers together
	RunnerCores     float64                `json:"runnerCores"`   // the load generator
	NodeCPUPerOpUs  float64                `json:"nodeCpuPerOpUs"`
	EntriesPerBatch float64                `json:"leaderEntriesPerFsmBatch"`
	ApplyUsPerEntry float64                `json:"leaderFsmApplyUsPerEntry"`
}

func (c *cluster) summarize(phase, target string, clients int, tallies []*tally, before, after sample, perWrite int) *phaseResult {
	p := &phaseResult{Phase: phase, Target: target, Clients: clients, LogsPer: perWrite, Errors: map[string]int{}}
	var all, lead, fwd []time.Duration
	for _, t := range tallies {
		p.Ops += t.ok
		for k, v := range t.errs {
			p.Errors[k] += v
		}
		for mi, l := range t.lat {
			all = append(all, l...)
			if c.members[mi].id == c.leaderID {
				lead = append(lead, l...)
			} else {
				fwd = append(fwd, l...)
			}
		}
	}
	p.Seconds = after.at.Sub(before.at).Seconds()
	if p.Seconds > 0 {
		p.OpsPerSec = float64(p.Ops) / p.Seconds
	}
	p.Latency, p.Leader, p.Forwarded = distribution(all), distribution(lead), distribution(fwd)

	s := serverFigures{LeaderID: c.leaderID, Nodes: map[string]nodeMetrics{}}
	var nodeCPU float64
	for id, a := range after.nodes {
		d := a.sub(before.nodes[id])
		s.Nodes[id] = d
		nodeCPU += d.CPUSeconds
		if id == c.leaderID {
			s.LeaderCores = d.CPUSeconds / p.Seconds
			if d.ApplyBatches > 0 {
				s.EntriesPerBatch = d.AppliedEntries / d.ApplyBatches
			}
			if d.AppliedEntries > 0 {
				s.ApplyUsPerEntry = d.ApplySeconds / d.AppliedEntries * 1e6
			}
		} else {
			s.FollowerCores += d.CPUSeconds / p.Seconds
		}
	}
	s.RunnerCores = (after.runnerCPU - before.runnerCPU) / p.Seconds
	if p.Ops > 0 {
		s.NodeCPUPerOpUs = nodeCPU / float64(p.Ops) * 1e6
	}
	p.Server = s
	return p
}

// printPhase prints one phase's result as soon as it is measured.
func printPhase(p *phaseResult) {
	fmt.Printf("  %-18s %-31s %4d clients: %7s ops in %.1fs = %s/s, p50 %s p99 %s max %s, errors %d\n",
		p.Phase, p.Target, p.Clients, benchkit.Thousands(p.Ops), p.Seconds, benchkit.Thousands(int(p.OpsPerSec+0.5)),
		benchkit.FormatMs(p.Latency.P50), benchkit.FormatMs(p.Latency.P99), benchkit.FormatMs(p.Latency.Max), p.errorCount())
}

// machine describes where the benchmark ran: results only compare within one session.
type machine struct {
	NumCPU     int    `json:"nproc"`
	CPU        string `json:"cpu,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	GoVersion  string `json:"goVersion"`
	Commit     string `json:"commit,omitempty"`
	LoadBefore string `json:"loadavgBefore,omitempty"`
	LoadAfter  string `json:"loadavgAfter,omitempty"`
}

// machineInfo describes this machine.
func machineInfo(repo string) machine {
	m := benchkit.ReadMachine(repo)
	return machine{NumCPU: m.NumCPU, CPU: m.CPU, Kernel: m.Kernel, GoVersion: m.GoVersion, Commit: m.Commit, LoadBefore: m.LoadAvg}
}

// verifyResult is phase d.
type verifyResult struct {
	OK           bool     `json:"ok"`
	Writers      int      `json:"writers"`
	Acknowledged int      `json:"acknowledgedLogs"`
	InDoubt      int      `json:"inDoubtWriters"`
	Index        uint64   `json:"index"` // highest acknowledged Raft index, reached by every node before the check
	Mismatches   []string `json:"mismatches,omitempty"`
}

// report is the whole run, as printed and as written with -json.
type report struct {
	Time     time.Time      `json:"time"`
	Command  string         `json:"command"`
	Machine  machine        `json:"machine"`
	Settings map[string]any `json:"settings"`
	Cluster  []statusNode   `json:"cluster"`
	Leader   string         `json:"leader"`
	Results  []*phaseResult `json:"results"`
	Verify   *verifyResult  `json:"verify,omitempty"`
	Writers  []*writer      `json:"writers,omitempty"`
}

func (r *report) printMachine() {
	m := r.Machine
	fmt.Printf("machine: nproc %d%s\n", m.NumCPU, benchkit.Platform(m.CPU, m.Kernel))
	fmt.Printf("go %s, commit %s, load average %s\n", m.GoVersion, m.Commit, m.LoadBefore)
}

// printTable prints the results, the errors by kind and where the CPU went.
func (r *report) printTable() {
	fmt.Printf("\ncommand: %s\n", r.Command)
	fmt.Printf("machine: nproc %d, %s, go %s, commit %s; load average before %s, after %s\n\n",
		r.Machine.NumCPU, r.Machine.CPU, r.Machine.GoVersion, r.Machine.Commit, r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Printf("%-18s %-31s %7s %8s %9s %8s %8s %8s %7s\n", "phase", "target", "clients", "ops", "ops/s", "P50", "P99", "max", "errors")
	fmt.Println(strings.Repeat("-", 115))
	for _, p := range r.Results {
		fmt.Printf("%-18s %-31s %7d %8s %9s %8s %8s %8s %7d\n", p.Phase, p.Target, p.Clients, benchkit.Thousands(p.Ops),
			benchkit.Thousands(int(p.OpsPerSec+0.5)), benchkit.FormatMs(p.Latency.P50), benchkit.FormatMs(p.Latency.P99), benchkit.FormatMs(p.Latency.Max), p.errorCount())
	}
	fmt.Println()
	for _, p := range r.Results {
		if len(p.Errors) == 0 {
			continue
		}
		kinds := make([]string, 0, len(p.Errors))
		for k := range p.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, p.Errors[k]))
		}
		fmt.Printf("errors, %s %s (%d clients): %s\n", p.Phase, p.Target, p.Clients, strings.Join(parts, ", "))
	}

	fmt.Printf("\nlatency by path (P50 / P99): sent to the leader | sent to a follower, forwarded\n")
	for _, p := range r.Results {
		fmt.Printf("  %-18s %-31s %4d clients:  %8s / %-8s |  %8s / %s\n", p.Phase, p.Target, p.Clients,
			benchkit.FormatMs(p.Leader.P50), benchkit.FormatMs(p.Leader.P99), benchkit.FormatMs(p.Forwarded.P50), benchkit.FormatMs(p.Forwarded.P99))
	}

	fmt.Printf("\nwhere the CPU went (cores busy over the measured window; %d available)\n", r.Machine.NumCPU)
	fmt.Printf("%-18s %-31s %7s %7s %9s %7s %11s %13s %14s\n", "phase", "target", "clients", "leader", "followers", "runner", "node µs/op", "entries/batch", "apply µs/entry")
	fmt.Println(strings.Repeat("-", 128))
	for _, p := range r.Results {
		s := p.Server
		fmt.Printf("%-18s %-31s %7d %7.2f %9.2f %7.2f %11.0f %13s %14s\n", p.Phase, p.Target, p.Clients,
			s.LeaderCores, s.FollowerCores, s.RunnerCores, s.NodeCPUPerOpUs, orDash(s.EntriesPerBatch), orDash(s.ApplyUsPerEntry))
	}
	fmt.Println("(node µs/op: CPU of all three nodes per acknowledged request; entries/batch and apply µs/entry: the leader's FSM)")
	fmt.Println()
	fmt.Println("design targets (DESIGN.md): ≥ 20,000 commands/s batched on a three-node cluster; single-client commit P99 < 10 ms")
}

func orDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}
