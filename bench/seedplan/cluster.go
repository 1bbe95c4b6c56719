package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/bench/internal/benchkit"
)

// source addresses of the runner's HTTP clients: reads and writes each dial from an address
// of their own, so that each stays under a node's http.max_conns_per_ip (256) next to the
// other members' forwarded calls (from 127.0.0.1); the WebSocket clients start at wsFirstIP.
const (
	readIP    = "127.0.0.2"
	writeIP   = "127.0.0.3"
	wsFirstIP = 10 // the first WebSocket source address is the 11th (127.0.0.11)
)

// member is one paimon process of the cluster.
type member struct {
	id       string
	httpAddr string
	raftAddr string
	config   string
	dataDir  string
	proc     *benchkit.Proc
	api      *benchkit.Node       // net/http, for the runner's own calls (admin token)
	reads    *fasthttp.HostClient // the read load
	writes   *fasthttp.HostClient // the write load
	wsURL    string               // ws://host:port/v1/ws
}

// cluster is the three nodes, their tokens and PostgreSQL.
type cluster struct {
	members []*member
	admin   string // admin token (writes, roles, pg verify)
	viewer  string // viewer token (authenticated reads, WebSocket)
	dsn     string
}

// clusterSpec is what writeConfigs needs.
type clusterSpec struct {
	dir, bin, logLevel, dsn, ingest string
	readConns, writeConns           int
	timeout                         time.Duration
}

// startCluster writes three node configs (free loopback ports, PostgreSQL sync, ingest from
// the chain simulator, an admin and a viewer token) and starts the three processes at once.
// The caller stops them (stop), also after an error.
func startCluster(s clusterSpec) (*cluster, error) {
	c := &cluster{dsn: s.dsn}
	adminTok, adminSum := auth.NewToken()
	viewerTok, viewerSum := auth.NewToken()
	c.admin, c.viewer = adminTok, viewerTok
	var join []string
	for i := range 3 {
		httpAddr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		raftAddr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("node%d", i+1)
		m := &member{id: id, httpAddr: httpAddr, raftAddr: raftAddr, dataDir: filepath.Join(s.dir, id),
			config: filepath.Join(s.dir, id+".toml"), wsURL: "ws://" + httpAddr + "/v1/ws"}
		m.api = &benchkit.Node{Base: "http://" + httpAddr, HTTPAddr: httpAddr, RaftAddr: raftAddr, DataDir: m.dataDir,
			Token: adminTok, HTTP: &http.Client{Timeout: 2 * time.Minute}}
		m.reads = hostClient(httpAddr, readIP, s.readConns, s.timeout)
		m.writes = hostClient(httpAddr, writeIP, s.writeConns, s.timeout)
		c.members = append(c.members, m)
		join = append(join, fmt.Sprintf("%q", httpAddr))
	}
	secret, _ := auth.NewToken()
	for _, m := range c.members {
		cfg := fmt.Sprintf(`# bench/seedplan: one node of the three-node cluster.
[node]
id = %q
data_dir = %q

[http]
addr = %q

[raft]
addr = %q

[cluster]
join = [%s]
bootstrap_expect = 3
secret = %q

[postgres]
dsn = %q

[log]
level = %q

[[auth.tokens]]
name = "seedplan-admin"
role = "admin"
sha256 = %q

[[auth.tokens]]
name = "seedplan-viewer"
role = "viewer"
sha256 = %q

%s`, m.id, m.dataDir, m.httpAddr, m.raftAddr, strings.Join(join, ", "), secret, s.dsn, s.logLevel, adminSum, viewerSum, s.ingest)
		if err := os.WriteFile(m.config, []byte(cfg), 0o600); err != nil {
			return c, err
		}
	}
	for _, m := range c.members {
		p, err := benchkit.StartProc(benchkit.ProcSpec{Name: m.id, Bin: s.bin, Args: []string{"serve", "-config", m.config},
			LogPath: filepath.Join(s.dir, m.id+".log")})
		if err != nil {
			return c, err
		}
		m.proc = p
	}
	return c, nil
}

