package alerts

import (
	"context"
	"time"

	"paimon/raftstore"
)

// Outbox is what the Deliverer needs of the replicated alert outbox. On a node it is the state
// machine: Entries reads the applied state, Record proposes a Raft command. The Deliverer
// assumes only this:
//
//   - Entries returns the alerts whose Seq is greater than after, in increasing Seq order, at
//     most limit of them, each with the outcomes recorded for it so far. Seq increases with
//     every alert raised (the Raft index that raised it) and is never reused.
//   - Record proposes outcomes, each naming its alert by Seq (and AlertID, which must match).
//     It may fail (no longer leader, timeout) and may be retried; applying an outcome for an
//     (alert, webhook) pair that already has one, or for an alert no longer in the outbox,
//     must change nothing, so a retried or duplicated Record is harmless. Once Record returns
//     nil the outcomes are committed: a later Entries (on any node, once applied) shows them.
//
// alertstest.TestOutbox checks an implementation against this contract.
//
// Delivery is at least once: an alert sent but not yet recorded when leadership ends is sent
// again by the next leader, with the same id.
type Outbox interface {
	Entries(ctx context.Context, after uint64, limit int) ([]Entry, error)
	Record(ctx context.Context, outcomes []Outcome) error
}

// Leadership tells the Deliverer when this node leads; *raftstore.Store implements it.
type Leadership interface {
	SubscribeLeadership() (changes <-chan raftstore.Leadership, cancel func())
}

// Entry is one alert in the outbox with its delivery state.
type Entry struct {
	Seq      uint64
	Alert    Alert
	Outcomes []Outcome
}

// outcome returns the entry's outcome for a webhook, if one was recorded.
func (e *Entry) outcome(webhook string) (Outcome, bool) {
	for _, o := range e.Outcomes {
		if o.Webhook == webhook {
			return o, true
		}
	}
	return Outcome{}, false
}

// Delivery states an Outcome records.
const (
	// StateDelivered: the receiver answered 2xx.
	StateDelivered = "DELIVERED"
	// StateFailed: the receiver refused the alert for good (a 4xx other than 408 and 429, a
	// redirect), the alert could not be rendered, or it expired (alerts.max_age) before
	// the receiver took it. It is not retried; GET /v1/alerts shows the status and reason.
	StateFailed = "FAILED"
)

// Outcome is the final state of one alert for one webhook.
type Outcome struct {
	// Seq and AlertID name the alert.
	Seq     uint64 `json:"seq"`
	AlertID string `json:"alertId"`
	Webhook string `json:"webhook"`
	// State is StateDelivered or StateFailed.
	State string `json:"state"`
	// Status is the last HTTP status the receiver answered (0: none).
	Status int `json:"status,omitempty"`
	// Reason says why a delivery failed ("HTTP 400: bad payload", "expired").
	Reason string `json:"reason,omitempty"`
	// Attempts is how many requests this leader made for it (a previous leader's are not
	// counted).
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`
}
