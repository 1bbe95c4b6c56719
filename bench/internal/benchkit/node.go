package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Node is a node a runner started, as the runner talks to it over HTTP.
type Node struct {
	Base     string // http://host:port
	HTTPAddr string // host:port of its HTTP API
	RaftAddr string // host:port of its Raft transport
	DataDir  string
	Token    string // the local admin token (<data-dir>/admin.token)
	HTTP     *http.Client
}

// NodeSpec says how StartNode runs a node.
type NodeSpec struct {
	Bin      string // the paimon binary
	Dir      string // the run's temporary folder: the node gets Dir/data and logs to Dir/node.log
	LogLevel string // its -log-level
}

// StartNode starts `paimon serve` with the embedded defaults, a data folder in s.Dir and free
// loopback ports, waits until /readyz answers 200, and reads the admin token the node writes
// when no [[auth.tokens]] are configured. The caller stops the Proc (StopProc), also when an
// error is returned with a non-nil Proc.
func StartNode(ctx context.Context, s NodeSpec) (*Proc, *Node, error) {
	httpAddr, err := FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	raftAddr, err := FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	n := &Node{Base: "http://" + httpAddr, HTTPAddr: httpAddr, RaftAddr: raftAddr, DataDir: filepath.Join(s.Dir, "data"),
		HTTP: &http.Client{Timeout: 2 * time.Minute}}
	p, err := StartProc(ProcSpec{Name: "node", Bin: s.Bin, LogPath: filepath.Join(s.Dir, "node.log"), Args: []string{
		"serve", "-data-dir", n.DataDir, "-http-addr", httpAddr, "-raft-addr", raftAddr, "-log-level", s.LogLevel,
	}})
	if err != nil {
		return nil, nil, err
	}
	if err := WaitHTTP(ctx, p, n.Base+"/readyz", time.Minute); err != nil {
		return p, nil, err
	}
	tok, err := ReadFileWhenPresent(ctx, filepath.Join(n.DataDir, "admin.token"), 10*time.Second)
	if err != nil {
		return p, nil, err
	}
	n.Token = strings.TrimSpace(string(tok))
	return p, n, nil
}

// Do sends one request to the node, with the admin token when auth is set, and returns the
// status and body.
func (n *Node) Do(ctx context.Context, method, path string, body []byte, auth bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.Token)
	}
	resp, err := n.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Get fetches path and fails unless it answers 200.
func (n *Node) Get(ctx context.Context, path string, auth bool) ([]byte, error) {
	code, b, err := n.Do(ctx, http.MethodGet, path, nil, auth)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, code, Snippet(b))
	}
	return b, nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago. Another process
// may take it before the child binds it; the child then fails to start and says so.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitHTTP polls url until it answers 200, the process exits, or timeout passes. p may be nil
// (a server this tool did not start).
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		if p != nil && p.Exited() {
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
			tail := ""
			if p != nil {
				tail = "\n" + p.LogTail(20)
			}
			return fmt.Errorf("%s not ready after %s: %s%s", url, timeout, last, tail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ReadFileWhenPresent polls for a file that a child writes at startup.
func ReadFileWhenPresent(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
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

// StopProc stops p (deferred) and reports a failure to stop cleanly, unless an error is already
// being returned: a child that had to be killed, or that exited non-zero on SIGTERM. A child
// that had exited before is not reported here. A nil p is nothing to stop.
func StopProc(p *Proc, err *error) {
	if p == nil {
		return
	}
	running := !p.Exited()
	stopErr := p.Stop(10 * time.Second)
	if stopErr == nil && running && p.ExitCode() > 0 {
		stopErr = fmt.Errorf("%s exited with code %d on SIGTERM (log: %s)", p.Name(), p.ExitCode(), p.LogPath())
	}
	if stopErr != nil && *err == nil {
		*err = stopErr
	}
}
