package rebalance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// RequestError is a request body that does not parse: the parameter at fault and why.
// The server answers it as 400 VALIDATION_ERROR.
type RequestError struct {
	Param   string
	Message string
}

// Error implements error.
func (e *RequestError) Error() string { return e.Message }

// PreviewRequest is the body of POST /v1/rebalance/preview: the target ratios, or nil for the
// bands' targets.
type PreviewRequest struct {
	Targets *[NumTiers]uint64
}

// MaxRequestBytes bounds a preview, execute or cancel body.
const MaxRequestBytes = 4096

// ParsePreview parses a preview body: empty, {} or {"targetRatios": {"L1": n, "L2": n,
// "L3": n}} with three integers 0..10000 summing to 10000. Unknown fields, trailing data and
// anything else are a *RequestError.
func ParsePreview(body []byte) (PreviewRequest, error) {
	var req PreviewRequest
	if len(body) > MaxRequestBytes {
		return req, &RequestError{Param: "body", Message: fmt.Sprintf("body is over %d bytes", MaxRequestBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	var raw struct {
		TargetRatios *map[string]json.RawMessage `json:"targetRatios"`
	}
	if err := decodeStrict(body, &raw); err != nil {
		return req, err
	}
	if raw.TargetRatios == nil {
		return req, nil
	}
	m := *raw.TargetRatios
	var t [NumTiers]uint64
	for k := range m {
		if k != "L1" && k != "L2" && k != "L3" {
			return req, &RequestError{Param: "targetRatios", Message: fmt.Sprintf("targetRatios has an unknown tier %.20q: only L1, L2, L3", k)}
		}
	}
	var sum uint64
	for i, name := range TierNames {
		v, ok := m[name]
		if !ok {
			return req, &RequestError{Param: "targetRatios." + name, Message: "targetRatios needs L1, L2 and L3"}
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil || n > 10_000 {
			return req, &RequestError{Param: "targetRatios." + name, Message: fmt.Sprintf("targetRatios.%s must be an integer from 0 to 10000 (basis points)", name)}
		}
		t[i] = n
		sum += n
	}
	if sum != 10_000 {
		return req, &RequestError{Param: "targetRatios", Message: fmt.Sprintf("targetRatios sum to %d basis points, not 10000", sum)}
	}
	req.Targets = &t
	return req, nil
}

// ExecuteRequest is the body of POST /v1/rebalance/execute.
type ExecuteRequest struct {
	PlanID uint64
}

// ParseExecute parses {"planId": "<decimal id>"} (a string, as every id of the API; a JSON
// number is accepted too).
func ParseExecute(body []byte) (ExecuteRequest, error) {
	var req ExecuteRequest
	if len(body) > MaxRequestBytes {
		return req, &RequestError{Param: "body", Message: fmt.Sprintf("body is over %d bytes", MaxRequestBytes)}
	}
	var raw struct {
		PlanID json.RawMessage `json:"planId"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, &RequestError{Param: "planId", Message: "planId is required"}
	}
	if err := decodeStrict(body, &raw); err != nil {
		return req, err
	}
	s := string(raw.PlanID)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	id, ok := ParsePlanID(s)
	if !ok {
		return req, &RequestError{Param: "planId", Message: "planId must be a plan id (a positive decimal integer)"}
	}
	req.PlanID = id
	return req, nil
}

// ParsePlanID parses a plan id as the API writes it: a positive decimal integer, canonical (no
// sign, no leading zero).
func ParsePlanID(s string) (uint64, bool) {
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil && id != 0 && strconv.FormatUint(id, 10) == s
}

// CancelRequest is the body of POST /v1/rebalance/{id}/cancel.
type CancelRequest struct {
	Reason string
}

// MaxCancelReason bounds a cancellation's reason, in bytes of UTF-8.
const MaxCancelReason = 256

// ParseCancel parses a cancel body: empty, {} or {"reason": "..."} (valid UTF-8, at most
// MaxCancelReason bytes).
func ParseCancel(body []byte) (CancelRequest, error) {
	var req CancelRequest
	if len(body) > MaxRequestBytes {
		return req, &RequestError{Param: "body", Message: fmt.Sprintf("body is over %d bytes", MaxRequestBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	var raw struct {
		Reason *string `json:"reason"`
	}
	if err := decodeStrict(body, &raw); err != nil {
		return req, err
	}
	if raw.Reason != nil {
		req.Reason = *raw.Reason
	}
	if len(req.Reason) > MaxCancelReason || !utf8.ValidString(req.Reason) {
		return CancelRequest{}, &RequestError{Param: "reason", Message: fmt.Sprintf("reason must be valid UTF-8 of at most %d bytes", MaxCancelReason)}
	}
	return req, nil
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &RequestError{Param: "body", Message: "malformed JSON body: " + err.Error()}
	}
	if dec.More() {
		return &RequestError{Param: "body", Message: "malformed JSON body: data after the object"}
	}
	return nil
}
