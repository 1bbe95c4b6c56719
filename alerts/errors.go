package alerts

import "errors"

// ErrClosed is returned by Start on a Deliverer that was already closed.
var ErrClosed = errors.New("alerts: deliverer closed")

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("alerts: deliverer already started")

// ErrBadAlert is wrapped when an alert cannot be rendered (an unknown severity, details that are
// not a JSON object); such an alert is marked failed for every webhook rather than retried.
var ErrBadAlert = errors.New("alerts: bad alert")
