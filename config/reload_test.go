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

// FuzzReload: whatever a reloaded file holds (SIGHUP reads it with Parse and Validate, as at
// start), Changed is symmetric and empty between equal configurations, and ApplyReloadable
// takes exactly the Reloadable keys from it: what it applied differs from the running
// configuration only in reloadable keys, and what it left differs from the file only in keys
// that need a restart.
func FuzzReload(f *testing.F) {
	example := readExample(f)
	f.Add(example)
	for _, seed := range parseSeeds {
		f.Add([]byte(seed))
	}
	cur, err := Parse(example)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		next, err := Parse(doc)
		if err != nil || next.Validate() != nil {
			return // refused: the running configuration stays
		}
		if keys := Changed(next, next); len(keys) != 0 {
			t.Fatalf("a configuration differs from itself in %v", keys)
		}
		ab, ba := Changed(cur, next), Changed(next, cur)
		slices.Sort(ab)
		slices.Sort(ba)
		if !slices.Equal(ab, ba) {
			t.Fatalf("Changed is not symmetric: %v against %v", ab, ba)
		}
		applied := ApplyReloadable(cur, next)
		for _, k := range Changed(cur, applied) {
			if !IsReloadable(k) {
				t.Errorf("SIGHUP applied %s, which needs a restart", k)
			}
		}
		for _, k := range Changed(applied, next) {
			if IsReloadable(k) {
				t.Errorf("SIGHUP left %s unapplied, though it is reloadable", k)
			}
		}
	})
}
