package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// startWorkers starts the workers, each for its share of the connections. On failure the
// pool holds the workers already started, for the caller to stop.
func startWorkers(conns, workers int, a workerArgs, dir string) (pool, error) {
	var p pool
	for i, sp := range splitConns(conns, workers) {
		wp, err := startWorker(i+1, sp, a, dir)
		if err != nil {
			return p, err
		}
		p = append(p, wp)
	}
	return p, nil
}

func (p pool) stopAll(grace time.Duration) {
	for _, wp := range p {
		_, _ = wp.stdin.Write([]byte(cmdQuit + "\n")) // all at once: they close in parallel
	}
	for _, wp := range p {
		wp.stop(grace)
	}
}

func (p pool) killAll() {
	for _, wp := range p {
		wp.kill()
	}
}

// progress returns the workers' latest reports added up, whether every one is ready, and
// the first worker failure.
func (p pool) progress() (report, bool, error) {
	reps := make([]*report, len(p))
	ready := true
	var errs []error
	for i, wp := range p {
		r, err := wp.latest()
		reps[i] = &r
		if err != nil {
			errs = append(errs, err)
		}
		select {
		case <-wp.ready:
		case <-wp.done:
			ready = false
			if err == nil {
				errs = append(errs, fmt.Errorf("worker %d exited (log %s)", wp.id, wp.logPath))
			}
		default:
			ready = false
		}
	}
	return totals(reps), ready, errors.Join(errs...)
}

// connectStall is how long the connect phase may make no progress at all before it fails.
const connectStall = time.Minute

