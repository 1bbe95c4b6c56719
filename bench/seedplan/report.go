package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// row is one line of the table: a target of the report (or a rate of its plan) against what
// was measured.
type row struct {
	Test     string  `json:"test"`
	Target   string  `json:"target"`
	Measured string  `json:"measured"` // the figure compared with the target
	Count    int64   `json:"count"`    // requests, writes, events or messages measured
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
	Max      float64 `json:"maxMs"`
	Errors   int64   `json:"errors"`
	Margin   float64 `json:"margin"` // target / measured for a bound, measured / target for a rate
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"`
}

// endpointRow is one read endpoint's figures.
type endpointRow struct {
	Name   string             `json:"name"`
	Path   string             `json:"path"`
	Count  int64              `json:"count"`
	Errors int64              `json:"errors"`
	Lat    benchkit.LatencyMs `json:"latencyMs"`
	ErrMap map[string]int     `json:"errorsByKind,omitempty"`
	First  string             `json:"firstError,omitempty"`
}

type report struct {
	Command   string             `json:"command"`
	Scale     float64            `json:"scale"`
	Machine   benchkit.Machine   `json:"machine"`
	LoadAfter string             `json:"loadAverageAfter"`
	Rows      []row              `json:"rows"`
	Endpoints []endpointRow      `json:"endpoints"`
	Usage     usage              `json:"resources"`
	Verify    *verifyResult      `json:"verify"`
	WS        map[string]any     `json:"websocket"`
	Generator map[string]any     `json:"generator"`
	Writes    benchkit.LatencyMs `json:"writeLatencyMs"`
	OK        bool               `json:"ok"`
}

