// Package risk evaluates the fund's risk indicators against thresholds: each indicator's status
// with hysteresis, the overall level and score, and the crossings that become risk events.
package risk

// Indicator is one of the fund's risk indicators (OPERATIONS.md "Risk"). The numbering is the
// order of GET /v1/risk/status and of the replicated statuses: append only.
type Indicator uint8

// The indicators. Ratios are basis points (10000 = 100 %).
const (
	// L1Ratio is the L1 tier value (cash included) × 10000 / grossAssets.
	L1Ratio Indicator = iota
	// L1L2Ratio is (L1 + L2) × 10000 / grossAssets.
	L1L2Ratio
	// RedemptionCoverage is (L1 + L2) × 10000 / totalRedemptionLiability; unknown without a
	// liability.
	RedemptionCoverage
	// MaxAssetConcentration is the largest value of one asset × 10000 / grossAssets.
	MaxAssetConcentration
	// DailyRedemptionRate is the redemptions of the last 24 h of block time × 10000 /
	// totalAssets.
	DailyRedemptionRate
	// NavDriftBps is the books' navDriftBps (signed; its status follows its absolute value).
	NavDriftBps
	// OracleStalenessSeconds is the age of the oldest current price of an active asset at the
	// latest block time (the state machine has no clock).
	OracleStalenessSeconds
	// PendingApprovals counts the redemptions in PENDING_APPROVAL.
	PendingApprovals
	// OverdueRedemptions counts the open redemptions whose settlement time is before the latest
	// block time.
	OverdueRedemptions
	// NumIndicators is the number of indicators.
	NumIndicators
)

// spec describes an indicator: its API name, its TOML key stem, which way is worse, and the
// largest threshold that makes sense.
type spec struct {
	name, key    string
	lowerIsWorse bool  // a lower value is worse (the liquidity ratios, coverage)
	absolute     bool  // the status follows |value| (drift either way is drift)
	max          int64 // the largest meaningful threshold
	fromBand     bool  // warn = critical = 0 means "from the fund's band" (Bands)
}

const (
	maxBps     = 10_000
	maxCount   = 1_000_000
	maxSeconds = 366 * 24 * 3600
	// maxCoverage: 100× the liability; beyond that a threshold means nothing.
	maxCoverage = 1_000_000
)

var specs = [NumIndicators]spec{
	L1Ratio:                {name: "l1Ratio", key: "l1_ratio", lowerIsWorse: true, max: maxBps, fromBand: true},
	L1L2Ratio:              {name: "l1l2Ratio", key: "l1l2_ratio", lowerIsWorse: true, max: maxBps, fromBand: true},
	RedemptionCoverage:     {name: "redemptionCoverage", key: "redemption_coverage", lowerIsWorse: true, max: maxCoverage},
	MaxAssetConcentration:  {name: "maxAssetConcentration", key: "max_asset_concentration", max: maxBps},
	DailyRedemptionRate:    {name: "dailyRedemptionRate", key: "daily_redemption_rate", max: maxBps},
	NavDriftBps:            {name: "navDriftBps", key: "nav_drift_bps", absolute: true, max: maxBps},
	OracleStalenessSeconds: {name: "oracleStalenessSeconds", key: "oracle_staleness_seconds", max: maxSeconds},
	PendingApprovals:       {name: "pendingApprovals", key: "pending_approvals", max: maxCount},
	OverdueRedemptions:     {name: "overdueRedemptions", key: "overdue_redemptions", max: maxCount},
}

// Name is the indicator's name in the API ("l1Ratio").
func (i Indicator) Name() string {
	if i >= NumIndicators {
		return "unknown"
	}
	return specs[i].name
}

// Key is the stem of the indicator's keys in [risk] ("l1_ratio" for l1_ratio_warn,
// l1_ratio_critical, l1_ratio_hysteresis).
func (i Indicator) Key() string {
	if i >= NumIndicators {
		return "unknown"
	}
	return specs[i].key
}

// LowerIsWorse says whether a lower value is worse (L1 and L1+L2 ratios, coverage): its
// thresholds are crossed going down.
func (i Indicator) LowerIsWorse() bool { return i < NumIndicators && specs[i].lowerIsWorse }

// Status is an indicator's state.
type Status uint8

// The statuses, in increasing severity.
const (
	Normal Status = iota
	Warning
	Critical
)

// String is the status as the API spells it.
func (s Status) String() string {
	switch s {
	case Normal:
		return "NORMAL"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// Level is the fund's overall risk level.
type Level uint8

// The levels, in increasing severity.
const (
	LevelNormal Level = iota
	LevelElevated
	LevelHigh
	LevelCritical
)

// String is the level as the API spells it.
func (l Level) String() string {
	switch l {
	case LevelNormal:
		return "NORMAL"
	case LevelElevated:
		return "ELEVATED"
	case LevelHigh:
		return "HIGH"
	case LevelCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}
