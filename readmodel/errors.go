package readmodel

import (
	"errors"
	"fmt"

	"paimon/fund"
)

// Errors are fund's, so that the server maps them in one place: fund.ErrNotFound for a
// resource that does not exist, a *fund.ValidationError for a bad query parameter, and an
// error wrapping fund.ErrInvariant for a record that does not decode.

// invalidf builds a *fund.ValidationError with a formatted message.
func invalidf(format string, args ...any) *fund.ValidationError {
	return &fund.ValidationError{Message: fmt.Sprintf(format, args...)}
}

// invalidParam builds a *fund.ValidationError naming the query parameter at fault.
func invalidParam(param, format string, args ...any) *fund.ValidationError {
	return &fund.ValidationError{
		Message: fmt.Sprintf(format, args...),
		Details: map[string]any{"param": param},
	}
}

// corrupt reports a record or key that does not decode: a broken invariant.
func corrupt(what string, err error) error {
	return fmt.Errorf("%w: corrupt %s: %w", fund.ErrInvariant, what, err)
}

var (
	errBadKeyLength  = errors.New("bad key length")
	errDanglingIndex = errors.New("dangling index key")
)

// redemptionIDLen is the length of a redemption's key after its prefix: the request id as 32
// bytes big-endian.
const redemptionIDLen = 32
