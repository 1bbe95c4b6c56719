package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/ingest"
	"paimon/internal/testutil"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/version"
)

// Tokens of the test node, one per role.
const (
	viewerToken   = "viewer-token-0123456789"
	operatorToken = "operator-token-0123456789"
	adminToken    = "admin-token-0123456789"
)

// testNode is a whole node in-process: Raft over TCP on 127.0.0.1, Pebble in a temp folder,
// the fund's state machine, the cache and the HTTP server on a free port.
type testNode struct {
	t      testing.TB
	store  *raftstore.Store
	srv    *Server
	cache  *cache.Cache
	url    string
	client *http.Client
}

// setup is what a test may change of a test node before it starts: the server's and auth's
// configurations, and a push hub built over the node's auth.
type setup struct {
	server Config
	auth   auth.Config
	clock  func() time.Time // auth's and so the server's; nil is time.Now
	push   func(a *auth.Auth) Pusher
	pusher Pusher                       // set instead of push, for a fake
	tls    *tls.Config                  // Deps.TLS: serve HTTPS
	store  func(*raftstore.Store) Store // wraps the store the server uses; nil: none
	// freeSpace, when set, is the data folder's free space the store's disk guard sees.
	freeSpace raftstore.FreeSpaceFunc
}

func newTestNode(t testing.TB, mutate ...func(*setup)) *testNode {
	t.Helper()
	logger := testutil.Logger(t, "", slog.LevelWarn)
	set := metrics.NewSet()
	ttls := CacheTTLs{Overview: time.Minute, Nav: 5 * time.Minute, Prices: 5 * time.Minute, Default: time.Minute}
	vc, err := cache.New(cache.Config{SizeBytes: 32 << 20, TTLs: ttls.Classes(), DefaultTTL: time.Minute}, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	contracts := make([]chainlog.ContractConfig, 0, 4)
	for _, c := range ingest.DefaultConfig().Contracts {
		contracts = append(contracts, chainlog.ContractConfig{Name: c.Name, Kind: c.Kind, Address: c.Address})
	}
	reg, err := chainlog.NewRegistry(contracts)
	if err != nil {
		t.Fatal(err)
	}
	su := setup{
		server: func() Config {
			c := DefaultConfig()
			c.Addr, c.MaxBodyBytes, c.ApplyTimeout = "127.0.0.1:0", 64<<10, 5*time.Second
			return c
		}(),
		auth: auth.Config{
			ChainID: 56,
			Tokens: []auth.Token{
				{Name: "dash", Role: "viewer", SHA256: sha256.Sum256([]byte(viewerToken))},
				{Name: "ops", Role: "operator", SHA256: sha256.Sum256([]byte(operatorToken))},
				{Name: "root", Role: "admin", SHA256: sha256.Sum256([]byte(adminToken))},
			},
		},
	}
	for _, m := range mutate {
		m(&su)
	}
	au, err := auth.New(su.auth, auth.Deps{Logger: logger, Metrics: set, Now: su.clock})
	if err != nil {
		t.Fatal(err)
	}
	if su.push != nil {
		su.pusher = su.push(au)
	}
	updater := NewCacheUpdater(vc, au)
	info := fund.Info{FundID: "paimon-prime", Name: "Paimon Prime Fund", Symbol: "PPT", ChainID: 56}
	machine := fund.NewMachine(info, readmodel.NewViews(info), updater)
	rcfg := raftstore.DefaultConfig()
	rcfg.Dir = t.TempDir()
	rcfg.BindAddr = freeAddr(t)
	rcfg.HeartbeatTimeout = 200 * time.Millisecond
	rcfg.ElectionTimeout = 200 * time.Millisecond
	rcfg.LeaderLeaseTimeout = 100 * time.Millisecond
	if su.freeSpace != nil {
		rcfg.DiskCheckInterval = 20 * time.Millisecond
	}
	store, err := raftstore.New(rcfg, machine, raftstore.Deps{Logger: logger, Metrics: set, OnRestore: updater.Restored, FreeSpace: su.freeSpace})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// A fresh cluster raises its cluster version from the base once it has a leader; until then
	// the commands this release added (roles, tickets, resolves …) are refused with 503. Tests
	// start from the raised version, as a running cluster is.
	testutil.CheckFor(t, 10*time.Second, func() error {
		if v := store.ClusterVersion(); v != version.Cluster {
			return fmt.Errorf("cluster version %s, want %s", v, version.Cluster)
		}
		return nil
	})
	var st Store = store
	if su.store != nil {
		st = su.store(store)
	}
	srv, err := New(su.server, Deps{Store: st, Cache: vc, Registry: reg, Views: machine, Auth: au, Push: su.pusher, TLS: su.tls, Logger: logger, Metrics: set, FeeSums: updater.FeeSums(), FlowSums: updater.FlowSums()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, store: store, srv: srv, cache: vc, url: "http://" + srv.Addr(), client: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(n.close)
	// Wait until the leader's no-op is applied, so tests start from a settled index.
	checkFor(t, 5*time.Second, func() error {
		if st := store.Status(); st.AppliedIndex < st.CommitIndex || st.AppliedIndex == 0 {
			return fmt.Errorf("applied %d of %d", st.AppliedIndex, st.CommitIndex)
		}
		return nil
	})
	return n
}

func (n *testNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.srv.Close(ctx); err != nil {
		n.t.Log("close server:", err)
	}
	if err := n.store.Close(); err != nil {
		n.t.Log("close store:", err)
	}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// errorCode returns the API error code of an error body, or "".
func (r response) errorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (n *testNode) do(method, path, token string, body []byte) response {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (n *testNode) get(path, token string) response { return n.do("GET", path, token, nil) }

// mustGet fetches path and fails unless it answers 200.
func (n *testNode) mustGet(path, token string) map[string]any {
	n.t.Helper()
	r := n.get(path, token)
	if r.status != 200 {
		n.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.json(n.t)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	checkFor = testutil.CheckFor
	freeAddr = testutil.FreeAddr
	field    = testutil.Field
)

// routeNamed is the id of the route called name.
func routeNamed(name string) routeID {
	for i, rt := range routes {
		if rt.name == name {
			return routeID(i)
		}
	}
	panic("no route " + name)
}
