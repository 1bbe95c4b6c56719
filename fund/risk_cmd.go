package fund

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"paimon/kv"
)

// CmdRiskEvent raises or clears a SYSTEM risk condition the leader observed (ingest halted, a
// PostgreSQL sync lag over its bound); CmdRiskResolve resolves a risk event (POST
// /v1/risk/events/{id}/resolve). They follow CmdPriceDelete (11) in the append-only list.
const (
	CmdRiskEvent   byte = 12
	CmdRiskResolve byte = 13
)

// pRiskActive holds the SYSTEM conditions in force: k type → the key of the event that raised
// it. A condition that persists raises one event: raising it again while it is in force changes
// nothing, and only clearing it lets the next raise open a new event. Not a primary record
// (PostgreSQL does not hold it): after a restore from PostgreSQL a condition still in force
// raises one more event.
const pRiskActive = 'k'

// RiskEventCommand raises (Clear false) or clears (Clear true) the SYSTEM condition Type. The
// leader proposes a raise when it sees the condition begin (and again after it became leader,
// which the state absorbs) and a clear when it ends.
type RiskEventCommand struct {
	Time     int64 // the proposer's clock, unix ns
	Clear    bool
	Type     string // the condition, e.g. "INGEST_HALTED", "PG_SYNC_LAG" (1 to 64 bytes)
	Severity RiskSeverity
	Message  string // at most 1 KiB
	Details  []byte // a JSON object (at most 16 KiB), or nil
}

// RiskEventResult is the result of a CmdRiskEvent: the id of the event raised ("" when nothing
// was raised: the condition was already in force, or a clear), and whether a condition that was
// in force was cleared.
type RiskEventResult struct {
	ID      string
	Cleared bool
}

// RiskResolveCommand resolves the risk event ID with a note, as Actor.
type RiskResolveCommand struct {
	Time  int64 // unix ns
	Actor Actor
	ID    string
	Note  string // at most 1 KiB
}

// RiskResolveResult is the result of a CmdRiskResolve: the event as resolved.
type RiskResolveResult struct {
	Event RiskEventRecord
}

