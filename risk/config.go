package risk

import (
	"errors"
	"fmt"
)

// Config is the [risk] section: the warn and critical thresholds of each indicator and its
// hysteresis, in the indicator's unit (basis points, seconds or a count). Zero fields are not
// defaults: start from DefaultConfig.
//
// For a higher-is-worse indicator a status is entered when the value is above its threshold
// (warn <= critical); for a lower-is-worse one (l1_ratio, l1l2_ratio, redemption_coverage) when
// it is below (warn >= critical; 0 turns that status off). A status is left only once the
// value is back past the threshold by the hysteresis (see Evaluate).
//
// l1_ratio and l1l2_ratio with warn and critical both 0 (the default) follow the fund's bands
// as the chain sets them (LayerConfigUpdated): warn at the L1 minRatio (for l1l2 the L1 plus
// L2 minRatio), critical at half of it.
//
// The state machine applies the thresholds the leader replicated (CmdRiskThresholds), never a
// node's own: a node whose [risk] differs from the leader's evaluates with the leader's.
type Config struct {
	L1RatioWarn       int64 `toml:"l1_ratio_warn"`
	L1RatioCritical   int64 `toml:"l1_ratio_critical"`
	L1RatioHysteresis int64 `toml:"l1_ratio_hysteresis"`

	L1L2RatioWarn       int64 `toml:"l1l2_ratio_warn"`
	L1L2RatioCritical   int64 `toml:"l1l2_ratio_critical"`
	L1L2RatioHysteresis int64 `toml:"l1l2_ratio_hysteresis"`

	RedemptionCoverageWarn       int64 `toml:"redemption_coverage_warn"`
	RedemptionCoverageCritical   int64 `toml:"redemption_coverage_critical"`
	RedemptionCoverageHysteresis int64 `toml:"redemption_coverage_hysteresis"`

	MaxAssetConcentrationWarn       int64 `toml:"max_asset_concentration_warn"`
	MaxAssetConcentrationCritical   int64 `toml:"max_asset_concentration_critical"`
	MaxAssetConcentrationHysteresis int64 `toml:"max_asset_concentration_hysteresis"`

	DailyRedemptionRateWarn       int64 `toml:"daily_redemption_rate_warn"`
	DailyRedemptionRateCritical   int64 `toml:"daily_redemption_rate_critical"`
	DailyRedemptionRateHysteresis int64 `toml:"daily_redemption_rate_hysteresis"`

	NavDriftBpsWarn       int64 `toml:"nav_drift_bps_warn"`
	NavDriftBpsCritical   int64 `toml:"nav_drift_bps_critical"`
	NavDriftBpsHysteresis int64 `toml:"nav_drift_bps_hysteresis"`

	OracleStalenessSecondsWarn       int64 `toml:"oracle_staleness_seconds_warn"`
	OracleStalenessSecondsCritical   int64 `toml:"oracle_staleness_seconds_critical"`
	OracleStalenessSecondsHysteresis int64 `toml:"oracle_staleness_seconds_hysteresis"`

	PendingApprovalsWarn       int64 `toml:"pending_approvals_warn"`
	PendingApprovalsCritical   int64 `toml:"pending_approvals_critical"`
	PendingApprovalsHysteresis int64 `toml:"pending_approvals_hysteresis"`

	OverdueRedemptionsWarn       int64 `toml:"overdue_redemptions_warn"`
	OverdueRedemptionsCritical   int64 `toml:"overdue_redemptions_critical"`
	OverdueRedemptionsHysteresis int64 `toml:"overdue_redemptions_hysteresis"`
}

// DefaultConfig returns the defaults documented in config.example.toml and DESIGN.md.
func DefaultConfig() Config {
	return ConfigOf(DefaultThresholds())
}

// DefaultThresholds are the default thresholds, what the state machine uses until the leader
// replicates a configured set.
func DefaultThresholds() Thresholds {
	var t Thresholds
	t[L1Ratio] = Threshold{Warn: 0, Critical: 0, Hysteresis: 50}   // from the L1 band
	t[L1L2Ratio] = Threshold{Warn: 0, Critical: 0, Hysteresis: 50} // from the L1 and L2 bands
	t[RedemptionCoverage] = Threshold{Warn: 20_000, Critical: 10_000, Hysteresis: 500}
	t[MaxAssetConcentration] = Threshold{Warn: 5_000, Critical: 7_500, Hysteresis: 100}
	t[DailyRedemptionRate] = Threshold{Warn: 500, Critical: 1_000, Hysteresis: 50}
	t[NavDriftBps] = Threshold{Warn: 50, Critical: 200, Hysteresis: 10}
	t[OracleStalenessSeconds] = Threshold{Warn: 25 * 3600, Critical: 72 * 3600, Hysteresis: 3600}
	t[PendingApprovals] = Threshold{Warn: 5, Critical: 20, Hysteresis: 1}
	t[OverdueRedemptions] = Threshold{Warn: 0, Critical: 10, Hysteresis: 0}
	return t
}

