package fund

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/kv"
)

// The approval tickets' read-only accessors, for the read model (readmodel/approvals.go), the
// leader's tick and the PostgreSQL sync.

// Key prefixes of the approval records the read model scans.
const (
	PrefixTicket      = pTicket    // G type1 ref32 → ticket
	PrefixTicketTrail = pTicketRec // g type1 ref32 seq4 → approval record
	PrefixTicketDue   = pTicketDue // h due8 type1 ref32 → ∅
)

// TicketApproval is one approval or rejection counted on a ticket.
type TicketApproval struct {
	Approver, Role string
	Decision       Decision
	Reason         string
	Time           int64 // unix ns
	Index          uint64
}

// TicketRecord is a ticket as stored, with exported fields (times: unix s for the SLA and the
// chain, unix ns for commands).
type TicketRecord struct {
	ID                                   string
	Type                                 TicketType
	Ref                                  [32]byte
	ReferenceID                          string // the request id (decimal)
	Status                               TicketStatus
	Channel                              string
	Amount                               uint256.Int
	Requester                            string // lower-case hex address; a REBALANCE ticket's: the actor's name
	Required                             int
	Approvals                            []TicketApproval
	CreatedAt, WarnAt, EscalateAt, DueAt int64 // unix s
	WarnFired, EscalateFired, Breached   bool
	OpenedTx                             string
	OpenedBlock                          uint64
	Records                              uint32
	UpdatedIndex                         uint64
	UpdatedAt, ClosedAt                  int64 // unix ns
	// The chain's closing event, when there was one (ExecTx != "").
	ExecTx      string
	ExecBlock   uint64
	ExecTime    int64  // unix s
	ExecOutcome string // the redemption status the chain set: APPROVED, REJECTED, CANCELLED
	// Retries counts the operator's retries of a failed transaction (ExecReference).
	Retries uint32
}

// Approved counts the approvals.
func (t *TicketRecord) Approved() int {
	n := 0
	for i := range t.Approvals {
		if t.Approvals[i].Decision == DecisionApprove {
			n++
		}
	}
	return n
}

func ticketRecord(t *ticketRec) TicketRecord {
	var id uint256.Int
	id.SetBytes32(t.ref[:])
	r := TicketRecord{ID: TicketID(t.typ, &t.ref), Type: t.typ, Ref: t.ref, ReferenceID: id.Dec(), Status: t.status,
		Channel: channelName(t.channel), Amount: t.amount, Requester: chainlog.HexAddress(t.requester), Required: int(t.required),
		CreatedAt: t.createdAt, WarnAt: t.warnAt, EscalateAt: t.escAt, DueAt: t.deadline,
		WarnFired: t.fired&firedWarn != 0, EscalateFired: t.fired&firedEscalate != 0, Breached: t.fired&firedBreach != 0,
		OpenedTx: chainlog.HexHash(t.openedTx), OpenedBlock: t.openedBn, Records: t.records,
		UpdatedIndex: t.updatedIndex, UpdatedAt: t.updatedAt, ClosedAt: t.closedAt, Retries: t.retries}
	if t.requesterName != "" {
		r.Requester = t.requesterName
	}
	for _, a := range t.approvals {
		r.Approvals = append(r.Approvals, TicketApproval{Approver: a.actor, Role: a.role, Decision: a.decision, Reason: a.reason, Time: a.time, Index: a.index})
	}
	if t.execOutcome != 0 || t.execTx != ([32]byte{}) {
		r.ExecTx, r.ExecBlock, r.ExecTime = chainlog.HexHash(t.execTx), t.execBn, t.execTime
		if int(t.execOutcome) < len(statusNames) {
			r.ExecOutcome = statusNames[t.execOutcome]
		}
	}
	return r
}

// DecodeTicket decodes a stored ticket (a value under PrefixTicket).
func DecodeTicket(v []byte) (TicketRecord, error) {
	var t ticketRec
	if err := t.decode(v); err != nil {
		return TicketRecord{}, corrupt("approval ticket", err)
	}
	return ticketRecord(&t), nil
}

// TicketKey is the key of the ticket with id (TicketID); ok is false for a malformed id.
func TicketKey(id string) (k []byte, ok bool) {
	typ, ref, ok := ParseTicketID(id)
	if !ok {
		return nil, false
	}
	return ticketKey(typ, &ref), true
}

