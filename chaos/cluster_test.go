package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"paimon/auth"
	"paimon/internal/testutil"
)

// node is one paimon process: its config, its proxies, and the running process if any.
type node struct {
	name      string
	args      []string
	url       string // the node's own HTTP address: the test's clients talk to it directly
	raftProxy *Proxy // the advertised Raft address: peers reach the node through it
	httpProxy *Proxy // the advertised HTTP address (forwarded writes and reads)
	config    string // its config file

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
	logs   strings.Builder
}

// cluster is three paimon processes on 127.0.0.1, each behind its proxies.
type cluster struct {
	t     *testing.T
	nodes []*node
	token string
	env   *env // PostgreSQL, the chain, the small disk: nil in the planted test

	costMu   sync.Mutex  // the one "CPU" of -chaos.identify-cost
	costDone atomic.Bool // the test is over: identify no longer waits
}

func newCluster(t *testing.T, e *env) *cluster {
	t.Helper()
	dir := t.TempDir()
	token, sum := auth.NewToken()
	c := &cluster{t: t, token: token, env: e}
	for i := range 3 { // every node exists before a proxy can ask c.owner about it
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("node%d", i+1)})
	}
	if e != nil {
		e.attach(c, dir)
	}
	for _, n := range c.nodes {
		httpAddr, raftAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
		var err error
		if n.raftProxy, err = NewProxy("127.0.0.1:0", raftAddr, c.identify); err != nil {
			t.Fatal(err)
		}
		if n.httpProxy, err = NewProxy("127.0.0.1:0", httpAddr, c.identify); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.raftProxy.Close(); n.httpProxy.Close() })
		n.url = "http://" + httpAddr
	}
	var join []string
	for _, n := range c.nodes {
		join = append(join, `"`+n.httpProxy.Addr()+`"`)
	}
	for _, n := range c.nodes {
		cfg := fmt.Sprintf(`
[node]
id = %q
data_dir = %q

[http]
addr = %q
advertise = %q

[raft]
addr = %q
advertise = %q
heartbeat_timeout = "500ms"
election_timeout = "500ms"
leader_lease_timeout = "250ms"

[cluster]
join = [%s]
bootstrap_expect = 3
secret = "chaos-cluster-secret-0123456789ab"

[ratelimit]
enabled = false

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = %q
`, n.name, filepath.Join(dir, n.name), strings.TrimPrefix(n.url, "http://"), n.httpProxy.Addr(),
			n.raftProxy.target, n.raftProxy.Addr(), strings.Join(join, ", "), sum)
		if e != nil {
			cfg += e.config()
		}
		path := filepath.Join(dir, n.name+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		n.args = []string{"serve", "-config", path}
		n.config = path
	}
	t.Cleanup(func() {
		c.costDone.Store(true) // first: the proxies' Close waits for every identify in progress
		for _, n := range c.nodes {
			if t.Failed() {
				n.quitWithStacks()
			}
			n.kill()
			if t.Failed() {
				logs, stacks, _ := strings.Cut(n.logText(), "SIGQUIT: quit")
				t.Logf("%s log (tail):\n%s", n.name, tail(logs, 60))
				if s := waitingStacks(stacks, 400); s != "" {
					t.Logf("%s goroutines of Raft, the store and Pebble when the run failed (SIGQUIT), longest waits first:\n%s", n.name, s)
				}
			}
		}
	})
	return c
}

// identify is every proxy's Identify: owner, after -chaos.identify-cost when set.
//
// That flag replays Findings 6 (chaos/DESIGN.md) without loading the machine: each naming of a
// source then holds one lock, shared by all the proxies, for that long, as a starved test process
// reading a large /proc/net/tcp did. With 1s, seed 585145192 ends in "after 1m0s: no leader".
func (c *cluster) identify(conn net.Conn) string {
	if cost := *flagIdentifyCost; cost > 0 {
		c.costMu.Lock()
		if !c.costDone.Load() {
			time.Sleep(cost)
		}
		c.costMu.Unlock()
	}
	return c.owner(conn)
}

// owner names the node process that opened a connection to one of the proxies.
func (c *cluster) owner(conn net.Conn) string {
	pids := map[int]string{}
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.cmd != nil && n.cmd.Process != nil {
			pids[n.cmd.Process.Pid] = n.name
		}
		n.mu.Unlock()
	}
	return ConnOwner(conn, pids)
}

// start starts node i's process.
func (c *cluster) start(i int) {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd := exec.Command(paimonBin, n.args...)
	out, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.paused = cmd, done, false
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.logs.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
}

// kill sends SIGKILL (after SIGCONT if paused) and waits for the exit; no-op when down.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.paused = false
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-done
}

