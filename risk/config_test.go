package risk

import (
	"strings"
	"testing"
)

func TestDefaultConfigValidates(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Thresholds() != DefaultThresholds() {
		t.Fatal("DefaultConfig and DefaultThresholds differ")
	}
}

func TestConfigRoundTrip(t *testing.T) {
	th := DefaultThresholds()
	for i := range NumIndicators {
		th[i] = Threshold{Warn: int64(i) + 1, Critical: int64(i) + 2, Hysteresis: int64(i) + 3}
	}
	c := ConfigOf(th)
	if c.Thresholds() != th {
		t.Fatalf("ConfigOf(%v).Thresholds() = %v", th, c.Thresholds())
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string // the key the (only) problem names
		text   string
	}{
		{"negative warn", func(c *Config) { c.NavDriftBpsWarn = -1 }, "risk.nav_drift_bps_warn", "negative"},
		{"negative critical", func(c *Config) { c.PendingApprovalsCritical = -3 }, "risk.pending_approvals_critical", "negative"},
		{"negative hysteresis", func(c *Config) { c.RedemptionCoverageHysteresis = -1 }, "risk.redemption_coverage_hysteresis", "negative"},
		{"ratio over 10000 bps", func(c *Config) { c.MaxAssetConcentrationCritical = 10001 }, "risk.max_asset_concentration_critical", "over 10000 bps"},
		{"l1 ratio over 10000 bps", func(c *Config) { c.L1RatioWarn, c.L1RatioCritical = 12000, 500 }, "risk.l1_ratio_warn", "over 10000 bps"},
		{"daily rate over 10000 bps", func(c *Config) { c.DailyRedemptionRateWarn = 20000 }, "risk.daily_redemption_rate_warn", "over 10000"},
		{"staleness over a year", func(c *Config) { c.OracleStalenessSecondsCritical = 400 * 86400 }, "risk.oracle_staleness_seconds_critical", "seconds"},
		{"coverage over 100x", func(c *Config) { c.RedemptionCoverageWarn = 2_000_000 }, "risk.redemption_coverage_warn", "over"},
		{"higher-is-worse warn above critical", func(c *Config) { c.NavDriftBpsWarn = 300 }, "risk.nav_drift_bps_warn", "warn <= critical"},
		{"counts warn above critical", func(c *Config) { c.OverdueRedemptionsWarn = 11 }, "risk.overdue_redemptions_warn", "warn <= critical"},
		{"lower-is-worse warn below critical", func(c *Config) { c.RedemptionCoverageWarn = 5000 }, "risk.redemption_coverage_warn", "warn >= critical"},
		{"l1 warn below critical", func(c *Config) { c.L1RatioWarn, c.L1RatioCritical = 300, 500 }, "risk.l1_ratio_warn", "warn >= critical"},
		{"l1 band half set", func(c *Config) { c.L1RatioWarn = 800 }, "risk.l1_ratio_warn", "both 0"},
		{"l1l2 band half set", func(c *Config) { c.L1L2RatioCritical = 800 }, "risk.l1l2_ratio_warn", "both 0"},
		{"hysteresis that never clears", func(c *Config) { c.PendingApprovalsHysteresis = 6 }, "risk.pending_approvals_hysteresis", "never clear"},
		{"ratio hysteresis past 10000", func(c *Config) { c.L1RatioWarn, c.L1RatioCritical, c.L1RatioHysteresis = 9000, 500, 1001 }, "risk.l1_ratio_hysteresis", "never clear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			msgs := strings.Split(err.Error(), "\n")
			if len(msgs) != 1 {
				t.Fatalf("want one problem, got %q", err)
			}
			if !strings.HasPrefix(msgs[0], tt.key+": ") || !strings.Contains(msgs[0], tt.text) {
				t.Fatalf("error %q, want %s: ...%s...", msgs[0], tt.key, tt.text)
			}
			// The replicated form names the key without the section.
			th := c.Thresholds()
			if err := th.Check(); err == nil || !strings.HasPrefix(err.Error(), strings.TrimPrefix(tt.key, "risk.")+": ") {
				t.Fatalf("Check = %v", err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"all zero higher-is-worse": func(c *Config) {
			c.PendingApprovalsWarn, c.PendingApprovalsCritical, c.PendingApprovalsHysteresis = 0, 0, 0
		},
		"coverage off":            func(c *Config) { c.RedemptionCoverageWarn, c.RedemptionCoverageCritical = 0, 0 },
		"coverage warning only":   func(c *Config) { c.RedemptionCoverageCritical = 0 },
		"l1 configured":           func(c *Config) { c.L1RatioWarn, c.L1RatioCritical = 1000, 500 },
		"equal warn and critical": func(c *Config) { c.NavDriftBpsWarn, c.NavDriftBpsCritical = 100, 100 },
		"ratios at 10000": func(c *Config) {
			c.MaxAssetConcentrationWarn, c.MaxAssetConcentrationCritical, c.MaxAssetConcentrationHysteresis = 10000, 10000, 0
		},
		"hysteresis equal to warn":      func(c *Config) { c.PendingApprovalsHysteresis = 5 },
		"coverage above 10000 bps (2x)": func(c *Config) { c.RedemptionCoverageWarn = 30000 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.L1RatioWarn = -1
	c.NavDriftBpsWarn = 999
	c.OverdueRedemptionsCritical = -2
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, k := range []string{"risk.l1_ratio_warn", "risk.nav_drift_bps_warn", "risk.overdue_redemptions_critical"} {
		if !strings.Contains(err.Error(), k+": ") {
			t.Errorf("%q does not name %s", err, k)
		}
	}
}

func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for i := range NumIndicators {
		if i.Name() == "" || i.Key() == "" || seen[i.Name()] || seen[i.Key()] {
			t.Fatalf("indicator %d: name %q key %q", i, i.Name(), i.Key())
		}
		seen[i.Name()], seen[i.Key()] = true, true
	}
	if NumIndicators.Name() != "unknown" || Status(9).String() != "UNKNOWN" || Level(9).String() != "UNKNOWN" {
		t.Fatal("out of range names")
	}
}
