package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/config"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
	"paimon/raftstore"
)

const (
	testSecret  = "test-cluster-secret-0123456789"
	adminToken  = "admin-token-for-cluster-tests"
	viewerToken = "viewer-token-for-cluster-tests"
)

func tokenSum(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// testLogLevel is the level of the nodes' logs in tests (they go to t.Log).
var testLogLevel = slog.LevelWarn

// testCluster is several in-process nodes over real TCP on 127.0.0.1.
type testCluster struct {
	t     *testing.T
	cfgs  []*config.Config
	opts  []Options // per node, Network filled in by start
	nets  []*testutil.CutNetwork
	nodes []*Node // nil while a node is stopped
}

// newConfig is the configuration of node i of a cluster whose nodes listen at httpAddrs.
func newConfig(t testing.TB, i int, httpAddrs []string, expect int) *config.Config {
	c := config.Default()
	c.Node.ID = fmt.Sprintf("node%d", i+1)
	c.Node.DataDir = t.TempDir()
	c.HTTP.Addr = httpAddrs[i]
	c.Raft.BindAddr = freeAddr(t)
	// Short for fast failovers, but not so short that a leader of three in-process nodes under
	// -race on a starved machine (the full suite on 2 cores, load 15) loses its lease between
	// heartbeats: with 300/150 ms it did, and writes of tests about other things met NO_LEADER.
	c.Raft.HeartbeatTimeout = time.Duration(500 * time.Millisecond)
	c.Raft.ElectionTimeout = time.Duration(500 * time.Millisecond)
	c.Raft.LeaderLeaseTimeout = time.Duration(250 * time.Millisecond)
	c.Raft.ApplyTimeout = time.Duration(3 * time.Second)
	c.Read.MaxStaleness = time.Duration(time.Second)
	c.Cluster.Join = httpAddrs
	c.Cluster.BootstrapExpect = expect
	c.Cluster.Secret = testSecret
	c.Auth.Tokens = []config.Token{
		{Name: "root", Role: "admin", SHA256: tokenSum(adminToken)},
		{Name: "dash", Role: "viewer", SHA256: tokenSum(viewerToken)},
	}
	c.Log.Level = "warn"
	return c
}

// newCluster configures n nodes that all list each other and expect n voters; it starts none.
func newCluster(t *testing.T, n int) *testCluster {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	c := &testCluster{t: t, nodes: make([]*Node, n)}
	for i := 0; i < n; i++ {
		c.cfgs = append(c.cfgs, newConfig(t, i, addrs, n))
		c.nets = append(c.nets, testutil.NewCutNetwork())
		c.opts = append(c.opts, Options{})
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	logger := testutil.Logger(c.t, c.cfgs[i].Node.ID, testLogLevel)
	opts := c.opts[i]
	opts.Network = c.nets[i]
	n, err := New(c.cfgs[i], logger, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].Node.ID, err)
	}
	c.nodes[i] = n
}

func (c *testCluster) stop(i int) {
	if n := c.nodes[i]; n != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			c.t.Logf("close %s: %v", c.cfgs[i].Node.ID, err)
		}
		c.nodes[i] = nil
	}
}

func (c *testCluster) stopAll() {
	for i := range c.nodes {
		c.stop(i)
	}
}

// leader returns the index of the node that leads, or -1.
func (c *testCluster) leader() int {
	for i, n := range c.nodes {
		if n != nil && n.Store().IsLeader() {
			return i
		}
	}
	return -1
}

// waitLeader waits until a running node leads and every running node knows it and its HTTP
// address (so that forwarding works everywhere).
func (c *testCluster) waitLeader(timeout time.Duration) int {
	c.t.Helper()
	var l int
	checkFor(c.t, timeout, func() error {
		if l = c.leader(); l < 0 {
			return errors.New("no leader")
		}
		lid := c.cfgs[l].Node.ID
		for i, n := range c.nodes {
			if n == nil {
				continue
			}
			id, addr := n.Store().LeaderHTTPAddr()
			if id != lid || addr == "" {
				return fmt.Errorf("%s sees leader %q at %q, want %s", c.cfgs[i].Node.ID, id, addr, lid)
			}
		}
		return nil
	})
	return l
}

func (c *testCluster) follower() int {
	l := c.leader()
	for i, n := range c.nodes {
		if n != nil && i != l {
			return i
		}
	}
	return -1
}

func (c *testCluster) url(i int) string { return "http://" + c.cfgs[i].HTTP.Addr }

var httpClient = &http.Client{Timeout: 10 * time.Second,
	// A redirect (GET /console) is an answer to check, not to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) code() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON: %s", r.body)
	}
	return m
}

func do(method, url, token string, body []byte) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (c *testCluster) do(i int, method, path, token string, body []byte) response {
	c.t.Helper()
	r, err := do(method, c.url(i)+path, token, body)
	if err != nil {
		c.t.Fatalf("%s %s on node%d: %v", method, path, i+1, err)
	}
	return r
}

// transferLog is a webhook body minting value shares to `to` in a transaction unique to
// (to, seq), so a retried write is a duplicate, never a second apply.
func transferLog(t testing.TB, to common.Address, seq int, value int64) []byte {
	return fundtest.Body(fundtest.MintLog(to, seq, value))
}

// account reads an account on node i with the given consistency ("" for local).
func (c *testCluster) account(i int, addr common.Address, consistency string) (response, error) {
	q := ""
	if consistency != "" {
		q = "?consistency=" + consistency
	}
	return do("GET", c.url(i)+"/v1/accounts/"+strings.ToLower(addr.Hex())+q, viewerToken, nil)
}

// members lists the cluster as node i's store sees it.
func (c *testCluster) members(i int) []raftstore.Member {
	c.t.Helper()
	ms, err := c.nodes[i].Store().Members()
	if err != nil {
		c.t.Fatal(err)
	}
	return ms
}

var (
	checkFor = testutil.CheckFor
	freeAddr = testutil.FreeAddr
)

// startFundSim starts a simulated chain with 50 ms blocks, no generated traffic and keys'
// accounts funded, and dials it; both are closed when the test ends.
func startFundSim(t *testing.T, ctx context.Context, seed int64, keys ...*ecdsa.PrivateKey) (*chainsim.Sim, *ethclient.Client) {
	t.Helper()
	scfg := chainsim.DefaultConfig()
	scfg.BlockInterval, scfg.Rate, scfg.Seed = 50*time.Millisecond, 0, seed
	for _, k := range keys {
		scfg.Accounts = append(scfg.Accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	client, err := ethclient.DialContext(ctx, sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return sim, client
}
