package fund

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/kv"
)

// Approval tickets (OPERATIONS.md, "Approval tickets"; DESIGN.md, "Approval tickets"): a
// redemption that arrives with requiresApproval opens a ticket in the same command; approvers
// decide it through CmdApprovalDecision; CmdTick moves it through its SLA (warn, escalate,
// deadline: EXPIRED); the chain's RedemptionApproved / RedemptionRejected closes it as
// EXECUTED. The rules (quorum, SLA durations) are replicated state (CmdApprovalRules), never a
// node's own configuration.

// Key prefixes of the approval tickets.
const (
	pTicket      = 'G' // G type1 ref32 → ticket
	pTicketRec   = 'g' // g type1 ref32 seq4 → approval record (append only)
	pTicketDue   = 'h' // h due8 type1 ref32 → ∅ (open tickets by their next SLA time, for CmdTick)
	pApprovRules = 'E' // E → the replicated approval rules (not synced)
)

// TicketType is what a ticket approves.
type TicketType uint8

// The ticket types (stored; never renumber).
const (
	TicketRedemption TicketType = 1
	TicketRebalance  TicketType = 2 // rebalance plans (ref: the plan id, rebalance.go)
)

var ticketTypeNames = [...]string{"", "REDEMPTION", "REBALANCE"}

// String returns the API name, or "" for an invalid type.
func (t TicketType) String() string {
	if int(t) < len(ticketTypeNames) {
		return ticketTypeNames[t]
	}
	return ""
}

// TicketStatus is a ticket's status.
type TicketStatus uint8

// The ticket statuses (stored; never renumber).
const (
	TicketPending           TicketStatus = 1
	TicketPartiallyApproved TicketStatus = 2
	TicketApproved          TicketStatus = 3
	TicketRejected          TicketStatus = 4
	TicketExpired           TicketStatus = 5
	TicketCancelled         TicketStatus = 6
	TicketExecuted          TicketStatus = 7
)

var ticketStatusNames = [...]string{"", "PENDING", "PARTIALLY_APPROVED", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED", "EXECUTED"}

// String returns the API name, or "" for an invalid status.
func (s TicketStatus) String() string {
	if int(s) < len(ticketStatusNames) {
		return ticketStatusNames[s]
	}
	return ""
}

// Open reports whether the ticket still waits for decisions (PENDING, PARTIALLY_APPROVED):
// the SLA runs only for those.
func (s TicketStatus) Open() bool { return s == TicketPending || s == TicketPartiallyApproved }

// ParseTicketStatus parses an API status name, case-insensitively.
func ParseTicketStatus(v string) (TicketStatus, bool) {
	for i := 1; i < len(ticketStatusNames); i++ {
		if strings.EqualFold(v, ticketStatusNames[i]) {
			return TicketStatus(i), true
		}
	}
	return 0, false
}

// ParseTicketType parses an API type name, case-insensitively.
func ParseTicketType(v string) (TicketType, bool) {
	for i := 1; i < len(ticketTypeNames); i++ {
		if strings.EqualFold(v, ticketTypeNames[i]) {
			return TicketType(i), true
		}
	}
	return 0, false
}

// Decision is one entry of a ticket's trail (an approval record).
type Decision uint8

// The decisions and the system's own entries (stored; never renumber).
const (
	DecisionApprove     Decision = 1
	DecisionReject      Decision = 2
	DecisionCancel      Decision = 3
	DecisionSLAWarn     Decision = 4 // the SLA's warn time passed (system)
	DecisionSLAEscalate Decision = 5 // the escalate time passed (system)
	DecisionExpire      Decision = 6 // the deadline passed undecided: EXPIRED, SLA breach (system)
)

var decisionNames = [...]string{"", "APPROVE", "REJECT", "CANCEL", "SLA_WARN", "SLA_ESCALATE", "EXPIRE", "RETRY"}

// String returns the API name, or "" for an invalid decision.
func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return ""
}

// SLA milestones already passed (ticketRec.fired).
const (
	firedWarn     uint8 = 1
	firedEscalate uint8 = 2
	firedBreach   uint8 = 4
)

