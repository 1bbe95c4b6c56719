package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
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
	return machine{NumCPU: m.NumCPU, GOMAXPROCS: runtime.GOMAXPROCS(0), CPU: m.CPU, Kernel: m.Kernel,
		GoVersion: m.GoVersion, Commit: m.Commit, LoadBefore: m.LoadAvg}
}

// result is the whole run, as printed and as written with -json.
type result struct {
	Time         time.Time      `json:"time"`
	Command      string         `json:"command"`
	Server       string         `json:"server"`          // node or bare
	Round        int            `json:"round,omitempty"` // with -server both
	Machine      machine        `json:"machine"`
	NodeSettings string         `json:"nodeSettings"`
	Settings     map[string]any `json:"settings"`

	ConnsRequested int    `json:"connsRequested"`
	Conns          int    `json:"conns"`
	ConnsCapped    string `json:"connsCapped,omitempty"` // why Conns < ConnsRequested
	NodeFDLimit    int    `json:"nodeOpenFilesLimit,omitempty"`
	Workers        int    `json:"workers"`
	SourceAddrs    int    `json:"sourceAddresses"`

	Connect  connectResult  `json:"connect"`
	Idle     idleResult     `json:"idle"`
	Load     *loadResult    `json:"load"`
	Delivery deliveryResult `json:"delivery"`
	Node     nodeResult     `json:"node"`
	CPU      cpuResult      `json:"cpu"`
}

type connectResult struct {
	Requested       int     `json:"requested"`
	Opened          int     `json:"opened"` // upgraded and subscribed
	Refused         int     `json:"refused"`
	Failed          int     `json:"failed"`
	SubscribeFailed int     `json:"subscribeFailed"`
	Seconds         float64 `json:"seconds"`
	PerSec          float64 `json:"perSec"`
	FirstRefusal    string  `json:"firstRefusal,omitempty"`
	FirstError      string  `json:"firstError,omitempty"`
}

type idleResult struct {
	Before           memory  `json:"before"`
	After            memory  `json:"after"`
	NodeConns        int     `json:"nodeConns"`
	RSSPerConn       float64 `json:"rssPerConnBytes"`
	HeapStackPerConn float64 `json:"heapStackPerConnBytes"`
	HeapPerConn      float64 `json:"heapPerConnBytes"`
	StackPerConn     float64 `json:"stackPerConnBytes"`
	GCAfterConnect   bool    `json:"gcAfterConnect"` // the node collected garbage after the last connection opened
}

func (i idleResult) gcNote() string {
	if i.GCAfterConnect {
		return ""
	}
	return " (no GC since the connections opened: heap+stack may include garbage of the handshakes; -gc-wait 2m10s waits for one)"
}

type deliveryResult struct {
	Subscribed  int                `json:"subscribed"` // connections open when the load started
	Expected    uint64             `json:"expected"`   // accepted writes × subscribed
	Received    uint64             `json:"received"`
	Missing     uint64             `json:"missing"`    // expected − received when the wait ended
	DrainEnded  string             `json:"drainEnded"` // complete, quiet (nothing arrived for 3 s) or timeout (-drain passed while messages still arrived)
	Seconds     float64            `json:"seconds"`    // from the first write to the last message received
	PerSec      float64            `json:"messagesPerSec"`
	LatencyMs   benchkit.LatencyMs `json:"benchkit.LatencyMs"` // write sent → client received
	MinPerConn  uint64             `json:"minPerConn"`
	MaxPerConn  uint64             `json:"maxPerConn"`
	Resets      uint64             `json:"resets"`
	BadEvents   uint64             `json:"badEvents"`
	ErrorFrames uint64             `json:"errorFrames"`
	Dropped     int                `json:"dropped"` // connections the node or network ended during the run
	CloseCodes  map[string]int     `json:"closeCodes,omitempty"`
	FirstClose  string             `json:"firstClose,omitempty"`
	FrameBytes  int                `json:"frameBytes"`
	Sample      string             `json:"sample,omitempty"`
}

