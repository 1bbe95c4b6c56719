package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"paimon/internal/testutil"
)

// secret is the credential every refused request carries: no answer may contain it.
const (
	secretBearer  = "Bearer s3cr3t-t0ken-must-not-echo"
	secretSession = "pms_SessionTokenMustNotEcho0123456789"
)

// rawRoundTrip writes req on a new connection and reads one response.
func rawRoundTrip(t *testing.T, addr, req string) response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(c, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestTransportRefusals sends requests fasthttp's parser refuses, each with credentials in
// its headers: every answer is the API's JSON error with a fixed message, and none contains a
// byte of the credentials.
func TestTransportRefusals(t *testing.T) {
	n := newTestNode(t)
	addr := n.srv.Addr()
	creds := "Authorization: " + secretBearer + "\r\nCookie: session=" + secretSession + "\r\n"
	big := strings.Repeat("x", 16<<10)
	for _, tc := range []struct {
		name, req string
		status    int
		code      string
		says      string
	}{
		{"control byte in a header", "GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Bad: a\x01b " + secretSession + "\r\n\r\n", 400, "VALIDATION_ERROR", "control character"},
		{"header line without a colon", "GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "NoColonHere " + secretSession + "\r\n\r\n", 400, "VALIDATION_ERROR", "without a colon"},
		{"bad content-length", "POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 12x" + secretSession + "\r\n\r\n", 400, "VALIDATION_ERROR", "Content-Length"},
		{"two content-lengths", "POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400, "VALIDATION_ERROR", "Content-Length"},
		{"bad transfer-encoding", "POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Transfer-Encoding: gzip, " + secretSession + "\r\n\r\n", 400, "VALIDATION_ERROR", "Transfer-Encoding"},
		{"bad chunk size", "POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Transfer-Encoding: chunked\r\n\r\nzz" + secretSession + "\r\n", 400, "VALIDATION_ERROR", "chunked"},
		{"oversized header", "GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Big: " + big + "\r\n\r\n", 431, "VALIDATION_ERROR", "too large"},
		{"bad request line", "GET\x01/ " + secretSession + "\r\n" + creds + "\r\n", 400, "VALIDATION_ERROR", "malformed"},
		{"unsupported HTTP version", "GET /healthz HTTP/9.9" + secretSession + "\r\nHost: a\r\n" + creds + "\r\n", 400, "VALIDATION_ERROR", "malformed"},
		{"body over the limit", "POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + fmt.Sprintf("Content-Length: %d\r\n\r\n", 128<<10) + strings.Repeat(secretSession, (128<<10)/len(secretSession)+1)[:128<<10], 413, "PAYLOAD_TOO_LARGE", "limit is 65536 bytes"},
		{"GET with a body over the limit", "GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + fmt.Sprintf("Content-Length: %d\r\n\r\n", 2<<20) + strings.Repeat("y", 2<<20), 413, "PAYLOAD_TOO_LARGE", "limit is 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawRoundTrip(t, addr, tc.req)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if !strings.Contains(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			msg := string(r.body)
			if !strings.Contains(msg, tc.says) {
				t.Errorf("message %s does not say %q", msg, tc.says)
			}
			for _, s := range []string{"s3cr3t", "SessionTokenMustNotEcho", "Bearer", "pms_", "NoColonHere"} {
				if strings.Contains(msg, s) {
					t.Fatalf("the answer echoes %q: %s", s, msg)
				}
			}
		})
	}
	// The node still serves.
	if r := n.get("/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
}

// TestBodyTooLargeLingers: a client that sends a whole body over the limit before reading
// reads the 413 (the connection is half-closed and drained, not reset under it), on any
// method, over plain TCP and TLS.
func TestBodyTooLargeLingers(t *testing.T) {
	ca := testutil.NewTestCA(t)
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "tls"}[secure]
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t, func(su *setup) {
				if secure {
					su.tls = ca.ServerConfig(t, "node1")
				}
			})
			for _, method := range []string{"GET", "POST", "DELETE"} {
				t.Run(method, func(t *testing.T) {
					var c net.Conn
					var err error
					if secure {
						c, err = tls.Dial("tcp", n.srv.Addr(), ca.ClientConfig())
					} else {
						c, err = net.Dial("tcp", n.srv.Addr())
					}
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					body := bytes.Repeat([]byte("z"), 2<<20)
					// The whole body is sent before the answer is read, as most clients do: the
					// server answers after the header, and what it does not read must not reset
					// the connection under the answer.
					if _, err := fmt.Fprintf(c, "%s /v1/fund/overview HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", method, len(body)); err != nil {
						t.Fatal(err)
					}
					if _, err := c.Write(body); err != nil {
						t.Fatalf("sending the body: %v", err)
					}
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Fatalf("no answer (reset?): %v", err)
					}
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Fatalf("answer cut: %v", err)
					}
					var e struct{ Error apiError }
					if resp.StatusCode != 413 || json.Unmarshal(b, &e) != nil || e.Error.Code != "PAYLOAD_TOO_LARGE" {
						t.Fatalf("got %d %s", resp.StatusCode, b)
					}
				})
			}
		})
	}
}