// RedemptionTicketKey is the key of the ticket of redemption request id (32 bytes).
func RedemptionTicketKey(id [32]byte) []byte { return ticketKey(TicketRedemption, &id) }

// TicketTrailPrefix is the key prefix of the approval records of the ticket under key k.
func TicketTrailPrefix(k []byte) []byte { return key(pTicketRec, k[1:]) }

// ReadTicket reads the ticket with id from r; ErrNotFound when there is none.
func ReadTicket(r kv.Reader, id string) (TicketRecord, error) {
	k, ok := TicketKey(id)
	if !ok {
		return TicketRecord{}, ErrNotFound
	}
	v, err := r.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return TicketRecord{}, ErrNotFound
	}
	if err != nil {
		return TicketRecord{}, fmt.Errorf("fund: get: %w", err)
	}
	return DecodeTicket(v)
}

// ApprovalRecord is one entry of a ticket's trail (append only).
type ApprovalRecord struct {
	TicketID    string
	Seq         uint32
	Decision    Decision
	Actor, Role string // "" for the system (SLA milestones, expiry)
	Reason      string
	Time        int64 // unix ns
	Index       uint64
	StatusAfter TicketStatus
	TicketType  TicketType
	ReferenceID string // the ticket's reference (decimal)
}

// DecodeApprovalRecord decodes the approval record stored under k (PrefixTicketTrail).
func DecodeApprovalRecord(k, v []byte) (ApprovalRecord, error) {
	if len(k) != 1+1+32+4 || k[0] != pTicketRec {
		return ApprovalRecord{}, corrupt("approval record key", fmt.Errorf("%x", k))
	}
	var r approvalRec
	if err := r.decode(v); err != nil {
		return ApprovalRecord{}, corrupt("approval record", err)
	}
	typ, ref := TicketType(k[1]), [32]byte(k[2:34])
	var u uint256.Int
	return ApprovalRecord{TicketID: TicketID(typ, &ref), Seq: r.seq, Decision: r.decision, Actor: r.actor, Role: r.role,
		Reason: r.reason, Time: r.time, Index: r.index, StatusAfter: r.status, TicketType: typ,
		ReferenceID: u.SetBytes32(ref[:]).Dec()}, nil
}

// NextApprovalDue returns the earliest SLA time (unix s) of an open ticket in r, ok false
// when none is due ever: the leader proposes a CmdTick only once that time passed.
func NextApprovalDue(r kv.Reader) (due int64, ok bool, err error) {
	err = r.Scan([]byte{pTicketDue}, []byte{pTicketDue + 1}, false, func(k, _ []byte) bool {
		if len(k) >= 9 {
			due, ok = int64(be64get(k[1:9])), true
			return false
		}
		return true
	})
	if err != nil {
		return 0, false, fmt.Errorf("fund: scan: %w", err)
	}
	return due, ok, nil
}

// TicketIntent returns the executor's transaction intent for a decided ticket's current
// decision (one per (purpose, ExecReference): APPROVE for an APPROVED ticket, REJECT for a
// REJECTED one, the chain's outcome for an EXECUTED one), ok false when it has none.
func TicketIntent(r kv.Reader, t *TicketRecord) (TxIntent, bool, error) {
	purpose := ticketPurpose(t.Status)
	switch {
	case t.Status == TicketExecuted && t.ExecOutcome == "APPROVED":
		purpose = "APPROVE"
	case t.Status == TicketExecuted && t.ExecOutcome == "REJECTED":
		purpose = "REJECT"
	}
	if purpose == "" {
		return TxIntent{}, false, nil
	}
	sk, err := r.Get(txDecisionKey(purpose, t.ExecReference()))
	if errors.Is(err, kv.ErrNotFound) {
		return TxIntent{}, false, nil
	}
	if err != nil {
		return TxIntent{}, false, fmt.Errorf("fund: get: %w", err)
	}
	if len(sk) != 8 {
		return TxIntent{}, false, corrupt("intent reference", fmt.Errorf("%x", sk))
	}
	k := txIntentKey(be64get(sk))
	v, err := r.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return TxIntent{}, false, nil
	}
	if err != nil {
		return TxIntent{}, false, fmt.Errorf("fund: get: %w", err)
	}
	it, err := decodeTxIntent(k, v)
	if err != nil {
		return TxIntent{}, false, err
	}
	return it, true, nil
}
