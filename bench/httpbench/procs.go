package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// freeAddr returns a loopback address with a port that was free a moment ago. Another process
// may take it before the child binds it; the child then fails to start and says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, the process exits, or timeout passes.
func waitHTTP(ctx context.Context, p *benchkit.Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited before %s answered 200: %v\n%s", p.Name(), url, p.Err(), p.LogTail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %s\n%s", url, timeout, last, p.LogTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readFileWhenPresent polls for a file that a child writes at startup.
func readFileWhenPresent(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not appear within %s", path, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readFirstLogLine returns the rest of the first log line of p that starts with prefix (the
// bare server prints its address so).
func readFirstLogLine(ctx context.Context, p *benchkit.Proc, prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if f, err := os.Open(p.LogPath()); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					f.Close()
					return strings.TrimSpace(rest), nil
				}
			}
			f.Close()
		}
		if p.Exited() {
			return "", fmt.Errorf("%s exited: %v\n%s", p.Name(), p.Err(), p.LogTail(20))
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s printed no %q line within %s", p.Name(), prefix, timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
