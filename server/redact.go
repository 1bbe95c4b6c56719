package server

import "regexp"

// Credentials that must not reach a log line: the value of an Authorization or
// X-Paimon-Cluster header (up to the end of its line or of a quoted snippet), a bearer token
// anywhere, a wallet session token (pms_…) anywhere.
var (
	redactHeader  = regexp.MustCompile(`(?i)((?:authorization|x-paimon-cluster)\s*:\s*)[^\r\n"\\]*`)
	redactBearer  = regexp.MustCompile(`(?i)(bearer\s+)[^\s"\\]+`)
	redactSession = regexp.MustCompile(`pms_[A-Za-z0-9_\-]+`)
	// fasthttp quotes the bytes of a request it could not parse after "contents:"; nothing
	// after it is kept.
	redactContents = regexp.MustCompile(`(?s)contents:.*`)
)

// redact removes credentials from a message about a request before it is logged.
func redact(s string) string {
	s = redactContents.ReplaceAllString(s, "contents: [redacted]")
	s = redactHeader.ReplaceAllString(s, "${1}[redacted]")
	s = redactBearer.ReplaceAllString(s, "${1}[redacted]")
	return redactSession.ReplaceAllString(s, "pms_[redacted]")
}
