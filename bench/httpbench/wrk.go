package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"paimon/bench/internal/benchkit"
)

// wrkParams are the load settings of every run.
type wrkParams struct {
	bin         string
	threads     int
	connections int
	duration    time.Duration
	timeout     time.Duration // wrk's per-request timeout
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests       int64              `json:"requests"`
	Seconds        float64            `json:"seconds"`
	RequestsPerSec float64            `json:"requestsPerSec"`
	LatencyMs      map[string]float64 `json:"latencyMs"` // avg, stdev, max, p50, p75, p90, p99
	Non2xx         int64              `json:"non2xx"`
	SocketErrors   map[string]int64   `json:"socketErrors,omitempty"` // connect, read, write, timeout
}

// errors returns the number of failed requests (non-2xx/3xx answers and socket errors).
func (r *wrkResult) errors() int64 {
	n := r.Non2xx
	for _, v := range r.SocketErrors {
		n += v
	}
	return n
}

// args returns wrk's command line for url, with an optional Lua script.
func (p wrkParams) args(d time.Duration, url, script string) []string {
	a := []string{
		"-t" + strconv.Itoa(p.threads), "-c" + strconv.Itoa(p.connections),
		"-d" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s", "--timeout", strconv.FormatFloat(p.timeout.Seconds(), 'f', -1, 64) + "s", "--latency",
	}
	if script != "" {
		a = append(a, "-s", script)
	}
	return append(a, url)
}

// runWrk runs wrk for d against url and parses its report. A cancelled ctx interrupts wrk with
// SIGINT (it then prints what it measured so far, which is discarded).
func runWrk(ctx context.Context, p wrkParams, d time.Duration, url, script string) (*wrkResult, string, error) {
	args := p.args(d, url, script)
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 3 * time.Second
	out, err := cmd.CombinedOutput()
	line := p.bin + " " + strings.Join(args, " ")
	if ctx.Err() != nil {
		return nil, line, ctx.Err()
	}
	if err != nil {
		return nil, line, fmt.Errorf("%s: %w\n%s", line, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return nil, line, fmt.Errorf("%s: %w\n%s", line, err, out)
	}
	return r, line, nil
}

var (
	reLatency   = regexp.MustCompile(`(?m)^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)`)
	rePercent   = regexp.MustCompile(`(?m)^\s*(50|75|90|99)%\s+(\S+)`)
	reRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h)`)
	reRPS       = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reNon2xx    = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErrs  = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	sockErrKeys = []string{"connect", "read", "write", "timeout"}
)

// parseWrk reads wrk 4's text report (with --latency).
func parseWrk(out string) (*wrkResult, error) {
	r := &wrkResult{LatencyMs: map[string]float64{}}
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no Requests/sec in wrk's output")
	}
	r.RequestsPerSec, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
		d, err := parseWrkDuration(m[2] + m[3])
		if err != nil {
			return nil, err
		}
		r.Seconds = d.Seconds()
	}
	if m := reLatency.FindStringSubmatch(out); m != nil {
		for i, k := range []string{"avg", "stdev", "max"} {
			d, err := parseWrkDuration(m[i+1])
			if err != nil {
				return nil, err
			}
			r.LatencyMs[k] = benchkit.Millis(d)
		}
	}
	for _, m := range rePercent.FindAllStringSubmatch(out, -1) {
		d, err := parseWrkDuration(m[2])
		if err != nil {
			return nil, err
		}
		r.LatencyMs["p"+m[1]] = benchkit.Millis(d)
	}
	if _, ok := r.LatencyMs["p99"]; !ok {
		return nil, fmt.Errorf("no latency distribution in wrk's output (was --latency given?)")
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErrs.FindStringSubmatch(out); m != nil {
		r.SocketErrors = map[string]int64{}
		for i, k := range sockErrKeys {
			r.SocketErrors[k], _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	return r, nil
}

// parseWrkDuration parses wrk's durations: "358.00us", "1.15ms", "2.00s", "1.50m", "1.00h".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk duration %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk duration %q: unknown unit", s)
}
