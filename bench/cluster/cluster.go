package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/bench/internal/benchkit"
	"paimon/config"
)

// member is one node of the cluster as the runner sees it: its example config, its process,
// and a pooled fasthttp client to its API.
type member struct {
	index    int // in cluster.members
	id       string
	httpAddr string
	raftAddr string
	config   string // absolute path of its TOML file
	dataDir  string // what the runner passes as serve -data-dir
	proc     *benchkit.Proc
	client   *fasthttp.HostClient
}

// cluster is the three started nodes.
type cluster struct {
	members  []*member
	token    string
	leaderID string // as of the last leaderAndFollowers
}

// loadMembers reads the three example files and checks that they describe one cluster the
// runner can talk to: the token's SHA-256 must be configured as an operator or admin.
func loadMembers(dir, token, dataParent string, timeout time.Duration, maxConns int) (*cluster, error) {
	c := &cluster{token: token}
	sum := sha256.Sum256([]byte(token))
	want := hex.EncodeToString(sum[:])
	for i := 1; i <= 3; i++ {
		path := filepath.Join(dir, fmt.Sprintf("node%d.toml", i))
		cfg, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if cfg.Cluster.BootstrapExpect != 3 || len(cfg.Cluster.Join) != 3 {
			return nil, fmt.Errorf("%s: want bootstrap_expect = 3 and three join addresses, have %d and %q",
				path, cfg.Cluster.BootstrapExpect, cfg.Cluster.Join)
		}
		found := false
		for _, t := range cfg.Auth.Tokens {
			if strings.EqualFold(t.SHA256, want) && (t.Role == "admin" || t.Role == "operator") {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: no [[auth.tokens]] entry with role admin or operator has the SHA-256 of -token (%s)", path, want)
		}
		m := &member{
			index: i - 1, id: cfg.Node.ID, httpAddr: cfg.HTTPAdvertise(), raftAddr: cfg.RaftAdvertise(), config: path,
			dataDir: filepath.Join(dataParent, cfg.Node.ID),
		}
		m.client = &fasthttp.HostClient{
			Addr:                m.httpAddr,
			Name:                "paimon-clusterbench",
			MaxConns:            maxConns,
			ReadTimeout:         timeout,
			WriteTimeout:        timeout,
			MaxConnWaitTimeout:  timeout,
			MaxIdleConnDuration: time.Minute,
			// One attempt per request: a failure is counted, never hidden by a retry.
			MaxIdemponentCallAttempts: 1,
		}
		c.members = append(c.members, m)
	}
	return c, nil
}

// do sends one request; body nil means GET.
func (m *member) do(method, path, token string, body []byte) (int, []byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + m.httpAddr + path)
	req.Header.SetMethod(method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := m.client.Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// statusNode is one member in GET /v1/cluster/status.
type statusNode struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raftAddr"`
	HTTPAddr  string `json:"httpAddr"`
	Suffrage  string `json:"suffrage"`
	Reachable bool   `json:"reachable"`
}

// clusterStatus is the part of GET /v1/cluster/status the runner uses.
type clusterStatus struct {
	NodeID       string       `json:"nodeId"`
	Leader       string       `json:"leader"`
	State        string       `json:"state"`
	Term         uint64       `json:"term"`
	AppliedIndex uint64       `json:"appliedIndex"`
	CommitIndex  uint64       `json:"commitIndex"`
	Nodes        []statusNode `json:"nodes"`
}

func (m *member) status(token string) (*clusterStatus, error) {
	code, b, err := m.do("GET", "/v1/cluster/status", token, nil)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET /v1/cluster/status: %d %s", code, benchkit.Snippet(b))
	}
	var st clusterStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("GET /v1/cluster/status: %w", err)
	}
	return &st, nil
}

