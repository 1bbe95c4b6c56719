package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"paimon/alerts"
)

// examplePath is the documented example configuration at the root of the module.
const examplePath = "../config.example.toml"

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExampleIsTheDefaults checks that the example parses, validates and documents exactly the
// defaults: no field is intentionally different.
func TestExampleIsTheDefaults(t *testing.T) {
	c, err := Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The example writes `join = []`, which decodes to an empty list where Default has nil.
	if want := Default(); !reflect.DeepEqual(normalize(c), want) {
		t.Fatalf("example differs from Default():\n got %+v\nwant %+v", c, want)
	}
	// The explicit contract list must equal the defaults, not merely fall back to them.
	if !strings.Contains(string(readExample(t)), "[[ingest.contracts]]") {
		t.Fatal("the example does not list [[ingest.contracts]]")
	}
}

var (
	// exampleTable matches a table header, commented out or not: "[raft]", "# [[auth.tokens]]".
	exampleTable = regexp.MustCompile(`^(?:#\s*)?\[\[?([a-z0-9_.]+)\]\]?\s*$`)
	// exampleKey matches a key line, commented out or not: "addr = ...", "# name = ...".
	exampleKey = regexp.MustCompile(`^(#\s*)?([a-z0-9_]+)\s*=`)
)

// exampleKeys returns every dotted key of the example file, including the commented-out
// [[auth.tokens]] entry, and the keys of uncommented lines that have no comment line above.
func exampleKeys(text string) (keys map[string]bool, undocumented []string) {
	keys = map[string]bool{}
	table, arrayTable, prev := "", false, ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if m := exampleTable.FindStringSubmatch(line); m != nil {
			table, arrayTable = m[1], strings.Contains(line, "[[")
			keys[table] = true
		} else if m := exampleKey.FindStringSubmatch(line); m != nil {
			key := m[2]
			if table != "" {
				key = table + "." + key
			}
			keys[key] = true
			// Keys of array tables are documented once, above the first entry.
			if m[1] == "" && !arrayTable && !strings.HasPrefix(prev, "#") {
				undocumented = append(undocumented, key)
			}
		}
		if line != "" {
			prev = line
		}
	}
	return keys, undocumented
}

// TestExampleDocumentsEveryKey walks Config by reflection and checks that every TOML key
// appears in the example file with a comment, so the example stays true when a key is added,
// and that the example names no key the schema lacks (commented-out ones included).
func TestExampleDocumentsEveryKey(t *testing.T) {
	found, undocumented := exampleKeys(string(readExample(t)))
	schema := schemaKeys(reflect.TypeOf(Config{}), "")
	known := map[string]bool{}
	for _, k := range schema {
		known[k] = true
		if section, _, ok := strings.Cut(k, "."); ok {
			known[section] = true // the [section] headers
		}
		if !found[k] {
			t.Errorf("%s is not in %s", k, examplePath)
		}
	}
	for _, k := range []string{"node.id", "raft.apply_timeout", "cluster.join", "ingest.contracts.address", "auth.tokens.sha256", "log.format"} {
		if !known[k] {
			t.Fatalf("schemaKeys did not find %s: the walk is broken", k)
		}
	}
	for k := range found {
		if !known[k] {
			t.Errorf("%s names %s, which is not a key of config.Config", examplePath, k)
		}
	}
	for _, k := range undocumented {
		t.Errorf("%s: %s has no comment line above it", examplePath, k)
	}
}

// TestExampleToken checks that the commented-out [[auth.tokens]], [[auth.wallets]],
// [[alerts.webhooks]] and [[fund.assets]] entries are valid once uncommented, as someone
// copying them will do.
func TestExampleToken(t *testing.T) {
	uncomment := regexp.MustCompile(`(?m)^# (\[\[auth\.tokens\]\]|\[\[auth\.wallets\]\]|\[\[alerts\.webhooks\]\]|\[\[fund\.assets\]\]|name = |role = |sha256 = |address = |url = |format = |min_severity = |routing_key = |secret = |symbol = |decimals = )`)
	doc := uncomment.ReplaceAll(readExample(t), []byte("$1"))
	c, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse of the example with its token uncommented: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := []Token{{Name: "ops", Role: "operator", SHA256: tokenHash}}
	if !reflect.DeepEqual(c.Auth.Tokens, want) {
		t.Fatalf("tokens = %+v, want %+v", c.Auth.Tokens, want)
	}
	if w := []Wallet{{Address: "0x00000000000000000000000000000000000000a1", Role: "admin"}}; !reflect.DeepEqual(c.Auth.Wallets, w) {
		t.Fatalf("wallets = %+v, want %+v", c.Auth.Wallets, w)
	}
	hooks := []alerts.Webhook{
		{Name: "ops-slack", URL: "https://hooks.slack.com/services/T000/B000/XXXXXXXX", Format: "slack", MinSeverity: "high"},
		{Name: "pager", URL: "https://events.pagerduty.com/v2/enqueue", Format: "pagerduty", RoutingKey: "0123456789abcdef0123456789abcdef", MinSeverity: "CRITICAL"},
		{Name: "risk-desk", URL: "https://risk.example.com/paimon/alerts", Secret: "change-me-to-a-long-random-string"},
	}
	if !reflect.DeepEqual(c.Alerts.Webhooks, hooks) {
		t.Fatalf("webhooks = %+v, want %+v", c.Alerts.Webhooks, hooks)
	}
}

// TestExampleKeysScanner checks the scanner the documentation test relies on.
func TestExampleKeysScanner(t *testing.T) {
	text := `# An example.
[http]
# The address.
addr = "x"
concurrency = 5
# prose mentioning read_timeout, not a key line

# [[auth.tokens]]
# name = "ops"
[[ingest.contracts]]
kind = "vault"
`
	keys, undocumented := exampleKeys(text)
	want := map[string]bool{"http": true, "http.addr": true, "http.concurrency": true,
		"auth.tokens": true, "auth.tokens.name": true, "ingest.contracts": true, "ingest.contracts.kind": true}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	if !reflect.DeepEqual(undocumented, []string{"http.concurrency"}) {
		t.Errorf("undocumented = %v, want [http.concurrency]", undocumented)
	}
}
