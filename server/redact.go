package server

import (
	"regexp"

	"paimon/internal/redact"
)

var (
	// fasthttp quotes the bytes of a request it could not parse after "contents:"; nothing
	// after it is kept.
	redactContents = regexp.MustCompile(`(?s)contents:.*`)
	// It also quotes the part it refused (a header line, a value, the request line): every
	// quoted string but a connection's address is dropped.
	redactQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	addrQuoted   = regexp.MustCompile(`^"[0-9A-Fa-f.:\[\]]+"$`)
)

// redactRequest removes credentials, and the request bytes fasthttp quotes whatever they
// hold, from a message about a request before it is logged.
func redactRequest(s string) string {
	s = redactContents.ReplaceAllString(s, "contents: [redacted]")
	s = redactQuoted.ReplaceAllStringFunc(s, func(q string) string {
		if addrQuoted.MatchString(q) {
			return q
		}
		return `"[redacted]"`
	})
	return redact.String(s)
}
