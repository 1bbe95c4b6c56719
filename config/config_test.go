package config

import (
	"paimon/alerts"
	"paimon/ingest"

	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tokenHash is a valid sha256 entry (the hash of "example-token-replace-me").
const tokenHash = "875ca15102495ea430c9af8e6eeb9a455e58e74d842b8bf852eed00b0482e739"

// problemKeys returns the keys named by each problem of a Validate error, in order. Validate
// wraps ErrInvalid and an errors.Join of "key: reason" errors.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	top, ok := err.(interface{ Unwrap() []error })
	if !ok || len(top.Unwrap()) != 2 {
		t.Fatalf("error %v is not ErrInvalid and a joined list of problems", err)
	}
	joined, ok := top.Unwrap()[1].(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v does not join its problems", err)
	}
	var keys []string
	for _, p := range joined.Unwrap() {
		key, _, ok := strings.Cut(p.Error(), ": ")
		if !ok {
			t.Fatalf("problem %q does not start with a key", p)
		}
		keys = append(keys, key)
	}
	return keys
}

// normalize makes empty lists nil. go-toml decodes `join = []` (and toml.Marshal writes nil
// lists that way) into an empty non-nil slice while Default uses nil; every consumer only looks
// at len, so the two mean the same. Contracts are left alone: Parse never returns them nil.
func normalize(c *Config) *Config {
	if len(c.Cluster.Join) == 0 {
		c.Cluster.Join = nil
	}
	if len(c.Auth.Tokens) == 0 {
		c.Auth.Tokens = nil
	}
	if len(c.Ingest.RPCURLs) == 0 {
		c.Ingest.RPCURLs = nil
	}
	return c
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if Default() == Default() || &Default().Ingest.Contracts[0] == &Default().Ingest.Contracts[0] {
		t.Fatal("Default must return a fresh value each call, so callers can change it")
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"empty", ""},
		{"comments and blank lines", "# nothing here\n\n   \n# [raft]\n"},
		{"empty sections", "[node]\n[fund]\n[http]\n[read]\n[raft]\n[cache]\n[cluster]\n[postgres]\n[ingest]\n[push]\n[auth]\n[log]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, Default()) {
				t.Fatalf("Parse(%q) = %+v, want Default() %+v", tt.doc, c, Default())
			}
		})
	}
}

