package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/internal/testutil"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		body   string
		want   string
	}{
		{"ok", nil, 200, `{"accepted":1}`, ""},
		{"no leader", nil, 503, `{"error":{"code":"NO_LEADER","message":"retry"}}`, "NO_LEADER"},
		{"unavailable", nil, 503, `{"error":{"code":"UNAVAILABLE","message":"timed out"}}`, "HTTP 503 UNAVAILABLE"},
		{"no body", nil, 502, ``, "HTTP 502"},
		{"timeout", fasthttp.ErrTimeout, 0, "", "transport: timeout"},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), 0, "", "transport: connection refused"},
		{"closed", io.EOF, 0, "", "transport: connection closed"},
		{"other", errors.New("something odd"), 0, "", "transport: something odd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err, tc.status, []byte(tc.body)); got != tc.want {
				t.Errorf("classify = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := distribution(ds)
	if l.Count != 100 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Errorf("distribution = %+v", l)
	}
	if l := distribution([]time.Duration{3 * time.Millisecond}); l.P50 != 3 || l.P99 != 3 {
		t.Errorf("one value: %+v", l)
	}
	if l := distribution(nil); l != (latency{}) {
		t.Errorf("no values: %+v", l)
	}
}

func TestParseMetrics(t *testing.T) {
	body := `paimon_fsm_apply_seconds_bucket{le="0.001"} 10
paimon_fsm_apply_seconds_sum 1.5
paimon_fsm_apply_seconds_count 120
paimon_fsm_applied_entries_total 2400
paimon_http_forwarded_total 77
paimon_http_requests_total{route="admin_logs",code="200"} 9
`
	var n nodeMetrics
	parseMetrics([]byte(body), &n)
	if n.ApplyBatches != 120 || n.ApplySeconds != 1.5 || n.AppliedEntries != 2400 || n.Forwarded != 77 {
		t.Errorf("parsed %+v", n)
	}
}

func TestFormed(t *testing.T) {
	voters := []statusNode{
		{ID: "node1", Suffrage: "voter", Reachable: true},
		{ID: "node2", Suffrage: "voter", Reachable: true},
		{ID: "node3", Suffrage: "voter", Reachable: true},
	}
	st := &clusterStatus{Leader: "node2", Nodes: voters}
	if why := formed(st, ""); why != "" {
		t.Errorf("formed cluster: %s", why)
	}
	if why := formed(st, "node1"); why == "" {
		t.Error("a disagreement on the leader passed")
	}
	if why := formed(&clusterStatus{Nodes: voters}, ""); why == "" {
		t.Error("no leader passed")
	}
	if why := formed(&clusterStatus{Leader: "node1", Nodes: voters[:2]}, ""); why == "" {
		t.Error("two members passed")
	}
	down := append([]statusNode(nil), voters...)
	down[2].Reachable = false
	if why := formed(&clusterStatus{Leader: "node1", Nodes: down}, ""); why == "" {
		t.Error("an unreachable member passed")
	}
}

func TestNodeLog(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"tail", "echo one; echo two; echo three", "two\nthree"},
		{"empty", "exit 0", "(empty log: -node-log-level debug or info says more)"},
		{"blank", "echo; echo '  '", "(empty log: -node-log-level debug or info says more)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := benchkit.StartProc(benchkit.ProcSpec{Name: "node1", Bin: "sh", Args: []string{"-c", tc.script},
				LogPath: filepath.Join(t.TempDir(), "node1.log")})
			if err != nil {
				t.Fatal(err)
			}
			testutil.CheckFor(t, 10*time.Second, func() error {
				if !p.Exited() {
					return errors.New("still running")
				}
				return nil
			})
			if got := nodeLog(p, 2); got != tc.want {
				t.Errorf("nodeLog = %q, want %q", got, tc.want)
			}
			if err := os.Remove(p.LogPath()); err != nil {
				t.Fatal(err)
			}
			if got := nodeLog(p, 2); !strings.HasPrefix(got, "(no log: open "+p.LogPath()) {
				t.Errorf("nodeLog without a log = %q", got)
			}
		})
	}
}

func TestOrDash(t *testing.T) {
	if got := orDash(0); got != "-" {
		t.Errorf("orDash(0) = %q", got)
	}
	if got := orDash(73.94); got != "73.9" {
		t.Errorf("orDash(73.94) = %q", got)
	}
	if got := orDash(1); got != "1.0" {
		t.Errorf("orDash(1) = %q", got)
	}
}
