package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportCommand: paimon report asks the node for the period's report with the token and
// writes the body to -o (a directory: under the node's file name); a refusal is an error with
// the node's code, and a bad date or format is refused before any request.
func TestReportCommand(t *testing.T) {
	var got []string
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.String()+" "+r.Header.Get("Authorization"))
		if r.URL.Query().Get("date") == "2025-01-07" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"FORBIDDEN","message":"viewer needed"}}`))
			return
		}
		w.Write([]byte("%PDF-1.3 a report"))
	}))
	defer node.Close()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	file := filepath.Join(dir, "r.pdf")
	if rc := run([]string{"report", "daily", "-date", "2025-01-06", "-format", "pdf", "-o", file, "-url", node.URL, "-token", "tok"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if b, _ := os.ReadFile(file); string(b) != "%PDF-1.3 a report" {
		t.Errorf("file: %q", b)
	}
	if len(got) != 1 || got[0] != "/v1/reports/daily?date=2025-01-06&format=pdf Bearer tok" {
		t.Errorf("requests: %q", got)
	}
	if rc := run([]string{"report", "weekly", "-date", "2025-01-08", "-format", "csv", "-o", dir, "-url", node.URL}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "paimon-weekly-2025-01-06.csv")); err != nil {
		t.Error(err)
	}
	stderr.Reset()
	if rc := run([]string{"report", "daily", "-date", "2025-01-07", "-url", node.URL}, &stdout, &stderr); rc != 1 || !strings.Contains(stderr.String(), "FORBIDDEN viewer needed") {
		t.Errorf("refused: rc %d %s", rc, stderr.String())
	}
	n := len(got)
	for _, args := range [][]string{{"report", "yearly", "-date", "2025-01-06"}, {"report", "daily"}, {"report", "daily", "-date", "2025-1-6"},
		{"report", "daily", "-date", "2025-01-06", "-format", "xls"}} {
		if rc := run(append(args, "-url", node.URL), &stdout, &stderr); rc != 2 {
			t.Errorf("%q: rc %d", args, rc)
		}
	}
	if len(got) != n {
		t.Errorf("a bad argument reached the node: %q", got[n:])
	}
}
