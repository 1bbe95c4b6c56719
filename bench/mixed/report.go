package main

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// Design target (DESIGN.md, "Targets"): a cached API read on one node, P99 < 5 ms at 2,000
// req/s under mixed load.
const (
	targetRate  = 2000
	targetP99Ms = 5.0
	// keptUpRate: a run whose answers came at less than this share of the rate did not hold it.
	keptUpRate = 0.99
)

// machine describes where the benchmark ran.
type machine struct {
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	GoVersion  string `json:"goVersion"`
	Commit     string `json:"commit,omitempty"`
	LoadBefore string `json:"loadavgBefore,omitempty"`
	LoadAfter  string `json:"loadavgAfter,omitempty"`
}

func machineInfo(repo string) machine {
	m := benchkit.ReadMachine(repo)
	return machine{NumCPU: m.NumCPU, GOMAXPROCS: runtime.GOMAXPROCS(0), CPU: m.CPU, Kernel: m.Kernel, GoVersion: m.GoVersion,
		Commit: m.Commit, LoadBefore: m.LoadAvg}
}

// kindResult is one request kind's (or all kinds') measured requests.
type kindResult struct {
	Kind       string             `json:"kind"`
	Label      string             `json:"label"`
	Share      float64            `json:"share"` // of the mix
	Count      int64              `json:"count"` // measured requests answered or failed
	OK         int64              `json:"ok"`
	Non2xx     int64              `json:"non2xx"`
	Transport  int64              `json:"transport"`        // connection errors and timeouts
	Rejected   int64              `json:"writeNotAccepted"` // a 200 to a write without "accepted":1
	Errors     map[string]int     `json:"errors,omitempty"`
	FirstError string             `json:"firstError,omitempty"`
	RatePerSec float64            `json:"ratePerSec"` // answers per second of the measured window
	LatencyMs  benchkit.LatencyMs `json:"latencyMs"`  // from the scheduled time
	ServiceMs  benchkit.LatencyMs `json:"serviceMs"`  // from the actual send
}

// failed is the kind's count of failed requests.
func (k kindResult) failed() int64 { return k.Non2xx + k.Transport + k.Rejected }

// generatorResult says whether the load generator held the schedule.
type generatorResult struct {
	Workers     int                `json:"workers"`
	MaxInFlight int64              `json:"maxInFlight"`
	LateMs      benchkit.LatencyMs `json:"lateMs"`      // send − due
	LateOver1ms int64              `json:"lateOver1ms"` // sends more than 1 ms after their due time
	KeptUp      bool               `json:"keptUp"`
}

// nodeResult is what the node did during the measured window.
type nodeResult struct {
	CPUSeconds       float64            `json:"cpuSeconds"`
	RunnerCPUSeconds float64            `json:"runnerCpuSeconds"`
	Cache            map[string]float64 `json:"cache"` // paimon_cache_requests_total by result, over the window
}

// report is the whole run, as printed and as written with -json.
type report struct {
	Time      time.Time       `json:"time"`
	Command   string          `json:"command"`
	Machine   machine         `json:"machine"`
	Settings  map[string]any  `json:"settings"`
	Load      map[string]any  `json:"load"`
	Mix       string          `json:"mix"`
	Planned   int64           `json:"planned"` // measured requests on the timeline
	Sent      int64           `json:"sent"`
	Seconds   float64         `json:"seconds"` // from the first measured due time to the last measured answer
	Overall   kindResult      `json:"overall"`
	Kinds     []kindResult    `json:"kinds"`
	Generator generatorResult `json:"generator"`
	Warmup    struct {
		Sent   int64 `json:"sent"`
		Failed int64 `json:"failed"`
	} `json:"warmup"`
	Node    nodeResult `json:"node"`
	Verdict string     `json:"verdict"`
	Met     bool       `json:"met"`
}