// fields lists the Config's fields by indicator: warn, critical, hysteresis.
func (c *Config) fields() [NumIndicators][3]*int64 {
	return [NumIndicators][3]*int64{
		L1Ratio:                {&c.L1RatioWarn, &c.L1RatioCritical, &c.L1RatioHysteresis},
		L1L2Ratio:              {&c.L1L2RatioWarn, &c.L1L2RatioCritical, &c.L1L2RatioHysteresis},
		RedemptionCoverage:     {&c.RedemptionCoverageWarn, &c.RedemptionCoverageCritical, &c.RedemptionCoverageHysteresis},
		MaxAssetConcentration:  {&c.MaxAssetConcentrationWarn, &c.MaxAssetConcentrationCritical, &c.MaxAssetConcentrationHysteresis},
		DailyRedemptionRate:    {&c.DailyRedemptionRateWarn, &c.DailyRedemptionRateCritical, &c.DailyRedemptionRateHysteresis},
		NavDriftBps:            {&c.NavDriftBpsWarn, &c.NavDriftBpsCritical, &c.NavDriftBpsHysteresis},
		OracleStalenessSeconds: {&c.OracleStalenessSecondsWarn, &c.OracleStalenessSecondsCritical, &c.OracleStalenessSecondsHysteresis},
		PendingApprovals:       {&c.PendingApprovalsWarn, &c.PendingApprovalsCritical, &c.PendingApprovalsHysteresis},
		OverdueRedemptions:     {&c.OverdueRedemptionsWarn, &c.OverdueRedemptionsCritical, &c.OverdueRedemptionsHysteresis},
	}
}

// Thresholds returns the configured thresholds by indicator.
func (c *Config) Thresholds() Thresholds {
	var t Thresholds
	for i, f := range c.fields() {
		t[i] = Threshold{Warn: *f[0], Critical: *f[1], Hysteresis: *f[2]}
	}
	return t
}

// ConfigOf is the Config holding thresholds t.
func ConfigOf(t Thresholds) Config {
	var c Config
	for i, f := range c.fields() {
		*f[0], *f[1], *f[2] = t[i].Warn, t[i].Critical, t[i].Hysteresis
	}
	return c
}

// Validate checks the thresholds; it fills nothing, and each problem names its key
// (risk.l1_ratio_warn).
func (c *Config) Validate() error {
	t := c.Thresholds()
	return t.check("risk.")
}

// Threshold is one indicator's thresholds, in its unit.
type Threshold struct {
	Warn, Critical, Hysteresis int64
}

// Thresholds are the thresholds of every indicator, by Indicator.
type Thresholds [NumIndicators]Threshold

// Check reports whether t makes sense (the rules of Config.Validate), naming the keys without
// the "risk." prefix; the state machine refuses a replicated set that does not.
func (t *Thresholds) Check() error { return t.check("") }

func (t *Thresholds) check(prefix string) error {
	var errs []error
	for i := range t {
		ind := Indicator(i)
		s := &specs[i]
		th := &t[i]
		warn, crit, hyst := prefix+s.key+"_warn", prefix+s.key+"_critical", prefix+s.key+"_hysteresis"
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
		}
		unit := unitOf(ind)
		inRange := func(key string, v int64) bool {
			if v < 0 {
				bad(key, "%d is negative", v)
				return false
			}
			if v > s.max {
				bad(key, "%d is over %d %s", v, s.max, unit)
				return false
			}
			return true
		}
		okW, okC, okH := inRange(warn, th.Warn), inRange(crit, th.Critical), inRange(hyst, th.Hysteresis)
		if !okW || !okC || !okH {
			continue
		}
		if s.lowerIsWorse {
			switch {
			case s.fromBand && (th.Warn == 0) != (th.Critical == 0):
				bad(warn, "%s and %s are both 0 (from the fund's band) or both set", warn, crit)
			case th.Warn < th.Critical:
				bad(warn, "%d is below %s %d: a lower %s is worse, so the warning must come first (warn >= critical)", th.Warn, crit, th.Critical, s.name)
			case th.Warn+th.Hysteresis > s.max && s.max == maxBps:
				bad(hyst, "%d above %s %d passes %d %s: the warning could never clear", th.Hysteresis, warn, th.Warn, s.max, unit)
			}
			continue
		}
		switch {
		case th.Warn > th.Critical:
			bad(warn, "%d is above %s %d: a higher %s is worse, so the warning must come first (warn <= critical)", th.Warn, crit, th.Critical, s.name)
		case th.Hysteresis > th.Warn:
			bad(hyst, "%d is more than %s %d: the warning could never clear (it clears at warn - hysteresis or below)", th.Hysteresis, warn, th.Warn)
		}
	}
	return errors.Join(errs...)
}

func unitOf(i Indicator) string {
	switch i {
	case OracleStalenessSeconds:
		return "seconds"
	case PendingApprovals, OverdueRedemptions:
		return "redemptions"
	}
	return "bps"
}