// ticketVersion is the newest ticket record version: 2 adds the operator's retries
// (approvals_retry.go), written only by a ticket that was retried (CmdTicketRetry needs the
// cluster version that reads it); 3 appends the requester's name (a REBALANCE ticket's: the
// actor who executed the plan). A ticket with neither keeps version 1's bytes.
const ticketVersion byte = 3

// approvalEntry is one approval (or rejection) counted on the ticket.
type approvalEntry struct {
	actor, role string
	decision    Decision
	reason      string
	time        int64 // unix ns, the deciding command's time
	index       uint64
}

// ticketRec is a stored ticket. What the opening event writes is a pure function of the
// event and the replicated rules (no command index or time), so that a redemption applied late
// by the sequencer opens the same ticket as the in-order replay.
type ticketRec struct {
	typ       TicketType
	ref       [32]byte // REDEMPTION: the request id
	status    TicketStatus
	channel   uint8
	amount    uint256.Int // REDEMPTION: lockedAmount
	requester common.Address
	required  uint8
	createdAt int64 // unix s: the opening event's block time
	warnAt    int64 // unix s
	escAt     int64
	deadline  int64
	fired     uint8
	openedTx  common.Hash // the opening event's transaction and block
	openedBn  uint64
	approvals []approvalEntry
	records   uint32 // approval records written so far (the next one's seq)
	// updatedIndex and updatedAt: the command that last changed it by a decision or the SLA
	// (0 while only the chain did).
	updatedIndex uint64
	updatedAt    int64 // unix ns
	closedAt     int64 // unix ns (decision, expiry) or unix s × 1e9 (chain), 0 while not closed
	// The chain's closing event (EXECUTED, or CANCELLED by RedemptionCancelled).
	execTx      common.Hash
	execBn      uint64
	execTime    int64 // unix s: its block time
	execOutcome uint8 // the redemption status the chain set (stApproved, stRejected, stCancelled)
	// retries counts the operator's retries of its failed transaction (CmdTicketRetry): the
	// executor's reference of its decision is TicketExecReference(id, retries).
	retries uint32
	// requesterName names the requester when it is not a wallet (a REBALANCE ticket: the
	// actor's name); "" for a redemption's, whose requester is the owner's address.
	requesterName string
}

func (t *ticketRec) encode() []byte {
	b := make([]byte, 0, 256+64*len(t.approvals))
	ver := byte(1)
	if t.retries > 0 {
		ver = 2
	}
	if t.requesterName != "" {
		ver = 3
	}
	b = append(b, ver, byte(t.typ))
	b = append(b, t.ref[:]...)
	b = append(b, byte(t.status), t.channel)
	b = appendU256(b, &t.amount)
	b = append(b, t.requester[:]...)
	b = append(b, t.required)
	for _, v := range []int64{t.createdAt, t.warnAt, t.escAt, t.deadline} {
		b = binary.AppendVarint(b, v)
	}
	b = append(b, t.fired)
	b = append(b, t.openedTx[:]...)
	b = binary.AppendUvarint(b, t.openedBn)
	b = binary.AppendUvarint(b, uint64(len(t.approvals)))
	for i := range t.approvals {
		a := &t.approvals[i]
		b = appendString(b, a.actor)
		b = appendString(b, a.role)
		b = append(b, byte(a.decision))
		b = appendString(b, a.reason)
		b = binary.AppendVarint(b, a.time)
		b = binary.AppendUvarint(b, a.index)
	}
	b = binary.AppendUvarint(b, uint64(t.records))
	b = binary.AppendUvarint(b, t.updatedIndex)
	b = binary.AppendVarint(b, t.updatedAt)
	b = binary.AppendVarint(b, t.closedAt)
	b = append(b, t.execTx[:]...)
	b = binary.AppendUvarint(b, t.execBn)
	b = binary.AppendVarint(b, t.execTime)
	b = append(b, t.execOutcome)
	if ver >= 2 {
		b = binary.AppendUvarint(b, uint64(t.retries))
	}
	if ver >= 3 {
		b = appendString(b, t.requesterName)
	}
	return b
}