// results fills the report's measurements from a finished generator.
func (r *report) results(g *generator, mix []mixEntry) {
	r.Planned = g.tl.Total() - g.tl.SlotsIn(g.tl.Warmup)
	r.Sent = g.sent.Load()
	r.Warmup.Sent, r.Warmup.Failed = g.warmSent.Load(), g.warmFailed.Load()
	if last := g.lastDone.Load(); last > 0 {
		r.Seconds = time.Unix(0, last).Sub(g.windowStart()).Seconds()
	}
	allLat, allSvc := benchkit.NewMerged(), benchkit.NewMerged()
	r.Overall = kindResult{Kind: "all", Label: "all requests", Share: 1, Errors: map[string]int{}}
	for _, m := range mix {
		st := &g.stats[m.Kind]
		lat, svc := benchkit.NewMerged(), benchkit.NewMerged()
		lat.AddHist(&st.lat)
		svc.AddHist(&st.svc)
		allLat.AddHist(&st.lat)
		allSvc.AddHist(&st.svc)
		k := kindResult{Kind: kinds[m.Kind].Key, Label: kinds[m.Kind].Label, Share: m.Share, Count: int64(lat.N()),
			OK: st.ok.Load(), Non2xx: st.non2xx.Load(), Transport: st.transport.Load(), Rejected: st.other.Load(),
			Errors: st.errs, FirstError: st.firstErr, LatencyMs: benchkit.LatencyOf(lat), ServiceMs: benchkit.LatencyOf(svc)}
		if r.Seconds > 0 {
			k.RatePerSec = float64(k.Count) / r.Seconds
		}
		r.Kinds = append(r.Kinds, k)
		o := &r.Overall
		o.OK, o.Non2xx, o.Transport, o.Rejected = o.OK+k.OK, o.Non2xx+k.Non2xx, o.Transport+k.Transport, o.Rejected+k.Rejected
		for e, n := range k.Errors {
			o.Errors[e] += n
		}
		if o.FirstError == "" && k.FirstError != "" {
			o.FirstError = k.Label + ": " + k.FirstError
		}
	}
	r.Overall.Count = int64(allLat.N())
	r.Overall.LatencyMs, r.Overall.ServiceMs = benchkit.LatencyOf(allLat), benchkit.LatencyOf(allSvc)
	if r.Seconds > 0 {
		r.Overall.RatePerSec = float64(r.Overall.Count) / r.Seconds
	}
	late := benchkit.NewMerged()
	late.AddHist(&g.late)
	r.Generator = generatorResult{Workers: g.workers, MaxInFlight: g.maxInFlight.Load(), LateMs: benchkit.LatencyOf(late),
		LateOver1ms: g.lateOver.Load()}
	// The generator kept up when nearly every request left on time (P99 less than 1 ms late)
	// and it never ran out of workers.
	r.Generator.KeptUp = r.Generator.LateMs.P99 < benchkit.Millis(lateLimit) && r.Generator.MaxInFlight < int64(g.workers)
	r.setVerdict(g.tl.Rate)
}

// setVerdict judges the run against DESIGN.md's target.
func (r *report) setVerdict(rate int) {
	o := r.Overall
	p99 := benchkit.FormatMs(o.LatencyMs.P99)
	held := r.Sent == r.Planned && o.RatePerSec >= keptUpRate*float64(rate)
	var why []string
	if o.LatencyMs.P99 >= targetP99Ms {
		why = append(why, fmt.Sprintf("P99 %s ≥ %.0f ms", p99, targetP99Ms))
	}
	if f := o.failed(); f > 0 {
		why = append(why, fmt.Sprintf("%s failed requests", benchkit.Thousands(int(f))))
	}
	if !held {
		why = append(why, fmt.Sprintf("the rate was not held (%s of %s req/s answered)", benchkit.Thousands(int(o.RatePerSec+0.5)), benchkit.Thousands(rate)))
	}
	// A generator that sent late only adds to the latency (it is measured from the schedule):
	// the figures are then an upper bound, which the verdict says but does not fail on.
	caveat := ""
	if !r.Generator.KeptUp {
		caveat = fmt.Sprintf(" (the generator sent late, P99 %s, max %s: that wait is in the latency, an upper bound)",
			benchkit.FormatMs(r.Generator.LateMs.P99), benchkit.FormatMs(r.Generator.LateMs.Max))
	}
	switch {
	case len(why) == 0 && rate >= targetRate:
		r.Met = true
		r.Verdict = fmt.Sprintf("MET: P99 %s < %.0f ms at %s req/s of mixed load, no errors%s", p99, targetP99Ms, benchkit.Thousands(rate), caveat)
	case len(why) == 0:
		r.Verdict = fmt.Sprintf("P99 %s < %.0f ms with no errors, but at %s req/s: the target is at %s req/s%s", p99, targetP99Ms,
			benchkit.Thousands(rate), benchkit.Thousands(targetRate), caveat)
	default:
		r.Verdict = fmt.Sprintf("NOT MET at %s req/s: %s%s", benchkit.Thousands(rate), strings.Join(why, "; "), caveat)
	}
}

