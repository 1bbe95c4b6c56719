package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"paimon/bench/internal/benchkit"
)

// checkFree fails with a clear message when addr cannot be listened on: the example files use
// fixed ports, so a cluster left running (another -hold) is the usual cause.
func checkFree(addr, what string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s is not free (is another cluster running, e.g. go run ./bench/cluster -hold?): %w", what, addr, err)
	}
	return ln.Close()
}

// nodeLog returns the last n lines of a node's log for an error message, or why there are
// none: the nodes log at warn by default, so an empty log is common and says to raise the level.
func nodeLog(p *benchkit.Proc, n int) string {
	if tail := p.LogTail(n); strings.TrimSpace(tail) != "" {
		return tail
	}
	f, err := os.Open(p.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	f.Close()
	return "(empty log: -node-log-level debug or info says more)"
}
