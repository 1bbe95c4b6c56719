package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"paimon/chainlog"
	"strings"

	"paimon/fund"
	"paimon/readmodel"
)

// parseLogsRequest decodes the body of POST /v1/admin/logs ({"logs": [...]}) strictly:
// unknown fields, wrong types, trailing data, an empty or oversized list (over
// fund.MaxLogsPerRequest) and malformed log fields are *ValidationError naming the offending item.
// Whether a log is a known event of a configured contract is chainlog.Registry.Decode's business.
func parseLogsRequest(body []byte) ([]chainlog.RawLog, error) {
	var req struct {
		Logs *[]chainlog.RawLog `json:"logs"`
	}
	if err := strictJSON(body, &req); err != nil {
		return nil, err
	}
	if req.Logs == nil {
		return nil, invalidParam("logs", "logs is required")
	}
	logs := *req.Logs
	if len(logs) == 0 {
		return nil, invalidParam("logs", "logs must not be empty")
	}
	if len(logs) > fund.MaxLogsPerRequest {
		return nil, invalidParam("logs", "logs must have at most %d items", fund.MaxLogsPerRequest)
	}
	for i := range logs {
		if err := chainlog.CheckRawLog(&logs[i]); err != nil {
			var fe *chainlog.FieldError
			errors.As(err, &fe)
			return nil, &fund.ValidationError{
				Message: fmt.Sprintf("logs[%d].%s", i, fe.Error()),
				Details: map[string]any{"index": i, "field": fe.Field},
			}
		}
	}
	return logs, nil
}

type priceItem struct {
	Asset *string `json:"asset"`
	Price *string `json:"price"`
	Time  *string `json:"time"`
}

// parsePricesRequest decodes the body of POST /v1/admin/prices ({"prices": [{asset, price,
// time}]}) strictly: asset an address, price a positive decimal uint256 string, time RFC 3339
// (or unix seconds); at most fund.MaxPricesPerRequest items.
func parsePricesRequest(body []byte) ([]fund.PriceUpdate, error) {
	var req struct {
		Prices *[]priceItem `json:"prices"`
	}
	if err := strictJSON(body, &req); err != nil {
		return nil, err
	}
	if req.Prices == nil {
		return nil, invalidParam("prices", "prices is required")
	}
	items := *req.Prices
	if len(items) == 0 {
		return nil, invalidParam("prices", "prices must not be empty")
	}
	if len(items) > fund.MaxPricesPerRequest {
		return nil, invalidParam("prices", "prices must have at most %d items", fund.MaxPricesPerRequest)
	}
	out := make([]fund.PriceUpdate, len(items))
	for i, it := range items {
		name := func(f string) string { return fmt.Sprintf("prices[%d].%s", i, f) }
		switch {
		case it.Asset == nil:
			return nil, invalidParam(name("asset"), "%s is required", name("asset"))
		case it.Price == nil:
			return nil, invalidParam(name("price"), "%s is required", name("price"))
		case it.Time == nil:
			return nil, invalidParam(name("time"), "%s is required", name("time"))
		}
		a, err := chainlog.ParseAddress(*it.Asset)
		if err != nil {
			return nil, invalidParam(name("asset"), "%s must be 0x followed by 40 hex digits", name("asset"))
		}
		p := &out[i]
		p.Asset = chainlog.HexAddress(a)
		s := *it.Price
		if s == "" || len(s) > 78 || strings.TrimLeft(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
			return nil, invalidParam(name("price"), "%s must be a decimal integer string", name("price"))
		}
		if err := p.Price.SetFromDecimal(s); err != nil {
			return nil, invalidParam(name("price"), "%s is out of range", name("price"))
		}
		if p.Price.IsZero() {
			return nil, invalidParam(name("price"), "%s must be positive", name("price"))
		}
		if p.Time, err = readmodel.ParseTime(name("time"), *it.Time); err != nil {
			return nil, err
		}
		if p.Time == 0 {
			return nil, invalidParam(name("time"), "%s is out of range", name("time"))
		}
	}
	return out, nil
}

// strictJSON decodes one JSON object into v, rejecting unknown fields and trailing data, and
// turns decoder errors into *ValidationError.
func strictJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return invalidBody("body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return &fund.ValidationError{
			Message: fmt.Sprintf("%s must be %s, not %s", field, jsonKind(te.Type.String()), te.Value),
			Details: map[string]any{"field": field},
		}
	case errors.As(err, &se):
		return &fund.ValidationError{Message: "body is not valid JSON: " + se.Error(), Details: map[string]any{"offset": se.Offset}}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalidBody("body is empty or truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalidBody("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return invalidBody("body is not valid JSON: %s", err.Error())
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	}
	return "an object"
}

// invalidParam builds the validation error naming the body parameter at fault.
func invalidParam(param, format string, args ...any) *fund.ValidationError {
	return &fund.ValidationError{Message: fmt.Sprintf(format, args...), Details: map[string]any{"param": param}}
}

// invalidBody builds the validation error of a body that is not the JSON it must be.
func invalidBody(format string, args ...any) *fund.ValidationError {
	return &fund.ValidationError{Message: fmt.Sprintf(format, args...)}
}