// waitFormed polls every node's cluster status until all three answer, agree on a leader, and
// each lists three reachable voters, and every node's /readyz answers 200. It fails at once
// when a node exits, and after timeout with what each node last said and its log.
func (c *cluster) waitFormed(ctx context.Context, timeout time.Duration) (*clusterStatus, error) {
	deadline := time.Now().Add(timeout)
	last := make([]string, len(c.members))
	for {
		var leaderSt *clusterStatus
		ok := true
		leader := ""
		for i, m := range c.members {
			if m.proc.Exited() {
				return nil, fmt.Errorf("%s exited while the cluster was forming: %v\n--- %s (last 30 lines) ---\n%s",
					m.id, m.proc.Err(), m.proc.LogPath(), nodeLog(m.proc, 30))
			}
			st, err := m.status(c.token)
			if err != nil {
				last[i], ok = err.Error(), false
				continue
			}
			if why := formed(st, leader); why != "" {
				last[i], ok = why, false
				continue
			}
			leader = st.Leader
			if st.NodeID == st.Leader {
				leaderSt = st
			}
			if code, b, err := m.do("GET", "/readyz", "", nil); err != nil || code != 200 {
				last[i], ok = fmt.Sprintf("/readyz: %d %s %v", code, benchkit.Snippet(b), err), false
				continue
			}
			last[i] = ""
		}
		if ok && leaderSt != nil {
			return leaderSt, nil
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			fmt.Fprintf(&sb, "the cluster did not form within %s", timeout)
			for i, m := range c.members {
				if last[i] == "" {
					continue
				}
				fmt.Fprintf(&sb, "\n%s (http %s, raft %s): %s\n--- %s (last 20 lines) ---\n%s",
					m.id, m.httpAddr, m.raftAddr, last[i], m.proc.LogPath(), nodeLog(m.proc, 20))
			}
			return nil, errors.New(sb.String())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// formed says why st is not yet a formed three-voter cluster led by leader ("" for any
// leader), or "" when it is.
func formed(st *clusterStatus, leader string) string {
	switch {
	case st.Leader == "":
		return "no leader yet"
	case leader != "" && st.Leader != leader:
		return fmt.Sprintf("sees leader %s, another node sees %s", st.Leader, leader)
	case len(st.Nodes) != 3:
		return fmt.Sprintf("%d members in the configuration", len(st.Nodes))
	}
	for _, n := range st.Nodes {
		if !n.Reachable || n.Suffrage != "voter" {
			return fmt.Sprintf("member %s: reachable %v, %s", n.ID, n.Reachable, n.Suffrage)
		}
	}
	return ""
}

// leaderAndFollowers asks the nodes who leads now.
func (c *cluster) leaderAndFollowers() (*member, []*member, error) {
	var errs []error
	for _, m := range c.members {
		st, err := m.status(c.token)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.id, err))
			continue
		}
		if st.Leader == "" {
			continue
		}
		var leader *member
		var followers []*member
		for _, x := range c.members {
			if x.id == st.Leader {
				leader = x
			} else {
				followers = append(followers, x)
			}
		}
		if leader != nil {
			c.leaderID = leader.id
			return leader, followers, nil
		}
	}
	return nil, nil, fmt.Errorf("no node knows a leader: %w", errors.Join(errs...))
}

// role says whether m led the cluster when last asked.
func (m *member) role(c *cluster) string {
	if m.id == c.leaderID {
		return "leader"
	}
	return "follower"
}

// printStatus prints the leader's view of the membership.
func printStatus(st *clusterStatus) {
	fmt.Printf("\n%-8s %-16s %-16s %-9s %-9s %s\n", "id", "raft", "http", "suffrage", "reachable", "leader")
	fmt.Println(strings.Repeat("-", 68))
	for _, n := range st.Nodes {
		mark := ""
		if n.ID == st.Leader {
			mark = "*"
		}
		fmt.Printf("%-8s %-16s %-16s %-9s %-9v %s\n", n.ID, n.RaftAddr, n.HTTPAddr, n.Suffrage, n.Reachable, mark)
	}
	fmt.Printf("leader %s, term %d, applied index %d\n", st.Leader, st.Term, st.AppliedIndex)
}

// nodeMetrics are the counters of GET /metrics the report derives figures from.
type nodeMetrics struct {
	ApplyBatches   float64 `json:"fsmApplyBatches"`   // paimon_fsm_apply_seconds_count: FSM batches applied
	ApplySeconds   float64 `json:"fsmApplySeconds"`   // paimon_fsm_apply_seconds_sum
	AppliedEntries float64 `json:"fsmAppliedEntries"` // paimon_fsm_applied_entries_total
	Forwarded      float64 `json:"forwarded"`         // paimon_http_forwarded_total
	CPUSeconds     float64 `json:"cpuSeconds"`        // of the process, from /proc
}

var metricNames = map[string]func(*nodeMetrics) *float64{
	"paimon_fsm_apply_seconds_count":   func(n *nodeMetrics) *float64 { return &n.ApplyBatches },
	"paimon_fsm_apply_seconds_sum":     func(n *nodeMetrics) *float64 { return &n.ApplySeconds },
	"paimon_fsm_applied_entries_total": func(n *nodeMetrics) *float64 { return &n.AppliedEntries },
	"paimon_http_forwarded_total":      func(n *nodeMetrics) *float64 { return &n.Forwarded },
}

// scrape reads m's counters; a failure leaves zeros (the figures are informative only).
func (m *member) scrape() nodeMetrics {
	var n nodeMetrics
	n.CPUSeconds = m.proc.CPUSeconds()
	code, b, err := m.do("GET", "/metrics", "", nil)
	if err != nil || code != 200 {
		return n
	}
	parseMetrics(b, &n)
	return n
}

func parseMetrics(b []byte, n *nodeMetrics) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if f, ok := metricNames[name]; ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err == nil {
				*f(n) = v
			}
		}
	}
}

func (n nodeMetrics) sub(o nodeMetrics) nodeMetrics {
	return nodeMetrics{
		ApplyBatches: n.ApplyBatches - o.ApplyBatches, ApplySeconds: n.ApplySeconds - o.ApplySeconds,
		AppliedEntries: n.AppliedEntries - o.AppliedEntries, Forwarded: n.Forwarded - o.Forwarded,
		CPUSeconds: n.CPUSeconds - o.CPUSeconds,
	}
}

// sample is every node's counters and the runner's CPU at one moment.
type sample struct {
	at        time.Time
	nodes     map[string]nodeMetrics
	runnerCPU float64
}

func (c *cluster) sample() sample {
	s := sample{at: time.Now(), nodes: map[string]nodeMetrics{}, runnerCPU: benchkit.SelfCPUSeconds()}
	for _, m := range c.members {
		s.nodes[m.id] = m.scrape()
	}
	return s
}
