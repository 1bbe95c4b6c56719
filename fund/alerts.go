package fund

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"paimon/kv"
)

// The alert outbox (alerts/DESIGN.md): every risk event raised inside apply raises one alert,
// stored under pAlert by its Seq, with the final delivery outcome per webhook that the
// leader's Deliverer (package alerts) records through CmdAlertOutcome. Alerts are not primary
// records (PostgreSQL does not hold them) and are pruned by age, so the outbox a new leader
// pages through stays bounded.

// CmdAlertOutcome records final delivery outcomes of alerts, as the leader's Deliverer
// proposes. The type follows CmdAssetMeta (14) in the append-only command list.
const CmdAlertOutcome byte = 15

// AlertsSince is the cluster version from which alerts exist: they are raised with the risk
// events of commands that need it (a version-2 CmdLogs or CmdIngest, CmdRiskEvent, ...); the
// version-1 commands a v0.1.0 member may still apply write what v0.1.0 writes, and no alert.
const AlertsSince = "0.2"

// AlertRetention is how long an alert stays in the outbox after the command that raised it:
// the commands that raise alerts or record outcomes delete, by their own time, up to
// alertPruneLimit alerts raised longer ago than this.
const AlertRetention = 30 * 24 * time.Hour

// alertPruneLimit bounds the alerts one command deletes.
const alertPruneLimit = 64

// maxAlertsPerCommand: Seq keeps 16 bits for an alert's place among its command's; a command
// raising more (none can: a command carries at most MaxLogsPerRequest events) raises no more.
const maxAlertsPerCommand = 1 << 16

// Limits of an outcome's fields, checked by apply (the Deliverer keeps within them).
const (
	MaxAlertOutcomes     = 10000
	maxAlertWebhookLen   = 64
	MaxAlertReasonLen    = 512
	maxAlertOutcomeIDLen = 256
)

// Delivery states of an alert outcome (alerts.StateDelivered, alerts.StateFailed).
const (
	AlertDelivered = "DELIVERED"
	AlertFailed    = "FAILED"
)

// Alert is one alert of the outbox with the outcomes recorded for it, as ReadAlerts returns it.
type Alert struct {
	// Seq is the alert's place in the outbox: the index of the command that raised it << 16
	// | its place among that command's alerts. Increasing, never reused, the same everywhere.
	Seq uint64
	// ID is the risk event's id: what receivers deduplicate on.
	ID string
	// Raised is the time of the command that raised it, unix ns (what pruning goes by).
	Raised int64
	// Time is when the risk event happened, unix ns (a CHAIN event's block time).
	Time                            int64
	Severity, Source, Type, Message string
	Details                         []byte // a JSON object, or empty
	Outcomes                        []AlertOutcome
}

// AlertOutcome is the final delivery state of one alert for one webhook.
type AlertOutcome struct {
	Seq      uint64 // the alert's (in a command; not stored)
	AlertID  string // the alert's id (in a command; not stored)
	Webhook  string
	State    string // AlertDelivered or AlertFailed
	Status   int    // the last HTTP status (0: none)
	Reason   string
	Attempts int
	Time     int64 // unix ns
}

// AlertOutcomeCommand is a CmdAlertOutcome: outcomes the leader's Deliverer observed.
type AlertOutcomeCommand struct {
	Time     int64 // the proposer's clock, unix ns
	Outcomes []AlertOutcome
}

// AlertOutcomeResult is the result of a CmdAlertOutcome: how many outcomes were stored and
// how many changed nothing (the pair had one already, or the alert is gone).
type AlertOutcomeResult struct {
	Recorded, Ignored int
}

func alertKey(seq uint64) []byte        { return key(pAlert, be64(seq)) }
func alertIDKey(id string) []byte       { return key(pAlertID, []byte(id)) }
func alertSeq(index, ord uint64) uint64 { return index<<16 | ord }

