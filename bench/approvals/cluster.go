package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/auth"
	"paimon/bench/internal/benchkit"
	"paimon/version"
)

// node is one paimon process of the cluster.
type node struct {
	id       string
	httpAddr string
	proc     *benchkit.Proc
}

// cluster is three paimon processes (the binary built from the repository) forming a cluster
// over Raft on 127.0.0.1, ingesting from the chain and executing with its executor key; two
// approvers (ann, ben) and an admin have static tokens.
type cluster struct {
	nodes     []*node
	admin     string
	approvers [2]string
	http      *http.Client
	retries   atomic.Int64 // requests sent again (transport error or 503) in the current phase
}

// startCluster writes the three configs and starts the nodes; it returns once they agree on a
// leader and run the cluster version that has tickets and intents (0.2).
func startCluster(ctx context.Context, o *options, bin, dir string, ch *chain, timeout time.Duration) (*cluster, error) {
	keyFile := filepath.Join(dir, "executor.key")
	if err := crypto.SaveECDSA(keyFile, ch.executor); err != nil {
		return nil, err
	}
	c := &cluster{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.clients + 8}}}
	admin, adminSum := auth.NewToken()
	ann, annSum := auth.NewToken()
	ben, benSum := auth.NewToken()
	c.admin, c.approvers = admin, [2]string{ann, ben}
	var https, rafts []string
	for range 3 {
		h, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		r, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		https, rafts = append(https, h), append(rafts, r)
	}
	// [ingest] on the chain and its deployed contracts (blocks on demand: a 100 ms poll).
	ingest := ch.sim.ConfigSnippetFor(o.confirmations, ch.fund.ContractConfigs())
	for i := range 3 {
		id := fmt.Sprintf("node%d", i+1)
		cfg := fmt.Sprintf(`[node]
id = %q
data_dir = %q

[http]
addr = %q

[raft]
addr = %q

[cluster]
join = ["%s"]
bootstrap_expect = 3
secret = "approvals-bench-cluster-secret-0123"

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = %q

[[auth.tokens]]
name = "ann"
role = "approver"
sha256 = %q

[[auth.tokens]]
name = "ben"
role = "approver"
sha256 = %q

[executor]
key_file = %q

[keeper]
settle_interval = "0s"

%s`, id, filepath.Join(dir, id), https[i], rafts[i], strings.Join(https, `", "`), adminSum, annSum, benSum,
			keyFile, ingest)
		path := filepath.Join(dir, id+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return c, err
		}
		p, err := benchkit.StartProc(benchkit.ProcSpec{Name: id, Bin: bin, LogPath: filepath.Join(dir, id+".log"),
			Args: []string{"serve", "-config", path, "-log-level", o.nodeLogLevel}})
		if err != nil {
			return c, err
		}
		c.nodes = append(c.nodes, &node{id: id, httpAddr: https[i], proc: p})
	}
	err := c.until(ctx, timeout, "the cluster to form with cluster version "+version.Cluster, func() error {
		for _, n := range c.nodes {
			var st struct {
				Leader         string `json:"leader"`
				ClusterVersion string `json:"clusterVersion"`
			}
			if err := c.getJSON(ctx, n, "/v1/cluster/status", c.admin, &st); err != nil {
				return err
			}
			if st.Leader == "" || st.ClusterVersion != version.Cluster {
				return fmt.Errorf("%s: leader %q, cluster version %q", n.id, st.Leader, st.ClusterVersion)
			}
		}
		return nil
	})
	return c, err
}

// do sends one request to n with token; body nil is a GET.
func (c *cluster) do(ctx context.Context, n *node, method, path, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.httpAddr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getJSON reads path from n into v; anything but 200 is an error.
func (c *cluster) getJSON(ctx context.Context, n *node, path, token string, v any) error {
	code, b, err := c.do(ctx, n, http.MethodGet, path, token, nil)
	if err != nil {
		return fmt.Errorf("%s GET %s: %w", n.id, path, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s GET %s: %d %s", n.id, path, code, benchkit.Snippet(b))
	}
	return json.Unmarshal(b, v)
}

// until polls check every 50 ms until it succeeds, a node exits, ctx ends or timeout passes.
func (c *cluster) until(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, n := range c.nodes {
			if n.proc.Exited() {
				return fmt.Errorf("%s exited while waiting for %s: %v\n%s", n.id, what, n.proc.Err(), n.proc.LogTail(20))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pages reads every page of a list into items.
func (c *cluster) pages(ctx context.Context, n *node, path, token string, items func(json.RawMessage) error) error {
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		q := path + sep + "limit=1000"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := c.getJSON(ctx, n, q, token, &page); err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := items(it); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// stop stops every node (SIGTERM), keeping the first failure in *err.
func (c *cluster) stop(err *error) {
	for _, n := range c.nodes {
		benchkit.StopProc(n.proc, err)
	}
}