// nodeResult is the node's own view, from its /metrics (differences over the load unless
// noted).
type nodeResult struct {
	OpenConnsEnd  int                `json:"openConnsEnd"` // opened − closed, at the end
	Closed        int                `json:"closed"`
	SlowConsumers int                `json:"slowConsumers"`
	WriteErrors   int                `json:"writeErrors"`
	Resets        int                `json:"resets"`
	Overflows     int                `json:"overflows"`
	Published     int                `json:"published"`
	Delivered     int                `json:"delivered"`
	DeliveryMs    benchkit.LatencyMs `json:"deliveryMs"` // paimon_push_delivery_seconds: apply → written to the socket (per write)
	PublishMs     benchkit.LatencyMs `json:"publishMs"`  // paimon_push_publish_seconds: apply → fanned out (per batch)
	PassMs        benchkit.LatencyMs `json:"passMs"`     // paimon_push_flush_pass_seconds: one flush pass (the bare loop: one shard's)
	RSSEnd        float64            `json:"rssEndBytes"`
	HeapStackEnd  float64            `json:"heapStackEndBytes"`
}

type cpuResult struct {
	Seconds        float64 `json:"seconds"` // wall time of the load and drain
	NodeSeconds    float64 `json:"nodeSeconds"`
	WorkersSeconds float64 `json:"workersSeconds"`
	RunnerSeconds  float64 `json:"runnerSeconds"`
	MachineSeconds float64 `json:"machineSeconds"` // everything busy on the machine, the kernel included
}

func (r *result) fill(load *loadResult, final []*report, subscribed int, expected uint64, deliveredIn float64,
	mb, ma metrics, cb, ca cpuSample, wall float64) {
	r.Load = load
	t := totals(final)
	lat := benchkit.NewMerged()
	for _, rep := range final {
		lat.Add(rep.Latency)
	}
	d := deliveryResult{Subscribed: subscribed, Expected: expected, Received: t.Received, Seconds: deliveredIn,
		LatencyMs: benchkit.LatencyOf(lat), MinPerConn: t.MinPerConn, MaxPerConn: t.MaxPerConn, Resets: t.Resets,
		BadEvents: t.BadEvents, ErrorFrames: t.Errors, Dropped: t.Closed, CloseCodes: t.CloseCodes,
		FirstClose: t.FirstClose, FrameBytes: t.FrameLen, Sample: t.Sample}
	if expected > t.Received {
		d.Missing = expected - t.Received
	}
	if deliveredIn > 0 {
		d.PerSec = float64(t.Received) / deliveredIn
	}
	r.Delivery = d
	delta := func(name string) int { return int(ma[name] - mb[name]) }
	r.Node = nodeResult{
		OpenConnsEnd:  int(ma["paimon_push_connections_opened_total"] - ma["paimon_push_connections_closed_total"]),
		Closed:        delta("paimon_push_connections_closed_total"),
		SlowConsumers: delta("paimon_push_slow_consumers_total"), WriteErrors: delta("paimon_push_write_errors_total"),
		Resets: delta("paimon_push_resets_total"), Overflows: delta("paimon_push_overflows_total"),
		Published: delta("paimon_push_messages_published_total"), Delivered: delta("paimon_push_messages_delivered_total"),
		DeliveryMs: vmLatency(subBuckets(ma.vmHistogram("paimon_push_delivery_seconds"), mb.vmHistogram("paimon_push_delivery_seconds"))),
		PublishMs:  vmLatency(subBuckets(ma.vmHistogram("paimon_push_publish_seconds"), mb.vmHistogram("paimon_push_publish_seconds"))),
		PassMs:     vmLatency(subBuckets(ma.vmHistogram("paimon_push_flush_pass_seconds"), mb.vmHistogram("paimon_push_flush_pass_seconds"))),
		RSSEnd:     ma["process_resident_memory_bytes"], HeapStackEnd: memoryOf(ma).HeapStack,
	}
	r.CPU = cpuResult{Seconds: wall, NodeSeconds: ca.node - cb.node, WorkersSeconds: ca.workers - cb.workers,
		RunnerSeconds: ca.runner - cb.runner, MachineSeconds: ca.machine - cb.machine}
}

// vmLatency summarizes a VictoriaMetrics histogram of seconds (bucket upper bounds, so within
// the buckets' ~12 % width above the true value).
func vmLatency(b []vmBucket) benchkit.LatencyMs {
	var n float64
	for _, x := range b {
		n += x.Count
	}
	if n == 0 {
		return benchkit.LatencyMs{}
	}
	return benchkit.LatencyMs{N: uint64(n), P50: vmQuantile(b, 0.5) * 1000, P90: vmQuantile(b, 0.9) * 1000,
		P99: vmQuantile(b, 0.99) * 1000, P999: vmQuantile(b, 0.999) * 1000, Max: b[len(b)-1].Hi * 1000}
}

