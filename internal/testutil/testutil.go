// Package testutil holds the small helpers every package's tests share: polling instead of
// sleeping, free loopback addresses, node logs routed to the test log, and checks of decoded
// JSON by dotted path and of paginated lists (jsonpath.go).
package testutil

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CheckFor polls fn every 10 ms until it returns nil, and fails the test with fn's last error
// if that has not happened within timeout.
func CheckFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago. The port is
// drawn at random below the kernel's ephemeral range (ip_local_port_range), so that no
// outgoing connection of any process, which takes its local port from that range, can take it
// between this call and the test's listen: a port ":0" hands out is exactly such a port, and
// the suite's hundreds of loopback connections did take one ("address already in use").
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// FreePort is FreeAddr's port, for helpers without a testing.TB. It never hands out the same
// port twice in one process: a test that takes several ports before it listens on any (a
// cluster's HTTP and Raft addresses) would otherwise get the same one twice now and then, and
// its second listen fail ("address already in use", seen in systest.TestRollingUpgrade).
func FreePort() (int, error) {
	if lo := ephemeralLow(); lo > minTestPort+1000 {
		for range 100 {
			port := minTestPort + rand.IntN(lo-minTestPort)
			if !handOut(port) {
				continue
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// handOut records port as handed out and reports whether it was not before.
func handOut(port int) bool {
	handedMu.Lock()
	defer handedMu.Unlock()
	if handed[port] {
		return false
	}
	handed[port] = true
	return true
}

// minTestPort is the lowest port FreeAddr hands out (above the well-known and most
// registered service ports).
const minTestPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range, 0 if unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	lo, _ := strconv.Atoi(f[0])
	return lo
}

// Logger returns a logger that writes to t.Log at level, each line prefixed by name (if any).
func Logger(t testing.TB, name string, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t, name}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct {
	t    testing.TB
	name string
}

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if w.name != "" {
		line = w.name + ": " + line
	}
	w.t.Log(line)
	return len(p), nil
}