func (t *ticketRec) decode(v []byte) error {
	d := &dec{b: v}
	ver := d.u8()
	if d.err != nil {
		return d.err
	}
	if err := checkVersion("approval ticket", ver, ticketVersion); err != nil {
		return err
	}
	*t = ticketRec{}
	t.typ = TicketType(d.u8())
	copy(t.ref[:], d.fixed(32))
	t.status, t.channel = TicketStatus(d.u8()), d.u8()
	d.u256(&t.amount)
	t.requester = common.Address(d.fixed(20))
	t.required = d.u8()
	t.createdAt, t.warnAt, t.escAt, t.deadline = d.varint(), d.varint(), d.varint(), d.varint()
	t.fired = d.u8()
	t.openedTx = common.Hash(d.fixed(32))
	t.openedBn = d.uvarint()
	n := d.count(5)
	if d.err == nil && n > 0 {
		t.approvals = make([]approvalEntry, n)
		for i := 0; i < n && d.err == nil; i++ {
			a := &t.approvals[i]
			a.actor, a.role = d.str(), d.str()
			a.decision = Decision(d.u8())
			a.reason = d.str()
			a.time = d.varint()
			a.index = d.uvarint()
		}
	}
	t.records = uint32(d.uvarint())
	t.updatedIndex = d.uvarint()
	t.updatedAt = d.varint()
	t.closedAt = d.varint()
	t.execTx = common.Hash(d.fixed(32))
	t.execBn = d.uvarint()
	t.execTime = d.varint()
	t.execOutcome = d.u8()
	if ver >= 2 {
		t.retries = uint32(d.uvarint())
	}
	if ver >= 3 {
		t.requesterName = d.str()
	}
	if d.err == nil && (t.typ.String() == "" || t.status.String() == "") {
		d.fail(fmt.Sprintf("ticket type %d, status %d", t.typ, t.status))
	}
	return d.finish()
}

// nextDue is the next SLA time of an open ticket (unix s), 0 when none is left (closed, or
// every milestone passed).
func (t *ticketRec) nextDue() int64 {
	if !t.status.Open() {
		return 0
	}
	switch {
	case t.fired&firedWarn == 0:
		return t.warnAt
	case t.fired&firedEscalate == 0:
		return t.escAt
	case t.fired&firedBreach == 0:
		return t.deadline
	}
	return 0
}

// approvedCount counts the approvals on the ticket.
func (t *ticketRec) approvedCount() int {
	n := 0
	for i := range t.approvals {
		if t.approvals[i].decision == DecisionApprove {
			n++
		}
	}
	return n
}

func ticketKey(typ TicketType, ref *[32]byte) []byte { return key(pTicket, []byte{byte(typ)}, ref[:]) }

func ticketDueKey(due int64, typ TicketType, ref *[32]byte) []byte {
	return key(pTicketDue, be64(uint64(max(due, 0))), []byte{byte(typ)}, ref[:])
}

func ticketRecKey(typ TicketType, ref *[32]byte, seq uint32) []byte {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], seq)
	return key(pTicketRec, []byte{byte(typ)}, ref[:], s[:])
}

// TicketID is the API id of a ticket: "<type>-<reference>" in lower case, e.g.
// "redemption-42" for the ticket of redemption request 42. Stable and the same on every node.
func TicketID(typ TicketType, ref *[32]byte) string {
	var u uint256.Int
	return strings.ToLower(typ.String()) + "-" + u.SetBytes32(ref[:]).Dec()
}

// ParseTicketID parses a ticket id (TicketID); ok is false for anything else.
func ParseTicketID(id string) (typ TicketType, ref [32]byte, ok bool) {
	name, num, found := strings.Cut(id, "-")
	if !found || len(id) > 100 {
		return 0, ref, false
	}
	switch name {
	case "redemption":
		typ = TicketRedemption
	case "rebalance":
		typ = TicketRebalance
	default:
		return 0, ref, false
	}
	u, err := uint256.FromDecimal(num)
	if err != nil || u.Dec() != num {
		return 0, ref, false
	}
	return typ, u.Bytes32(), true
}