// EncodeRiskEvent encodes c as a CmdRiskEvent command.
func EncodeRiskEvent(c *RiskEventCommand) []byte {
	b := make([]byte, 0, 32+len(c.Type)+len(c.Message)+len(c.Details))
	b = append(b, CmdRiskEvent, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = append(b, boolByte(c.Clear), uint8(c.Severity))
	b = appendString(b, c.Type)
	b = appendString(b, c.Message)
	return appendString(b, string(c.Details))
}

// DecodeRiskEvent decodes a CmdRiskEvent command strictly; errors wrap ErrBadCommand.
func DecodeRiskEvent(cmd []byte) (*RiskEventCommand, error) {
	d, err := newDec(cmd, CmdRiskEvent)
	if err != nil {
		return nil, err
	}
	c := &RiskEventCommand{Time: d.varint(), Clear: d.bool(), Severity: RiskSeverity(d.u8())}
	c.Type, c.Message = d.str(), d.str()
	if s := d.str(); s != "" {
		c.Details = []byte(s)
	}
	return c, d.finish()
}

// EncodeRiskResolve encodes c as a CmdRiskResolve command.
func EncodeRiskResolve(c *RiskResolveCommand) []byte {
	b := make([]byte, 0, 64+len(c.ID)+len(c.Note))
	b = append(b, CmdRiskResolve, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = appendString(b, c.ID)
	return appendString(b, c.Note)
}

// DecodeRiskResolve decodes a CmdRiskResolve command strictly; errors wrap ErrBadCommand.
func DecodeRiskResolve(cmd []byte) (*RiskResolveCommand, error) {
	d, err := newDec(cmd, CmdRiskResolve)
	if err != nil {
		return nil, err
	}
	c := &RiskResolveCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.ID, c.Note = d.str(), d.str()
	return c, d.finish()
}

// ValidRiskType reports whether t is a risk event type a command may carry: 1 to 64 bytes of
// letters, digits, '_', '.' and '-'.
func ValidRiskType(t string) bool {
	if t == "" || len(t) > maxRiskType {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (ac *applyContext) applyRiskEvent(c *RiskEventCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case !ValidRiskType(c.Type):
		return invalidParam("type", "risk event type must be 1 to %d letters, digits, '_', '.' or '-'", maxRiskType), nil
	case !c.Clear && c.Severity.String() == "":
		return invalidParam("severity", "risk event severity %d is not one of INFO, WARNING, HIGH, CRITICAL", c.Severity), nil
	case len(c.Message) > maxRiskMessage || !utf8.ValidString(c.Message):
		return invalidParam("message", "risk event message must be UTF-8 of at most %d bytes", maxRiskMessage), nil
	case len(c.Details) > maxRiskDetails || (c.Details != nil && !isJSONObject(c.Details)):
		return invalidParam("details", "risk event details must be a JSON object of at most %d bytes", maxRiskDetails), nil
	}
	ak := key(pRiskActive, []byte(c.Type))
	_, active, err := ac.get(ak)
	if err != nil {
		return nil, err
	}
	if c.Clear {
		if active {
			if err := ac.del(ak); err != nil {
				return nil, err
			}
		}
		return &RiskEventResult{Cleared: active}, nil
	}
	if active {
		return &RiskEventResult{}, nil
	}
	k := riskCmdKey(uint64(ac.fund.ints[fLastBlock]), ac.index, ac.riskOrd)
	if err := ac.raiseRiskEvent(&RiskEvent{Source: SourceSystem, Severity: c.Severity, Type: c.Type, Message: c.Message, Details: c.Details}, nil); err != nil {
		return nil, err
	}
	if err := ac.set(ak, k); err != nil {
		return nil, err
	}
	return &RiskEventResult{ID: RiskEventID(k)}, nil
}

// applyRiskResolve resolves an open risk event and audits "risk.resolve". An unknown id is
// NOT_FOUND; an event already resolved is CONFLICT (details: resolvedBy, resolvedAt) and
// keeps its first resolution.
func (ac *applyContext) applyRiskResolve(c *RiskResolveCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if len(c.Note) > maxRiskNote || !utf8.ValidString(c.Note) || !utf8.ValidString(c.Actor.Name) {
		return invalidParam("note", "note must be UTF-8 of at most %d bytes", maxRiskNote), nil
	}
	k, ok := RiskEventKey(c.ID)
	if !ok {
		return invalidParam("id", "%q is not a risk event id", truncate(c.ID, 100)), nil
	}
	v, found, err := ac.get(k)
	if err != nil {
		return nil, err
	}
	if !found {
		return &ValidationError{Code: CodeNotFound, Message: fmt.Sprintf("risk event %s not found", c.ID), Details: map[string]any{"id": c.ID}}, nil
	}
	var r riskRec
	if err := r.decode(v); err != nil {
		return nil, corrupt("risk event", err)
	}
	if r.resolved {
		return &ValidationError{Code: CodeConflict, Message: fmt.Sprintf("risk event %s is already resolved", c.ID),
			Details: map[string]any{"id": c.ID, "resolvedBy": r.resolvedBy, "resolvedAt": fmtUnixNano(r.resolvedAt)}}, nil
	}
	if r.ver == 1 {
		// v0.1.0's record gains what version 2 holds, from its ledger entry.
		if lv, ok, err := ac.get(key(pLedger, k[1:])); err != nil {
			return nil, err
		} else if ok {
			rec, err := decodeLedger(lv)
			if err != nil {
				return nil, corrupt("ledger entry", err)
			}
			if s, verr := eventSpec(&rec.ev); verr == nil {
				r.message, r.details = riskChainText(&rec.ev, s)
			}
		}
	}
	r.resolved, r.resolvedBy, r.resolvedAt, r.note = true, c.Actor.Name, c.Time, c.Note
	nv := r.encode()
	if err := ac.set(k, nv); err != nil {
		return nil, err
	}
	ac.mark(ClassRisk)
	if !c.Actor.IsZero() {
		note, _ := json.Marshal(c.Note) // a string always marshals
		after := append(append([]byte(`{"resolved":true,"note":`), note...), '}')
		if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "risk.resolve", "risk/events/"+c.ID, []byte(`{"resolved":false}`), after); err != nil {
			return nil, err
		}
	}
	rec, err := riskEventRecord(k, nv)
	if err != nil {
		return nil, err
	}
	return &RiskResolveResult{Event: *rec}, nil
}

// The SYSTEM conditions the leader raises (CmdRiskEvent types).
const (
	RiskIngestHalted = "INGEST_HALTED" // chain ingest stopped for an operator (a fork deeper than the kept window, a wrong chain)
	RiskPGSyncLag    = "PG_SYNC_LAG"   // PostgreSQL lags the state by more than postgres.max_lag
)

// RiskConditionActive reports whether the SYSTEM condition typ is in force in r: raised and not
// cleared since. The leader reads it when its term begins, to clear a condition that ended
// under another leader and to not raise one again.
func RiskConditionActive(r kv.Reader, typ string) (bool, error) {
	_, err := r.Get(key(pRiskActive, []byte(typ)))
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
