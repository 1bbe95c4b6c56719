package systest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"paimon/internal/testutil"
)

// lockedBuffer is an io.Writer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatch: `paimon watch` against a running node prints the subscription and one event per
// change, refuses a bad token without retrying, and ends with an error when the node stops.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freePort(t)
	p := startProc(t, "serve", "-data-dir", dir, "-http-addr", httpAddr, "-raft-addr", freePort(t))
	p.waitReady(20 * time.Second)
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	url := "ws://" + httpAddr + "/v1/ws"

	if code, _, errOut := runPaimon(t, "watch", "-url", url, "-token", "wrong", "-reconnect", "transactions"); code != 1 || !strings.Contains(errOut, "AUTH_INVALID") {
		t.Fatalf("bad token: exit %d, %q", code, errOut)
	}

	out, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runPaimonTo(t, context.Background(), out, stderr, "watch", "-url", url, "-token", token, "fund:nav", "transactions")
	}()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if !strings.Contains(out.String(), `"type":"subscribed"`) {
			return fmt.Errorf("not subscribed: %q %q", out.String(), stderr.String())
		}
		return nil
	})
	body, err := os.ReadFile("../examples/sample-logs.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, b, err := p.do("POST", "/v1/admin/logs", token, string(body)); err != nil || code != 200 {
		t.Fatalf("post logs: %d %s %v", code, b, err)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := strings.Count(out.String(), `"channel":"transactions"`); n != 33 {
			return fmt.Errorf("%d transactions events, want 33", n)
		}
		return nil
	})
	if !strings.Contains(out.String(), `"channel":"fund:nav"`) {
		t.Fatalf("no NAV event:\n%s", out.String())
	}
	p.stop()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(stderr.String(), "1001") {
			t.Fatalf("after the node stopped: exit %d, %q", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end when the node stopped")
	}
}
