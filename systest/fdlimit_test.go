package systest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paimon/internal/testutil"
)

// startLimited starts `paimon serve` with RLIMIT_NOFILE set to nofile (soft and hard, so the
// Go runtime cannot raise it), through bash's ulimit before exec.
func startLimited(t *testing.T, nofile int, args ...string) *proc {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	return startCmd(t, exec.Command("bash", append([]string{"-c", script, paimonBin}, args...)...), args)
}

// keepAlive is one HTTP/1.1 connection kept open, to ask a node things while it cannot
// accept new ones.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func (k *keepAlive) get(path string) (int, string, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricValue is the value of a counter in a /metrics body, or -1.
func metricValue(body, name string) int {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// TestAcceptSurvivesDescriptorExhaustion: a node limited to 256 descriptors gets 400 idle
// connections, which are then closed: the node serves a new connection again within a second.
// Configured to accept more connections than it has descriptors for, its accept fails
// (EMFILE) meanwhile, which is counted and makes /readyz answer 503 on a connection opened
// before; on its defaults (http.concurrency from the descriptor limit, max_conns_per_ip 256)
// it never runs out: the excess connections are refused and it stays ready.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		exhausts  bool
	}{
		// concurrency and max_conns_per_ip above the descriptor limit, and timeouts longer
		// than the test, so that the idle connections exhaust the descriptors and stay.
		{"more connections than descriptors", `
[http]
concurrency = 100000
max_conns_per_ip = 100000
read_timeout = "60s"
idle_timeout = "60s"
`, true},
		{"defaults", `
[http]
read_timeout = "60s"
idle_timeout = "60s"
`, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testDescriptorExhaustion(t, tc.cfg, tc.exhausts) })
	}
}

func testDescriptorExhaustion(t *testing.T, cfg string, exhausts bool) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "paimon.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freePort(t)
	p := startLimited(t, 256, "serve", "-config", cfgPath, "-data-dir", filepath.Join(dir, "data"), "-http-addr", httpAddr, "-raft-addr", freePort(t))
	p.waitReady(10 * time.Second)

	kc, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	k := &keepAlive{c: kc, br: bufio.NewReader(kc)}
	if status, body, err := k.get("/readyz"); err != nil || status != 200 {
		t.Fatalf("readyz before: %d %s %v", status, body, err)
	}

	idle := make([]net.Conn, 0, 400)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", httpAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(idle), err)
		}
		idle = append(idle, c)
	}
	if exhausts {
		// Accept is failing: counted, and /readyz says so.
		testutil.CheckFor(t, 10*time.Second, func() error {
			status, body, err := k.get("/readyz")
			if err != nil {
				return err
			}
			if status != 503 || !strings.Contains(body, "accepting connections fails") {
				return fmt.Errorf("readyz %d %s", status, body)
			}
			return nil
		})
	} else {
		// The connections over http.concurrency are answered 503 and closed (or closed at
		// once over max_conns_per_ip); the others stay, idle.
		var wg sync.WaitGroup
		var refused atomic.Int64
		for _, c := range idle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
					refused.Add(1)
				}
			}()
		}
		wg.Wait()
		t.Logf("%d of 400 connections refused", refused.Load())
		if refused.Load() < 400-256 {
			t.Fatalf("only %d of 400 connections refused", refused.Load())
		}
		if status, body, err := k.get("/readyz"); err != nil || status != 200 {
			t.Fatalf("readyz while the connections are held: %d %s %v", status, body, err)
		}
	}
	_, metrics, err := k.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n := metricValue(metrics, "paimon_http_accept_errors_total"); exhausts != (n > 0) {
		t.Fatalf("paimon_http_accept_errors_total = %d", n)
	}

	// Free the descriptors: a new connection is served within a second.
	for _, c := range idle {
		c.Close()
	}
	idle = idle[:0]
	freed := time.Now()
	client := http.Client{Timeout: 250 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	var served time.Duration
	for served == 0 && time.Since(freed) < 10*time.Second {
		resp, err := client.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				served = time.Since(freed)
			}
		}
	}
	t.Logf("served again %s after 400 idle connections were closed (RLIMIT_NOFILE 256)", served.Round(10*time.Microsecond))
	if served == 0 || served > time.Second {
		t.Fatalf("served again after %s, want within a second", served)
	}
	p.waitReady(5 * time.Second)
	if strings.Contains(p.logText(), "http server stopped") {
		t.Fatal("the HTTP server stopped")
	}
}
