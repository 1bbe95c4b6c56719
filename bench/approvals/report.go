package main

import (
	"fmt"
	"io"
	"strings"

	"paimon/bench/internal/benchkit"
)

// phaseResult is one phase's requests as the clients saw them.
type phaseResult struct {
	Requests   int                `json:"requests"` // acknowledged
	Seconds    float64            `json:"seconds"`
	PerSecond  float64            `json:"perSecond"`
	Latency    benchkit.LatencyMs `json:"latencyMs"` // first attempt → acknowledgement
	Retries    int                `json:"retries"`   // sent again after a transport error or 503
	Failed     int                `json:"failed"`    // jobs given up (another answer)
	FirstError string             `json:"firstError,omitempty"`
}

// results is everything a run measured and checked (also the -out JSON).
type results struct {
	Command       string           `json:"command"`
	Machine       benchkit.Machine `json:"machine"`
	LoadBefore    string           `json:"loadBefore"` // before the baseline
	LoadAfter     string           `json:"loadAfter"`  // after the decisions
	Nodes         int              `json:"nodes"`
	Tickets       int              `json:"tickets"`
	Clients       int              `json:"clients"`
	TicketRate    float64          `json:"ticketRate"` // 0: unpaced
	BlockInterval string           `json:"blockInterval"`
	Confirmations int              `json:"confirmations"`
	ExecutorPoll  string           `json:"executorPoll"`
	BodyBytes     [2]int           `json:"bodyBytes"` // price write, decision
	OpenSeconds   float64          `json:"openSeconds"`

	Baseline  phaseResult `json:"baseline"`  // plain writes: price updates
	Decisions phaseResult `json:"decisions"` // approvals, two per ticket
	Ratio     float64     `json:"ratio"`     // decisions/s ÷ writes/s

	ToMined    benchkit.LatencyMs `json:"quorumToMinedMs"`    // quorum-reaching decision acknowledged → block sealed
	ToExecuted benchkit.LatencyMs `json:"quorumToExecutedMs"` // → ticket EXECUTED on every node (WebSocket)
	// MinedSeconds is from the first quorum-reaching decision's acknowledgement to the last
	// ticket's transaction mined: how long the executor took for them all.
	MinedSeconds float64 `json:"minedSeconds"`
	Blocks       int     `json:"blocks"`
	WSResets     int     `json:"wsResets"`

	Logs          int      `json:"redemptionApprovedLogs"`
	ExecutorNonce uint64   `json:"executorNonce"`
	Intents       int      `json:"intents"`
	Executed      int      `json:"executedTickets"`
	Checked       bool     `json:"checked"` // the run got as far as the checks
	Problems      []string `json:"problems"`
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\napprovals: %d paimon processes, %d tickets (each approved by 2 approvers through 2 nodes), %d clients\n",
		r.Nodes, r.Tickets, r.Clients)
	fmt.Fprintf(w, "chain: simulated (chainsim, fund contracts), a block every %s, ingest.confirmations %d; executor poll %s (approved tickets are picked up at its rounds)\n",
		r.BlockInterval, r.Confirmations, r.ExecutorPoll)
	fmt.Fprintf(w, "request bodies: price write %d B, decision %d B; tickets opened in %.1f s\n\n", r.BodyBytes[0], r.BodyBytes[1], r.OpenSeconds)
	fmt.Fprintf(w, "%-30s %8s %8s %9s %8s %8s %8s %7s %6s\n", "phase", "requests", "seconds", "req/s", "P50", "P99", "max", "retries", "failed")
	fmt.Fprintln(w, strings.Repeat("-", 101))
	for _, p := range []struct {
		name string
		p    phaseResult
	}{{"baseline: price writes", r.Baseline}, {"approval decisions", r.Decisions}} {
		fmt.Fprintf(w, "%-30s %8d %8.2f %9.1f %8s %8s %8s %7d %6d\n", p.name, p.p.Requests, p.p.Seconds, p.p.PerSecond,
			benchkit.FormatMs(p.p.Latency.P50), benchkit.FormatMs(p.p.Latency.P99), benchkit.FormatMs(p.p.Latency.Max), p.p.Retries, p.p.Failed)
	}
	if r.TicketRate > 0 {
		fmt.Fprintf(w, "decisions paced at %g tickets/s: their req/s is the pace, the ratio is no cost\n", r.TicketRate)
	}
	fmt.Fprintf(w, "decisions/s ÷ writes/s: %.2f\n\n", r.Ratio)
	fmt.Fprintf(w, "%-46s %6s %9s %9s %9s\n", "from the quorum-reaching decision's ack to", "n", "P50", "P99", "max")
	fmt.Fprintln(w, strings.Repeat("-", 83))
	for _, l := range []struct {
		name string
		l    benchkit.LatencyMs
	}{{"the transaction mined (its block sealed)", r.ToMined}, {"the ticket EXECUTED on every node", r.ToExecuted}} {
		fmt.Fprintf(w, "%-46s %6d %9s %9s %9s\n", l.name, l.l.N, benchkit.FormatMs(l.l.P50), benchkit.FormatMs(l.l.P99), benchkit.FormatMs(l.l.Max))
	}
	if r.MinedSeconds > 0 {
		fmt.Fprintf(w, "every transaction mined %.2f s after the first quorum: %.1f tickets executed on chain per second\n",
			r.MinedSeconds, float64(r.ToMined.N)/r.MinedSeconds)
	}
	fmt.Fprintf(w, "\nchecks: %d RedemptionApproved logs, %d executor transactions (nonce), %d intents, %d tickets EXECUTED, %d blocks, %d WebSocket resets: ",
		r.Logs, r.ExecutorNonce, r.Intents, r.Executed, r.Blocks, r.WSResets)
	switch {
	case !r.Checked:
		fmt.Fprintln(w, "NOT CHECKED (the run stopped before)")
	case len(r.Problems) == 0:
		fmt.Fprintln(w, "consistent (one transaction per ticket)")
	default:
		fmt.Fprintf(w, "%d PROBLEMS\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  - "+p)
		}
	}
	m := r.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs, %s, %s, go %s, commit %s\n", m.NumCPU, m.CPU, m.Kernel, m.GoVersion, m.Commit)
	fmt.Fprintf(w, "load average: at start %s, before the baseline %s, after the decisions %s\n", m.LoadAvg, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "command: %s\n", r.Command)
}
