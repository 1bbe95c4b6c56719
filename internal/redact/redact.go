// Package redact takes credentials out of text bound for a log: the values of Authorization
// and X-Paimon-Cluster headers, bearer tokens and wallet session tokens.
package redact

import (
	"log/slog"
	"regexp"
	"strings"
)

// Credentials that must not reach a log line: the value of an Authorization or
// X-Paimon-Cluster header (up to the end of its line or of a quoted snippet), a bearer token
// anywhere, a wallet session token (pms_…) anywhere.
var (
	header  = regexp.MustCompile(`(?i)((?:authorization|x-paimon-cluster)\s*:\s*)[^\r\n"\\]*`)
	bearer  = regexp.MustCompile(`(?i)(bearer\s+)[^\s"\\]+`)
	session = regexp.MustCompile(`pms_[A-Za-z0-9_\-]+`)
)

// String returns s with its credentials replaced by "[redacted]".
func String(s string) string {
	if !mayHold(s) {
		return s
	}
	s = header.ReplaceAllString(s, "${1}[redacted]")
	s = bearer.ReplaceAllString(s, "${1}[redacted]")
	return session.ReplaceAllString(s, "pms_[redacted]")
}

// mayHold is a cheap test that spares most log values the regular expressions.
func mayHold(s string) bool {
	if strings.Contains(s, "pms_") {
		return true
	}
	for _, w := range []string{"earer", "EARER", "uthorization", "UTHORIZATION", "luster", "LUSTER"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that redacts string values and errors,
// so that no log line of the node carries a credential, whoever wrote it.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); mayHold(s) {
			a.Value = slog.StringValue(String(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			if s := err.Error(); mayHold(s) {
				a.Value = slog.StringValue(String(s))
			}
		}
	}
	return a
}
