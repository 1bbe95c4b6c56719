package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// machine describes where the benchmark ran: results only compare within one run.
type machine struct {
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	GoVersion  string `json:"goVersion"`
	Wrk        string `json:"wrk"`
	Commit     string `json:"commit,omitempty"`
	LoadBefore string `json:"loadavgBefore,omitempty"`
	LoadAfter  string `json:"loadavgAfter,omitempty"`
}

func machineInfo(repo, wrkBin string) machine {
	m := machine{
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  strings.TrimPrefix(firstLine("go", "env", "GOVERSION"), "go"),
		Wrk:        firstLine(wrkBin, "-v"),
		LoadBefore: loadavg(),
	}
	if m.GoVersion == "" {
		m.GoVersion = strings.TrimPrefix(runtime.Version(), "go")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// loadavg returns the 1, 5 and 15 minute load averages: on a shared machine they say how much
// else was running.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// result is one target's measurement: its median run (by req/s) and, over several rounds,
// every run.
type result struct {
	Target      string  `json:"target"`
	URL         string  `json:"url"`
	Command     string  `json:"command"`
	BodyBytes   int     `json:"bodyBytes"`
	RatioToBare float64 `json:"ratioToBare,omitempty"`
	wrkResult
	MinRequestsPerSec float64     `json:"minRequestsPerSec"`
	MaxRequestsPerSec float64     `json:"maxRequestsPerSec"`
	Runs              []wrkResult `json:"runs,omitempty"`
}

// summarize picks the median run (the lower one of an even count) as the target's result.
func summarize(target, url, command string, size int, runs []wrkResult) result {
	sorted := append([]wrkResult(nil), runs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].RequestsPerSec < sorted[j].RequestsPerSec })
	r := result{
		Target: target, URL: url, Command: command, BodyBytes: size, wrkResult: sorted[(len(sorted)-1)/2],
		MinRequestsPerSec: sorted[0].RequestsPerSec, MaxRequestsPerSec: sorted[len(sorted)-1].RequestsPerSec,
	}
	if len(runs) > 1 {
		r.Runs = runs
	}
	return r
}

// report is the whole run, as printed and as written with -json.
type report struct {
	Time     time.Time      `json:"time"`
	Command  string         `json:"command"`
	Machine  machine        `json:"machine"`
	Settings map[string]any `json:"settings"`
	Load     map[string]any `json:"load"`
	Results  []result       `json:"results"`
}

// setRatios fills RatioToBare from the bare handler's result, if it ran.
func (r *report) setRatios() {
	var bare float64
	for _, x := range r.Results {
		if x.Target == targetBare {
			bare = x.RequestsPerSec
		}
	}
	if bare == 0 {
		return
	}
	for i := range r.Results {
		r.Results[i].RatioToBare = r.Results[i].RequestsPerSec / bare
	}
}

func (r *report) printMachine() {
	m := r.Machine
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)", m.NumCPU, m.GOMAXPROCS)
	if m.CPU != "" {
		fmt.Printf(", %s", m.CPU)
	}
	if m.Kernel != "" {
		fmt.Printf(", linux %s", m.Kernel)
	}
	fmt.Printf("\ngo %s, %s, commit %s\n", m.GoVersion, m.Wrk, m.Commit)
}

// printTable prints the results: throughput, median and tail latency, the ratio to the bare
// handler, and failed requests.
func (r *report) printTable() {
	multi := len(r.Results) > 0 && len(r.Results[0].Runs) > 1
	fmt.Println()
	if multi {
		fmt.Printf("median of %d rounds per target; spread = slowest–fastest round\n", len(r.Results[0].Runs))
	}
	fmt.Printf("%-28s %8s %10s %9s %9s %8s %7s", "target", "body", "req/s", "P50", "P99", "vs bare", "errors")
	if multi {
		fmt.Printf(" %15s", "spread req/s")
	}
	fmt.Println()
	fmt.Println(strings.Repeat("-", 84+16*boolInt(multi)))
	for _, x := range r.Results {
		ratio := "-"
		if x.RatioToBare > 0 {
			ratio = fmt.Sprintf("%.2f", x.RatioToBare)
		}
		fmt.Printf("%-28s %8s %10s %9s %9s %8s %7d", x.Target, bytesize(x.BodyBytes), thousands(int(x.RequestsPerSec+0.5)),
			fmtMs(x.LatencyMs["p50"]), fmtMs(x.LatencyMs["p99"]), ratio, x.errors())
		if multi {
			fmt.Printf(" %15s", fmt.Sprintf("%sk–%sk", thousands(int(x.MinRequestsPerSec/1000)), thousands(int(x.MaxRequestsPerSec/1000+0.5))))
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Printf("load average before %s, after %s\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Println("design target (DESIGN.md): a cached read ≥ 80,000 req/s and ≥ 0.75 × bare in the same run")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// commandLine renders the invocation as a user would type it from the repository root.
func commandLine(args []string) string {
	parts := []string{"go run ./bench/httpbench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
