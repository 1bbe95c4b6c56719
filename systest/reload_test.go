package systest

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"paimon/auth"
	"paimon/internal/testutil"
)

// TestSIGHUPReload: a running paimon process re-reads its config file on SIGHUP. A new API
// certificate written over the old files is served to the next TLS handshake; a read rate limit
// switched on refuses the third read at once (429); the log level raised to warn silences the
// info lines; a changed key that needs a restart (http.max_body_bytes) is named in the log and
// not applied; and a config that does not validate (a negative rate) or a certificate that does
// not load is refused with a log line, the running settings staying in force.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewTestCA(t)
	certFile, keyFile := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	issue := func(name string) {
		c, k := ca.Issue(t, name)
		copyFile(t, c, certFile)
		copyFile(t, k, keyFile)
	}
	issue("first-certificate")
	addr, raftAddr := freePort(t), freePort(t)
	token := "reload-test-token"
	path := filepath.Join(dir, "node.toml")
	write := func(readRate, level, extra string) {
		cfg := fmt.Sprintf(`
[node]
id = "node1"
data_dir = %q

[http]
addr = %q
tls_cert_file = %q
tls_key_file = %q
%s
[raft]
addr = %q

[[auth.tokens]]
name = "root"
role = "admin"
sha256 = %q

[ratelimit]
read_rate = %s
read_burst = 2

[log]
level = %q
`, filepath.Join(dir, "data"), addr, certFile, keyFile, extra, raftAddr, auth.TokenHash(token), readRate, level)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("0.0", "info", "")
	p := startProc(t, "serve", "-config", path)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, DisableKeepAlives: true}}
	get := func() (int, string) {
		resp, err := client.Get("https://" + addr + "/v1/fund/overview")
		if err != nil {
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	served := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	testutil.CheckFor(t, 20*time.Second, func() error {
		if st, _ := get(); st != 200 {
			return fmt.Errorf("overview: %d", st)
		}
		return nil
	})
	for range 5 {
		if st, _ := get(); st != 200 {
			t.Fatalf("reads limited before the reload: %d", st)
		}
	}
	if cn := served(); cn != "first-certificate" {
		t.Fatalf("serving %q", cn)
	}
	hup := func(logLine string) {
		t.Helper()
		before := strings.Count(p.logText(), logLine)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testutil.CheckFor(t, 10*time.Second, func() error {
			if strings.Count(p.logText(), logLine) <= before {
				return fmt.Errorf("no new %q in the log:\n%s", logLine, p.logText())
			}
			return nil
		})
	}

	// A valid new config: new certificate, a read limit, a key that needs a restart.
	issue("second-certificate")
	write("0.001", "info", "max_body_bytes = 2048\n")
	hup("configuration reloaded")
	if cn := served(); cn != "second-certificate" {
		t.Errorf("after SIGHUP the API serves %q, want the new certificate", cn)
	}
	var statuses []int
	for range 3 {
		st, _ := get()
		statuses = append(statuses, st)
	}
	if statuses[2] != 429 {
		t.Errorf("reads after the limit was switched on: %v, want the third refused with 429", statuses)
	}
	if log := p.logText(); !strings.Contains(log, "need a restart") || !strings.Contains(log, "http.max_body_bytes") {
		t.Errorf("the restart-only key is not named in the log:\n%s", log)
	}

	// Refused: a negative rate; then a certificate whose key does not match. The running
	// settings stay: still the second certificate, still limited.
	write("-1", "info", "")
	hup("configuration reload refused")
	c3, _ := ca.Issue(t, "third-certificate")
	copyFile(t, c3, certFile) // the key file still holds the second certificate's key
	write("0.0", "info", "")
	hup("configuration reload refused")
	if cn := served(); cn != "second-certificate" {
		t.Errorf("after refused reloads the API serves %q, want the second certificate still", cn)
	}
	if st, _ := get(); st != 429 {
		t.Errorf("after refused reloads a read answered %d, want 429 (the limit in force stays)", st)
	}

	// The log level: at warn, a reload's info lines are gone while its warnings remain.
	issue("fourth-certificate")
	write("0.0", "warn", "max_body_bytes = 4096\n")
	hup("need a restart")
	before := strings.Count(p.logText(), "reloading configuration")
	write("0.0", "warn", "max_body_bytes = 8192\n")
	hup("need a restart")
	if after := strings.Count(p.logText(), "reloading configuration"); after != before {
		t.Errorf("info lines still logged at level warn")
	}
	if st, cn := get(); st != 200 || cn != "fourth-certificate" {
		t.Errorf("after the last reload: %d from %q, want 200 from the fourth certificate", st, cn)
	}
}