// connect waits until every worker has tried all its connections, printing the progress every
// second. A refusal by the node ends the run (unless allowRefused): it means the node's
// limits, not this machine, decide how many connections there are.
func (p pool) connect(ctx context.Context, res *result, allowRefused bool) error {
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastTried, lastChange, lastOpened, lastAt := 0, t0, 0, t0
	var tot report
	for {
		var ready bool
		var err error
		tot, ready, err = p.progress()
		if err != nil {
			return err
		}
		tried := tot.Opened + tot.Refused + tot.Failed + tot.SubscribeFailed
		now := time.Now()
		if tot.Refused > 0 && !allowRefused {
			return fmt.Errorf("the node refused %d WebSocket upgrades (first: %s); its limits decide the count: see push.max_conns and push.max_conns_per_ip, or -allow-refused", tot.Refused, tot.FirstRefusal)
		}
		if ready {
			break
		}
		if tried != lastTried {
			lastTried, lastChange = tried, now
		} else if now.Sub(lastChange) > connectStall {
			return fmt.Errorf("no connection opened or failed for %s (%d of %d tried; first error: %s)", connectStall, tried, res.Conns, tot.FirstError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if tot.Opened > 0 || tried > 0 {
			rate := float64(tot.Opened-lastOpened) / time.Since(lastAt).Seconds()
			fmt.Printf("  %3.0fs  %s open (%s/s)  refused %d  failed %d  subscribe failed %d\n", time.Since(t0).Seconds(),
				benchkit.Thousands(tot.Opened), benchkit.Thousands(int(rate+0.5)), tot.Refused, tot.Failed, tot.SubscribeFailed)
			lastOpened, lastAt = tot.Opened, time.Now()
		}
	}
	secs := time.Since(t0).Seconds()
	res.Connect = connectResult{Requested: res.Conns, Opened: tot.Opened, Refused: tot.Refused, Failed: tot.Failed,
		SubscribeFailed: tot.SubscribeFailed, Seconds: secs, PerSec: float64(tot.Opened) / secs,
		FirstRefusal: tot.FirstRefusal, FirstError: tot.FirstError}
	fmt.Printf("opened and subscribed %s of %s connections in %.1fs (%s/s); refused %d, failed %d, subscribe failed %d\n",
		benchkit.Thousands(tot.Opened), benchkit.Thousands(res.Conns), secs, benchkit.Thousands(int(res.Connect.PerSec+0.5)),
		tot.Refused, tot.Failed, tot.SubscribeFailed)
	if tot.FirstRefusal != "" {
		fmt.Printf("  first refusal: %s\n", tot.FirstRefusal)
	}
	if tot.FirstError != "" {
		fmt.Printf("  first error: %s\n", tot.FirstError)
	}
	if tot.Opened == 0 {
		return errors.New("no connection opened")
	}
	return nil
}

// idleMemory measures the node's memory with every connection open and idle, and the cost
// per connection against before.
func idleMemory(ctx context.Context, n *nodeClient, o *options, res *result, before memory, connectedAt time.Time) error {
	if o.gcWait > 0 {
		fmt.Printf("waiting up to %s for the node's next GC\n", o.gcWait)
		deadline := time.Now().Add(o.gcWait)
		for time.Now().Before(deadline) {
			m, err := n.metrics(ctx)
			if err != nil {
				return err
			}
			if memoryOf(m).LastGC >= float64(connectedAt.UnixNano())/1e9 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	fmt.Printf("sampling the node's memory for %s with the connections idle\n", o.settle)
	after, err := n.settledMemory(ctx, o.settle)
	if err != nil {
		return err
	}
	m, err := n.metrics(ctx)
	if err != nil {
		return err
	}
	open := m["paimon_push_connections_opened_total"] - m["paimon_push_connections_closed_total"]
	idle := idleResult{Before: before, After: after, NodeConns: int(open),
		GCAfterConnect: after.LastGC >= float64(connectedAt.UnixNano())/1e9}
	if open > 0 {
		idle.RSSPerConn = (after.RSS - before.RSS) / open
		idle.HeapStackPerConn = (after.HeapStack - before.HeapStack) / open
		idle.HeapPerConn = (after.Heap - before.Heap) / open
		idle.StackPerConn = (after.Stack - before.Stack) / open
	}
	res.Idle = idle
	fmt.Printf("idle: %s connections on the node; per connection RSS %s, Go heap+stack %s%s\n", benchkit.Thousands(int(open)),
		kb(idle.RSSPerConn), kb(idle.HeapStackPerConn), idle.gcNote())
	return nil
}

// runLoadPhase posts the writes and waits for the deliveries, printing progress every 5 s.
func runLoadPhase(ctx context.Context, n *nodeClient, p pool, token string, o *options, res *result) error {
	start, err := p.askAll(cmdReset, 30*time.Second)
	if err != nil {
		return err
	}
	mBefore, err := n.metrics(ctx)
	if err != nil {
		return err
	}
	subscribed := totals(start).Open
	cpuBefore := cpuSample{node: mBefore["process_cpu_seconds_total"], workers: totals(start).CPUSeconds,
		runner: benchkit.SelfCPUSeconds(), machine: machineBusySeconds()}

	fmt.Printf("\nload: %d updates/s for %s to %s subscribed connections (expect %s messages/s)\n", o.rate, o.duration,
		benchkit.Thousands(subscribed), benchkit.Thousands(o.rate*subscribed))
	l := newLoader(n.base, token)
	done := make(chan *loadResult, 1)
	t0 := time.Now()
	go func() { done <- l.run(ctx, o.rate, o.duration) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var load *loadResult
	for load == nil {
		select {
		case load = <-done:
		case <-tick.C:
			reps, err := p.askAll(cmdStats, 30*time.Second)
			if err != nil {
				return err
			}
			t := totals(reps)
			fmt.Printf("  %3.0fs  writes sent %s (failed %d, late %d)  messages received %s of %s (%s/s)  connections dropped %d\n",
				time.Since(t0).Seconds(), benchkit.Thousands(int(l.sent.Load())), l.failed.Load(), l.late.Load(),
				benchkit.Thousands(int(t.Received)), benchkit.Thousands(int(l.accepted.Load())*subscribed),
				benchkit.Thousands(int(float64(t.Received)/time.Since(t0).Seconds())), t.Closed)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	expected := uint64(load.Accepted) * uint64(subscribed)
	fmt.Printf("writes done in %.1fs: sent %s, accepted %s, failed %d, late %d; waiting for deliveries (up to %s)\n",
		load.Seconds, benchkit.Thousands(load.Sent), benchkit.Thousands(load.Accepted), load.Failed, load.Late, o.drain)

	// Drain: until every expected message arrived, nothing arrived for 3 s, or o.drain.
	var final []*report
	var lastRecv uint64
	var drainEnd string
	lastChange, drainStart := time.Now(), time.Now()
	for {
		reps, err := p.askAll(cmdStats, 30*time.Second)
		if err != nil {
			return err
		}
		final = reps
		recv := totals(reps).Received
		if recv != lastRecv {
			lastRecv, lastChange = recv, time.Now()
		}
		drainEnd = drainEnded(recv, expected, time.Since(lastChange), time.Since(drainStart), o.drain)
		if drainEnd != "" {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	deliveredIn := lastChange.Sub(t0).Seconds()
	mAfter, err := n.metrics(ctx)
	if err != nil {
		return err
	}
	cpuAfter := cpuSample{node: mAfter["process_cpu_seconds_total"], workers: totals(final).CPUSeconds,
		runner: benchkit.SelfCPUSeconds(), machine: machineBusySeconds()}
	res.fill(load, final, subscribed, expected, deliveredIn, mBefore, mAfter, cpuBefore, cpuAfter, time.Since(t0).Seconds())
	res.Delivery.DrainEnded = drainEnd
	return nil
}

// Why the wait for deliveries ended. Messages missing after drainTimedOut were still arriving
// (the node was behind), after drainQuiet they had stopped arriving (lost, or the node stalled).
const (
	drainComplete = "complete"
	drainQuiet    = "quiet"
	drainTimeout  = "timeout"
)

// drainEnded says whether the wait for deliveries is over and why ("" while it goes on): every
// expected message arrived, none arrived for quiet (3 s), or the -drain time passed.
func drainEnded(recv, expected uint64, sinceLast, sinceStart, limit time.Duration) string {
	switch {
	case recv >= expected:
		return drainComplete
	case sinceLast > 3*time.Second:
		return drainQuiet
	case sinceStart > limit:
		return drainTimeout
	}
	return ""
}

// cpuSample is CPU seconds used so far.
type cpuSample struct {
	node, workers, runner, machine float64
}

// machineBusySeconds returns the CPU time the whole machine has spent busy (every process,
// the kernel included), from /proc/stat; 0 when it cannot be read.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return procStatBusy(b)
}

// procStatBusy reads the aggregate "cpu" line of /proc/stat: user, nice, system, irq,
// softirq and steal, in clock ticks (USER_HZ, 100), as seconds.
func procStatBusy(stat []byte) float64 {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var busy float64
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return 0
			}
			busy += v
		}
		return busy / 100
	}
	return 0
}