func (r *report) printMachine() {
	m := r.Machine
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)%s\n", m.NumCPU, m.GOMAXPROCS, benchkit.Platform(m.CPU, m.Kernel))
	fmt.Printf("go %s, commit %s, load average %s\n", m.GoVersion, m.Commit, m.LoadBefore)
}

// printTable prints the figures per kind and overall, the generator's lateness, the node's
// CPU and cache, and the verdict.
func (r *report) printTable() {
	fmt.Println()
	fmt.Printf("latency from the scheduled time (coordinated-omission corrected); svc P99 = from the actual send\n")
	fmt.Printf("%-46s %6s %8s %6s %8s %8s %8s %8s %8s %8s\n", "request", "share", "count", "errors", "req/s", "P50", "P90", "P99", "P99.9", "max")
	fmt.Printf("%-46s %6s %8s %6s %8s %8s %8s %8s %8s %8s %8s\n", "", "", "", "", "", "", "", "", "", "", "svc P99")
	line := strings.Repeat("-", 128)
	fmt.Println(line)
	row := func(k kindResult) {
		l := k.LatencyMs
		fmt.Printf("%-46s %5.1f%% %8s %6s %8s %8s %8s %8s %8s %8s %8s\n", k.Label, k.Share*100, benchkit.Thousands(int(k.Count)),
			benchkit.Thousands(int(k.failed())), benchkit.Thousands(int(k.RatePerSec+0.5)), benchkit.FormatMs(l.P50), benchkit.FormatMs(l.P90),
			benchkit.FormatMs(l.P99), benchkit.FormatMs(l.P999), benchkit.FormatMs(l.Max), benchkit.FormatMs(k.ServiceMs.P99))
	}
	for _, k := range r.Kinds {
		row(k)
	}
	fmt.Println(line)
	row(r.Overall)
	fmt.Println()
	if f := r.Overall.failed(); f > 0 {
		fmt.Printf("errors: %d non-2xx, %d transport, %d writes not accepted:", r.Overall.Non2xx, r.Overall.Transport, r.Overall.Rejected)
		for _, e := range slices.Sorted(maps.Keys(r.Overall.Errors)) {
			fmt.Printf(" %s ×%d;", e, r.Overall.Errors[e])
		}
		fmt.Printf("\n  first: %s\n", r.Overall.FirstError)
	}
	fmt.Printf("measured: %s of %s planned requests sent over %.2f s (%s req/s answered); warm-up: %s sent, %d failed\n",
		benchkit.Thousands(int(r.Sent)), benchkit.Thousands(int(r.Planned)), r.Seconds, benchkit.Thousands(int(r.Overall.RatePerSec+0.5)),
		benchkit.Thousands(int(r.Warmup.Sent)), r.Warmup.Failed)
	gl := r.Generator.LateMs
	kept := "kept up"
	if !r.Generator.KeptUp {
		kept = "DID NOT keep up"
	}
	fmt.Printf("generator %s: sends late by P50 %s, P99 %s, max %s; %s sends > 1 ms late; at most %d of %d workers busy\n",
		kept, benchkit.FormatMs(gl.P50), benchkit.FormatMs(gl.P99), benchkit.FormatMs(gl.Max), benchkit.Thousands(int(r.Generator.LateOver1ms)),
		r.Generator.MaxInFlight, r.Generator.Workers)
	n := r.Node
	fmt.Printf("CPU over the measured window: node %.2f s (%.2f cores), runner %.2f s (%.2f cores)\n", n.CPUSeconds, n.CPUSeconds/max(r.Seconds, 1e-9),
		n.RunnerCPUSeconds, n.RunnerCPUSeconds/max(r.Seconds, 1e-9))
	if len(n.Cache) > 0 {
		var total float64
		for _, v := range n.Cache {
			total += v
		}
		fmt.Printf("node cache over the window:")
		for _, k := range slices.Sorted(maps.Keys(n.Cache)) {
			fmt.Printf(" %s %s (%.1f %%)", k, benchkit.Thousands(int(n.Cache[k])), 100*n.Cache[k]/max(total, 1))
		}
		fmt.Println()
	}
	fmt.Printf("load average before %s, after %s\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Printf("design target (DESIGN.md): P99 < %.0f ms at %s req/s under mixed load (cached API read, one node)\n", targetP99Ms, benchkit.Thousands(targetRate))
	fmt.Printf("verdict: %s\n", r.Verdict)
}
