package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"paimon/risk"
)

// TestParseRisk: a [risk] section parses onto risk.Config over the defaults, and thresholds
// that make no sense are refused by the loader's Validate naming the key.
func TestParseRisk(t *testing.T) {
	c, err := Parse([]byte("[risk]\nl1_ratio_warn = 1200\nl1_ratio_critical = 600\nnav_drift_bps_warn = 25\npending_approvals_hysteresis = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := risk.DefaultConfig()
	want.L1RatioWarn, want.L1RatioCritical, want.NavDriftBpsWarn, want.PendingApprovalsHysteresis = 1200, 600, 25, 0
	if c.Risk != want {
		t.Fatalf("risk = %+v, want %+v", c.Risk, want)
	}
	for _, tt := range []struct {
		doc, key string
	}{
		{"[risk]\nl1_ratio_warn = 300\nl1_ratio_critical = 600\n", "risk.l1_ratio_warn"},
		{"[risk]\nnav_drift_bps_warn = 500\n", "risk.nav_drift_bps_warn"},
		{"[risk]\nmax_asset_concentration_critical = 12000\n", "risk.max_asset_concentration_critical"},
		{"[risk]\noverdue_redemptions_critical = -1\n", "risk.overdue_redemptions_critical"},
		{"[risk]\nredemption_coverage_hysteresis = -5\n", "risk.redemption_coverage_hysteresis"},
		{"[risk]\nl1l2_ratio_warn = 4000\n", "risk.l1l2_ratio_warn"},
	} {
		c, err := Parse([]byte(tt.doc))
		if err != nil {
			t.Fatalf("%q: %v", tt.doc, err)
		}
		err = c.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.key+": ") {
			t.Errorf("%q: Validate = %v, want %s refused", tt.doc, err, tt.key)
		}
	}
	// Not a number, or an unknown key, fails at parse time.
	for _, doc := range []string{"[risk]\nl1_ratio_warn = \"10%\"\n", "[risk]\nl1_ratio = 5\n", "[risk]\nnav_drift_bps_warn = 1.5\n"} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: Parse = %v", doc, err)
		}
	}
}

// TestLoadRefusesBadRisk goes through the file loader as serve does: Load, then Validate.
func TestLoadRefusesBadRisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paimon.toml")
	if err := os.WriteFile(path, []byte("[risk]\npending_approvals_warn = 30\npending_approvals_critical = 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "risk.pending_approvals_warn: 30 is above risk.pending_approvals_critical 20") {
		t.Fatalf("Validate = %v", err)
	}
}
