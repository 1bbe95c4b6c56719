package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/fund"
	"paimon/push"
	"paimon/raftstore"
	"paimon/rebalance"
)

// The server's own sentinel errors. Every error a handler returns is mapped to an HTTP status
// and an API code in one place: apiErrorOf.
var (
	// errAuthRequired: the route needs a token and none was sent (auth.ErrAuthRequired).
	errAuthRequired = auth.ErrAuthRequired
	// errAuthInvalid: the token is unknown, malformed or expired (auth.ErrAuthInvalid).
	errAuthInvalid = auth.ErrAuthInvalid
	// errForbidden: the token's role is below what the route needs (auth.ErrForbidden).
	errForbidden = auth.ErrForbidden
	// errStaleRead: this node has not heard from a leader within max_staleness.
	errStaleRead = errors.New("this node has not heard from a leader within max_staleness")
	// errNotCaughtUp: since it started, this node has not yet applied what the leader had
	// applied (status.go catchUpAfterStart); a STALE_READ too.
	errNotCaughtUp = fmt.Errorf("%w: since it started, this node has not caught up with the leader yet", errStaleRead)
	// errNotFound: no route or no such resource.
	errNotFound = errors.New("not found")
	// errBodyTooLarge: the request body exceeds http.max_body_bytes.
	errBodyTooLarge = errors.New("request body too large")
	// errMethod: the route exists but not for this method.
	errMethod = errors.New("method not allowed")
)

// apiError is the JSON error body of API.md.
type apiError struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	// retryAfter is the Retry-After of a 429, in seconds (at least 1 is sent).
	retryAfter int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func validation(msg string, details map[string]any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "VALIDATION_ERROR", Message: msg, Details: details}
}

