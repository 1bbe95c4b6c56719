package benchkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNodeDoAndGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/private" && r.Header.Get("Authorization") != "Bearer tok":
			http.Error(w, `{"error":{"code":"AUTH_REQUIRED"}}`, http.StatusUnauthorized)
		case r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "no content type", http.StatusBadRequest)
		default:
			w.Write([]byte(r.Method + " " + r.URL.Path))
		}
	}))
	defer srv.Close()
	n := &Node{Base: srv.URL, Token: "tok", HTTP: srv.Client()}
	ctx := context.Background()
	if b, err := n.Get(ctx, "/private", true); err != nil || string(b) != "GET /private" {
		t.Errorf("Get with token: %q, %v", b, err)
	}
	if _, err := n.Get(ctx, "/private", false); err == nil || !strings.Contains(err.Error(), "GET /private: 401") {
		t.Errorf("Get without token: %v", err)
	}
	if code, b, err := n.Do(ctx, http.MethodPost, "/w", []byte(`{}`), false); err != nil || code != 200 || string(b) != "POST /w" {
		t.Errorf("Do POST: %d %q %v", code, b, err)
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p := startSh(t, "exec sleep 30")
	if err := WaitHTTP(context.Background(), p, srv.URL, 10*time.Second); err != nil || calls.Load() < 3 {
		t.Errorf("WaitHTTP: %v after %d calls", err, calls.Load())
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = WaitHTTP(context.Background(), p, "http://"+addr, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready after 300ms") {
		t.Errorf("nothing listening: %v", err)
	}
	exited := startSh(t, "exit 0")
	waitExited(t, exited)
	if err := WaitHTTP(context.Background(), exited, srv.URL, time.Second); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Errorf("exited child: %v", err)
	}
}

func TestReadFileWhenPresent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	go func() { _ = os.WriteFile(path, []byte("tok\n"), 0o600) }() // now or after the first polls
	if b, err := ReadFileWhenPresent(context.Background(), path, 10*time.Second); err != nil || string(b) != "tok\n" {
		t.Errorf("got %q, %v", b, err)
	}
	if _, err := ReadFileWhenPresent(context.Background(), path+".missing", 100*time.Millisecond); err == nil {
		t.Error("read a file that never appears")
	}
}

func TestStopProc(t *testing.T) {
	var err error
	StopProc(nil, &err)
	p := startSh(t, "exec sleep 30")
	StopProc(p, &err)
	if err != nil || !p.Exited() {
		t.Errorf("StopProc: %v, exited %v", err, p.Exited())
	}
	failing := startSh(t, "trap 'exit 3' TERM; echo started; while :; do sleep 0.05; done")
	waitLogLine(t, failing, "started")
	StopProc(failing, &err)
	if err == nil || !strings.Contains(err.Error(), "exited with code 3 on SIGTERM") {
		t.Errorf("a child exiting 3 on SIGTERM: %v", err)
	}
}
