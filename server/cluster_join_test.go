package server

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestJoinCheckSpeaksOnlyOurProtocol: the join check dials the Raft address through the
// cluster handshake and answers reachable or not, never what a foreign service said; it sends
// nothing to the HTTP address it is given.
func TestJoinCheckSpeaksOnlyOurProtocol(t *testing.T) {
	n := newTestNode(t)
	const banner = "FOREIGN-SERVICE-BANNER-internal-build-4711"
	var httpRequests atomic.Int64
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpRequests.Add(1)
		w.Header().Set("Server", banner)
		fmt.Fprintln(w, banner)
	}))
	defer web.Close()
	webAddr := strings.TrimPrefix(web.URL, "http://")

	// A service that talks first (as SSH or SMTP do), with more than a challenge's length.
	talker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	go func() {
		for {
			c, err := talker.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "SSH-2.0-%s-%s\r\n", banner, strings.Repeat("x", 64))
			c.Close()
		}
	}()

	for _, tc := range []struct{ name, raftAddr, httpAddr string }{
		{"plain HTTP server", webAddr, webAddr},
		{"a service that talks first", talker.Addr().String(), webAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"id":"node9","raftAddr":%q,"httpAddr":%q}`, tc.raftAddr, tc.httpAddr)
			r := n.do("POST", "/v1/cluster/join", adminToken, []byte(body))
			if r.status != 400 || r.errorCode() != "VALIDATION_ERROR" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			msg := string(r.body)
			if !strings.Contains(msg, "not reachable") {
				t.Fatalf("the answer does not say not reachable: %s", msg)
			}
			for _, s := range []string{banner, "SSH", "HTTP/1", "x509", "EOF", "timeout"} {
				if strings.Contains(msg, s) {
					t.Fatalf("the answer reports what the service said (%q): %s", s, msg)
				}
			}
		})
	}
	if got := httpRequests.Load(); got != 0 {
		t.Fatalf("the join check sent %d HTTP requests to the addresses it was given", got)
	}
	if members, err := n.store.Members(); err != nil || len(members) != 1 {
		t.Fatalf("membership changed: %v %v", members, err)
	}
}