// EncodeAlertOutcome encodes c: type, version, time, the outcomes (seq, alert id, webhook,
// state, status, reason, attempts, time).
func EncodeAlertOutcome(c *AlertOutcomeCommand) []byte {
	b := make([]byte, 0, 16+64*len(c.Outcomes))
	b = append(b, CmdAlertOutcome, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = binary.AppendUvarint(b, uint64(len(c.Outcomes)))
	for i := range c.Outcomes {
		o := &c.Outcomes[i]
		b = binary.AppendUvarint(b, o.Seq)
		b = appendString(b, o.AlertID)
		b = appendString(b, o.Webhook)
		b = appendString(b, o.State)
		b = binary.AppendUvarint(b, uint64(max(o.Status, 0)))
		b = appendString(b, o.Reason)
		b = binary.AppendUvarint(b, uint64(max(o.Attempts, 0)))
		b = binary.AppendVarint(b, o.Time)
	}
	return b
}

// DecodeAlertOutcome decodes a CmdAlertOutcome strictly; errors wrap ErrBadCommand.
func DecodeAlertOutcome(cmd []byte) (*AlertOutcomeCommand, error) {
	d, err := newDec(cmd, CmdAlertOutcome)
	if err != nil {
		return nil, err
	}
	c := &AlertOutcomeCommand{Time: d.varint()}
	n := d.count(9)
	if d.err == nil && n > 0 {
		c.Outcomes = make([]AlertOutcome, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		o := &c.Outcomes[i]
		o.Seq = d.uvarint()
		o.AlertID, o.Webhook, o.State = d.str(), d.str(), d.str()
		o.Status = int(min(d.uvarint(), 999))
		o.Reason = d.str()
		o.Attempts = int(min(d.uvarint(), 1<<31))
		o.Time = d.varint()
	}
	return c, d.finish()
}

// alertInput is what raising an alert takes from the risk event that raised it.
type alertInput struct {
	id       string // the risk event's id, unique for the cluster's life
	time     int64  // when the event happened, unix ns
	severity string // INFO, WARNING, HIGH, CRITICAL
	source   string // CHAIN, RULE, SYSTEM
	typ      string
	message  string
	details  []byte // a JSON object, or empty
}

// raiseAlert adds the alert of a risk event to the outbox, once per risk event id: a risk
// event raised again with the same id (its log re-applied after the sequencer made room for
// an earlier one, or re-included after a reorg at the same position) raises nothing more. The
// alert is not journaled: a reorg that removes the log that raised it leaves it in the outbox
// (it may have been delivered already, and a delivered alert cannot be unsent; the risk event
// itself goes with its log).
func (ac *applyContext) raiseAlert(in *alertInput) error {
	if ac.alertOrd >= maxAlertsPerCommand {
		return nil
	}
	idk := alertIDKey(in.id)
	if _, ok, err := ac.get(idk); err != nil || ok {
		return err
	}
	if ac.alertOrd == 0 {
		// Once per command: a command raising many alerts scans the outbox's head once.
		if err := ac.pruneAlerts(); err != nil {
			return err
		}
	}
	seq := alertSeq(ac.index, ac.alertOrd)
	ac.alertOrd++
	a := Alert{Seq: seq, ID: in.id, Raised: ac.cmdTime, Time: in.time, Severity: in.severity, Source: in.source,
		Type: in.typ, Message: in.message, Details: in.details}
	if err := ac.set(alertKey(seq), encodeAlert(&a)); err != nil {
		return err
	}
	if err := ac.set(idk, be64(seq)); err != nil {
		return err
	}
	ac.mark(ClassAlerts)
	ac.changes.Alerts++
	return nil
}

// pruneAlerts deletes, oldest first, up to alertPruneLimit alerts raised more than
// AlertRetention before the command's time, stopping at the first younger one.
func (ac *applyContext) pruneAlerts() error {
	cutoff := ac.cmdTime - int64(AlertRetention)
	keys, err := ac.firstKeys([]byte{pAlert}, alertPruneLimit)
	if err != nil {
		return err
	}
	for _, k := range keys {
		v, ok, err := ac.get(k)
		if err != nil || !ok {
			return err
		}
		a, err := decodeAlert(k, v)
		if err != nil {
			return err
		}
		if a.Raised >= cutoff {
			return nil
		}
		if err := ac.del(k); err != nil {
			return err
		}
		if err := ac.del(alertIDKey(a.ID)); err != nil {
			return err
		}
		ac.mark(ClassAlerts)
	}
	return nil
}

// firstKeys returns the first n keys present under prefix as this command sees the state
// (the store through the batch's overlay), in key order. It reads at most n keys of the
// store beyond those the overlay deleted, so the result does not depend on how the commands
// were grouped into batches.
func (ac *applyContext) firstKeys(prefix []byte, n int) ([][]byte, error) {
	hi := kv.PrefixEnd(prefix)
	over := map[string]bool{}
	for i := range ac.overlay.entries {
		e := &ac.overlay.entries[i]
		if bytes.HasPrefix(e.key, prefix) {
			over[string(e.key)] = e.ok
		}
	}
	var keys [][]byte
	found := 0
	err := ac.store.Scan(prefix, hi, false, func(k, _ []byte) bool {
		if _, seen := over[string(k)]; seen {
			return true // the overlay's state wins: added below when present
		}
		keys = append(keys, bytes.Clone(k))
		found++
		return found < n
	})
	if err != nil {
		return nil, fmt.Errorf("fund: scan: %w", err)
	}
	for k, ok := range over {
		if ok {
			keys = append(keys, []byte(k))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys, nil
}

func (ac *applyContext) applyAlertOutcome(c *AlertOutcomeCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if len(c.Outcomes) > MaxAlertOutcomes {
		return invalidParam("outcomes", "%d outcomes, at most %d", len(c.Outcomes), MaxAlertOutcomes), nil
	}
	for i := range c.Outcomes {
		o := &c.Outcomes[i]
		switch {
		case o.State != AlertDelivered && o.State != AlertFailed:
			return invalidParam("outcomes", "outcomes[%d]: state %q is not %s or %s", i, o.State, AlertDelivered, AlertFailed), nil
		case o.Webhook == "" || len(o.Webhook) > maxAlertWebhookLen:
			return invalidParam("outcomes", "outcomes[%d]: webhook must be 1 to %d bytes", i, maxAlertWebhookLen), nil
		case len(o.Reason) > MaxAlertReasonLen:
			return invalidParam("outcomes", "outcomes[%d]: reason over %d bytes", i, MaxAlertReasonLen), nil
		case len(o.AlertID) > maxAlertOutcomeIDLen:
			return invalidParam("outcomes", "outcomes[%d]: alert id over %d bytes", i, maxAlertOutcomeIDLen), nil
		}
	}
	res := &AlertOutcomeResult{}
	for i := range c.Outcomes {
		o := c.Outcomes[i]
		k := alertKey(o.Seq)
		v, ok, err := ac.get(k)
		if err != nil {
			return nil, err
		}
		if !ok {
			res.Ignored++ // pruned, or never raised
			continue
		}
		a, err := decodeAlert(k, v)
		if err != nil {
			return nil, err
		}
		if a.ID != o.AlertID || slices.ContainsFunc(a.Outcomes, func(x AlertOutcome) bool { return x.Webhook == o.Webhook }) {
			res.Ignored++
			continue
		}
		o.Seq, o.AlertID = 0, ""
		a.Outcomes = append(a.Outcomes, o)
		if err := ac.set(k, encodeAlert(&a)); err != nil {
			return nil, err
		}
		res.Recorded++
	}
	if res.Recorded > 0 {
		ac.mark(ClassAlerts)
	}
	if err := ac.pruneAlerts(); err != nil {
		return nil, err
	}
	return res, nil
}

// encodeAlert: version, id, raised, time, severity, source, type, message, details, the
// outcomes (webhook, state, status, reason, attempts, time).
func encodeAlert(a *Alert) []byte {
	b := make([]byte, 0, 96+len(a.Message)+len(a.Details)+48*len(a.Outcomes))
	b = append(b, recVersion)
	b = appendString(b, a.ID)
	b = binary.AppendVarint(b, a.Raised)
	b = binary.AppendVarint(b, a.Time)
	for _, s := range []string{a.Severity, a.Source, a.Type, a.Message, string(a.Details)} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(a.Outcomes)))
	for i := range a.Outcomes {
		o := &a.Outcomes[i]
		b = appendString(b, o.Webhook)
		b = appendString(b, o.State)
		b = binary.AppendUvarint(b, uint64(o.Status))
		b = appendString(b, o.Reason)
		b = binary.AppendUvarint(b, uint64(o.Attempts))
		b = binary.AppendVarint(b, o.Time)
	}
	return b
}

func decodeAlert(k, v []byte) (Alert, error) {
	if len(k) != 9 || k[0] != pAlert {
		return Alert{}, corrupt("alert key", fmt.Errorf("%x", k))
	}
	d := &dec{b: v}
	d.recordVersion()
	a := Alert{Seq: binary.BigEndian.Uint64(k[1:]), ID: d.str(), Raised: d.varint(), Time: d.varint()}
	a.Severity, a.Source, a.Type, a.Message = d.str(), d.str(), d.str(), d.str()
	if det := d.str(); det != "" {
		a.Details = []byte(det)
	}
	n := d.count(6)
	for i := 0; i < n && d.err == nil; i++ {
		o := AlertOutcome{Seq: a.Seq, AlertID: a.ID, Webhook: d.str(), State: d.str()}
		o.Status = int(min(d.uvarint(), 999))
		o.Reason = d.str()
		o.Attempts = int(min(d.uvarint(), 1<<31))
		o.Time = d.varint()
		a.Outcomes = append(a.Outcomes, o)
	}
	if err := d.finish(); err != nil {
		return Alert{}, corrupt("alert", err)
	}
	return a, nil
}

// ReadAlerts returns the alerts with Seq > after in increasing Seq order, at most limit
// (limit <= 0: all), each with its outcomes (alerts.Outbox's Entries, over a view).
func ReadAlerts(r kv.Reader, after uint64, limit int) ([]Alert, error) {
	if after == ^uint64(0) {
		return nil, nil
	}
	var out []Alert
	err := scan(r, alertKey(after+1), []byte{pAlert + 1}, false, func(k, v []byte) (bool, error) {
		a, err := decodeAlert(k, v)
		if err != nil {
			return false, err
		}
		out = append(out, a)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// PrefixAlert is the prefix of the alert outbox: J seq8 → alert (DecodeAlert).
const PrefixAlert = pAlert

// DecodeAlert decodes the alert stored at k (PrefixAlert, Seq); the result shares nothing
// with v.
func DecodeAlert(k, v []byte) (Alert, error) { return decodeAlert(k, v) }
