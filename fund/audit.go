package fund

import "encoding/binary"

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
	if d.u8() != recVersion {
		d.fail("record version")
	}
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