func (r *result) printMachine() {
	m := r.Machine
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)%s\n", m.NumCPU, m.GOMAXPROCS, benchkit.Platform(m.CPU, m.Kernel))
	fmt.Printf("go %s, commit %s, load average %s\n", m.GoVersion, m.Commit, m.LoadBefore)
}

// kb formats bytes per connection.
func kb(b float64) string { return fmt.Sprintf("%.1f KB", b/1000) }

func pct(a, b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f %%", 100*float64(a)/float64(b))
}

// print writes the report: one table of figures, then the notes that qualify them.
func (r *result) print() {
	d, l, nd, c := r.Delivery, r.Load, r.Node, r.CPU
	row := func(k, v string) { fmt.Printf("%-44s %s\n", k, v) }
	fmt.Println()
	fmt.Println(strings.Repeat("-", 96))
	if r.ConnsCapped != "" {
		fmt.Printf("NOTE: %s\n\n", r.ConnsCapped)
	}
	row("connections requested / opened", fmt.Sprintf("%s / %s (refused %d, failed %d, subscribe failed %d) in %.1fs, %s/s",
		benchkit.Thousands(r.ConnsRequested), benchkit.Thousands(r.Connect.Opened), r.Connect.Refused, r.Connect.Failed,
		r.Connect.SubscribeFailed, r.Connect.Seconds, benchkit.Thousands(int(r.Connect.PerSec+0.5))))
	row("workers, source addresses", fmt.Sprintf("%d, %d", r.Workers, r.SourceAddrs))
	row("idle memory per connection (node)", fmt.Sprintf("RSS %s, Go heap+stack %s (over %s connections)%s",
		kb(r.Idle.RSSPerConn), kb(r.Idle.HeapStackPerConn), benchkit.Thousands(r.Idle.NodeConns), r.Idle.gcNote()))
	row("  node RSS before / idle", fmt.Sprintf("%s / %s", benchkit.ByteSize(int(r.Idle.Before.RSS)), benchkit.ByteSize(int(r.Idle.After.RSS))))
	row("  node heap+stack before / idle", fmt.Sprintf("%s / %s (per connection heap %s + stack %s; goroutines %.0f / %.0f)",
		benchkit.ByteSize(int(r.Idle.Before.HeapStack)), benchkit.ByteSize(int(r.Idle.After.HeapStack)), kb(r.Idle.HeapPerConn),
		kb(r.Idle.StackPerConn), r.Idle.Before.Goroutines, r.Idle.After.Goroutines))
	row("updates: rate, sent / accepted", fmt.Sprintf("%d/s for %.1fs, %s / %s (failed %d, late %d, max behind %s)", l.Rate, l.Seconds,
		benchkit.Thousands(l.Sent), benchkit.Thousands(l.Accepted), l.Failed, l.Late, benchkit.FormatMs(l.MaxBehindMs)))
	if l.FirstError != "" {
		row("  first write failure", l.FirstError)
	}
	row("  write answered (POST → 200) P50/P99/max", fmt.Sprintf("%s / %s / %s", benchkit.FormatMs(l.WriteMs.P50),
		benchkit.FormatMs(l.WriteMs.P99), benchkit.FormatMs(l.WriteMs.Max)))
	row("messages expected / received", fmt.Sprintf("%s / %s (%s; missing %s%s)", benchkit.Thousands(int(d.Expected)),
		benchkit.Thousands(int(d.Received)), pct(d.Received, d.Expected), benchkit.Thousands(int(d.Missing)), d.missingNote()))
	row("messages/s delivered", fmt.Sprintf("%s (over %.1fs, first write to last message; offered %s/s)",
		benchkit.Thousands(int(d.PerSec+0.5)), d.Seconds, benchkit.Thousands(l.Rate*d.Subscribed)))
	row("per connection received min / max", fmt.Sprintf("%s / %s", benchkit.Thousands(int(d.MinPerConn)), benchkit.Thousands(int(d.MaxPerConn))))
	row("latency write sent → client P50/P90/P99", fmt.Sprintf("%s / %s / %s", benchkit.FormatMs(d.LatencyMs.P50),
		benchkit.FormatMs(d.LatencyMs.P90), benchkit.FormatMs(d.LatencyMs.P99)))
	row("  P99.9 / max / mean", fmt.Sprintf("%s / %s / %s", benchkit.FormatMs(d.LatencyMs.P999), benchkit.FormatMs(d.LatencyMs.Max),
		benchkit.FormatMs(d.LatencyMs.Mean)))
	row("connections dropped during the run (client)", fmt.Sprintf("%d %s", d.Dropped, closeCodes(d.CloseCodes, d.FirstClose)))
	row("node: open at the end, closed during run", fmt.Sprintf("%s, %d", benchkit.Thousands(nd.OpenConnsEnd), nd.Closed))
	row("node: slow consumers, write errors", fmt.Sprintf("%d, %d", nd.SlowConsumers, nd.WriteErrors))
	row("node: resets, overflows; client resets", fmt.Sprintf("%d, %d; %d (bad events %d, error frames %d)", nd.Resets, nd.Overflows,
		d.Resets, d.BadEvents, d.ErrorFrames))
	row("node: messages published / delivered", fmt.Sprintf("%s / %s", benchkit.Thousands(nd.Published), benchkit.Thousands(nd.Delivered)))
	perWrite := "-"
	if nd.DeliveryMs.N > 0 {
		perWrite = fmt.Sprintf("%.2f", float64(nd.Delivered)/float64(nd.DeliveryMs.N))
	}
	row("node: apply → socket write P50/P99 (*)", fmt.Sprintf("%s / %s (%s socket writes, %s messages per write)", benchkit.FormatMs(nd.DeliveryMs.P50),
		benchkit.FormatMs(nd.DeliveryMs.P99), benchkit.Thousands(int(nd.DeliveryMs.N)), perWrite))
	row("node: apply → fanned out P50/P99 (*)", fmt.Sprintf("%s / %s (%s batches)", benchkit.FormatMs(nd.PublishMs.P50),
		benchkit.FormatMs(nd.PublishMs.P99), benchkit.Thousands(int(nd.PublishMs.N))))
	row("node: flush pass P50/P99 (*)", fmt.Sprintf("%s / %s (%s passes)", benchkit.FormatMs(nd.PassMs.P50),
		benchkit.FormatMs(nd.PassMs.P99), benchkit.Thousands(int(nd.PassMs.N))))
	row("node: RSS, heap+stack at the end", fmt.Sprintf("%s, %s", benchkit.ByteSize(int(nd.RSSEnd)), benchkit.ByteSize(int(nd.HeapStackEnd))))
	cores := func(s float64) string {
		if c.Seconds <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fs (%.2f cores)", s, s/c.Seconds)
	}
	row(fmt.Sprintf("CPU over %.0fs: node", c.Seconds), cores(c.NodeSeconds))
	row("  clients (workers), runner (writes)", cores(c.WorkersSeconds)+", "+cores(c.RunnerSeconds))
	row("  whole machine (all processes, kernel)", cores(c.MachineSeconds))
	fmt.Println(strings.Repeat("-", 96))
	fmt.Printf("event frame: %d bytes of JSON", d.FrameBytes)
	if d.Sample != "" {
		fmt.Printf(", e.g. %s", d.Sample)
	}
	fmt.Println()
	fmt.Println("latency is from the write's send time (POST /v1/admin/logs) to the client's receive time, on one clock:")
	fmt.Println("it includes the Raft commit and apply of the write, so it bounds apply → client from above.")
	fmt.Println("(*) the node's histograms, VictoriaMetrics buckets (upper bounds); delivery is per socket write, of its oldest message.")
	fmt.Printf("load average before %s, after %s\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Println("design target (DESIGN.md): ≤ 30 KB per idle connection; P99 < 100 ms at 100 updates/s fanned out to 20,000 connections")
	for _, v := range r.verdicts() {
		fmt.Println("  " + v)
	}
}

// verdicts compares the run with DESIGN.md's targets, saying when the run did not reproduce
// the target's conditions.
func (r *result) verdicts() []string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	mem := max(r.Idle.RSSPerConn, r.Idle.HeapStackPerConn)
	out := []string{fmt.Sprintf("idle memory: %s (%s per connection, the larger of RSS and heap+stack)", met(mem <= 30000), kb(mem))}
	d := r.Delivery
	lat := fmt.Sprintf("latency: %s (P99 %s", met(d.LatencyMs.P99 < 100 && d.Missing == 0), benchkit.FormatMs(d.LatencyMs.P99))
	if d.Missing > 0 {
		lat += fmt.Sprintf(", %s messages not received%s", benchkit.Thousands(int(d.Missing)), d.missingNote())
	}
	lat += ")"
	if r.Load.Rate != 100 || d.Subscribed < 20000 {
		lat += fmt.Sprintf(" — at %d updates/s to %s connections, not the target's 100/s to 20,000", r.Load.Rate, benchkit.Thousands(d.Subscribed))
	}
	return append(out, lat)
}

