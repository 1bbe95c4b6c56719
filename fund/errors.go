package fund

import (
	"errors"
	"fmt"

	"paimon/chainlog"
)

// ErrNotFound is returned by the read functions for an unknown account, redemption, asset,
// price or view.
var ErrNotFound = errors.New("fund: not found")

// ErrBadCommand wraps every reason a command cannot be decoded; Apply returns it as a fatal
// error because an undecodable Raft entry must stop the node.
var ErrBadCommand = errors.New("fund: bad command")

// ErrFutureFormat reports a command or record whose format version is newer than this release
// reads: it was written by a newer release. It always comes wrapped with ErrBadCommand (a
// command) or ErrInvariant (a stored record), so the node stops rather than misread it.
var ErrFutureFormat = errors.New("fund: format from a newer release")

// ErrInvariant reports a broken internal invariant found while applying (a corrupt record);
// Apply returns it as a fatal error.
var ErrInvariant = errors.New("fund: broken invariant")

// ValidationError is a user-level error: a bad request, query parameter or command content.
// The server maps it to VALIDATION_ERROR (400). Apply returns it as a result value, never as
// its error, and a command rejected this way has changed nothing.
type ValidationError struct {
	// Code is the API error code when it is not VALIDATION_ERROR (CodeAuthInvalid,
	// CodeConflict); "" is VALIDATION_ERROR.
	Code    string
	Message string
	Details map[string]any
}

// Codes of refusals that are not VALIDATION_ERROR.
const (
	CodeAuthInvalid = "AUTH_INVALID" // a login with an unknown, used or expired nonce; a closed session
	CodeConflict    = "CONFLICT"     // a nonce or session token that already exists
)

// Error implements error.
func (e *ValidationError) Error() string { return e.Message }

// invalidf builds a *ValidationError with a formatted message.
func invalidf(format string, args ...any) *ValidationError {
	return &ValidationError{Message: fmt.Sprintf(format, args...)}
}

// invalidParam builds a *ValidationError naming the query or body parameter at fault.
func invalidParam(param, format string, args ...any) *ValidationError {
	return &ValidationError{
		Message: fmt.Sprintf(format, args...),
		Details: map[string]any{"param": param},
	}
}

// invalidEvent is the validation error for an event that does not match its declaration.
func invalidEvent(err error) *ValidationError {
	var e *chainlog.InvalidEventError
	if errors.As(err, &e) {
		return &ValidationError{Message: e.Message}
	}
	return &ValidationError{Message: err.Error()}
}

// eventSpec returns ev's spec after chainlog's checks; the error is a *ValidationError.
func eventSpec(ev *chainlog.Event) (*chainlog.Spec, *ValidationError) {
	s, err := ev.Spec()
	if err != nil {
		return nil, invalidEvent(err)
	}
	return s, nil
}

// corrupt reports a record that cannot be decoded: a broken invariant.
func corrupt(what string, err error) error {
	return fmt.Errorf("%w: corrupt %s: %w", ErrInvariant, what, err)
}
