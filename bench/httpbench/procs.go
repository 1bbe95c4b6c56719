package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

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