// apiErrorOf maps any error to the status and code of API.md. It reports whether the error is
// unexpected (an INTERNAL error worth logging).
func apiErrorOf(err error) (*apiError, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae, false
	}
	var ve *fund.ValidationError
	if errors.As(err, &ve) {
		switch ve.Code {
		case fund.CodeAuthInvalid:
			return &apiError{Status: 401, Code: ve.Code, Message: ve.Message, Details: ve.Details}, false
		case fund.CodeConflict:
			return &apiError{Status: 409, Code: ve.Code, Message: ve.Message, Details: ve.Details}, false
		case fund.CodeNotFound:
			return &apiError{Status: 404, Code: ve.Code, Message: ve.Message, Details: ve.Details}, false
		case fund.CodeForbidden:
			return &apiError{Status: 403, Code: ve.Code, Message: ve.Message, Details: ve.Details}, false
		}
		return validation(ve.Message, ve.Details), false
	}
	var ie *rebalance.InfeasibleError
	if errors.As(err, &ie) {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "VALIDATION_ERROR", Message: ie.Message, Details: ie.Details}, false
	}
	var re *rebalance.RequestError
	if errors.As(err, &re) {
		return validation(re.Message, map[string]any{"param": re.Param}), false
	}
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		secs := rl.Seconds()
		return &apiError{Status: 429, Code: "RATE_LIMITED", Message: rl.Error(), retryAfter: secs,
			Details: map[string]any{"retryAfterSeconds": secs, "budget": rl.Budget}}, false
	}
	switch {
	case errors.Is(err, errAuthRequired):
		return &apiError{Status: 401, Code: "AUTH_REQUIRED", Message: "this endpoint needs an Authorization: Bearer token"}, false
	case errors.Is(err, errAuthInvalid):
		return &apiError{Status: 401, Code: "AUTH_INVALID", Message: err.Error()}, false
	case errors.Is(err, errForbidden):
		return &apiError{Status: 403, Code: "FORBIDDEN", Message: err.Error()}, false
	case errors.Is(err, fund.ErrNotFound), errors.Is(err, errNotFound):
		return &apiError{Status: 404, Code: "NOT_FOUND", Message: err.Error()}, false
	case errors.Is(err, errMethod):
		return &apiError{Status: 405, Code: "METHOD_NOT_ALLOWED", Message: err.Error()}, false
	case errors.Is(err, errBodyTooLarge):
		return &apiError{Status: 413, Code: "PAYLOAD_TOO_LARGE", Message: err.Error()}, false
	case errors.Is(err, errStaleRead):
		return &apiError{Status: 503, Code: "STALE_READ", Message: strings.TrimPrefix(err.Error(), errStaleRead.Error()+": ")}, false
	case errors.Is(err, errOutcomeUnknown):
		// Before NO_LEADER, which says the request was not proposed (forward.go).
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "leadership moved while the request was in flight: it may have been applied; read before sending it again",
			Details: map[string]any{"outcome": "unknown"}}, false
	case errors.Is(err, raftstore.ErrOutcomeUnknown):
		// Before ErrTimeout and ErrClosed, which it wraps: the request is in the leader's log.
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the request reached the leader's log but was not committed in time (or the node is shutting down): it may still be applied; read before sending it again",
			Details: map[string]any{"outcome": "unknown"}}, false
	case errors.Is(err, raftstore.ErrNoLeader), errors.Is(err, raftstore.ErrNotLeader):
		return &apiError{Status: 503, Code: "NO_LEADER", Message: "the cluster has no leader right now; retry shortly"}, false
	case errors.Is(err, raftstore.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "timed out waiting for the cluster; retry shortly"}, false
	case errors.Is(err, raftstore.ErrClosed):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the node is shutting down"}, false
	case errors.Is(err, raftstore.ErrDiskFull):
		// Refused before the log: safe to send again once another member leads (this one
		// hands leadership over) or space returns.
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the node's data folder is below its free-space reserve: the write was not proposed; retry shortly",
			Details: map[string]any{"reason": "disk_full"}}, false
	case errors.Is(err, raftstore.ErrBacklog):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "too many writes are waiting for the cluster to commit them: the write was not proposed; retry shortly",
			Details: map[string]any{"reason": "backlog"}}, false
	case errors.Is(err, raftstore.ErrMidUpgrade):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the cluster is mid-upgrade: " + strings.TrimPrefix(err.Error(), raftstore.ErrMidUpgrade.Error()+": ")}, false
	case errors.Is(err, raftstore.ErrFatal):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the node has stopped applying the log and must be restarted"}, true
	case errors.Is(err, push.ErrTooManyConnsFromIP):
		return &apiError{Status: 429, Code: "RATE_LIMITED", Message: err.Error()}, false
	case errors.Is(err, push.ErrTooManyConns):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: err.Error()}, false
	case errors.Is(err, push.ErrClosed):
		return &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the node is shutting down"}, false
	case errors.Is(err, push.ErrOriginNotAllowed):
		return &apiError{Status: 403, Code: "FORBIDDEN", Message: err.Error()}, false
	case errors.Is(err, push.ErrBadHandshake):
		return validation(err.Error(), nil), false
	}
	return &apiError{Status: 500, Code: "INTERNAL", Message: "internal error"}, true
}

// writeError writes err as the API's error body.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	ae, unexpected := apiErrorOf(err)
	if unexpected {
		s.logger.Error("request failed", "method", string(ctx.Method()), "path", string(ctx.Path()), "error", err)
	}
	if ae.Status == 405 {
		ctx.Response.Header.Set("Allow", ctx.UserValue(allowKey).(string))
	}
	if ae.Status == 429 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(ae.retryAfter, 1)))
	}
	if ae.Code == "NO_LEADER" && refused(err) {
		ctx.Response.Header.Set(hdrRefused, "not-proposed")
	}
	body, _ := json.Marshal(struct {
		Error *apiError `json:"error"`
	}{ae})
	ctx.Response.Header.SetContentType(contentJSON)
	ctx.SetStatusCode(ae.Status)
	ctx.SetBody(body)
}

const allowKey = "allow"
