package upgradetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a paimon process.
type Proc struct {
	Node   Node
	Bin    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   strings.Builder
	done   chan struct{}
	exitMu sync.Mutex
	exit   error
}

// Start runs `bin serve -config <dir>.toml` for n, writing the config beside its data folder.
func Start(bin string, n Node, all []Node) (*Proc, error) {
	cfg := n.Dir + ".toml"
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg, []byte(Config(n, all)), 0o600); err != nil {
		return nil, err
	}
	return StartArgs(bin, n, "serve", "-config", cfg)
}

// StartArgs runs bin with args, collecting its log.
func StartArgs(bin string, n Node, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	p := &Proc{Node: n, Bin: bin, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.exitMu.Lock()
		p.exit = err
		p.exitMu.Unlock()
	}()
	return p, nil
}

// Logs returns what the process logged so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitErr is the process's exit error once Done is closed.
func (p *Proc) ExitErr() error {
	p.exitMu.Lock()
	defer p.exitMu.Unlock()
	return p.exit
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after timeout).
func (p *Proc) Stop(timeout time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

var client = &http.Client{Timeout: 10 * time.Second}

// Do sends one API request with the admin token.
func Do(httpAddr, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, "http://"+httpAddr+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Status is the part of GET /v1/cluster/status the tests read.
type Status struct {
	NodeID         string `json:"nodeId"`
	Leader         string `json:"leader"`
	AppliedIndex   uint64 `json:"appliedIndex"`
	CommitIndex    uint64 `json:"commitIndex"`
	Term           uint64 `json:"term"`
	Version        string `json:"version"`
	ClusterVersion string `json:"clusterVersion"`
	Nodes          []struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"nodes"`
}

// GetStatus reads a node's cluster status.
func GetStatus(httpAddr string) (Status, error) {
	var st Status
	code, b, err := Do(httpAddr, "GET", "/v1/cluster/status", "")
	if err != nil {
		return st, err
	}
	if code != 200 {
		return st, fmt.Errorf("status %d: %s", code, b)
	}
	return st, json.Unmarshal(b, &st)
}

// WaitFor polls cond every 50 ms until it returns nil or timeout passes, and returns its last
// error.
func WaitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitReady waits until the node answers /readyz with 200.
func WaitReady(httpAddr string, timeout time.Duration) error {
	return WaitFor(timeout, func() error {
		resp, err := client.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s /readyz: %d", httpAddr, resp.StatusCode)
		}
		return nil
	})
}

// WaitConverged waits until every node names the same leader and has applied the leader's
// commit index, and returns that index.
func WaitConverged(nodes []Node, timeout time.Duration) (uint64, error) {
	var idx uint64
	err := WaitFor(timeout, func() error {
		var leader string
		var commit uint64
		sts := make([]Status, len(nodes))
		for i, n := range nodes {
			st, err := GetStatus(n.HTTP)
			if err != nil {
				return err
			}
			if st.Leader == "" || (leader != "" && st.Leader != leader) {
				return fmt.Errorf("leader %q vs %q", st.Leader, leader)
			}
			leader, sts[i] = st.Leader, st
			commit = max(commit, st.CommitIndex)
		}
		for i, st := range sts {
			if st.AppliedIndex < commit {
				return fmt.Errorf("%s applied %d < %d", nodes[i].ID, st.AppliedIndex, commit)
			}
		}
		idx = commit
		return nil
	})
	return idx, err
}

// Leader returns the index in nodes of the current leader, as the first answering node says.
func Leader(nodes []Node) (int, error) {
	for _, n := range nodes {
		st, err := GetStatus(n.HTTP)
		if err != nil || st.Leader == "" {
			continue
		}
		for i, m := range nodes {
			if m.ID == st.Leader {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no leader")
}

// Seed sends the history, spreading it over the nodes (followers forward writes).
func Seed(nodes []Node, reqs []Request) error {
	for i, r := range reqs {
		n := nodes[i%len(nodes)]
		if r.Login {
			if err := login(n.HTTP); err != nil {
				return err
			}
			continue
		}
		var code int
		var b []byte
		err := WaitFor(20*time.Second, func() error {
			var err error
			code, b, err = Do(n.HTTP, r.Method, r.Path, r.Body)
			if err == nil && code == 503 {
				err = fmt.Errorf("503 %s", b)
			}
			return err
		})
		if err != nil || code != 200 {
			return fmt.Errorf("%s %s: %d %s %v", r.Method, r.Path, code, b, err)
		}
	}
	return nil
}

func login(httpAddr string) error {
	code, b, err := Do(httpAddr, "POST", "/v1/auth/nonce", fmt.Sprintf(`{"address":%q}`, WalletAddress()))
	if err != nil || code != 200 {
		return fmt.Errorf("nonce: %d %s %v", code, b, err)
	}
	var n struct{ Nonce, Message string }
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	sig, err := SignLogin(n.Message)
	if err != nil {
		return err
	}
	code, b, err = Do(httpAddr, "POST", "/v1/auth/login", fmt.Sprintf(`{"address":%q,"signature":%q,"nonce":%q}`, WalletAddress(), sig, n.Nonce))
	if err != nil || code != 200 {
		return fmt.Errorf("login: %d %s %v", code, b, err)
	}
	return nil
}

// Record answers every route on the node.
func Record(httpAddr string) ([]Answer, error) {
	get := func(path string) ([]byte, error) {
		code, b, err := Do(httpAddr, "GET", path, "")
		if err == nil && code != 200 {
			err = fmt.Errorf("GET %s: %d %s", path, code, b)
		}
		return b, err
	}
	paths, err := Routes(get)
	if err != nil {
		return nil, err
	}
	out := make([]Answer, 0, len(paths))
	for _, p := range paths {
		code, b, err := Do(httpAddr, "GET", p, "")
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("GET %s: not JSON: %s", p, b)
		}
		out = append(out, Answer{Path: p, Status: code, Body: b})
	}
	return out, nil
}

// Compare asks the node every recorded route and reports each difference.
func Compare(httpAddr string, want []Answer) []string {
	var diffs []string
	for _, a := range want {
		code, b, err := Do(httpAddr, "GET", a.Path, "")
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("GET %s: %v", a.Path, err))
			continue
		}
		if code != a.Status {
			diffs = append(diffs, fmt.Sprintf("GET %s: status %d, want %d (%s)", a.Path, code, a.Status, b))
			continue
		}
		var w, g any
		if err := json.Unmarshal(a.Body, &w); err != nil {
			diffs = append(diffs, fmt.Sprintf("GET %s: recorded body: %v", a.Path, err))
			continue
		}
		if err := json.Unmarshal(b, &g); err != nil {
			diffs = append(diffs, fmt.Sprintf("GET %s: body %s: %v", a.Path, b, err))
			continue
		}
		if d := Contains(w, g, ""); d != "" {
			diffs = append(diffs, fmt.Sprintf("GET %s: %s", a.Path, d))
		}
	}
	return diffs
}

// HasSnapshot reports whether the node's data folder holds a Raft snapshot.
func HasSnapshot(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	return len(m) > 0
}
