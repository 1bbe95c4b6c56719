package alerts_test

import (
	"strings"
	"testing"
	"time"

	"paimon/alerts"
)

func TestDefaultConfigValidates(t *testing.T) {
	c := alerts.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidate: each bad value is refused naming its key; good ones pass.
func TestValidate(t *testing.T) {
	hook := func(f func(*alerts.Webhook)) func(*alerts.Config) {
		return func(c *alerts.Config) {
			w := alerts.Webhook{Name: "ops", URL: "https://hooks.example.com/x", Secret: "0123456789abcdef"}
			f(&w)
			c.Webhooks = append(c.Webhooks, w)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*alerts.Config)
		key  string // "" = valid
	}{
		{"generic", hook(func(w *alerts.Webhook) {}), ""},
		{"http", hook(func(w *alerts.Webhook) { w.URL = "http://127.0.0.1:9/a?b=c" }), ""},
		{"slack without secret", hook(func(w *alerts.Webhook) { w.Format, w.Secret = "slack", "" }), ""},
		{"pagerduty", hook(func(w *alerts.Webhook) { w.Format, w.RoutingKey = "pagerduty", "R0UT1NGKEY" }), ""},
		{"severity any case", hook(func(w *alerts.Webhook) { w.MinSeverity = "cRiTiCaL" }), ""},
		{"ftp url", hook(func(w *alerts.Webhook) { w.URL = "ftp://example.com/x" }), "alerts.webhooks[0].url"},
		{"no scheme", hook(func(w *alerts.Webhook) { w.URL = "hooks.example.com/x" }), "alerts.webhooks[0].url"},
		{"no host", hook(func(w *alerts.Webhook) { w.URL = "https:///x" }), "alerts.webhooks[0].url"},
		{"javascript", hook(func(w *alerts.Webhook) { w.URL = "javascript:alert(1)" }), "alerts.webhooks[0].url"},
		{"empty url", hook(func(w *alerts.Webhook) { w.URL = "" }), "alerts.webhooks[0].url"},
		{"unknown format", hook(func(w *alerts.Webhook) { w.Format = "teams" }), "alerts.webhooks[0].format"},
		{"upper-case format", hook(func(w *alerts.Webhook) { w.Format = "Slack" }), "alerts.webhooks[0].format"},
		{"unknown severity", hook(func(w *alerts.Webhook) { w.MinSeverity = "urgent" }), "alerts.webhooks[0].min_severity"},
		{"generic without secret", hook(func(w *alerts.Webhook) { w.Secret = "" }), "alerts.webhooks[0].secret"},
		{"short secret", hook(func(w *alerts.Webhook) { w.Secret = "short" }), "alerts.webhooks[0].secret"},
		{"pagerduty without key", hook(func(w *alerts.Webhook) { w.Format = "pagerduty" }), "alerts.webhooks[0].routing_key"},
		{"routing key elsewhere", hook(func(w *alerts.Webhook) { w.RoutingKey = "k" }), "alerts.webhooks[0].routing_key"},
		{"no name", hook(func(w *alerts.Webhook) { w.Name = "" }), "alerts.webhooks[0].name"},
		{"bad name", hook(func(w *alerts.Webhook) { w.Name = "a b" }), "alerts.webhooks[0].name"},
		{"twice", func(c *alerts.Config) { hook(func(*alerts.Webhook) {})(c); hook(func(*alerts.Webhook) {})(c) }, "alerts.webhooks[1].name"},
		{"min_backoff", func(c *alerts.Config) { c.MinBackoff = 0 }, "alerts.min_backoff"},
		{"max below min", func(c *alerts.Config) { c.MaxBackoff = c.MinBackoff / 2 }, "alerts.max_backoff"},
		{"attempt_timeout", func(c *alerts.Config) { c.AttemptTimeout = -time.Second }, "alerts.attempt_timeout"},
		{"poll_interval", func(c *alerts.Config) { c.PollInterval = 0 }, "alerts.poll_interval"},
		{"page_size", func(c *alerts.Config) { c.PageSize = 0 }, "alerts.page_size"},
		{"max_age", func(c *alerts.Config) { c.MaxAge = time.Second }, "alerts.max_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := alerts.DefaultConfig()
			tc.edit(&c)
			before := c
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
			} else if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.key)
			}
			if len(c.Webhooks) > 0 && c.Webhooks[0] != before.Webhooks[0] {
				t.Error("Validate changed the configuration")
			}
		})
	}
}
