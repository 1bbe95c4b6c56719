package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/fasthttp/websocket"

	"paimon/config"
	"paimon/internal/testutil"
)

// httpsClient is a client that trusts ca only.
func httpsClient(ca *testutil.TestCA) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}}
}

// doWith is do with a client of the test's own (the harness's speaks plain HTTP).
func doWith(client *http.Client, method, url, token string, body []byte) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// useHTTPTLS gives every node of c an API certificate from ca; with cluster set, the Raft
// transport's mutual TLS too, whose CA the members then also verify each other's API with.
func useHTTPTLS(t *testing.T, c *testCluster, ca *testutil.TestCA, cluster bool) {
	for i, cfg := range c.cfgs {
		cert, key := ca.Issue(t, fmt.Sprintf("node%d", i+1))
		cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = cert, key
		if cluster {
			cfg.Cluster.TLSCertFile, cfg.Cluster.TLSKeyFile, cfg.Cluster.TLSCAFile = cert, key, ca.File
		}
	}
}

// TestTLSSingleNode: with [http] tls_cert_file and tls_key_file the API serves HTTPS only,
// and the WebSocket works over wss:// (push writes through TLS rather than its writev path).
func TestTLSSingleNode(t *testing.T) {
	ca := testutil.NewTestCA(t)
	c := newCluster(t, 1)
	useHTTPTLS(t, c, ca, false)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.cfgs[0].HTTP.TLSMinVersion = "1.3"
	c.start(0)
	c.waitLeader(10 * time.Second)
	addr := c.cfgs[0].HTTP.Addr
	client := httpsClient(ca)

	for _, path := range []string{"/healthz", "/v1/fund/overview"} {
		r, err := doWith(client, "GET", "https://"+addr+path, "", nil)
		if err != nil || r.status != 200 {
			t.Fatalf("GET https %s: %v %d %s", path, err, r.status, r.body)
		}
	}
	if r, err := doWith(&http.Client{Timeout: 5 * time.Second}, "GET", "http://"+addr+"/healthz", "", nil); err == nil {
		t.Fatalf("plain HTTP to the TLS port answered %d %s", r.status, r.body)
	}
	// tls_min_version = "1.3" refuses TLS 1.2.
	old := httpsClient(ca)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = 0x0303 // TLS 1.2
	if _, err := doWith(old, "GET", "https://"+addr+"/healthz", "", nil); err == nil {
		t.Fatal("TLS 1.2 accepted with http.tls_min_version 1.3")
	}
	// A client that does not trust the CA refuses the certificate.
	if _, err := doWith(&http.Client{Timeout: 5 * time.Second}, "GET", "https://"+addr+"/healthz", "", nil); err == nil {
		t.Fatal("certificate of an unknown CA accepted by a default client")
	}

	// wss://: subscribe, write, receive the event frames.
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: ca.ClientConfig()}
	ws, _, err := d.Dial("wss://"+addr+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.Close()
	erin := common.HexToAddress("0xe410000000000000000000000000000000000015")
	acct := "account:" + strings.ToLower(erin.Hex())
	for _, m := range []map[string]any{{"op": "auth", "token": viewerToken}, {"op": "subscribe", "channels": []string{"transactions", acct}}} {
		if err := ws.WriteJSON(m); err != nil {
			t.Fatal(err)
		}
	}
	read := func() wsFrame {
		t.Helper()
		var f wsFrame
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("read wss: %v", err)
		}
		return f
	}
	for f := read(); f.Type != "subscribed"; f = read() {
		if f.Type == "error" {
			t.Fatalf("subscribe: %s", f)
		}
	}
	writeOK(t, mustDo(t, client, "POST", "https://"+addr+"/v1/admin/logs", adminToken, transferLog(t, erin, 1, 3)))
	got := map[string]bool{}
	for len(got) < 2 {
		if f := read(); f.Type == "event" {
			got[f.Channel] = true
		}
	}
	if !got["transactions"] || !got[acct] {
		t.Fatalf("events on %v", got)
	}
}