func buildReport(o *options, command string, machine benchkit.Machine, loadAfter string, rd *reader, wr *writer, ch *chain, pool *wsPool, vis *visibility,
	expected int, eventSecs float64, drained string, u usage, ver *verifyResult, wsOpen int, wsMsgs int64, readDur, writeDur time.Duration) *report {
	r := &report{Command: command, Scale: o.scale, Machine: machine, LoadAfter: loadAfter, Usage: u, Verify: ver}

	// Reads.
	all := benchkit.NewMerged()
	all.AddHist(&rd.all)
	var sent, okReads, failed int64
	for i, e := range rd.eps {
		st := &rd.stats[i]
		m := benchkit.NewMerged()
		m.AddHist(&st.lat)
		st.mu.Lock()
		er := endpointRow{Name: e.Name, Path: e.Path, Count: st.sent.Load(), Errors: st.failed.Load(), Lat: benchkit.LatencyOf(m), First: st.firstErr}
		if len(st.errs) > 0 {
			er.ErrMap = map[string]int{}
			for k, v := range st.errs {
				er.ErrMap[k] = v
			}
		}
		st.mu.Unlock()
		r.Endpoints = append(r.Endpoints, er)
		sent += er.Count
		okReads += st.ok.Load()
		failed += er.Errors
	}
	sent += rd.unsent
	failed += rd.unsent
	rl := benchkit.LatencyOf(all)
	api := row{Test: fmt.Sprintf("API reads, %s/s open loop, %d endpoints, 3 nodes", benchkit.Thousands(o.readRate), len(rd.eps)),
		Target: "P99 < 500 ms", Measured: benchkit.FormatMs(rl.P99), Count: sent, P50: rl.P50, P99: rl.P99, Max: rl.Max, Errors: failed}
	api.Margin = ratio(500, rl.P99)
	api.Met = rl.N > 0 && rl.P99 < 500 && failed == 0
	if rd.unsent > 0 {
		api.Note = fmt.Sprintf("%s reads never sent: every worker was busy until the window closed (counted as errors, with their wait as latency)", benchkit.Thousands(int(rd.unsent)))
	}
	served := float64(okReads) / readDur.Seconds()
	qps := row{Test: "reads served (the state store and cache: reads never touch PostgreSQL)", Target: "> 2,000 QPS",
		Measured: fmt.Sprintf("%.0f/s", served), Count: okReads, P50: rl.P50, P99: rl.P99, Max: rl.Max, Errors: failed,
		Margin: served / 2000, Met: served >= 2000 && failed == 0,
		Note: "offered " + benchkit.Thousands(o.readRate) + "/s; every request answered 200 is served at the offered rate (headroom is not measured here)"}

	// Chain events.
	em := benchkit.NewMerged()
	em.AddHist(&pool.eventLat)
	el := benchkit.LatencyOf(em)
	least, eclients := pool.fewest(false)
	evMissing := int64(0)
	if eclients > 0 {
		evMissing = max(int64(expected)-least, 0)
	}
	vm := benchkit.NewMerged()
	vm.AddHist(&vis.lat)
	vl := benchkit.LatencyOf(vm)
	visMissing := vis.missing(ch)
	ev := row{Test: fmt.Sprintf("chain events %.0f/s through ingest, %d confirmations: block mined → visible in GET /v1/transactions on each node", float64(expected)/max(eventSecs, 1e-9), o.confirmations),
		Target: "event processing < 30 s", Measured: benchkit.FormatMs(vl.P99), Count: int64(vm.N()), P50: vl.P50, P99: vl.P99, Max: vl.Max,
		Errors: visMissing + evMissing, Margin: ratio(30_000, vl.P99)}
	ev.Met = vl.N > 0 && vl.P99 < 30_000 && el.P99 < 30_000 && visMissing == 0 && evMissing == 0
	ev.Note = fmt.Sprintf("%d blocks × 3 nodes, %s events; on the WebSocket (transactions, %d clients): P50 %s, P99 %s, max %s, fewest events received by a client %d of %d",
		ch.blocks(), benchkit.Thousands(expected), eclients, benchkit.FormatMs(el.P50), benchkit.FormatMs(el.P99), benchkit.FormatMs(el.Max), least, expected)

	// WebSocket.
	pm := benchkit.NewMerged()
	pm.AddHist(&pool.priceLat)
	pl := benchkit.LatencyOf(pm)
	acked := wr.ok.Load()
	pleast, pclients := pool.fewest(true)
	pool.mu.Lock()
	dropped, closeCodes, firstClose := pool.closed, pool.closeCodes, pool.firstClose
	pool.mu.Unlock()
	wsErr := int64(dropped) + pool.failed.Load() + pool.resets.Load() + pool.errFrames.Load()
	if pclients > 0 {
		wsErr += max(acked-pleast, 0)
	}
	ws := row{Test: fmt.Sprintf("WebSocket: %s clients held (account channels), %d also on prices (write sent → delivered)", benchkit.Thousands(int(pool.opened.Load())), pclients),
		Target: "WebSocket < 1 s", Measured: benchkit.FormatMs(pl.P99), Count: int64(pl.N), P50: pl.P50, P99: pl.P99, Max: pl.Max, Errors: wsErr,
		Margin: ratio(1000, pl.P99)}
	ws.Met = pl.N > 0 && pl.P99 < 1000 && wsErr == 0 && int(pool.opened.Load()) == o.wsConns && wsOpen == o.wsConns
	ws.Note = fmt.Sprintf("open at the end %s of %s; dropped %d %v; deliveries %s; fewest probes received by a client %d of %d acknowledged writes",
		benchkit.Thousands(wsOpen), benchkit.Thousands(o.wsConns), dropped, closeCodes, drained, pleast, acked)

	// Writes (a rate of the plan, and nothing lost).
	wm := benchkit.NewMerged()
	wm.AddHist(&wr.lat)
	wl := benchkit.LatencyOf(wm)
	r.Writes = wl
	wrate := float64(acked) / writeDur.Seconds()
	wrow := row{Test: fmt.Sprintf("price writes %s/s open loop over 3 nodes (one Raft command each)", benchkit.Thousands(o.writeRate)),
		Target: "≥ " + benchkit.Thousands(o.writeRate) + "/s, none lost", Measured: fmt.Sprintf("%.0f/s", wrate), Count: acked,
		P50: wl.P50, P99: wl.P99, Max: wl.Max, Errors: wr.failed.Load() + wr.unsent + int64(ver.Lost), Margin: wrate / float64(o.writeRate)}
	wrow.Met = wr.failed.Load() == 0 && wr.unsent == 0 && ver.Lost == 0 && len(ver.Problems) == 0
	wrow.Note = fmt.Sprintf("verify: %d acknowledged, %d missing over %s; PostgreSQL: %s", ver.Acknowledged, ver.Lost, strings.Join(ver.Checked, ", "), ver.PGVerify)
	if wr.unsent > 0 {
		wrow.Note += fmt.Sprintf("; %s writes never sent (every worker busy until the window closed)", benchkit.Thousands(int(wr.unsent)))
	}
	if wr.firstErr != "" {
		wrow.Note += "; first write error: " + wr.firstErr
	}

	r.Rows = []row{api, ev, qps, ws, wrow}
	r.OK = true
	for _, x := range r.Rows {
		r.OK = r.OK && x.Met
	}
	r.WS = map[string]any{"opened": pool.opened.Load(), "failed": pool.failed.Load(), "firstError": pool.firstErr, "dropped": dropped,
		"closeCodes": closeCodes, "firstClose": firstClose, "resets": pool.resets.Load(), "errorFrames": pool.errFrames.Load(),
		"otherFrames": pool.other.Load(), "eventFrames": wsMsgs, "drain": drained, "priceClients": pclients, "eventClients": eclients}
	ll := benchkit.NewMerged()
	ll.AddHist(&rd.late)
	r.Generator = map[string]any{"readSendLateP99Ms": float64(ll.Quantile(0.99)) / 1000, "readSendLateMaxMs": float64(ll.Max()) / 1000,
		"readsSentOver1msLate": rd.lateOver.Load()}
	return r
}