// hostClient is a pooled keep-alive client to addr whose connections come from src.
func hostClient(addr, src string, conns int, timeout time.Duration) *fasthttp.HostClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
	return &fasthttp.HostClient{
		Addr: addr, Name: "paimon-seedplan", MaxConns: conns,
		ReadTimeout: timeout, WriteTimeout: timeout, MaxConnWaitTimeout: timeout, MaxIdleConnDuration: time.Minute,
		MaxIdemponentCallAttempts: 1, // a failure is counted, never hidden by a retry
		Dial:                      func(a string) (net.Conn, error) { return d.Dial("tcp", a) },
	}
}

// stop sends SIGTERM to every node at once and waits for each; a node that had to be killed
// or exited non-zero is an error.
func (c *cluster) stop() error {
	for _, m := range c.members {
		m.proc.Terminate()
	}
	var errs []error
	for _, m := range c.members {
		if m.proc == nil {
			continue
		}
		running := !m.proc.Exited()
		if err := m.proc.Stop(30 * time.Second); err != nil {
			errs = append(errs, err)
		} else if running && m.proc.ExitCode() > 0 {
			errs = append(errs, fmt.Errorf("%s exited with code %d on SIGTERM (log: %s)", m.id, m.proc.ExitCode(), m.proc.LogPath()))
		}
	}
	return errors.Join(errs...)
}

// status is the part of GET /v1/cluster/status the runner uses.
type status struct {
	NodeID       string `json:"nodeId"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"appliedIndex"`
	Nodes        []struct {
		ID        string `json:"id"`
		Suffrage  string `json:"suffrage"`
		Reachable bool   `json:"reachable"`
	} `json:"nodes"`
	PGSync struct {
		Enabled     bool    `json:"enabled"`
		Running     bool    `json:"running"`
		SyncedIndex uint64  `json:"syncedIndex"`
		LagIndex    uint64  `json:"lagIndex"`
		LagSeconds  float64 `json:"lagSeconds"`
		LastError   string  `json:"lastError"`
	} `json:"pgsync"`
}

func (m *member) status(ctx context.Context) (*status, error) {
	b, err := m.api.Get(ctx, "/v1/cluster/status", true)
	if err != nil {
		return nil, err
	}
	var st status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: cluster status: %w", m.id, err)
	}
	return &st, nil
}

// waitFormed polls the nodes until all three agree on a leader, list three reachable voters
// and answer /readyz with 200.
func (c *cluster) waitFormed(ctx context.Context, timeout time.Duration) (*member, error) {
	deadline := time.Now().Add(timeout)
	last := map[string]string{}
	for {
		leader, ok := "", true
		for _, m := range c.members {
			if m.proc.Exited() {
				return nil, fmt.Errorf("%s exited while the cluster was forming: %v\n%s", m.id, m.proc.Err(), m.proc.LogTail(30))
			}
			st, err := m.status(ctx)
			switch {
			case err != nil:
				last[m.id], ok = err.Error(), false
			case st.Leader == "" || (leader != "" && st.Leader != leader):
				last[m.id], ok = "leader "+st.Leader, false
			case len(st.Nodes) != 3:
				last[m.id], ok = fmt.Sprintf("%d members", len(st.Nodes)), false
			default:
				leader = st.Leader
				for _, n := range st.Nodes {
					if !n.Reachable || n.Suffrage != "voter" {
						last[m.id], ok = "member "+n.ID+" not a reachable voter", false
					}
				}
				if code, b, err := m.api.Do(ctx, "GET", "/readyz", nil, false); err != nil || code != 200 {
					last[m.id], ok = fmt.Sprintf("/readyz %d %s %v", code, benchkit.Snippet(b), err), false
				}
			}
		}
		if ok && leader != "" {
			for _, m := range c.members {
				if m.id == leader {
					return m, nil
				}
			}
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			fmt.Fprintf(&sb, "the cluster did not form within %s", timeout)
			for _, m := range c.members {
				fmt.Fprintf(&sb, "\n%s: %s\n%s", m.id, last[m.id], m.proc.LogTail(15))
			}
			return nil, errors.New(sb.String())
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// leader asks the nodes who leads now.
func (c *cluster) leader(ctx context.Context) (*member, error) {
	for _, m := range c.members {
		st, err := m.status(ctx)
		if err != nil || st.Leader == "" {
			continue
		}
		for _, x := range c.members {
			if x.id == st.Leader {
				return x, nil
			}
		}
	}
	return nil, errors.New("no node knows a leader")
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