func (ac *applyContext) loadTicket(k []byte) (*ticketRec, error) {
	v, ok, err := ac.get(k)
	if err != nil || !ok {
		return nil, err
	}
	t := &ticketRec{}
	if err := t.decode(v); err != nil {
		return nil, corrupt("approval ticket", err)
	}
	return t, nil
}

// moveDue keeps the due index (h) following a ticket's change from old to new (either may be
// nil). The index is derived and not journaled: every write of a ticket goes through here,
// including the journal's undo (undoTicket), so it always follows the ticket.
func (ac *applyContext) moveDue(old, new *ticketRec) error {
	var od, nd int64
	if old != nil {
		od = old.nextDue()
	}
	if new != nil {
		nd = new.nextDue()
	}
	if od == nd && (old == nil) == (new == nil) {
		return nil
	}
	ac.noteTicket(od != 0, nd != 0)
	if od != 0 {
		if err := ac.del(ticketDueKey(od, old.typ, &old.ref)); err != nil {
			return err
		}
	}
	if nd != 0 {
		return ac.set(ticketDueKey(nd, new.typ, &new.ref), nil)
	}
	return nil
}

// markTicket notes a ticket change (push follows Changes.Records: the channel approvals).
func (m *Machine) markTicket(TicketType, *[32]byte) { m.mark(ClassApprovals) }

// putTicket writes a ticket changed by a command (decision, tick): not journaled.
func (ac *applyContext) putTicket(old, t *ticketRec) error {
	if err := ac.moveDue(old, t); err != nil {
		return err
	}
	ac.markTicket(t.typ, &t.ref)
	return ac.set(ticketKey(t.typ, &t.ref), t.encode())
}

// putTicketJournaled writes a ticket changed by a chain event: journaled with the event, so
// that reverting the event restores the ticket (undoTicket).
func (ac *applyContext) putTicketJournaled(old, t *ticketRec) error {
	if err := ac.moveDue(old, t); err != nil {
		return err
	}
	ac.markTicket(t.typ, &t.ref)
	return ac.setKey(ticketKey(t.typ, &t.ref), t.encode())
}

// undoTicket is the journal's undo of a ticket key: it keeps the due index following and
// notes the ticket the command reverted (ticketsKept) so that the sequencer's re-application
// of the same event within the command brings it back as it was, decisions included (a reorg
// that drops the event for good drops the ticket; its approval records stay, append only).
func (ac *applyContext) undoTicket(k, cur, prior []byte, existed bool) error {
	var old, restored *ticketRec
	if cur != nil {
		old = &ticketRec{}
		if err := old.decode(cur); err != nil {
			return corrupt("approval ticket", err)
		}
		if !existed {
			if ac.ticketsKept == nil {
				ac.ticketsKept = map[string][]byte{}
			}
			ac.ticketsKept[string(k)] = cur
		}
	}
	if existed {
		restored = &ticketRec{}
		if err := restored.decode(prior); err != nil {
			return corrupt("journal approval ticket", err)
		}
	}
	if old != nil {
		ac.markTicket(old.typ, &old.ref)
	}
	return ac.moveDue(old, restored)
}

// openRedemptionTicket opens the ticket of a redemption that arrived with requiresApproval,
// in the command that applies its RedemptionRequested. Only under this release's rules (not a
// version-1 CmdLogs or CmdIngest, which must apply as v0.1.0 did). A ticket that exists is
// left alone; one this command reverted comes back as it was.
func (ac *applyContext) openRedemptionTicket(r *redemption, id *[32]byte, ev *chainlog.Event) error {
	if ac.riskV1 {
		return nil
	}
	k := ticketKey(TicketRedemption, id)
	old, err := ac.loadTicket(k)
	if err != nil || old != nil {
		return err // another request event for the same id opened it first in the ledger order
	}
	if kept, ok := ac.ticketsKept[string(k)]; ok {
		t := &ticketRec{}
		if err := t.decode(kept); err != nil {
			return corrupt("approval ticket", err)
		}
		if t.openedTx == ev.TxHash && t.openedBn == ev.BlockNumber {
			delete(ac.ticketsKept, string(k))
			return ac.putTicketJournaled(nil, t)
		}
		// Another request event for the same id comes first in the ledger order now: it opens
		// the ticket, as in the in-order replay.
	}
	rules, err := ac.approvalRules()
	if err != nil {
		return err
	}
	t := &ticketRec{typ: TicketRedemption, ref: *id, status: TicketPending, channel: r.channel, amount: r.locked,
		requester: r.owner, createdAt: ac.blockTime, openedTx: ev.TxHash, openedBn: ev.BlockNumber}
	t.required = rules.Required(&t.amount)
	// A ticket for this id that a reorg dropped after decisions left its trail (append only):
	// the new one continues its sequence, so no approval record is ever overwritten (PostgreSQL's
	// approval_records keeps the first version of a (ticket, seq) row and would differ).
	if t.records, err = ac.nextTrailSeq(TicketRedemption, id); err != nil {
		return err
	}
	sla := rules.SLAFor(r.channel)
	t.warnAt = ac.blockTime + sla.Warn
	t.escAt = ac.blockTime + sla.Escalate
	t.deadline = ac.blockTime + sla.Deadline
	return ac.putTicketJournaled(nil, t)
}