func TestParseOverrides(t *testing.T) {
	doc := `
[node]
id = "edge-2"
data_dir = "/var/lib/paimon"

[http]
addr = "0.0.0.0:9090"
advertise = "edge-2.internal:9090"
max_body_bytes = 4096
idle_timeout = "90s"

[raft]
addr = "10.0.0.2:7000"
advertise = "edge-2.internal:7000"
apply_timeout = "250ms"
snapshot_threshold = 100

[cluster]
join = ["edge-1:8080", "edge-2:8080", "edge-3:8080"]
bootstrap_expect = 3
secret = "0123456789abcdef"

[ingest]
chain_id = 97

[push]
enabled = false

[[auth.tokens]]
name = "ops"
role = "operator"
sha256 = "` + tokenHash + `"

[log]
level = "debug"
format = "json"
`
	got, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Node = Node{ID: "edge-2", DataDir: "/var/lib/paimon"}
	want.HTTP.Addr = "0.0.0.0:9090"
	want.HTTP.Advertise = "edge-2.internal:9090"
	want.HTTP.MaxBodyBytes = 4096
	want.HTTP.IdleTimeout = time.Duration(90 * time.Second)
	want.Raft.BindAddr = "10.0.0.2:7000"
	want.Raft.Advertise = "edge-2.internal:7000"
	want.Raft.ApplyTimeout = time.Duration(250 * time.Millisecond)
	want.Raft.SnapshotThreshold = 100
	want.Cluster = Cluster{Join: []string{"edge-1:8080", "edge-2:8080", "edge-3:8080"}, BootstrapExpect: 3, Secret: "0123456789abcdef"}
	want.Ingest.ChainID = 97
	want.Push.Enabled = false
	want.Auth.Tokens = []Token{{Name: "ops", Role: "operator", SHA256: tokenHash}}
	want.Log = Log{Level: "debug", Format: "json"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got.RaftAdvertise() != "edge-2.internal:7000" {
		t.Errorf("RaftAdvertise() = %q, want the advertise address", got.RaftAdvertise())
	}
}

func TestParseContracts(t *testing.T) {
	one := []ingest.Contract{{Name: "vault", Kind: "vault", Address: "0x1111111111111111111111111111111111111111", ABIFile: "abi/vault.json"}}
	tests := []struct {
		name string
		doc  string
		want []ingest.Contract
	}{
		{"no contracts keeps the defaults", "[ingest]\nchain_id = 97\n", Default().Ingest.Contracts},
		{"a list replaces the defaults", `
[[ingest.contracts]]
name = "vault"
kind = "vault"
address = "0x1111111111111111111111111111111111111111"
abi_file = "abi/vault.json"
`, one},
		{"an inline list replaces the defaults", `
[ingest]
contracts = [{name = "vault", kind = "vault", address = "0x1111111111111111111111111111111111111111", abi_file = "abi/vault.json"}]
`, one},
		{"an entry equal to a default still replaces the whole list", `
[[ingest.contracts]]
name = "oracle"
kind = "oracle"
address = "0x0000000000000000000000000000000000000a03"
`, Default().Ingest.Contracts[3:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Ingest.Contracts, tt.want) {
				t.Fatalf("contracts = %+v, want %+v", c.Ingest.Contracts, tt.want)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	// Parsing must not share the default list with the result: changing one config's
	// contracts must not change another's.
	a, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Ingest.Contracts[0].Address = "changed"
	if Default().Ingest.Contracts[0].Address == "changed" {
		t.Fatal("Parse returned the default contracts by reference")
	}
}

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		keys []string
	}{
		{"misspelt key", "[raft]\nadress = \"127.0.0.1:7000\"\n", []string{"raft.adress"}},
		{"unknown section", "[nodes]\nid = \"x\"\n", []string{"nodes"}},
		{"top-level key", "debug = true\n", []string{"debug"}},
		{"key in an array table", "[[ingest.contracts]]\nname = \"v\"\nadres = \"0x\"\n", []string{"ingest.contracts.adres"}},
		{"key in a token", "[[auth.tokens]]\nname = \"a\"\nhash = \"x\"\n", []string{"auth.tokens.hash"}},
		{"dotted key", "http.adr = \"x\"\n", []string{"http.adr"}},
		{"several keys", "[http]\nadr = \"x\"\n[log]\nlevl = \"debug\"\n", []string{"http.adr", "log.levl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if c != nil || err == nil {
				t.Fatalf("Parse(%q) = %v, %v; want an error", tt.doc, c, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, k := range tt.keys {
				if !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), k) {
					t.Errorf("error %q does not name unknown key %s", err, k)
				}
			}
		})
	}
}

func TestParseBadValues(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		line string // "line N" the error must carry
		text string // and a fragment of its reason
	}{
		{"string for an int", "[http]\nmax_body_bytes = \"1MB\"\n", "line 2", "MaxBodyBytes"},
		{"int for a string", "\n\n[node]\nid = 5\n", "line 4", "ID"},
		{"bool as a string", "[push]\nenabled = \"yes\"\n", "line 2", "Enabled"},
		{"string for a list", "[cluster]\njoin = \"a:1,b:2\"\n", "line 2", "Join"},
		{"negative unsigned", "[ingest]\nchain_id = -1\n", "line 2", "negative"},
		{"duration without a unit", "[raft]\n\napply_timeout = \"10\"\n", "line 3", "duration"},
		{"duration in words", "[cache]\nnav_ttl = \"5 minutes\"\n", "line 2", "duration"},
		// go-toml would store a bare integer as nanoseconds; Duration.UnmarshalTOML refuses it.
		{"duration as an integer", "[raft]\napply_timeout = 10\n", "line 2", "want a string"},
		{"duration as a float", "[read]\nmax_staleness = 1.5\n", "line 2", "duration"},
		{"duration as a list", "[read]\nmax_staleness = [\"5s\"]\n", "line 2", "duration"},
		{"duration as a bool", "[http]\nread_timeout = true\n", "line 2", "duration"},
		{"unterminated table", "[http\naddr = \"x\"\n", "line 1", "table"},
		{"unterminated string", "[node]\nid = \"node1\n", "line 2", ""},
		{"duplicate key", "[node]\nid = \"a\"\nid = \"b\"\n", "line 3", ""},
		{"duplicate table", "[node]\n[log]\n[node]\n", "line 3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if c != nil || err == nil {
				t.Fatalf("Parse(%q) = %+v, %v; want an error", tt.doc, c, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.line+" ") {
				t.Errorf("error %q does not give %s", err, tt.line)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

// TestParseAlerts: an [alerts] section with webhooks parses onto alerts.Config, and a bad
// webhook is refused by Validate naming its key.
func TestParseAlerts(t *testing.T) {
	doc := `
[alerts]
max_backoff = "2m"
[[alerts.webhooks]]
name = "ops-slack"
url = "https://hooks.slack.com/services/T/B/X"
format = "slack"
min_severity = "high"
[[alerts.webhooks]]
name = "desk"
url = "http://10.0.0.5:8080/alerts"
secret = "0123456789abcdef"
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := alerts.DefaultConfig()
	want.MaxBackoff = 2 * time.Minute
	want.Webhooks = []alerts.Webhook{
		{Name: "ops-slack", URL: "https://hooks.slack.com/services/T/B/X", Format: "slack", MinSeverity: "high"},
		{Name: "desk", URL: "http://10.0.0.5:8080/alerts", Secret: "0123456789abcdef"},
	}
	if !reflect.DeepEqual(c.Alerts, want) {
		t.Fatalf("alerts = %+v, want %+v", c.Alerts, want)
	}
	c, err = Parse([]byte("[[alerts.webhooks]]\nname = \"x\"\nurl = \"gopher://h/\"\nsecret = \"0123456789abcdef\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "alerts.webhooks[0].url: must be an http:// or https:// URL") {
		t.Fatalf("Validate = %v, want the url refused by key", err)
	}
}

func TestParseDurationSyntax(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{`"250ms"`, 250 * time.Millisecond},
		{`'250ms'`, 250 * time.Millisecond},
		{`"1h2m3s"`, time.Hour + 2*time.Minute + 3*time.Second},
		{`"1.5s"`, 1500 * time.Millisecond},
		{`"""2s"""`, 2 * time.Second},
		{`'''3s'''`, 3 * time.Second},
		{`"\u0034s"`, 4 * time.Second}, // a basic string's escapes are decoded
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Parse([]byte("[raft]\napply_timeout = " + tt.value + " # comment\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Raft.ApplyTimeout; got != tt.want {
				t.Fatalf("apply_timeout = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	d := Duration(90 * time.Second)
	if d.String() != "1m30s" || d.D() != 90*time.Second {
		t.Fatalf("String() = %q, D() = %s", d, d.D())
	}
	b, err := d.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back Duration
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("UnmarshalText(%q) = %s, %v; want %s", b, back, err, d)
	}
	if err := back.UnmarshalText([]byte("ninety")); err == nil || !strings.Contains(err.Error(), `"ninety"`) {
		t.Fatalf("UnmarshalText(ninety) = %v, want an error quoting the value", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("[node]\nid = \"edge-9\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("[node]\nidd = \"edge-9\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := Load("")
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf(`Load("") = %+v, %v; want the defaults`, c, err)
	}
	c, err = Load(good)
	if err != nil || c.Node.ID != "edge-9" {
		t.Fatalf("Load(good) = %+v, %v; want node.id edge-9", c, err)
	}
	_, err = Load(bad)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "node.idd") {
		t.Fatalf("Load(bad) = %v; want ErrInvalid naming the file and node.idd", err)
	}
	_, err = Load(filepath.Join(dir, "missing.toml"))
	if err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want an I/O error, not ErrInvalid", err)
	}
}

func TestValidateRules(t *testing.T) {
	twoContracts := func(c *Config, a, b ingest.Contract) {
		c.Ingest.Contracts = []ingest.Contract{a, b}
	}
	vault := ingest.Contract{Name: "vault", Kind: "vault", Address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"}
	rm1 := ingest.Contract{Name: "rm1", Kind: "redemption_manager", Address: "0x0000000000000000000000000000000000000a01"}
	rm2 := ingest.Contract{Name: "rm2", Kind: "redemption_manager", Address: "0x0000000000000000000000000000000000000a02"}
	const secret = "0123456789abcdef"
	token := func(name, role, sum string) Token { return Token{Name: name, Role: role, SHA256: sum} }
	tests := []struct {
		name   string
		mutate func(*Config)
		keys   []string // every problem Validate must report, in order
	}{
		{"node id empty", func(c *Config) { c.Node.ID = "" }, []string{"node.id"}},
		{"node id with a space", func(c *Config) { c.Node.ID = "node 1" }, []string{"node.id"}},
		{"node id too long", func(c *Config) { c.Node.ID = strings.Repeat("n", 65) }, []string{"node.id"}},
		{"node id starting with a dot", func(c *Config) { c.Node.ID = ".node" }, []string{"node.id"}},
		{"data dir empty", func(c *Config) { c.Node.DataDir = "" }, []string{"node.data_dir"}},
		{"fund name empty", func(c *Config) { c.Fund.Name = "" }, []string{"fund.name"}},
		{"fund symbol empty", func(c *Config) { c.Fund.Symbol = "" }, []string{"fund.symbol"}},
		{"fund asset address", func(c *Config) { c.Fund.Assets = []FundAsset{{Address: "0x12"}} }, []string{"fund.assets[0].address"}},
		{"fund asset twice", func(c *Config) {
			c.Fund.Assets = []FundAsset{{Address: "0x55d398326f99059ff775485246999027b3197955"}, {Address: "0x55D398326f99059fF775485246999027B3197955"}}
		}, []string{"fund.assets[1].address"}},
		{"fund asset decimals", func(c *Config) {
			d := 78
			c.Fund.Assets = []FundAsset{{Address: "0x55d398326f99059ff775485246999027b3197955", Decimals: &d}}
		}, []string{"fund.assets[0].decimals"}},
		{"http addr without port", func(c *Config) { c.HTTP.Addr = "localhost" }, []string{"http.addr"}},
		{"http addr with empty port", func(c *Config) { c.HTTP.Addr = "localhost:" }, []string{"http.addr"}},
		{"max body too small", func(c *Config) { c.HTTP.MaxBodyBytes = 1023 }, []string{"http.max_body_bytes"}},
		{"max body too large", func(c *Config) { c.HTTP.MaxBodyBytes = 64<<20 + 1 }, []string{"http.max_body_bytes"}},
		{"read timeout zero", func(c *Config) { c.HTTP.ReadTimeout = 0 }, []string{"http.read_timeout"}},
		{"write timeout negative", func(c *Config) { c.HTTP.WriteTimeout = time.Duration(-time.Second) }, []string{"http.write_timeout"}},
		{"idle timeout zero", func(c *Config) { c.HTTP.IdleTimeout = 0 }, []string{"http.idle_timeout"}},
		{"concurrency negative", func(c *Config) { c.HTTP.Concurrency = -1 }, []string{"http.concurrency"}},
		{"max conns per ip zero", func(c *Config) { c.HTTP.MaxConnsPerIP = 0 }, []string{"http.max_conns_per_ip"}},
		{"max staleness zero", func(c *Config) { c.Read.MaxStaleness = 0 }, []string{"read.max_staleness"}},
		{"push window zero", func(c *Config) { c.Push.WindowMessages = 0 }, []string{"push.window_messages"}},
		{"executor with two redemption managers, none named", func(c *Config) {
			c.Executor.KeyFile = "/etc/paimon/executor.key"
			twoContracts(c, rm1, rm2)
		}, []string{"executor.redemption_manager"}},
		{"executor naming a contract not listed", func(c *Config) {
			c.Executor.KeyFile = "/etc/paimon/executor.key"
			c.Executor.RedemptionManager = "rm3"
			twoContracts(c, rm1, rm2)
		}, []string{"executor.redemption_manager"}},
		{"executor naming a contract of another kind", func(c *Config) {
			c.Executor.KeyFile = "/etc/paimon/executor.key"
			c.Executor.AssetController = "rm1"
			twoContracts(c, rm1, ingest.Contract{Name: "ac1", Kind: "asset_controller", Address: "0x0000000000000000000000000000000000000a02"})
		}, []string{"executor.asset_controller"}},
		{"executor chain id of another chain", func(c *Config) { c.Executor.ChainID = c.Ingest.ChainID + 1 }, []string{"executor.chain_id"}},
		{"executor gas and tip", func(c *Config) { c.Executor.GasLimit = 1; c.Executor.MaxTipGwei = c.Executor.MaxFeeGwei + 1 }, []string{"executor.gas_limit", "executor.max_tip_gwei"}},
		{"push queue and window age", func(c *Config) { c.Push.QueueMessages = -1; c.Push.WindowAge = 0 }, []string{"push.queue_messages", "push.window_age"}},
		{"push frame too small", func(c *Config) { c.Push.MaxFrameBytes = 100 }, []string{"push.max_frame_bytes"}},
		{"push frames per second", func(c *Config) { c.Push.FramesPerSecond = 0 }, []string{"push.frames_per_second"}},
		{"push per-ip above total", func(c *Config) { c.Push.MaxConns = 10; c.Push.MaxConnsPerIP = 11 }, []string{"push.max_conns_per_ip"}},
		{"push origin without scheme", func(c *Config) { c.Push.AllowedOrigins = []string{"app.example.com"} }, []string{"push.allowed_origins[0]"}},
		{"push send buffer negative", func(c *Config) { c.Push.SendBufferBytes = -1 }, []string{"push.send_buffer_bytes"}},
		{"push ping zero", func(c *Config) { c.Push.PingInterval = 0 }, []string{"push.ping_interval"}},
		{"raft addr not host:port", func(c *Config) { c.Raft.BindAddr = "127.0.0.1" }, []string{"raft.addr"}},
		{"raft advertise without host", func(c *Config) { c.Raft.Advertise = ":7000" }, []string{"raft.advertise"}},
		{"raft advertise without port", func(c *Config) { c.Raft.Advertise = "edge-1" }, []string{"raft.advertise"}},
		{"raft addr on all interfaces needs advertise", func(c *Config) { c.Raft.BindAddr = "0.0.0.0:7000" }, []string{"raft.advertise"}},
		{"raft addr with empty host needs advertise", func(c *Config) { c.Raft.BindAddr = ":7000" }, []string{"raft.advertise"}},
		{"raft addr on all IPv6 interfaces needs advertise", func(c *Config) { c.Raft.BindAddr = "[::]:7000" }, []string{"raft.advertise"}},
		// A zero heartbeat also breaks the lease rule, which Validate reports too.
		{"heartbeat timeout zero", func(c *Config) { c.Raft.HeartbeatTimeout = 0 }, []string{"raft.heartbeat_timeout", "raft.leader_lease_timeout"}},
		{"election timeout zero", func(c *Config) { c.Raft.ElectionTimeout = 0 }, []string{"raft.election_timeout", "raft.election_timeout"}},
		{"leader lease zero", func(c *Config) { c.Raft.LeaderLeaseTimeout = 0 }, []string{"raft.leader_lease_timeout"}},
		{"commit timeout zero", func(c *Config) { c.Raft.CommitTimeout = 0 }, []string{"raft.commit_timeout"}},
		{"apply timeout zero", func(c *Config) { c.Raft.ApplyTimeout = 0 }, []string{"raft.apply_timeout"}},
		{"snapshot interval zero", func(c *Config) { c.Raft.SnapshotInterval = 0 }, []string{"raft.snapshot_interval"}},
		{"leader lease above heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = c.Raft.HeartbeatTimeout + 1 }, []string{"raft.leader_lease_timeout"}},
		{"election below heartbeat", func(c *Config) { c.Raft.ElectionTimeout = c.Raft.HeartbeatTimeout - 1 }, []string{"raft.election_timeout"}},
		{"max append entries zero", func(c *Config) { c.Raft.MaxAppendEntries = 0 }, []string{"raft.max_append_entries"}},
		{"max append entries above 1024", func(c *Config) { c.Raft.MaxAppendEntries = 1025 }, []string{"raft.max_append_entries"}},
		{"snapshot threshold zero", func(c *Config) { c.Raft.SnapshotThreshold = 0 }, []string{"raft.snapshot_threshold"}},
		{"snapshot retain zero", func(c *Config) { c.Raft.SnapshotRetain = 0 }, []string{"raft.snapshot_retain"}},
		{"disk reserve negative", func(c *Config) { c.Raft.DiskReserveMiB = -1 }, []string{"raft.disk_reserve_mib"}},
		{"disk reserve below a log segment", func(c *Config) { c.Raft.DiskReserveMiB = 32 }, []string{"raft.disk_reserve_mib"}},
		{"disk reserve percent above 50", func(c *Config) { c.Raft.DiskReservePercent = 51 }, []string{"raft.disk_reserve_percent"}},
		{"disk reserve percent negative", func(c *Config) { c.Raft.DiskReservePercent = -1 }, []string{"raft.disk_reserve_percent"}},
		{"cache size zero", func(c *Config) { c.Cache.SizeMiB = 0 }, []string{"cache.size_mib"}},
		{"cache size above 64 GiB", func(c *Config) { c.Cache.SizeMiB = 1<<16 + 1 }, []string{"cache.size_mib"}},
		{"overview ttl zero", func(c *Config) { c.Cache.OverviewTTL = 0 }, []string{"cache.overview_ttl"}},
		{"nav ttl zero", func(c *Config) { c.Cache.NavTTL = 0 }, []string{"cache.nav_ttl"}},
		{"prices ttl zero", func(c *Config) { c.Cache.PricesTTL = 0 }, []string{"cache.prices_ttl"}},
		{"default ttl negative", func(c *Config) { c.Cache.DefaultTTL = time.Duration(-1) }, []string{"cache.default_ttl"}},
		{"join entry without port", func(c *Config) { c.Cluster.Join, c.Cluster.Secret = []string{"edge-1:8080", "edge-2"}, secret }, []string{"cluster.join[1]"}},
		{"join entry without host", func(c *Config) { c.Cluster.Join, c.Cluster.Secret = []string{":8080"}, secret }, []string{"cluster.join[0]"}},
		{"cluster without secret", func(c *Config) { c.Cluster.Join = []string{"edge-1:8080"} }, []string{"cluster.secret"}},
		{"cluster on all interfaces without http advertise", func(c *Config) {
			c.Cluster.Join, c.Cluster.Secret, c.HTTP.Addr = []string{"edge-1:8080"}, secret, "0.0.0.0:8080"
		}, []string{"http.advertise"}},
		{"http advertise without host", func(c *Config) { c.HTTP.Advertise = ":8080" }, []string{"http.advertise"}},
		{"bootstrap expect negative", func(c *Config) { c.Cluster.BootstrapExpect = -1 }, []string{"cluster.bootstrap_expect"}},
		{"bootstrap expect above 9", func(c *Config) {
			c.Cluster.BootstrapExpect = 10
			c.Cluster.Join = []string{"edge-1:8080"}
			c.Cluster.Secret = secret
		}, []string{"cluster.bootstrap_expect"}},
		{"bootstrap expect 3 without join", func(c *Config) { c.Cluster.BootstrapExpect, c.Cluster.Secret = 3, secret }, []string{"cluster.join"}},
		{"secret too short", func(c *Config) { c.Cluster.Secret = "short" }, []string{"cluster.secret"}},
		{"tls cert without key and ca", func(c *Config) { c.Cluster.TLSCertFile = "node.pem" }, []string{"cluster.tls_cert_file"}},
		{"chain id zero", func(c *Config) { c.Ingest.ChainID = 0 }, []string{"ingest.chain_id"}},
		{"rpc url not http", func(c *Config) { c.Ingest.RPCURLs = []string{"http://a:8545", "ws://b:8546"} }, []string{"ingest.rpc_urls[1]"}},
		{"rpc url without host", func(c *Config) { c.Ingest.RPCURLs = []string{"http://"} }, []string{"ingest.rpc_urls[0]"}},
		{"max block range zero", func(c *Config) { c.Ingest.MaxBlockRange = 0 }, []string{"ingest.max_block_range"}},
		{"reorg window zero", func(c *Config) { c.Ingest.ReorgWindow = 0 }, []string{"ingest.reorg_window"}},
		{"reorder window zero", func(c *Config) { c.Ingest.ReorderWindowBlocks = 0 }, []string{"ingest.reorder_window_blocks"}},
		{"price skew zero", func(c *Config) { c.Prices.MaxFutureSkew = 0 }, []string{"prices.max_future_skew"}},
		{"confirmations absurd", func(c *Config) { c.Ingest.Confirmations = 1 << 20 }, []string{"ingest.confirmations"}},
		{"poll interval zero", func(c *Config) { c.Ingest.PollInterval = 0 }, []string{"ingest.poll_interval"}},
		{"contract name empty", func(c *Config) { c.Ingest.Contracts[1].Name = "" }, []string{"ingest.contracts[1].name"}},
		{"contract name duplicate", func(c *Config) { c.Ingest.Contracts[2].Name = "vault" }, []string{"ingest.contracts[2].name"}},
		{"contract kind unknown", func(c *Config) { c.Ingest.Contracts[1].Kind = "token" }, []string{"ingest.contracts[1].kind"}},
		{"contract address short", func(c *Config) { c.Ingest.Contracts[1].Address = "0x1234" }, []string{"ingest.contracts[1].address"}},
		{"contract address without 0x", func(c *Config) {
			c.Ingest.Contracts[1].Address = "8505c32631034a7ce8800239c08547e0434edad9aa"
		}, []string{"ingest.contracts[1].address"}},
		{"contract address not hex", func(c *Config) {
			c.Ingest.Contracts[1].Address = "0x" + strings.Repeat("g", 40)
		}, []string{"ingest.contracts[1].address"}},
		{"contract address duplicate in another case", func(c *Config) {
			twoContracts(c, vault, ingest.Contract{Name: "oracle", Kind: "oracle", Address: "0x" + strings.ToUpper(vault.Address[2:])})
		}, []string{"ingest.contracts[1].address"}},
		{"token name invalid", func(c *Config) { c.Auth.Tokens = []Token{token("a b", "viewer", tokenHash)} }, []string{"auth.tokens[0].name"}},
		{"token name duplicate", func(c *Config) {
			c.Auth.Tokens = []Token{token("ops", "viewer", tokenHash), token("ops", "admin", strings.Repeat("ab", 32))}
		}, []string{"auth.tokens[1].name"}},
		{"token role unknown", func(c *Config) { c.Auth.Tokens = []Token{token("ops", "root", tokenHash)} }, []string{"auth.tokens[0].role"}},
		{"token role empty", func(c *Config) { c.Auth.Tokens = []Token{token("ops", "", tokenHash)} }, []string{"auth.tokens[0].role"}},
		{"token sha256 is the token itself", func(c *Config) { c.Auth.Tokens = []Token{token("ops", "admin", "pmn_secret")} }, []string{"auth.tokens[0].sha256"}},
		{"token sha256 too short", func(c *Config) { c.Auth.Tokens = []Token{token("ops", "admin", tokenHash[:62])} }, []string{"auth.tokens[0].sha256"}},
		{"token sha256 duplicate in another case", func(c *Config) {
			c.Auth.Tokens = []Token{token("a", "viewer", tokenHash), token("b", "admin", strings.ToUpper(tokenHash))}
		}, []string{"auth.tokens[1].sha256"}},
		{"auth service empty", func(c *Config) { c.Auth.Service = "" }, []string{"auth.service"}},
		{"auth service on two lines", func(c *Config) { c.Auth.Service = "a\nChain ID: 1" }, []string{"auth.service"}},
		{"nonce ttl too long", func(c *Config) { c.Auth.NonceTTL = time.Duration(time.Hour) }, []string{"auth.nonce_ttl"}},
		{"session ttl too short", func(c *Config) { c.Auth.SessionTTL = time.Duration(time.Second) }, []string{"auth.session_ttl", "auth.session_extend_after"}},
		{"extend after the session ends", func(c *Config) { c.Auth.SessionExtendAfter = time.Duration(time.Hour) }, []string{"auth.session_extend_after"}},
		{"wallet address invalid", func(c *Config) { c.Auth.Wallets = []Wallet{{Address: "0x12", Role: "admin"}} }, []string{"auth.wallets[0].address"}},
		{"wallet listed twice", func(c *Config) {
			c.Auth.Wallets = []Wallet{{Address: "0x00000000000000000000000000000000000000a1", Role: "admin"}, {Address: "0x00000000000000000000000000000000000000A1", Role: "viewer"}}
		}, []string{"auth.wallets[1].address"}},
		{"wallet role unknown", func(c *Config) {
			c.Auth.Wallets = []Wallet{{Address: "0x00000000000000000000000000000000000000a1", Role: "root"}}
		}, []string{"auth.wallets[0].role"}},
		{"log level unknown", func(c *Config) { c.Log.Level = "trace" }, []string{"log.level"}},
		{"log format unknown", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format"}},
		{"alert webhook not http", func(c *Config) {
			c.Alerts.Webhooks = []alerts.Webhook{{Name: "a", URL: "file:///etc/passwd", Secret: secret}}
		}, []string{"alerts.webhooks[0].url"}},
		{"alert webhook format and severity", func(c *Config) {
			c.Alerts.Webhooks = []alerts.Webhook{{Name: "a", URL: "https://h/x", Secret: secret, Format: "teams", MinSeverity: "loud"}}
		}, []string{"alerts.webhooks[0].format", "alerts.webhooks[0].min_severity"}},
		{"alert backoff bounds", func(c *Config) { c.Alerts.MaxBackoff = c.Alerts.MinBackoff - 1 }, []string{"alerts.max_backoff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem with %v", tt.keys)
			}
			if got := problemKeys(t, err); !reflect.DeepEqual(got, tt.keys) {
				t.Fatalf("Validate() = %v\nproblem keys %q, want %q", err, got, tt.keys)
			}
			if !strings.Contains(err.Error(), tt.keys[0]+": ") {
				t.Fatalf("error %q does not name %s", err, tt.keys[0])
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"http on all interfaces", func(c *Config) { c.HTTP.Addr = ":8080" }},
		{"http on a name", func(c *Config) { c.HTTP.Addr = "localhost:8080" }},
		{"max body bounds", func(c *Config) { c.HTTP.MaxBodyBytes = 1024 }},
		{"max body upper bound", func(c *Config) { c.HTTP.MaxBodyBytes = 64 << 20 }},
		{"raft on all interfaces with advertise", func(c *Config) {
			c.Raft.BindAddr = "0.0.0.0:7000"
			c.Raft.Advertise = "10.0.0.1:7000"
		}},
		{"lease equal to heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = c.Raft.HeartbeatTimeout }},
		{"max append entries bounds", func(c *Config) { c.Raft.MaxAppendEntries = 1024 }},
		{"three-node cluster", func(c *Config) {
			c.Cluster.Join = []string{"edge-1:8080", "edge-2:8080", "[fd00::3]:8080"}
			c.Cluster.BootstrapExpect = 3
			c.Cluster.Secret = "0123456789abcdef"
		}},
		{"bootstrap expect zero", func(c *Config) { c.Cluster.BootstrapExpect = 0 }},
		{"no contracts", func(c *Config) { c.Ingest.Contracts = nil }},
		{"checksummed address", func(c *Config) { c.Ingest.Contracts[0].Address = "0x8505C32631034A7CE8800239C08547E0434EDAD9" }},
		{"tokens of every role", func(c *Config) {
			c.Auth.Tokens = []Token{
				{Name: "viewer", Role: "viewer", SHA256: tokenHash},
				{Name: "op.1", Role: "operator", SHA256: strings.Repeat("ab", 32)},
				{Name: "admin_1", Role: "admin", SHA256: strings.Repeat("CD", 32)},
			}
		}},
		{"json debug log", func(c *Config) { c.Log = Log{Level: "debug", Format: "json"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Node.ID = ""
	c.HTTP.MaxBodyBytes = 0
	c.Ingest.Contracts[1].Address = "0x"
	c.Log.Format = "xml"
	want := []string{"node.id", "http.max_body_bytes", "ingest.contracts[1].address", "log.format"}
	if got := problemKeys(t, c.Validate()); !reflect.DeepEqual(got, want) {
		t.Fatalf("problem keys %q, want %q", got, want)
	}
}

func TestRaftAdvertise(t *testing.T) {
	c := Default()
	if got := c.RaftAdvertise(); got != c.Raft.BindAddr {
		t.Fatalf("RaftAdvertise() = %q, want raft.addr %q when advertise is empty", got, c.Raft.BindAddr)
	}
	c.Raft.Advertise = "edge-1:7000"
	if got := c.RaftAdvertise(); got != "edge-1:7000" {
		t.Fatalf("RaftAdvertise() = %q, want raft.advertise", got)
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"nothing set", nil, func(*Config) {}},
		{"string", map[string]string{"PAIMON_HTTP_ADDR": "0.0.0.0:9000"}, func(c *Config) { c.HTTP.Addr = "0.0.0.0:9000" }},
		{"list", map[string]string{"PAIMON_CLUSTER_JOIN": " edge-1:8080,edge-2:8080 ,, edge-3:8080"}, func(c *Config) {
			c.Cluster.Join = []string{"edge-1:8080", "edge-2:8080", "edge-3:8080"}
		}},
		{"empty list", map[string]string{"PAIMON_CLUSTER_JOIN": ""}, func(c *Config) { c.Cluster.Join = nil }},
		{"duration", map[string]string{"PAIMON_RAFT_APPLY_TIMEOUT": "1m30s"}, func(c *Config) { c.Raft.ApplyTimeout = time.Duration(90 * time.Second) }},
		{"int", map[string]string{"PAIMON_HTTP_MAX_BODY_BYTES": "2048"}, func(c *Config) { c.HTTP.MaxBodyBytes = 2048 }},
		{"uint64", map[string]string{"PAIMON_INGEST_CHAIN_ID": "97"}, func(c *Config) { c.Ingest.ChainID = 97 }},
		{"bool", map[string]string{"PAIMON_PUSH_ENABLED": "false"}, func(c *Config) { c.Push.Enabled = false }},
		{"several", map[string]string{
			"PAIMON_NODE_ID":            "edge-3",
			"PAIMON_CLUSTER_SECRET":     "0123456789abcdef",
			"PAIMON_LOG_FORMAT":         "json",
			"PAIMON_CACHE_SIZE_MIB":     "128",
			"PAIMON_RAFT_TRAILING_LOGS": "5",
		}, func(c *Config) {
			c.Node.ID = "edge-3"
			c.Cluster.Secret = "0123456789abcdef"
			c.Log.Format = "json"
			c.Cache.SizeMiB = 128
			c.Raft.TrailingLogs = 5
		}},
		{"other variables are ignored", map[string]string{"PAIMON_HTTP_ADR": "x", "HTTP_ADDR": "x", "paimon_http_addr": "x"}, func(*Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Default()
			if err := got.ApplyEnv(lookupIn(tt.env)); err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ApplyEnv(%v):\n got %+v\nwant %+v", tt.env, got, want)
			}
		})
	}
}

func TestApplyEnvRefuses(t *testing.T) {
	tests := []struct {
		name, variable, value, text string
	}{
		{"bad int", "PAIMON_HTTP_MAX_BODY_BYTES", "1MB", "not an integer"},
		{"bad uint", "PAIMON_INGEST_CHAIN_ID", "-56", "not an unsigned integer"},
		{"bad bool", "PAIMON_PUSH_ENABLED", "yes", "not true or false"},
		{"duration without unit", "PAIMON_RAFT_APPLY_TIMEOUT", "10", "duration"},
		{"duration in words", "PAIMON_CACHE_NAV_TTL", "five minutes", "duration"},
		{"table", "PAIMON_AUTH_TOKENS", "ops", "cannot be set from the environment"},
		{"array of tables", "PAIMON_INGEST_CONTRACTS", "vault", "cannot be set from the environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := c.ApplyEnv(lookupIn(map[string]string{tt.variable: tt.value}))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ApplyEnv(%s=%s) = %v, want ErrInvalid", tt.variable, tt.value, err)
			}
			if !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %q does not name %s and say %q", err, tt.variable, tt.text)
			}
		})
	}
}

// TestApplyEnvNames checks that every key of the schema is looked up under its documented
// variable name and nothing else is.
func TestApplyEnvNames(t *testing.T) {
	looked := map[string]bool{}
	if err := Default().ApplyEnv(func(name string) (string, bool) {
		looked[name] = true
		return "", false
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range schemaKeys(reflect.TypeOf(Config{}), "") {
		if strings.Count(k, ".") == 1 { // section.key; keys inside arrays of tables have no variable
			want[EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
		}
	}
	if !reflect.DeepEqual(looked, want) {
		t.Fatalf("ApplyEnv looked up %v\nwant %v", keysOf(looked), keysOf(want))
	}
	for _, name := range []string{"PAIMON_HTTP_ADDR", "PAIMON_CLUSTER_JOIN", "PAIMON_RAFT_APPLY_TIMEOUT"} {
		if !looked[name] {
			t.Errorf("ApplyEnv did not look up %s", name)
		}
	}
}

func TestFlagsApply(t *testing.T) {
	// file is what a config file set before the flags are applied.
	file := func() *Config {
		c := Default()
		c.Node.ID = "from-file"
		c.HTTP.Addr = "10.0.0.1:8080"
		c.Cluster.Join = []string{"edge-1:8080", "edge-2:8080"}
		c.Cluster.BootstrapExpect = 3
		c.Cluster.Secret = "file-secret-0123456789"
		c.Postgres.DSN = "postgres://file"
		c.Log.Level = "warn"
		return c
	}
	tests := []struct {
		name string
		args []string
		want func(*Config)
	}{
		{"no flags keep the file", nil, func(*Config) {}},
		{"only the given flag", []string{"-http-addr", "127.0.0.1:9999"}, func(c *Config) { c.HTTP.Addr = "127.0.0.1:9999" }},
		{"explicit zero overrides", []string{"-bootstrap-expect=0"}, func(c *Config) { c.Cluster.BootstrapExpect = 0 }},
		{"explicit empty overrides", []string{"-join="}, func(c *Config) { c.Cluster.Join = nil }},
		{"list", []string{"-join", "a:1, b:2,"}, func(c *Config) { c.Cluster.Join = []string{"a:1", "b:2"} }},
		{"every flag", []string{
			"-node-id", "edge-7", "-data-dir", "/srv/paimon", "-http-addr", ":80",
			"-raft-addr", "0.0.0.0:7000", "-raft-advertise", "edge-7:7000", "-join", "edge-7:80",
			"-bootstrap-expect", "1", "-cluster-secret", "flag-secret-0123456789",
			"-postgres-dsn", "postgres://flag", "-log-level", "debug",
		}, func(c *Config) {
			c.Node = Node{ID: "edge-7", DataDir: "/srv/paimon"}
			c.HTTP.Addr = ":80"
			c.Raft.BindAddr = "0.0.0.0:7000"
			c.Raft.Advertise = "edge-7:7000"
			c.Cluster = Cluster{Join: []string{"edge-7:80"}, BootstrapExpect: 1, Secret: "flag-secret-0123456789"}
			c.Postgres.DSN = "postgres://flag"
			c.Log.Level = "debug"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			other := fs.String("config", "", "not an override")
			f := RegisterFlags(fs)
			if err := fs.Parse(append([]string{"-config", "x.toml"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			got := file()
			f.Apply(got)
			want := file()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Apply(%q):\n got %+v\nwant %+v", tt.args, got, want)
			}
			if *other != "x.toml" {
				t.Fatalf("-config = %q: the flag set was not parsed", *other)
			}
		})
	}
}

func TestFlagsDocumentTheirKey(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	RegisterFlags(fs)
	keys := map[string]bool{}
	for _, k := range schemaKeys(reflect.TypeOf(Config{}), "") {
		keys[k] = true
	}
	n := 0
	fs.VisitAll(func(fl *flag.Flag) {
		n++
		lp, rp := strings.LastIndex(fl.Usage, "("), strings.LastIndex(fl.Usage, ")")
		if lp < 0 || rp < lp || !keys[fl.Usage[lp+1:rp]] {
			t.Errorf("flag -%s: usage %q does not end with the config key it overrides", fl.Name, fl.Usage)
		}
	})
	if n != 10 {
		t.Errorf("%d flags registered, want 10", n)
	}
}

func TestParseRoundTrip(t *testing.T) {
	c := Default()
	c.Cluster.Join = []string{"edge-1:8080"}
	c.Auth.Tokens = []Token{{Name: "ops", Role: "admin", SHA256: tokenHash}}
	c.Fund.Name = "Fund with \"quotes\", 'apostrophes' and a \\ backslash\n"
	c.Raft.ApplyTimeout = time.Duration(1500*time.Millisecond + 7)
	roundTrip(t, c)
}

// roundTrip encodes c with go-toml, parses it back and asserts equality (lists compared with
// nil and empty as equal, see normalize).
func roundTrip(t testing.TB, c *Config) {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatalf("Encode(%+v): %v", c, err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse of the re-encoded config: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(normalize(back), normalize(c)) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v\nencoded:\n%s", back, c, b)
	}
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// schemaKeys returns the dotted TOML key of every field under t: "http.addr",
// "ingest.contracts", "ingest.contracts.name" (keys of array-of-table entries follow the
// array's key).
func schemaKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType && ft != timeDurationType:
			out = append(out, schemaKeys(ft, key)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, key)
			out = append(out, schemaKeys(ft.Elem(), key)...)
		default:
			out = append(out, key)
		}
	}
	return out
}

// parseSeeds are documents for the fuzz targets that parse configurations (FuzzParse,
// FuzzReload), each section's keys with good and bad values.
var parseSeeds = []string{
	"",
	"[node]\nid = \"edge-1\"\ndata_dir = \"/var/lib/paimon\"\n",
	"[fund]\nid = \"f\"\nname = \"Fund \\\"quoted\\\" \\u00e9\"\nsymbol = 'PPT'\n",
	"[http]\naddr = \":8080\"\nmax_body_bytes = 4096\nread_timeout = \"1.5s\"\nconcurrency = 10\n",
	"[read]\nmax_staleness = \"250ms\"\n",
	"[raft]\naddr = \"0.0.0.0:7000\"\nadvertise = \"edge-1:7000\"\napply_timeout = \"1h2m3.000000004s\"\nsnapshot_threshold = 1\n",
	"[raft]\napply_timeout = 10\n",
	"[cache]\nsize_mib = 1\nnav_ttl = \"5m\"\n",
	"[cluster]\njoin = [\"a:1\", \"b:2\", \"c:3\"]\nbootstrap_expect = 3\nsecret = \"0123456789abcdef\"\n",
	"[postgres]\ndsn = \"postgres://u:p@h:5432/db?sslmode=disable\"\n",
	"[ingest]\nchain_id = 97\n[[ingest.contracts]]\nname = \"v\"\nkind = \"vault\"\naddress = \"0x8505c32631034a7ce8800239c08547e0434edad9\"\nabi_file = \"v.json\"\n",
	"[ingest]\ncontracts = []\n",
	"[push]\nenabled = false\n",
	"[alerts]\nmin_backoff = \"250ms\"\nmax_backoff = \"5m\"\nattempt_timeout = \"3s\"\npage_size = 10\nmax_age = \"1h\"\n[[alerts.webhooks]]\nname = \"ops\"\nurl = \"https://hooks.example.com/a?b=c\"\nsecret = \"0123456789abcdef\"\nmin_severity = \"high\"\n",
	"[[alerts.webhooks]]\nname = \"pd\"\nurl = \"http://127.0.0.1:9/\"\nformat = \"pagerduty\"\nrouting_key = \"k\"\n[[alerts.webhooks]]\nname = \"s\"\nurl = \"https://hooks.slack.com/x\"\nformat = \"slack\"\n",
	"[[alerts.webhooks]]\nname = \"bad\"\nurl = \"ftp://x\"\nformat = \"Slack\"\nmin_severity = 3\n",
	"[alerts]\nwebhooks = []\nmax_age = 60\n",
	"[risk]\nl1_ratio_warn = 1200\nl1_ratio_critical = 600\nl1_ratio_hysteresis = 25\nredemption_coverage_warn = 15000\noverdue_redemptions_warn = 2\n",
	"[risk]\nnav_drift_bps_warn = 300\nnav_drift_bps_critical = 200\npending_approvals_hysteresis = -1\nmax_asset_concentration_critical = 10001\n",
	"[risk]\nl1l2_ratio_warn = 0x10\noracle_staleness_seconds_warn = 1_000\ndaily_redemption_rate_warn = \"5%\"\n",
	"[ratelimit]\nenabled = true\nlogin_rate = 0.5\nread_rate = 1e3\nread_burst = 1\nfailed_login_window = \"1h\"\nmax_clients = 64\n",
	"[[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"" + tokenHash + "\"\n",
	"[auth]\nservice = \"Paimon Prime\"\nnonce_ttl = \"2m\"\nsession_ttl = \"1h\"\nsession_extend_after = \"10m\"\n[[auth.wallets]]\naddress = \"0x00000000000000000000000000000000000000A1\"\nrole = \"admin\"\n",
	"[auth]\nsession_ttl = \"1s\"\n[[auth.wallets]]\naddress = \"0x12\"\nrole = \"root\"\n",
	"[log]\nlevel = \"debug\"\nformat = \"json\"\n",
	"[raft]\nadress = \"x\"\n",
	"http.addr = \"127.0.0.1:1\"\nlog = {level = \"warn\"}\n",
	"[http]\ntls_cert_file = \"/etc/paimon/tls.crt\"\ntls_key_file = \"/etc/paimon/tls.key\"\n[log]\nlevel = \"warn\"\n",
}

// FuzzParse checks that Parse never panics, that every error it returns wraps ErrInvalid, and
// that a document that parses and validates round-trips: re-encoded with toml.Marshal and
// parsed again it gives an equal Config. The one weakening: nil and empty lists compare equal
// (see normalize), because toml.Marshal writes a nil list as `[]`, which decodes as empty.
//
// Fuzz with -fuzzminimizetime 0 (e.g. -fuzz FuzzParse -fuzztime 5s -fuzzminimizetime 0):
// minimizing each new input grown from the 5 KB example seed otherwise stalls the workers.
func FuzzParse(f *testing.F) {
	f.Add(readExample(f))
	for _, seed := range parseSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if c != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want nil and an error wrapping ErrInvalid", c, err)
			}
			return
		}
		if c.Validate() != nil {
			return
		}
		roundTrip(t, c)
	})
}
