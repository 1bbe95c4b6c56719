package alerts

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity orders alerts: INFO < WARNING < HIGH < CRITICAL, as the risk events' severities.
type Severity int

// The severities, least severe first.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityHigh
	SeverityCritical
)

var severityNames = map[Severity]string{
	SeverityInfo: "INFO", SeverityWarning: "WARNING", SeverityHigh: "HIGH", SeverityCritical: "CRITICAL",
}

// String returns the API's upper-case name ("WARNING"), or "" for an unknown severity.
func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads a severity, case-insensitively.
func ParseSeverity(s string) (Severity, bool) {
	for sev, name := range severityNames {
		if strings.EqualFold(s, name) {
			return sev, true
		}
	}
	return 0, false
}

// Alert is one alert as the outbox holds it: what the risk engine raised, rendered the same way
// to every receiver.
type Alert struct {
	// ID is unique for the cluster's life (the receivers deduplicate on it); the state
	// machine assigns it.
	ID string `json:"id"`
	// Time is when the alert was raised (the applied command's time, not a node's clock).
	Time time.Time `json:"time"`
	// Severity is INFO, WARNING, HIGH or CRITICAL.
	Severity string `json:"severity"`
	// Source is CHAIN, RULE or SYSTEM, as the risk event's.
	Source string `json:"source"`
	// Type names what happened: LowLiquidityAlert, l1Ratio, ingestHalted...
	Type    string `json:"type"`
	Message string `json:"message"`
	// Details is a JSON object (or empty).
	Details json.RawMessage `json:"details,omitempty"`
}

// severity parses the alert's severity.
func (a *Alert) severity() (Severity, error) {
	s, ok := ParseSeverity(a.Severity)
	if !ok {
		return 0, fmt.Errorf("%w: alert %s: severity %q", ErrBadAlert, a.ID, a.Severity)
	}
	return s, nil
}

// details returns the details as a JSON object, {} when empty.
func (a *Alert) details() (json.RawMessage, error) {
	d := bytes.TrimSpace(a.Details)
	if len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if d[0] != '{' || !json.Valid(d) {
		return nil, fmt.Errorf("%w: alert %s: details are not a JSON object", ErrBadAlert, a.ID)
	}
	return d, nil
}

// Body renders the alert in a webhook format (generic, slack or pagerduty; routingKey only
// for pagerduty).
func Body(a Alert, format, routingKey string) ([]byte, error) {
	sev, err := a.severity()
	if err != nil {
		return nil, err
	}
	details, err := a.details()
	if err != nil {
		return nil, err
	}
	when := a.Time.UTC().Format(time.RFC3339Nano)
	switch format {
	case FormatGeneric, "":
		return json.Marshal(genericBody{ID: a.ID, Time: when, Severity: sev.String(), Source: a.Source,
			Type: a.Type, Message: a.Message, Details: details})
	case FormatSlack:
		return json.Marshal(slackBody(a, sev, when))
	case FormatPagerDuty:
		return json.Marshal(pagerDutyBody{
			RoutingKey: routingKey, EventAction: "trigger", DedupKey: a.ID,
			Payload: pagerDutyPayload{Summary: summary(a, sev), Source: "paimon-edge/" + strings.ToLower(a.Source),
				Severity: pagerDutySeverity[sev], Timestamp: when, Component: a.Source, Class: a.Type,
				CustomDetails: details},
		})
	}
	return nil, fmt.Errorf("alerts: unknown format %q", format)
}

// genericBody is the generic format: the alert as GET /v1/alerts shows it, without the
// delivery state.
type genericBody struct {
	ID       string          `json:"id"`
	Time     string          `json:"time"`
	Severity string          `json:"severity"`
	Source   string          `json:"source"`
	Type     string          `json:"type"`
	Message  string          `json:"message"`
	Details  json.RawMessage `json:"details"`
}

// pagerDutyBody is a PagerDuty Events API v2 "trigger" event; dedup_key (the alert id) makes a
// redelivery update the same incident rather than open another.
type pagerDutyBody struct {
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key"`
	Payload     pagerDutyPayload `json:"payload"`
}

type pagerDutyPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	Component     string          `json:"component,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// pagerDutySeverity maps onto Events v2's four severities.
var pagerDutySeverity = map[Severity]string{
	SeverityCritical: "critical", SeverityHigh: "error", SeverityWarning: "warning", SeverityInfo: "info",
}

// summary is the one line every format leads with; PagerDuty caps it at 1024 characters.
func summary(a Alert, sev Severity) string {
	s := fmt.Sprintf("[%s] %s %s: %s", sev, a.Source, a.Type, a.Message)
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1021], "") + "..."
	}
	return s
}

// slackBody is an incoming-webhook message: text (the notification and fallback) and blocks
// naming the severity, source, type, id and time.
func slackBody(a Alert, sev Severity, when string) map[string]any {
	emoji := map[Severity]string{SeverityCritical: ":rotating_light:", SeverityHigh: ":red_circle:",
		SeverityWarning: ":warning:", SeverityInfo: ":information_source:"}[sev]
	text := summary(a, sev)
	return map[string]any{
		"text": text,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn",
				"text": fmt.Sprintf("%s *%s* · %s · `%s`\n%s", emoji, sev, slackEscape(a.Source), slackEscape(a.Type), slackEscape(a.Message))}},
			map[string]any{"type": "context", "elements": []any{
				map[string]any{"type": "mrkdwn", "text": fmt.Sprintf("alert %s · %s", slackEscape(a.ID), when)}}},
		},
	}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Sign returns the X-Paimon-Signature value of body: "sha256=" and the hex HMAC-SHA256 of the
// raw body keyed with secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (an X-Paimon-Signature value) signs body with secret, in
// constant time: what a receiver written in Go does.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}