// nextTrailSeq is the seq the next approval record of the ticket (typ, ref) gets when it has no
// stored ticket: one after its trail's last record, 0 when it has none.
func (ac *applyContext) nextTrailSeq(typ TicketType, ref *[32]byte) (uint32, error) {
	lo := key(pTicketRec, []byte{byte(typ)}, ref[:])
	last, ok, err := ac.lastKey(lo, append(bytes.Clone(lo), 0xff, 0xff, 0xff, 0xff, 0xff))
	if err != nil || !ok || len(last) != len(lo)+4 {
		return 0, err
	}
	return binary.BigEndian.Uint32(last[len(lo):]) + 1, nil
}

// closeRedemptionTicket closes the ticket of a redemption the chain decided
// (RedemptionApproved, RedemptionRejected: EXECUTED) or cancelled (RedemptionCancelled:
// CANCELLED unless it was executed). Journaled with the event.
func (ac *applyContext) closeRedemptionTicket(id *[32]byte, ev *chainlog.Event, outcome uint8) error {
	if ac.riskV1 {
		return nil
	}
	old, err := ac.loadTicket(ticketKey(TicketRedemption, id))
	if err != nil || old == nil || old.status == TicketExecuted {
		return err
	}
	if outcome == stCancelled && !old.status.Open() && old.status != TicketApproved {
		return nil // already closed by a decision: the chain's cancellation changes nothing
	}
	t := *old
	t.approvals = append([]approvalEntry(nil), old.approvals...)
	t.status = TicketExecuted
	if outcome == stCancelled {
		t.status = TicketCancelled
	}
	t.execTx, t.execBn, t.execTime, t.execOutcome = ev.TxHash, ev.BlockNumber, ac.blockTime, outcome
	if t.closedAt == 0 {
		t.closedAt = ac.blockTime * 1e9
	}
	return ac.putTicketJournaled(old, &t)
}

// ---- the rules ----

// SLA is a channel's SLA, in seconds after the ticket opened.
type SLA struct {
	Warn, Escalate, Deadline int64
}

// ApprovalRules are the rules tickets open with: required approvals (DefaultRequired, or
// LargeRequired above LargeAmount) and the SLA per redemption channel (STANDARD, EMERGENCY,
// SCHEDULED). They are replicated (CmdApprovalRules), so every node opens the same ticket.
type ApprovalRules struct {
	DefaultRequired uint8
	LargeRequired   uint8
	LargeAmount     uint256.Int
	SLA             [3]SLA
}

// DefaultApprovalRules are the rules before any CmdApprovalRules: 1 approval, 2 above
// 1,000,000 × 1e18; STANDARD 12 h / 18 h / 24 h, EMERGENCY 2 h / 3 h / 4 h, SCHEDULED as
// STANDARD.
func DefaultApprovalRules() ApprovalRules {
	var large uint256.Int
	large.Mul(uint256.NewInt(1_000_000), uint256.NewInt(1e18))
	std := SLA{Warn: 12 * 3600, Escalate: 18 * 3600, Deadline: 24 * 3600}
	return ApprovalRules{DefaultRequired: 1, LargeRequired: 2, LargeAmount: large,
		SLA: [3]SLA{std, {Warn: 2 * 3600, Escalate: 3 * 3600, Deadline: 4 * 3600}, std}}
}

