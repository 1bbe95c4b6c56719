package readmodel

import (
	"encoding/json"
	"slices"
	"strings"

	"paimon/fund"
	"paimon/kv"
)

// GET /v1/alerts: the alert outbox newest first, each alert with its delivery to every
// webhook: the recorded outcome, or PENDING for a configured webhook the alert is for (at or
// above its min_severity) that has none yet.

// AlertParams are the query parameters ParseAlertFilter reads.
var AlertParams = []string{"severity", "source", "state"}

// AlertPending is the delivery state GET /v1/alerts shows for a configured webhook without an
// outcome: the leader is sending it, or will.
const AlertPending = "PENDING"

// AlertFilter selects alerts: by severity, by source, and by the state of a delivery (an
// alert matches when one of its deliveries has it).
type AlertFilter struct {
	Severity, Source, State string
}

// AlertWebhook is a configured webhook as GET /v1/alerts needs it: its name and the least
// severe alert it gets ("" is WARNING, the alerts package's default).
type AlertWebhook struct {
	Name, MinSeverity string
}

var alertSeverityRank = map[string]int{"INFO": 1, "WARNING": 2, "HIGH": 3, "CRITICAL": 4}

// ParseAlertFilter reads severity (INFO, WARNING, HIGH, CRITICAL), source (CHAIN, RULE,
// SYSTEM) and state (DELIVERED, FAILED, PENDING), case-insensitively.
func ParseAlertFilter(get Getter) (AlertFilter, error) {
	var f AlertFilter
	for _, p := range []struct {
		name  string
		dst   *string
		valid []string
	}{
		{"severity", &f.Severity, []string{"INFO", "WARNING", "HIGH", "CRITICAL"}},
		{"source", &f.Source, []string{"CHAIN", "RULE", "SYSTEM"}},
		{"state", &f.State, []string{fund.AlertDelivered, fund.AlertFailed, AlertPending}},
	} {
		s, ok := get(p.name)
		if !ok {
			continue
		}
		s = strings.ToUpper(s)
		if !slices.Contains(p.valid, s) {
			return AlertFilter{}, invalidParam(p.name, "%s must be one of %s", p.name, strings.Join(p.valid, ", "))
		}
		*p.dst = s
	}
	return f, nil
}

type alertDeliveryJSON struct {
	Webhook  string  `json:"webhook"`
	State    string  `json:"state"`
	Status   int     `json:"status"`
	Reason   string  `json:"reason"`
	Attempts int     `json:"attempts"`
	Time     *string `json:"time"`
}

type alertJSON struct {
	ID         string              `json:"id"`
	Time       string              `json:"time"`
	Severity   string              `json:"severity"`
	Source     string              `json:"source"`
	Type       string              `json:"type"`
	Message    string              `json:"message"`
	Details    json.RawMessage     `json:"details"`
	Deliveries []alertDeliveryJSON `json:"deliveries"`
}

// Alerts lists the alert outbox newest first, filtered, with each alert's deliveries to the
// webhooks (the recorded outcomes, then PENDING for each configured webhook it is for that
// has none).
func Alerts(r kv.Reader, f AlertFilter, hooks []AlertWebhook, p Page) ([]byte, error) {
	pg := &pager{prefix: []byte{fund.PrefixAlert}, posLen: 8, page: fixPage(p)}
	lo, hi, err := pg.bounds(nil, nil)
	if err != nil {
		return nil, err
	}
	err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		a, err := fund.DecodeAlert(k, v)
		if err != nil {
			return false, err
		}
		if (f.Severity != "" && a.Severity != f.Severity) || (f.Source != "" && a.Source != f.Source) {
			return true, nil
		}
		item := alertJSON{ID: a.ID, Time: fmtUnixNano(a.Time), Severity: a.Severity, Source: a.Source, Type: a.Type,
			Message: a.Message, Details: json.RawMessage("{}"), Deliveries: []alertDeliveryJSON{}}
		if len(a.Details) > 0 && json.Valid(a.Details) {
			item.Details = a.Details
		}
		for _, o := range a.Outcomes {
			t := fmtUnixNano(o.Time)
			item.Deliveries = append(item.Deliveries, alertDeliveryJSON{Webhook: o.Webhook, State: o.State, Status: o.Status,
				Reason: o.Reason, Attempts: o.Attempts, Time: &t})
		}
		rank := alertSeverityRank[a.Severity]
		for _, h := range hooks {
			least := alertSeverityRank[strings.ToUpper(h.MinSeverity)]
			if least == 0 {
				least = alertSeverityRank["WARNING"]
			}
			if rank < least || slices.ContainsFunc(a.Outcomes, func(o fund.AlertOutcome) bool { return o.Webhook == h.Name }) {
				continue
			}
			item.Deliveries = append(item.Deliveries, alertDeliveryJSON{Webhook: h.Name, State: AlertPending})
		}
		if f.State != "" && !slices.ContainsFunc(item.Deliveries, func(d alertDeliveryJSON) bool { return d.State == f.State }) {
			return true, nil
		}
		b, err := json.Marshal(&item)
		if err != nil {
			return false, err
		}
		return pg.add(k[1:], b), nil
	})
	if err != nil {
		return nil, err
	}
	return pg.body()
}
