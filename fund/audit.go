package fund

import (
	"encoding/binary"
	"encoding/json"
	"time"
)

// auditRec is one privileged action.
type auditRec struct {
	index            uint64
	ord              uint32
	time             int64 // unix ns
	actor            Actor
	action, resource string
	before, after    []byte // small JSON values
}

func (a *auditRec) encode() []byte {
	b := []byte{recVersion}
	b = binary.AppendUvarint(b, a.index)
	b = binary.AppendUvarint(b, uint64(a.ord))
	b = binary.AppendVarint(b, a.time)
	b = appendActor(b, &a.actor)
	b = appendString(b, a.action)
	b = appendString(b, a.resource)
	b = appendString(b, string(a.before))
	return appendString(b, string(a.after))
}

func (a *auditRec) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	a.index = d.uvarint()
	a.ord = uint32(d.uvarint())
	a.time = d.varint()
	d.actor(&a.actor)
	a.action, a.resource = d.str(), d.str()
	a.before, a.after = []byte(d.str()), []byte(d.str())
	return d.finish()
}

// writeAudit records one privileged action in the same batch as the change (through the
// overlay, so that a refused command's rollback would drop it too). Its id is
// "<index>-<ordinal>", unique and ordered by Raft index.
func (m *Machine) writeAudit(index uint64, ord uint32, t int64, actor *Actor, action, resource string, before, after []byte) error {
	rec := auditRec{index: index, ord: ord, time: t, actor: *actor, action: action, resource: resource, before: before, after: after}
	pos := auditPos(index, ord)
	for _, k := range [][]byte{
		key(pAudit, pos),
		key(pAuditIdx, []byte{'a'}, hash8(actor.Name), pos),
		key(pAuditIdx, []byte{'x'}, hash8(action), pos),
	} {
		var v []byte
		if k[0] == pAudit {
			v = rec.encode()
		}
		if err := m.set(k, v); err != nil {
			return err
		}
	}
	m.mark(ClassAudit)
	return nil
}

// AuditCommand records a privileged action whose change is not a fund command, such as a
// cluster membership change: the change itself is a Raft configuration entry that cannot carry
// the audit record, so the server proposes this command right after the change succeeded.
// Before and After are small JSON values (or empty).
type AuditCommand struct {
	Time             int64 // unix ns
	Actor            Actor
	Action, Resource string
	Before, After    []byte
}

// EncodeAudit encodes c as a CmdAudit command.
func EncodeAudit(c *AuditCommand) []byte {
	b := []byte{CmdAudit, codecVersion}
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = appendString(b, c.Action)
	b = appendString(b, c.Resource)
	b = appendString(b, string(c.Before))
	return appendString(b, string(c.After))
}

// DecodeAudit decodes a CmdAudit command strictly; errors wrap ErrBadCommand.
func DecodeAudit(cmd []byte) (*AuditCommand, error) {
	d, err := newDec(cmd, CmdAudit)
	if err != nil {
		return nil, err
	}
	c := &AuditCommand{Time: d.varint()}
	d.actor(&c.Actor)
	c.Action, c.Resource = d.str(), d.str()
	c.Before, c.After = []byte(d.str()), []byte(d.str())
	return c, d.finish()
}

// applyAudit writes the audit entry of a CmdAudit command. A command without an actor or an
// action, or with before/after values that are not JSON, is refused and changes nothing.
func (ac *applyContext) applyAudit(c *AuditCommand) (any, error) {
	switch {
	case c.Actor.IsZero() || c.Action == "":
		return &ValidationError{Message: "an audit entry needs an actor and an action"}, nil
	case len(c.Action) > 64 || len(c.Resource) > 256 || len(c.Before) > 4096 || len(c.After) > 4096:
		return &ValidationError{Message: "audit entry too large"}, nil
	case len(c.Before) > 0 && !json.Valid(c.Before), len(c.After) > 0 && !json.Valid(c.After):
		return &ValidationError{Message: "audit before/after must be JSON"}, nil
	}
	if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, c.Action, c.Resource, c.Before, c.After); err != nil {
		return nil, err
	}
	return &AuditResult{}, nil
}

// AuditResult is the result of a CmdAudit command.
type AuditResult struct{}

// fmtUnix renders unix seconds as RFC 3339 UTC (the times in audit values and messages).
func fmtUnix(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

// fmtUnixNano renders unix nanoseconds as RFC 3339 UTC (with fractional seconds if any).
func fmtUnixNano(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339Nano) }
