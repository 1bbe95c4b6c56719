package config

import (
	"slices"
	"testing"
)

// TestChanged: Changed names every key that differs, by its TOML path, and IsReloadable sorts
// them into what SIGHUP applies and what needs a restart.
func TestChanged(t *testing.T) {
	a, b := Default(), Default()
	if got := Changed(a, b); len(got) != 0 {
		t.Fatalf("defaults against themselves: %v", got)
	}
	b.Log.Level = "debug"
	b.RateLimit.ReadRate = 5
	b.HTTP.TLSCertFile = "/etc/paimon/new.crt"
	b.Raft.BindAddr = "127.0.0.1:7001"
	b.Auth.Tokens = append(b.Auth.Tokens, Token{Name: "x"})
	b.Alerts.Webhooks = append(b.Alerts.Webhooks, b.Alerts.Webhooks...)
	b.Alerts.MinBackoff *= 2
	got := Changed(a, b)
	want := []string{"http.tls_cert_file", "raft.addr", "alerts.min_backoff", "auth.tokens", "log.level", "ratelimit.read_rate"}
	if !slices.Equal(got, want) {
		t.Fatalf("Changed = %v, want %v", got, want)
	}
	var restart []string
	for _, k := range got {
		if !IsReloadable(k) {
			restart = append(restart, k)
		}
	}
	if !slices.Equal(restart, []string{"raft.addr", "auth.tokens"}) {
		t.Errorf("needing a restart: %v", restart)
	}
	if IsReloadable("log.format") || IsReloadable("http.addr") || !IsReloadable("alerts.webhooks") {
		t.Error("IsReloadable misfiles log.format, http.addr or alerts.webhooks")
	}
}
