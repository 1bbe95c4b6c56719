package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
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

// machineInfo describes this machine, with the wrk version.
func machineInfo(repo, wrkBin string) machine {
	m := benchkit.ReadMachine(repo)
	return machine{
		NumCPU: m.NumCPU, GOMAXPROCS: runtime.GOMAXPROCS(0), CPU: m.CPU, Kernel: m.Kernel, GoVersion: m.GoVersion,
		Wrk: benchkit.FirstLine(wrkBin, "-v"), Commit: m.Commit, LoadBefore: m.LoadAvg,
	}
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
	Sizes    []sizeRow      `json:"sizes"` // bytes per response of the cached reads in each coding
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
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)%s\n", m.NumCPU, m.GOMAXPROCS, benchkit.Platform(m.CPU, m.Kernel))
	fmt.Printf("go %s, %s, commit %s\n", m.GoVersion, m.Wrk, m.Commit)
}

// printTable prints the results: throughput, median and tail latency, the ratio to the bare
// handler, and failed requests.
func (r *report) printTable() {
	multi := len(r.Results) > 0 && len(r.Results[0].Runs) > 1
	fmt.Println()
	if multi {
		fmt.Printf("median of %d rounds per target; spread = slowest–fastest round\n", len(r.Results[0].Runs))
	}
	fmt.Printf("%-34s %8s %10s %9s %9s %8s %7s", "target", "body", "req/s", "P50", "P99", "vs bare", "errors")
	if multi {
		fmt.Printf(" %15s", "spread req/s")
	}
	fmt.Println()
	fmt.Println(strings.Repeat("-", 90+16*boolInt(multi)))
	for _, x := range r.Results {
		ratio := "-"
		if x.RatioToBare > 0 {
			ratio = fmt.Sprintf("%.2f", x.RatioToBare)
		}
		fmt.Printf("%-34s %8s %10s %9s %9s %8s %7d", x.Target, benchkit.ByteSize(x.BodyBytes), benchkit.Thousands(int(x.RequestsPerSec+0.5)),
			benchkit.FormatMs(x.LatencyMs["p50"]), benchkit.FormatMs(x.LatencyMs["p99"]), ratio, x.errors())
		if multi {
			fmt.Printf(" %15s", fmt.Sprintf("%sk–%sk", benchkit.Thousands(int(x.MinRequestsPerSec/1000)), benchkit.Thousands(int(x.MaxRequestsPerSec/1000+0.5))))
		}
		fmt.Println()
	}
	r.printEncodedRatios()
	fmt.Println()
	fmt.Printf("load average before %s, after %s\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Println("design target (DESIGN.md): a cached read ≥ 80,000 req/s and ≥ 0.75 × bare in the same run")
}

// printEncodedRatios prints the req/s of each compressed NAV history target against the
// identity one of the same run (DESIGN.md: a compressed cached read ≥ 0.9 × identity).
func (r *report) printEncodedRatios() {
	var identity float64
	for _, x := range r.Results {
		if x.Target == targetNav {
			identity = x.RequestsPerSec
		}
	}
	for _, x := range r.Results {
		if enc, ok := targetEncoding[x.Target]; ok && identity > 0 {
			fmt.Printf("%s vs identity: %.2f × the req/s, %s vs %s per response\n", enc, x.RequestsPerSec/identity,
				benchkit.ByteSize(x.BodyBytes), benchkit.ByteSize(r.bodyOf(targetNav)))
		}
	}
}

func (r *report) bodyOf(target string) int {
	for _, x := range r.Results {
		if x.Target == target {
			return x.BodyBytes
		}
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