// TestConnsPerIP: connections past http.max_conns_per_ip from one address are closed when
// accepted and counted; closing one makes room again.
func TestConnsPerIP(t *testing.T) {
	n := newTestNode(t, func(su *setup) { su.server.MaxConnsPerIP = 3 })
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", n.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Each held connection has been accepted once a request on it is answered.
	for _, c := range held {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v", err)
		}
		resp.Body.Close()
	}
	extra, err := net.Dial("tcp", n.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = extra.SetDeadline(time.Now().Add(5 * time.Second))
	// Answered 429 without being read, then closed.
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("a fourth connection from one address: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error apiError }
	if resp.StatusCode != 429 || json.Unmarshal(b, &e) != nil || e.Error.Code != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth connection from one address: %d %s", resp.StatusCode, b)
	}
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("the fourth connection stays open")
	}
	extra.Close()
	if got := n.srv.deps.Metrics.GetOrCreateCounter("paimon_http_conns_refused_total").Get(); got < 1 {
		t.Fatalf("paimon_http_conns_refused_total = %d", got)
	}
	held[0].Close()
	held = held[1:]
	checkFor(t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", n.srv.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// flakyListener fails Accept with err fails times, then accepts from the real listener.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
	err   error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: f.err}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// TestAcceptRetriesTemporaryErrors: EMFILE, ENFILE and ECONNABORTED are retried (counted,
// reported failing meanwhile), and so is an error not known to pass (the listener never stops
// while the node runs); only a closed listener ends a retrying Accept.
func TestAcceptRetriesTemporaryErrors(t *testing.T) {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.EINVAL} {
		t.Run(e.Error(), func(t *testing.T) {
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			set := metrics.NewSet()
			fl := &flakyListener{Listener: tcp, fails: 6, err: e}
			l := newListener(fl, false, 10, 1<<20, slog.New(slog.DiscardHandler), set)
			defer l.Close()
			go func() {
				if c, err := net.Dial("tcp", tcp.Addr().String()); err == nil {
					defer c.Close()
					time.Sleep(time.Second)
				}
			}()
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := set.GetOrCreateCounter("paimon_http_accept_errors_total").Get(); got != 6 {
				t.Fatalf("accept errors counted %d, want 6", got)
			}
			if l.failing.Load() {
				t.Fatal("still reported failing after a connection was accepted")
			}
		})
	}
	t.Run("closed while retrying", func(t *testing.T) {
		tcp, _ := net.Listen("tcp", "127.0.0.1:0")
		l := newListener(&flakyListener{Listener: tcp, fails: 1 << 30, err: syscall.EMFILE}, false, 10, 1<<20, slog.New(slog.DiscardHandler), metrics.NewSet())
		done := make(chan error, 1)
		go func() { _, err := l.Accept(); done <- err }()
		checkFor(t, 5*time.Second, func() error {
			if !l.failing.Load() {
				return errors.New("not failing yet")
			}
			return nil
		})
		l.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("got %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Accept still retrying after Close")
		}
	})
}

func TestConcurrencyFor(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{{256, 192}, {1024, 768}, {65536, 61440}, {1 << 20, 256 * 1024}, {40, 16}} {
		if got := concurrencyFor(tc.limit); got != tc.want {
			t.Errorf("concurrencyFor(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, in := range []string{
		"error when reading request headers: bad: buffer size=12, contents: \"GET / HTTP/1.1\\r\\nAuthorization: Bearer abc\"",
		"Authorization: Bearer s3cr3t\r\nHost: x",
		"token pms_abcdef0123 used",
		"x-paimon-cluster: node2 123 deadbeef",
		"bearer s3cr3t",
		`error when serving connection "127.0.0.1:1"<->"127.0.0.1:2": malformed mime header: missing colon: "NoColon s3cr3t": buffer size=9`,
	} {
		out := redactRequest(in)
		for _, s := range []string{"abc\"", "s3cr3t", "abcdef0123", "deadbeef"} {
			if strings.Contains(out, s) {
				t.Errorf("redactRequest(%q) = %q keeps %q", in, out, s)
			}
		}
	}
}

// FuzzTransportError: whatever bytes a client sends, a request fasthttp's parser refuses is
// answered with the API's JSON error and one of a fixed set of messages, so nothing of the
// request (a credential in a header) can be echoed. Seeds: the refusals of issue 18.
func FuzzTransportError(f *testing.F) {
	creds := "Authorization: " + secretBearer + "\r\n"
	for _, s := range []string{
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Bad: a\x01b\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "NoColonHere " + secretSession + "\r\n\r\n",
		"POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 12x\r\n\r\n",
		"POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Transfer-Encoding: gzip\r\n\r\n",
		"POST /v1/admin/prices HTTP/1.1\r\nHost: a\r\n" + creds + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "X-Big: " + strings.Repeat("x", 5000) + "\r\n\r\n",
		"GET\x01/ " + secretSession + "\r\n" + creds + "\r\n",
		"GET /healthz HTTP/9.9\r\nHost: a\r\n" + creds + "\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\n" + creds + "Content-Length: 70000\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	s := &Server{cfg: Config{MaxBodyBytes: 64 << 10}, logger: slog.New(slog.DiscardHandler)}
	allowed := map[string]bool{
		"request body too large: the limit is 65536 bytes":             true,
		"malformed HTTP request: the request header is too large":      true,
		"malformed HTTP request: the request was not received in time": true,
		"malformed HTTP request: the request could not be parsed":      true,
	}
	for _, p := range transportProblems {
		allowed["malformed HTTP request: "+p.what] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req fasthttp.Request
		err := req.ReadLimitBody(bufio.NewReaderSize(bytes.NewReader(data), 4096), 64<<10)
		if err == nil || errors.Is(err, io.EOF) {
			return
		}
		var ctx fasthttp.RequestCtx
		s.handleTransportError(&ctx, err)
		var e struct{ Error apiError }
		if jerr := json.Unmarshal(ctx.Response.Body(), &e); jerr != nil {
			t.Fatalf("not JSON: %s", ctx.Response.Body())
		}
		if !allowed[e.Error.Message] || (e.Error.Code != "VALIDATION_ERROR" && e.Error.Code != "PAYLOAD_TOO_LARGE") {
			t.Fatalf("for %v: %s", err, ctx.Response.Body())
		}
	})
}
