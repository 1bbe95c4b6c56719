// Package testutil holds the small helpers every package's tests share: polling instead of
// sleeping, free loopback addresses, and node logs routed to the test log.
package testutil

import (
	"log/slog"
	"net"
	"strings"
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

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