// TestTLSClusterForwarding: a three-node cluster with TLS on every API (and the Raft
// transport, whose CA the members verify each other's API certificates with) forms over
// https and forwards a write sent to a follower to the leader over https.
func TestTLSClusterForwarding(t *testing.T) {
	ca := testutil.NewTestCA(t)
	c := newCluster(t, 3)
	useHTTPTLS(t, c, ca, true)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	client := httpsClient(ca)
	f := c.follower()
	erin := common.HexToAddress("0xe410000000000000000000000000000000000025")
	r := mustDo(t, client, "POST", "https://"+c.cfgs[f].HTTP.Addr+"/v1/admin/logs", adminToken, transferLog(t, erin, 1, 9))
	writeOK(t, r)
	if got := r.header.Get("X-Paimon-Node"); got != c.cfgs[l].Node.ID {
		t.Fatalf("write on a follower answered by %s, want the leader %s", got, c.cfgs[l].Node.ID)
	}
	for i := range c.nodes {
		checkFor(t, 5*time.Second, func() error {
			r, err := doWith(client, "GET", "https://"+c.cfgs[i].HTTP.Addr+"/v1/accounts/"+strings.ToLower(erin.Hex()), viewerToken, nil)
			if err != nil {
				return err
			}
			if s := shares(t, r); s != "9" {
				return fmt.Errorf("node%d shares %s", i+1, s)
			}
			return nil
		})
	}
}

// TestTLSConfigErrors: [http] TLS settings that cannot work are refused before the node
// starts (config.Validate, then LoadHTTPTLS, which serve -check-config runs too), naming the
// key.
func TestTLSConfigErrors(t *testing.T) {
	ca := testutil.NewTestCA(t)
	cert, key := ca.Issue(t, "node1")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCert, _ := ca.Issue(t, "other")
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name   string
		mutate func(c *config.Config)
		want   string
	}{
		{"only cert", func(c *config.Config) { c.HTTP.TLSCertFile = cert }, "http.tls_key_file"},
		{"only key", func(c *config.Config) { c.HTTP.TLSKeyFile = key }, "http.tls_cert_file"},
		{"bad min version", func(c *config.Config) { c.HTTP.TLSMinVersion = "1.1" }, "http.tls_min_version"},
		{"missing cert file", func(c *config.Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = missing, key }, "http.tls_cert_file"},
		{"missing key file", func(c *config.Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = cert, missing }, "http.tls_key_file"},
		{"garbage cert", func(c *config.Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = garbage, key }, "http.tls_cert_file"},
		{"garbage key", func(c *config.Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = cert, garbage }, "http.tls_key_file"},
		{"key of another certificate", func(c *config.Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = otherCert, key }, "http.tls_cert_file/http.tls_key_file"},
		{"garbage cluster CA", func(c *config.Config) {
			c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = cert, key
			c.Cluster.TLSCertFile, c.Cluster.TLSKeyFile, c.Cluster.TLSCAFile = cert, key, garbage
		}, "cluster.tls_ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.mutate(c)
			err := c.Validate()
			if err == nil {
				_, _, err = LoadHTTPTLS(c)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	// Both files, valid: a server and a peer configuration.
	c := config.Default()
	c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = cert, key
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, peers, err := LoadHTTPTLS(c)
	if err != nil || srv == nil || peers == nil || len(srv.Certificates) != 1 {
		t.Fatalf("valid files: %v %v %v", srv, peers, err)
	}
	// None: plain HTTP.
	if srv, peers, err := LoadHTTPTLS(config.Default()); srv != nil || peers != nil || err != nil {
		t.Fatalf("no TLS: %v %v %v", srv, peers, err)
	}
}

// mustDo is doWith that fails the test when the request gets no answer.
func mustDo(t testing.TB, client *http.Client, method, url, token string, body []byte) response {
	t.Helper()
	r, err := doWith(client, method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}