// MaxRequiredApprovals bounds the quorum a rule may ask for.
const MaxRequiredApprovals = 16

// Check reports rules that make no sense (the rules of config's [approvals] Validate).
func (r *ApprovalRules) Check() error {
	if r.DefaultRequired < 1 || r.DefaultRequired > MaxRequiredApprovals || r.LargeRequired < 1 || r.LargeRequired > MaxRequiredApprovals {
		return fmt.Errorf("required approvals must be 1 to %d", MaxRequiredApprovals)
	}
	for i, s := range r.SLA {
		if s.Warn <= 0 || s.Warn > s.Escalate || s.Escalate > s.Deadline || s.Deadline > 366*24*3600 {
			return fmt.Errorf("%s SLA: 0 < warn <= escalate <= deadline <= 366 days, got %d/%d/%d s", channelNames[i], s.Warn, s.Escalate, s.Deadline)
		}
	}
	return nil
}

// Required is the approvals a ticket for amount needs: LargeRequired above LargeAmount.
func (r *ApprovalRules) Required(amount *uint256.Int) uint8 {
	if amount.Gt(&r.LargeAmount) {
		return r.LargeRequired
	}
	return r.DefaultRequired
}

// SLAFor is the SLA of a redemption channel (an unknown one gets STANDARD's).
func (r *ApprovalRules) SLAFor(channel uint8) SLA {
	if int(channel) < len(r.SLA) {
		return r.SLA[channel]
	}
	return r.SLA[0]
}

const approvalRulesVersion byte = 1

func appendApprovalRules(b []byte, r *ApprovalRules) []byte {
	b = append(b, r.DefaultRequired, r.LargeRequired)
	b = appendU256(b, &r.LargeAmount)
	for _, s := range r.SLA {
		b = binary.AppendVarint(b, s.Warn)
		b = binary.AppendVarint(b, s.Escalate)
		b = binary.AppendVarint(b, s.Deadline)
	}
	return b
}

func (d *dec) approvalRules(r *ApprovalRules) {
	r.DefaultRequired, r.LargeRequired = d.u8(), d.u8()
	d.u256(&r.LargeAmount)
	for i := range r.SLA {
		r.SLA[i] = SLA{Warn: d.varint(), Escalate: d.varint(), Deadline: d.varint()}
	}
}

func decodeApprovalRules(v []byte) (ApprovalRules, error) {
	d := &dec{b: v}
	ver := d.u8()
	if d.err == nil {
		if err := checkVersion("approval rules", ver, approvalRulesVersion); err != nil {
			return ApprovalRules{}, err
		}
	}
	var r ApprovalRules
	d.approvalRules(&r)
	return r, d.finish()
}

// approvalRules reads the replicated rules (the defaults before any CmdApprovalRules).
func (ac *applyContext) approvalRules() (ApprovalRules, error) {
	v, ok, err := ac.get([]byte{pApprovRules})
	if err != nil {
		return ApprovalRules{}, err
	}
	if !ok {
		return DefaultApprovalRules(), nil
	}
	r, err := decodeApprovalRules(v)
	if err != nil {
		return ApprovalRules{}, corrupt("approval rules", err)
	}
	return r, nil
}

// ReadApprovalRules returns the rules the state machine opens tickets with, read from r, and
// whether they were replicated (false: the defaults). The leader compares them with its
// [approvals] to decide whether to propose its own.
func ReadApprovalRules(r kv.Reader) (ApprovalRules, bool, error) {
	v, err := r.Get([]byte{pApprovRules})
	if errors.Is(err, kv.ErrNotFound) {
		return DefaultApprovalRules(), false, nil
	}
	if err != nil {
		return ApprovalRules{}, false, fmt.Errorf("fund: get: %w", err)
	}
	rules, err := decodeApprovalRules(v)
	if err != nil {
		return ApprovalRules{}, false, corrupt("approval rules", err)
	}
	return rules, true, nil
}
