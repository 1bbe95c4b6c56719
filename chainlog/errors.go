package chainlog

import (
	"errors"
	"fmt"
)

// ErrConfig reports an invalid contract configuration or ABI given to NewRegistry.
var ErrConfig = errors.New("chainlog: bad contract config")

// Skip reason codes carried by SkipError.Reason.
const (
	SkipMalformed       = "malformed"
	SkipUnknownContract = "unknown_contract"
	SkipUnknownTopic    = "unknown_topic"
	SkipBadTopicCount   = "bad_topic_count"
	SkipShortData       = "short_data"
	SkipBadData         = "bad_data"
)

// SkipError explains why Registry.Decode did not turn a log into an Event. Such a log is
// counted and skipped, never fatal.
type SkipError struct {
	Reason string // machine code, one of the Skip* constants
	Detail string // human-readable detail
}

// Error implements error.
func (e *SkipError) Error() string { return "skip log: " + e.Reason + ": " + e.Detail }

func skipf(reason, format string, args ...any) *SkipError {
	return &SkipError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// InvalidEventError says why an Event does not match its declaration (Event.Spec): a user
// error, which the state machine refuses as a validation error with this message.
type InvalidEventError struct {
	Message string
}

// Error implements error.
func (e *InvalidEventError) Error() string { return e.Message }

func invalidEventf(format string, args ...any) *InvalidEventError {
	return &InvalidEventError{Message: fmt.Sprintf(format, args...)}
}