// ratio is target / measured, 0 when nothing was measured.
func ratio(target, measured float64) float64 {
	if measured <= 0 {
		return 0
	}
	return target / measured
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%-26s %-12s %10s %9s %9s %9s %8s %8s  %s\n", "target", "measured", "count", "P50", "P99", "max", "errors", "margin", "")
	fmt.Fprintln(w, strings.Repeat("-", 110))
	for _, x := range r.Rows {
		verdict := "met"
		if !x.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%-26s %-12s %10s %9s %9s %9s %8d %7.2f×  %s\n", x.Target, x.Measured, benchkit.Thousands(int(x.Count)),
			benchkit.FormatMs(x.P50), benchkit.FormatMs(x.P99), benchkit.FormatMs(x.Max), x.Errors, x.Margin, verdict)
		fmt.Fprintf(w, "    %s\n", x.Test)
		if x.Note != "" {
			fmt.Fprintf(w, "    %s\n", x.Note)
		}
	}
	fmt.Fprintln(w, "\nreads by endpoint (latency from the scheduled send):")
	eps := append([]endpointRow(nil), r.Endpoints...)
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].Count > eps[j].Count })
	for _, e := range eps {
		fmt.Fprintf(w, "  %-22s %8s  P50 %9s  P99 %9s  max %9s  errors %d", e.Name, benchkit.Thousands(int(e.Count)),
			benchkit.FormatMs(e.Lat.P50), benchkit.FormatMs(e.Lat.P99), benchkit.FormatMs(e.Lat.Max), e.Errors)
		if e.First != "" {
			fmt.Fprintf(w, "  first: %s", e.First)
		}
		fmt.Fprintln(w)
	}
	u := r.Usage
	fmt.Fprintf(w, "\nresources over %.0f s:\n", u.Seconds)
	for _, n := range u.Nodes {
		fmt.Fprintf(w, "  %-8s CPU %7.1f s (%.2f cores)  peak RSS %6.0f MiB  state machine busy %.0f %% of the run (%.1f entries per batch)\n",
			n.ID, n.CPUSeconds, n.Cores, n.PeakRSSMiB, 100*n.FSMBusy, n.FSMEntriesPerBatch)
		if len(n.WritePath) > 0 {
			fmt.Fprintf(w, "  %-8s write path, average:", "")
			for i, st := range n.WritePath {
				sep := ","
				if i == 0 {
					sep = ""
				}
				fmt.Fprintf(w, "%s %s %.1f ms", sep, st.Stage, st.AvgMs)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "  postgres CPU %7.1f s (%.2f cores)  RSS %6.0f MiB at the end\n", u.PostgresCPU, u.PostgresCPU/max(u.Seconds, 1e-9), u.PostgresRSSMiB)
	fmt.Fprintf(w, "  runner   CPU %7.1f s (%.2f cores)  peak RSS %6.0f MiB (load generators, %s WebSocket clients, the chain simulator)\n",
		u.RunnerCPU, u.RunnerCPU/max(u.Seconds, 1e-9), u.RunnerPeakRSSMiB, benchkit.Thousands(int(toInt(r.WS["opened"]))))
	fmt.Fprintf(w, "  machine  %.2f of %d cores busy on average (everyone's work)\n", u.MachineBusy, r.Machine.NumCPU)
	fmt.Fprintf(w, "  PostgreSQL sync lag: max %.2f s (%d entries), %.2f s at the end, %d samples%s\n", u.PGLagMaxSeconds, u.PGLagMaxIndex,
		u.PGLagEndSeconds, u.PGLagSamples, firstOf(u.PGLastError))
	fmt.Fprintf(w, "  read generator: sends P99 %.2f ms late, max %.0f ms, %v sent > 1 ms late\n", r.Generator["readSendLateP99Ms"],
		r.Generator["readSendLateMaxMs"], r.Generator["readsSentOver1msLate"])
	m := r.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs%s; go %s; commit %s; load average %s before, %s after\n", m.NumCPU, benchkit.Platform(m.CPU, m.Kernel),
		m.GoVersion, m.Commit, m.LoadAvg, r.LoadAfter)
	fmt.Fprintf(w, "command: %s\n", r.Command)
	for _, p := range r.Verify.Problems {
		fmt.Fprintf(w, "verify: %s\n", p)
	}
	if r.OK {
		fmt.Fprintln(w, "verdict: every target met, no acknowledged write lost")
	} else {
		fmt.Fprintln(w, "verdict: FAILED (a target missed or a write lost: see MISSED above)")
	}
}

func toInt(v any) int64 {
	if n, ok := v.(int64); ok {
		return n
	}
	return 0
}