// missingNote says what the missing messages were doing when the wait for them ended.
func (d deliveryResult) missingNote() string {
	if d.Missing == 0 {
		return ""
	}
	switch d.DrainEnded {
	case drainTimeout:
		return ": still arriving when -drain ran out, the node was that far behind"
	case drainQuiet:
		return ": none arrived in the last 3 s, lost or stalled"
	}
	return ""
}

func closeCodes(codes map[string]int, first string) string {
	if len(codes) == 0 {
		return ""
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, codes[k])
	}
	return "(" + strings.Join(parts, ", ") + "; first: " + first + ")"
}

// printComparison prints the runs of -server both side by side, and the node's messages/s
// and latency against the bare loop's of the same round.
func printComparison(all []*result) {
	fmt.Println()
	fmt.Println("bare fan-out loop vs node, in turn (-server both)")
	fmt.Printf("%-6s %-5s %12s %12s %10s %10s %10s %12s %12s %12s %12s %10s\n", "round", "", "received", "messages/s", "P50", "P99", "max",
		"server cores", "msgs/write", "write P99", "socket P99", "pass P50")
	fmt.Println(strings.Repeat("-", 136))
	bare := map[int]*result{}
	var ratios []float64
	for _, r := range all {
		d := r.Delivery
		perWrite := "-"
		if r.Node.DeliveryMs.N > 0 {
			perWrite = fmt.Sprintf("%.2f", float64(r.Node.Delivered)/float64(r.Node.DeliveryMs.N))
		}
		cores := "-"
		if r.CPU.Seconds > 0 {
			cores = fmt.Sprintf("%.2f", r.CPU.NodeSeconds/r.CPU.Seconds)
		}
		fmt.Printf("%-6d %-5s %12s %12s %10s %10s %10s %12s %12s %12s %12s %10s\n", r.Round, r.Server, pct(d.Received, d.Expected),
			benchkit.Thousands(int(d.PerSec+0.5)), benchkit.FormatMs(d.LatencyMs.P50), benchkit.FormatMs(d.LatencyMs.P99),
			benchkit.FormatMs(d.LatencyMs.Max), cores, perWrite, benchkit.FormatMs(r.Load.WriteMs.P99),
			benchkit.FormatMs(r.Node.DeliveryMs.P99), benchkit.FormatMs(r.Node.PassMs.P50))
		if r.Server == serverBare {
			bare[r.Round] = r
		} else if b := bare[r.Round]; b != nil && b.Delivery.PerSec > 0 {
			ratios = append(ratios, d.PerSec/b.Delivery.PerSec)
		}
	}
	if len(ratios) > 0 {
		parts := make([]string, len(ratios))
		for i, x := range ratios {
			parts[i] = fmt.Sprintf("%.2f", x)
		}
		sort.Float64s(ratios)
		fmt.Printf("node / bare messages/s, per round: %s (min %.2f, max %.2f)\n", strings.Join(parts, ", "), ratios[0], ratios[len(ratios)-1])
	}
	fmt.Println("P50/P99/max: write sent → client (the node's includes the Raft commit and apply, the bare loop's only its handler);")
	fmt.Println("write P99: POST → 200; socket P99: the server's own span, apply (bare: the POST handled) → socket write, per write;")
	fmt.Println("pass P50: one flush pass over the connections (bare: one shard's)")
	fmt.Println("design target (DESIGN.md): fan-out ≥ 0.8 × the bare loop; 5,000 connections at 50 updates/s apply → client P99 < 100 ms")
}
