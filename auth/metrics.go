package auth

import "github.com/VictoriaMetrics/metrics"

// metricSet counts what the HTTP counters per route do not say about wallet sessions.
type metricSet struct {
	badSignature, expiredNonce, refused *metrics.Counter // failed logins, by reason
	extended, extendFailed              *metrics.Counter // sessions extended, or not
	// unknown session tokens checked against the leader's commit, those found then, and
	// checks that could not reach the leader
	catchUps, caughtUp, catchUpFailures *metrics.Counter
}

func newMetricSet(set *metrics.Set, c *sessionCache) metricSet {
	set.GetOrCreateGauge("paimon_auth_sessions_known", func() float64 { return float64(c.known()) })
	return metricSet{
		badSignature:    set.GetOrCreateCounter(`paimon_auth_login_failures_total{reason="bad_signature"}`),
		expiredNonce:    set.GetOrCreateCounter(`paimon_auth_login_failures_total{reason="expired_nonce"}`),
		refused:         set.GetOrCreateCounter(`paimon_auth_login_failures_total{reason="refused"}`),
		extended:        set.GetOrCreateCounter("paimon_auth_session_extensions_total"),
		extendFailed:    set.GetOrCreateCounter("paimon_auth_session_extension_failures_total"),
		catchUps:        set.GetOrCreateCounter("paimon_auth_unknown_session_checks_total"),
		caughtUp:        set.GetOrCreateCounter("paimon_auth_unknown_session_found_total"),
		catchUpFailures: set.GetOrCreateCounter("paimon_auth_unknown_session_check_failures_total"),
	}
}
