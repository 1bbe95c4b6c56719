package config

import (
	"encoding/json"
	"strings"
	"testing"

	"paimon/alerts"
)

// TestPublicHasNoSecrets: the configuration GET /v1/system/config shows carries the chain,
// the contracts and the limits, and none of the secrets: the cluster secret, token hashes,
// the DSN's password, RPC keys in URL paths and queries.
func TestPublicHasNoSecrets(t *testing.T) {
	c := Default()
	c.Cluster.Secret = "cluster-secret-s3cr3t-0123456789"
	c.Auth.Tokens = []Token{{Name: "ops", Role: "operator", SHA256: strings.Repeat("ab", 32)}}
	c.Postgres.DSN = "postgres://paimon:pg-pa55word@db.internal:5432/paimon?sslmode=require"
	c.Ingest.RPCURLs = []string{"https://bsc.example.com/v3/rpc-key-0123456789?apikey=rpc-query-key", "https://user:rpc-pass@node.example.org"}
	c.Alerts.Webhooks = []alerts.Webhook{
		{Name: "ops-slack", URL: "https://hooks.slack.com/services/T0/B0/slack-url-token", Format: "slack"},
		{Name: "pager", URL: "https://events.pagerduty.com/v2/enqueue", Format: "pagerduty", RoutingKey: "pd-routing-key-0123"},
		{Name: "desk", URL: "https://desk.example.com/a?key=desk-query-key", Secret: "hook-signing-secret-0123"},
	}
	b, err := json.Marshal(c.Public())
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, secret := range []string{c.Cluster.Secret, strings.Repeat("ab", 32), "pg-pa55word", "paimon:", "rpc-key-0123456789", "rpc-query-key", "rpc-pass", "sha256",
		"slack-url-token", "pd-routing-key-0123", "desk-query-key", "hook-signing-secret-0123"} {
		if strings.Contains(body, secret) {
			t.Errorf("the public configuration shows %q:\n%s", secret, body)
		}
	}
	for _, want := range []string{`"chainId":56`, c.Ingest.Contracts[0].Address, `"confirmations":`, `"host":"postgres://db.internal:5432"`,
		`"https://bsc.example.com"`, `"name":"ops","role":"operator"`, `"host":"https://hooks.slack.com"`, `"name":"desk"`,
		`{"critical":200,"hysteresis":10,"indicator":"navDriftBps","warn":50}`} {
		if !strings.Contains(body, want) {
			t.Errorf("the public configuration lacks %s:\n%s", want, body)
		}
	}
	c.Postgres.DSN = "host=db password=kv-pa55word"
	if b, _ := json.Marshal(c.Public()); strings.Contains(string(b), "kv-pa55word") {
		t.Errorf("a key=value DSN's password shows: %s", b)
	}
}
