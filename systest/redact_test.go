package systest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paimon/internal/testutil"
)

// TestCredentialsNotLogged runs a node at debug level and sends it what makes it log about a
// client's bytes: requests its HTTP parser refuses, an HTTP request to its Raft port, a join
// whose Raft address is a web server. Each carries credentials; none reaches the log.
func TestCredentialsNotLogged(t *testing.T) {
	const secret = "s3cr3t-credential-0123456789"
	dir := t.TempDir()
	httpAddr, raftAddr := freePort(t), freePort(t)
	p := startProc(t, "serve", "-log-level", "debug", "-data-dir", filepath.Join(dir, "data"), "-http-addr", httpAddr, "-raft-addr", raftAddr)
	p.waitReady(10 * time.Second)
	tokenBytes, err := os.ReadFile(filepath.Join(dir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))

	creds := "Authorization: Bearer " + secret + "\r\nX-Paimon-Cluster: node9 1 " + secret + "\r\nCookie: s=pms_" + secret + "\r\n"
	send := func(addr, raw string) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, raw)
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(b), secret) {
				t.Fatalf("the answer echoes the credential: %s", b)
			}
		}
	}
	for _, raw := range []string{
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Bad: a\x01b\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "NoColon " + secret + "\r\n\r\n",
		"POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 1x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Big: " + strings.Repeat("x", 8000) + "\r\n\r\n",
		"GET /v1/fund/overview HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer pms_" + secret + "\r\n\r\n",
	} {
		send(httpAddr, raw)
	}
	// An HTTP request on the Raft port: the transport refuses it and logs the refusal.
	send(raftAddr, "POST /v1/cluster/notify HTTP/1.1\r\nHost: a\r\n"+creds+"\r\n")

	// A join whose Raft address is a web server that answers with the credential.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, secret) }))
	defer web.Close()
	webAddr := strings.TrimPrefix(web.URL, "http://")
	status, body, err := p.do("POST", "/v1/cluster/join", token, fmt.Sprintf(`{"id":"node9","raftAddr":%q,"httpAddr":%q}`, webAddr, webAddr))
	if err != nil || status != 400 || strings.Contains(string(body), secret) {
		t.Fatalf("join: %d %s %v", status, body, err)
	}

	// Once the node has logged the refusals this test is about, read the log.
	var logs string
	testutil.CheckFor(t, 10*time.Second, func() error {
		logs = p.logText()
		for _, want := range []string{"refused raft connection", "cluster join: raft address unreachable", "missing colon"} {
			if !strings.Contains(logs, want) {
				return fmt.Errorf("no %q logged yet", want)
			}
		}
		return nil
	})
	if strings.Contains(logs, secret) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("logged: %s", line)
			}
		}
	}
}
