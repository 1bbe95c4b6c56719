package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRateLimitParse: the [ratelimit] section decodes over the defaults, and a budget turned
// off (rate 0) or the whole section off validates.
func TestRateLimitParse(t *testing.T) {
	c, err := Parse([]byte(`[ratelimit]
enabled = false
login_rate = 0.5
read_rate = 2000
read_burst = 4000
write_rate = 0
failed_login_per_address = 0
failed_login_window = "1h"
max_clients = 5000
idle_evict = "30s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := Default().RateLimit
	want.Enabled, want.LoginRate, want.ReadRate, want.ReadBurst, want.WriteRate = false, 0.5, 2000, 4000, 0
	want.FailedLoginPerAddress, want.FailedLoginWindow = 0, time.Duration(time.Hour)
	want.MaxClients, want.IdleEvict = 5000, time.Duration(30*time.Second)
	if !reflect.DeepEqual(c.RateLimit, want) {
		t.Fatalf("ratelimit = %+v\nwant %+v", c.RateLimit, want)
	}
	for _, doc := range []string{"[ratelimit]\nread_rate = \"fast\"\n", "[ratelimit]\nidle_evict = 600\n", "[ratelimit]\nburst = 5\n"} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) = nil error", doc)
		}
	}
}

// TestRateLimitValidate: every [ratelimit] key is checked and named.
func TestRateLimitValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*RateLimit)
		keys   []string
	}{
		{"negative login rate", func(r *RateLimit) { r.LoginRate = -1 }, []string{"ratelimit.login_rate"}},
		{"NaN read rate", func(r *RateLimit) { r.ReadRate = math.NaN() }, []string{"ratelimit.read_rate"}},
		{"infinite write rate", func(r *RateLimit) { r.WriteRate = math.Inf(1) }, []string{"ratelimit.write_rate"}},
		{"zero login burst", func(r *RateLimit) { r.LoginBurst = 0 }, []string{"ratelimit.login_burst"}},
		{"zero read burst with reads off", func(r *RateLimit) { r.ReadRate, r.ReadBurst = 0, 0 }, []string{"ratelimit.read_burst"}},
		{"huge write burst", func(r *RateLimit) { r.WriteBurst = 1e6 + 1 }, []string{"ratelimit.write_burst"}},
		{"negative failures per address", func(r *RateLimit) { r.FailedLoginPerAddress = -1 }, []string{"ratelimit.failed_login_per_address"}},
		{"negative failures per ip", func(r *RateLimit) { r.FailedLoginPerIP = -1 }, []string{"ratelimit.failed_login_per_ip"}},
		{"zero window", func(r *RateLimit) { r.FailedLoginWindow = 0 }, []string{"ratelimit.failed_login_window"}},
		{"too few clients", func(r *RateLimit) { r.MaxClients = 63 }, []string{"ratelimit.max_clients"}},
		{"zero idle evict", func(r *RateLimit) { r.IdleEvict = 0 }, []string{"ratelimit.idle_evict"}},
		{"every problem", func(r *RateLimit) { r.ReadRate, r.MaxClients = -1, 0 }, []string{"ratelimit.read_rate", "ratelimit.max_clients"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c.RateLimit)
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
	c := Default()
	c.RateLimit.LoginRate, c.RateLimit.WriteRate, c.RateLimit.FailedLoginPerIP = 0, 1e6, 0
	if err := c.Validate(); err != nil {
		t.Fatalf("budgets off and at the bound: %v", err)
	}
}

// TestRateLimitEnv: the section takes PAIMON_RATELIMIT_* overrides like every other.
func TestRateLimitEnv(t *testing.T) {
	env := map[string]string{"PAIMON_RATELIMIT_ENABLED": "false", "PAIMON_RATELIMIT_READ_RATE": "250.5", "PAIMON_RATELIMIT_IDLE_EVICT": "1m"}
	c := Default()
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.RateLimit.Enabled || c.RateLimit.ReadRate != 250.5 || c.RateLimit.IdleEvict != time.Duration(time.Minute) {
		t.Fatalf("ratelimit after env = %+v", c.RateLimit)
	}
}