// quitWithStacks has a running node print every goroutine's stack and exit (SIGQUIT, the Go
// runtime's dump, on stderr: into the node's log), for a failed run: what a node that stopped
// making progress was waiting on.
func (n *node) quitWithStacks() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// waitingStacks picks, from a Go goroutine dump, the goroutines in Raft, raftstore or Pebble,
// those waiting longest first, up to about limit lines.
func waitingStacks(dump string, limit int) string {
	type stanza struct {
		text string
		mins int
	}
	var picked []stanza
	for _, st := range strings.Split(dump, "\n\n") {
		st = strings.TrimSpace(st)
		if !strings.HasPrefix(st, "goroutine ") || !(strings.Contains(st, "hashicorp/raft") ||
			strings.Contains(st, "paimon/raftstore") || strings.Contains(st, "cockroachdb/pebble")) {
			continue
		}
		mins := 0
		head, _, _ := strings.Cut(st, "\n")
		if i := strings.Index(head, " minutes]"); i > 0 {
			j := strings.LastIndex(head[:i], " ")
			mins, _ = strconv.Atoi(head[j+1 : i])
		}
		picked = append(picked, stanza{st, mins})
	}
	slices.SortStableFunc(picked, func(a, b stanza) int { return b.mins - a.mins })
	var out []string
	lines := 0
	for _, p := range picked {
		if lines > limit {
			out = append(out, fmt.Sprintf("(%d more goroutines left out)", len(picked)-len(out)))
			break
		}
		out = append(out, p.text)
		lines += strings.Count(p.text, "\n") + 2
	}
	return strings.Join(out, "\n\n")
}

// signal sends sig to the running process.
func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
		n.paused = sig == syscall.SIGSTOP
	}
}

// running reports whether the process is started and has not exited.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *node) logText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// httpClient is shared by every client of the test; each request has its own deadline.
var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// do sends one request to node i with the admin token and returns status, body and
// X-Paimon-Index.
func (c *cluster) do(i int, method, path, body string) (int, []byte, uint64, error) {
	return c.doAs(i, c.token, method, path, body)
}

// doAs is do with token.
func (c *cluster) doAs(i int, token, method, path, body string) (int, []byte, uint64, error) {
	req, err := http.NewRequest(method, c.nodes[i].url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Paimon-Index"), 10, 64)
	return resp.StatusCode, b, idx, err
}

// leader asks the nodes for the cluster status and returns the leader's index, or -1.
func (c *cluster) leader() int {
	for i := range c.nodes {
		status, body, _, err := c.do(i, "GET", "/v1/cluster/status", "")
		if debugStatus {
			c.t.Logf("status %d: %d %s %v", i, status, body, err)
		}
		if err != nil || status != 200 {
			continue
		}
		var st struct{ Leader string }
		if json.Unmarshal(body, &st) == nil && st.Leader != "" {
			if k, err := strconv.Atoi(strings.TrimPrefix(st.Leader, "node")); err == nil && k >= 1 && k <= 3 {
				return k - 1
			}
		}
	}
	return -1
}

// waitLeader polls until a node names a leader that answers a linearizable read; if none
// does within timeout, it fails the test with the state of every node and proxy (describe).
func (c *cluster) waitLeader(timeout time.Duration) int {
	c.t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		l := c.leader()
		if l < 0 {
			err = fmt.Errorf("no leader")
		} else if status, b, _, rerr := c.do(l, "GET", "/v1/prices?consistency=linearizable", ""); rerr != nil || status != 200 {
			err = fmt.Errorf("leader node%d does not serve: %d %s %v", l+1, status, b, rerr)
		} else {
			return l
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %s: %v\n%s", timeout, err, c.describe())
		}
	}
}

// describe is the state of the cluster for a failure message: per node its process, what its
// GET /v1/cluster/status says (Raft state, term, leader, indexes, last contact) and its
// proxies (rules, open connections, and what naming their sources cost: a proxy forwards no
// byte before it knows the source, see ConnOwner); then the chain's proxy.
func (c *cluster) describe() string {
	var b strings.Builder
	for i, n := range c.nodes {
		n.mu.Lock()
		pid, paused := 0, n.paused
		if n.cmd != nil && n.cmd.Process != nil {
			pid = n.cmd.Process.Pid
		}
		n.mu.Unlock()
		fmt.Fprintf(&b, "%s: pid %d, running %v, paused %v\n", n.name, pid, n.running(), paused)
		status, body, _, err := c.do(i, "GET", "/v1/cluster/status", "")
		var st struct {
			State, Leader                   string
			Term, AppliedIndex, CommitIndex uint64
			LastContactMs                   int64
		}
		if err == nil && status == 200 && json.Unmarshal(body, &st) == nil {
			fmt.Fprintf(&b, "  status: state %s, term %d, leader %q, applied %d, commit %d, last contact %d ms\n",
				st.State, st.Term, st.Leader, st.AppliedIndex, st.CommitIndex, st.LastContactMs)
		} else {
			fmt.Fprintf(&b, "  status: %d %.200s %v\n", status, body, err)
		}
		fmt.Fprintf(&b, "  raft proxy %s\n  http proxy %s\n", n.raftProxy.State(), n.httpProxy.State())
	}
	if c.env != nil {
		fmt.Fprintf(&b, "chain proxy %s\n", c.env.chain.State())
	}
	return b.String()
}

// identifyMax is the longest any node's proxy took to name a connection's source: while it
// stays well below the Raft handshake's 5 s, the proxies cannot be what keeps a leader from
// being elected.
func (c *cluster) identifyMax() time.Duration {
	var m time.Duration
	for _, n := range c.nodes {
		m = max(m, n.raftProxy.IdentifyMax(), n.httpProxy.IdentifyMax())
	}
	return m
}

// heal removes every proxy rule.
func (c *cluster) heal() {
	for _, n := range c.nodes {
		n.raftProxy.Heal()
		n.httpProxy.Heal()
	}
}

// setLink applies l to what node from sends to node to (Raft and HTTP).
func (c *cluster) setLink(from, to int, l Link) {
	c.nodes[to].raftProxy.SetLink(c.nodes[from].name, l)
	c.nodes[to].httpProxy.SetLink(c.nodes[from].name, l)
}

var debugStatus = false
