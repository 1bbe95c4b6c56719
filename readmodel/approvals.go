package readmodel

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// Approval tickets as the API renders them (OPERATIONS.md "Approval tickets"): GET
// /v1/approvals, GET /v1/approvals/{id}, the decisions' answers, GET
// /v1/redemptions/pending-approvals, GET /v1/approvals/sla-report, WebSocket channel approvals.

type ticketApprovalJSON struct {
	Approver string  `json:"approver"`
	Role     string  `json:"role"`
	Decision string  `json:"decision"`
	Reason   *string `json:"reason"`
	Time     string  `json:"time"`
	Index    uint64  `json:"index"`
}

type ticketExecutionJSON struct {
	TxHash      string  `json:"txHash"`
	Status      string  `json:"status"`
	Outcome     *string `json:"outcome"`
	BlockNumber *uint64 `json:"blockNumber"`
	Nonce       *uint64 `json:"nonce"`
	SubmittedAt *string `json:"submittedAt"`
	ConfirmedAt *string `json:"confirmedAt"`
	Reason      *string `json:"reason,omitempty"`
}

type ticketJSON struct {
	ID                string               `json:"id"`
	Type              string               `json:"type"`
	ReferenceID       string               `json:"referenceId"`
	Status            string               `json:"status"`
	Channel           string               `json:"channel"`
	Amount            string               `json:"amount"`
	Requester         string               `json:"requester"`
	RequiredApprovals int                  `json:"requiredApprovals"`
	Approvals         []ticketApprovalJSON `json:"approvals"`
	SLAWarnAt         string               `json:"slaWarnAt"`
	SLAEscalateAt     string               `json:"slaEscalateAt"`
	SLADeadline       string               `json:"slaDeadline"`
	SLAWarned         bool                 `json:"slaWarned"`
	SLAEscalated      bool                 `json:"slaEscalated"`
	SLABreached       bool                 `json:"slaBreached"`
	Execution         *ticketExecutionJSON `json:"execution"`
	Retries           uint32               `json:"retries"`
	CreatedAt         string               `json:"createdAt"`
	ClosedAt          *string              `json:"closedAt"`
	OpenedTxHash      string               `json:"openedTxHash"`
	OpenedBlock       uint64               `json:"openedBlockNumber"`
	Index             *uint64              `json:"index"`
}

func ticketView(t *fund.TicketRecord) *ticketJSON {
	j := &ticketJSON{ID: t.ID, Type: t.Type.String(), ReferenceID: t.ReferenceID, Status: t.Status.String(), Channel: t.Channel,
		Amount: t.Amount.Dec(), Requester: t.Requester, RequiredApprovals: t.Required, Approvals: []ticketApprovalJSON{},
		SLAWarnAt: fmtUnix(t.WarnAt), SLAEscalateAt: fmtUnix(t.EscalateAt), SLADeadline: fmtUnix(t.DueAt),
		SLAWarned: t.WarnFired, SLAEscalated: t.EscalateFired, SLABreached: t.Breached,
		CreatedAt: fmtUnix(t.CreatedAt), OpenedTxHash: t.OpenedTx, OpenedBlock: t.OpenedBlock, Retries: t.Retries}
	for _, a := range t.Approvals {
		aj := ticketApprovalJSON{Approver: a.Approver, Role: a.Role, Decision: a.Decision.String(), Time: fmtUnixNano(a.Time), Index: a.Index}
		if a.Reason != "" {
			r := a.Reason
			aj.Reason = &r
		}
		j.Approvals = append(j.Approvals, aj)
	}
	if t.ExecTx != "" {
		out, bn, at := t.ExecOutcome, t.ExecBlock, fmtUnix(t.ExecTime)
		j.Execution = &ticketExecutionJSON{TxHash: t.ExecTx, Status: "CONFIRMED", Outcome: &out, BlockNumber: &bn, ConfirmedAt: &at}
	}
	if t.ClosedAt != 0 {
		c := fmtUnixNano(t.ClosedAt)
		j.ClosedAt = &c
	}
	if t.UpdatedIndex != 0 {
		i := t.UpdatedIndex
		j.Index = &i
	}
	return j
}

// TicketJSON renders a ticket as one item of GET /v1/approvals: times RFC 3339, amount in base
// units, `execution` null until the chain's event closed it, `index` the Raft index of the last
// decision or SLA step (null while only the chain changed it).
func TicketJSON(t *fund.TicketRecord) ([]byte, error) { return json.Marshal(ticketView(t)) }

type trailJSON struct {
	Seq      uint32  `json:"seq"`
	Decision string  `json:"decision"`
	Actor    *string `json:"actor"`
	Role     *string `json:"role"`
	Reason   *string `json:"reason"`
	Time     string  `json:"time"`
	Status   string  `json:"status"`
	Index    uint64  `json:"index"`
}

// Ticket renders GET /v1/approvals/{id}: the ticket with `trail`, its approval records in
// order (decisions, cancellation, SLA steps with a null actor, expiry). ErrNotFound for an id
// that names no ticket.
func Ticket(r kv.Reader, id string) ([]byte, error) {
	k, ok := fund.TicketKey(id)
	if !ok {
		return nil, fund.ErrNotFound
	}
	v, found, err := getOpt(r, k)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fund.ErrNotFound
	}
	t, err := fund.DecodeTicket(v)
	if err != nil {
		return nil, err
	}
	out := struct {
		*ticketJSON
		Trail []trailJSON `json:"trail"`
	}{ticketView(&t), []trailJSON{}}
	// The executor's intent for the decision, when there is one: its transaction, state, nonce
	// and time (the list and push show the ticket's record alone).
	it, found, err := fund.TicketIntent(r, &t)
	if err != nil {
		return nil, err
	}
	if found {
		ex := out.Execution
		if ex == nil {
			ex = &ticketExecutionJSON{Status: it.State}
			if it.Block != 0 {
				bn := it.Block
				ex.BlockNumber = &bn
			}
			out.Execution = ex
		}
		if n := len(it.Attempts); n > 0 && ex.TxHash == "" {
			ex.TxHash = chainlog.HexHash(it.Attempts[n-1].Hash)
		}
		if it.MinedHash != ([32]byte{}) && ex.TxHash == "" {
			ex.TxHash = chainlog.HexHash(it.MinedHash)
		}
		nonce, at := it.Nonce, fmtUnixNano(it.Created)
		ex.Nonce, ex.SubmittedAt = &nonce, &at
		if it.Reason != "" {
			r := it.Reason
			ex.Reason = &r
		}
	}
	p := fund.TicketTrailPrefix(k)
	err = scan(r, p, append(bytes.Clone(p), 0xff, 0xff, 0xff, 0xff, 0xff), false, func(k, v []byte) (bool, error) {
		a, err := fund.DecodeApprovalRecord(k, v)
		if err != nil {
			return false, err
		}
		tj := trailJSON{Seq: a.Seq, Decision: a.Decision.String(), Time: fmtUnixNano(a.Time), Status: a.StatusAfter.String(), Index: a.Index}
		tj.Actor, tj.Role, tj.Reason = optString(a.Actor), optString(a.Role), optString(a.Reason)
		out.Trail = append(out.Trail, tj)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(&out)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ApprovalParams are the query parameters ParseApprovalFilter reads.
var ApprovalParams = []string{"status", "type"}

// ApprovalFilter selects tickets by status and type (0: any).
type ApprovalFilter struct {
	Status fund.TicketStatus
	Type   fund.TicketType
}

// ParseApprovalFilter parses status (PENDING, PARTIALLY_APPROVED, APPROVED, REJECTED, EXPIRED,
// CANCELLED, EXECUTED) and type (REDEMPTION, REBALANCE), case-insensitive.
func ParseApprovalFilter(get Getter) (ApprovalFilter, error) {
	var f ApprovalFilter
	if s, ok := get("status"); ok {
		v, ok := fund.ParseTicketStatus(s)
		if !ok {
			return f, invalidParam("status", "status must be one of PENDING, PARTIALLY_APPROVED, APPROVED, REJECTED, EXPIRED, CANCELLED, EXECUTED")
		}
		f.Status = v
	}
	if s, ok := get("type"); ok {
		v, ok := fund.ParseTicketType(s)
		if !ok {
			return f, invalidParam("type", "type must be REDEMPTION or REBALANCE")
		}
		f.Type = v
	}
	return f, nil
}

// ticketCursorLen is a list cursor's length: the ticket key after its prefix (type, ref).
const ticketCursorLen = 1 + 32

// Approvals lists tickets newest reference first (the reverse key order: by type, then by
// request id descending), filtered, one page after the cursor. Every ticket is scanned (no
// index by status: tickets are few; the page bounds the work once enough match).
func Approvals(r kv.Reader, f ApprovalFilter, p Page) ([]byte, error) {
	p = fixPage(p)
	lo, hi := []byte{fund.PrefixTicket}, []byte{fund.PrefixTicket + 1}
	if f.Type != 0 {
		lo, hi = []byte{fund.PrefixTicket, byte(f.Type)}, []byte{fund.PrefixTicket, byte(f.Type) + 1}
	}
	if p.Cursor != nil {
		if len(p.Cursor) != ticketCursorLen {
			return nil, invalidParam("cursor", "cursor is invalid")
		}
		if c := append([]byte{fund.PrefixTicket}, p.Cursor...); bytes.Compare(c, hi) < 0 {
			hi = c
		}
	}
	items := []json.RawMessage{}
	var last []byte
	more := false
	err := scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		t, err := fund.DecodeTicket(v)
		if err != nil {
			return false, err
		}
		if f.Status != 0 && t.Status != f.Status {
			return true, nil
		}
		if len(items) == p.Limit {
			more = true
			return false, nil
		}
		item, err := TicketJSON(&t)
		if err != nil {
			return false, err
		}
		items = append(items, item)
		last = bytes.Clone(k[1:])
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return pageJSON(items, more, last)
}

// maxQueue bounds the items of the approval queue (the summary counts them all).
const maxQueue = 1000

type queueItemJSON struct {
	RequestID         string  `json:"requestId"`
	Owner             string  `json:"owner"`
	LockedAmount      string  `json:"lockedAmount"`
	Channel           string  `json:"channel"`
	RequestedAt       *string `json:"requestedAt"`
	TicketID          *string `json:"ticketId"`
	TicketStatus      *string `json:"ticketStatus"`
	Approvals         int     `json:"approvals"`
	RequiredApprovals int     `json:"requiredApprovals"`
	SLADeadline       *string `json:"slaDeadline"`
	Urgent            bool    `json:"urgent"`
}

// PendingApprovals renders GET /v1/redemptions/pending-approvals: the redemptions in
// PENDING_APPROVAL, the most urgent first (by SLA deadline; those without a ticket, which a
// version-1 command left, last, by request id), each with its ticket, and `summary: {count,
// totalAmount, urgentCount}`. Urgent: the ticket passed its SLA warn time (or has none).
// At most 1,000 items (`truncated` says when more wait); the summary counts all.
func PendingApprovals(r kv.Reader) ([]byte, error) {
	p, _ := fund.RedemptionStatusPrefix("PENDING_APPROVAL")
	type entry struct {
		item     queueItemJSON
		deadline int64
		id       uint256.Int
	}
	var all []entry
	var total uint256.Int
	urgent := 0
	err := scan(r, p, append(bytes.Clone(p), 0xff), false, func(k, _ []byte) (bool, error) {
		if len(k) != len(p)+32 {
			return true, nil
		}
		id := [32]byte(k[len(p):])
		v, found, err := getOpt(r, append([]byte{fund.PrefixRedemption}, id[:]...))
		if err != nil || !found {
			return err == nil, err
		}
		rd, err := fund.DecodeRedemption(v)
		if err != nil {
			return false, err
		}
		e := entry{id: rd.ID}
		e.item = queueItemJSON{RequestID: rd.ID.Dec(), Owner: chainlog.HexAddress(rd.Owner), LockedAmount: rd.LockedAmount.Dec(), Channel: rd.Channel, Urgent: true}
		if rd.RequestedAt != 0 {
			s := fmtUnix(rd.RequestedAt)
			e.item.RequestedAt = &s
		}
		total.Add(&total, &rd.LockedAmount)
		tv, found, err := getOpt(r, fund.RedemptionTicketKey(id))
		if err != nil {
			return false, err
		}
		e.deadline = 1<<63 - 1
		if found {
			t, err := fund.DecodeTicket(tv)
			if err != nil {
				return false, err
			}
			tid, st, dl := t.ID, t.Status.String(), fmtUnix(t.DueAt)
			e.item.TicketID, e.item.TicketStatus, e.item.SLADeadline = &tid, &st, &dl
			e.item.Approvals, e.item.RequiredApprovals = t.Approved(), t.Required
			e.item.Urgent = t.WarnFired || !t.Status.Open()
			e.deadline = t.DueAt
		}
		if e.item.Urgent {
			urgent++
		}
		all = append(all, e)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].deadline != all[j].deadline {
			return all[i].deadline < all[j].deadline
		}
		return all[i].id.Lt(&all[j].id)
	})
	out := struct {
		Items     []queueItemJSON `json:"items"`
		Truncated bool            `json:"truncated"`
		Summary   struct {
			Count       int    `json:"count"`
			TotalAmount string `json:"totalAmount"`
			UrgentCount int    `json:"urgentCount"`
		} `json:"summary"`
	}{Items: []queueItemJSON{}}
	for i := range all {
		if i == maxQueue {
			out.Truncated = true
			break
		}
		out.Items = append(out.Items, all[i].item)
	}
	out.Summary.Count, out.Summary.TotalAmount, out.Summary.UrgentCount = len(all), total.Dec(), urgent
	return json.Marshal(&out)
}

// SLAReportParams are the query parameters ParseSLAReportQuery reads.
var SLAReportParams = []string{"from", "to"}

// SLAReportQuery selects the tickets opened in [From, To] (unix s; 0 and max when absent).
type SLAReportQuery struct{ From, To int64 }

// ParseSLAReportQuery parses from and to (RFC 3339 or unix seconds).
func ParseSLAReportQuery(get Getter) (SLAReportQuery, error) {
	q := SLAReportQuery{To: 1<<63 - 1}
	var err error
	var ok bool
	var v int64
	if v, ok, err = optTime(get, "from"); err != nil {
		return q, err
	} else if ok {
		q.From = v
	}
	if v, ok, err = optTime(get, "to"); err != nil {
		return q, err
	} else if ok {
		q.To = v
	}
	if q.From > q.To {
		return q, invalidParam("from", "from must not be after to")
	}
	return q, nil
}

type slaCountsJSON struct {
	Total     int `json:"total"`
	WithinSLA int `json:"withinSla"`
	Breached  int `json:"breached"`
	Open      int `json:"open"`
}

type approverJSON struct {
	Approvals              int   `json:"approvals"`
	Rejections             int   `json:"rejections"`
	AverageResponseSeconds int64 `json:"averageResponseSeconds"`
	sum                    int64
}

type breachJSON struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	ReferenceID string `json:"referenceId"`
	Amount      string `json:"amount"`
	Requester   string `json:"requester"`
	SLADeadline string `json:"slaDeadline"`
	Status      string `json:"status"`
}

// SLAReport renders GET /v1/approvals/sla-report over the tickets opened in [From, To]:
// `total`; `withinSla` (closed before the deadline: decided, cancelled or executed),
// `breached` (reached the deadline undecided), `open` (neither yet); `slaMetRate` = withinSla ×
// 10000 / (withinSla + breached) in basis points (null when both are 0);
// `averageResolutionSeconds` from opening to closing over the tickets closed within SLA (null
// when none); the SLA steps that fired (`slaWarnings`, `slaEscalations`); `byType`;
// `byApprover` (approvals, rejections, average seconds from opening to the decision); and
// `breached` tickets. Every ticket is scanned.
func SLAReport(r kv.Reader, q SLAReportQuery) ([]byte, error) {
	out := struct {
		slaCountsJSON
		SLAMetRate               *int64                    `json:"slaMetRate"`
		AverageResolutionSeconds *int64                    `json:"averageResolutionSeconds"`
		SLAWarnings              int                       `json:"slaWarnings"`
		SLAEscalations           int                       `json:"slaEscalations"`
		ByType                   map[string]*slaCountsJSON `json:"byType"`
		ByApprover               map[string]*approverJSON  `json:"byApprover"`
		BreachedTickets          []breachJSON              `json:"breachedTickets"`
	}{ByType: map[string]*slaCountsJSON{}, ByApprover: map[string]*approverJSON{}, BreachedTickets: []breachJSON{}}
	var resolution int64
	err := scan(r, []byte{fund.PrefixTicket}, []byte{fund.PrefixTicket + 1}, false, func(_, v []byte) (bool, error) {
		t, err := fund.DecodeTicket(v)
		if err != nil {
			return false, err
		}
		if t.CreatedAt < q.From || t.CreatedAt > q.To {
			return true, nil
		}
		bt := out.ByType[t.Type.String()]
		if bt == nil {
			bt = &slaCountsJSON{}
			out.ByType[t.Type.String()] = bt
		}
		for _, c := range []*slaCountsJSON{&out.slaCountsJSON, bt} {
			c.Total++
			switch {
			case t.Breached:
				c.Breached++
			case t.Status.Open():
				c.Open++
			default:
				c.WithinSLA++
			}
		}
		if t.WarnFired {
			out.SLAWarnings++
		}
		if t.EscalateFired {
			out.SLAEscalations++
		}
		if t.Breached {
			out.BreachedTickets = append(out.BreachedTickets, breachJSON{ID: t.ID, Type: t.Type.String(), ReferenceID: t.ReferenceID,
				Amount: t.Amount.Dec(), Requester: t.Requester, SLADeadline: fmtUnix(t.DueAt), Status: t.Status.String()})
		} else if !t.Status.Open() && t.ClosedAt != 0 {
			resolution += max(t.ClosedAt/1e9-t.CreatedAt, 0)
		}
		for _, a := range t.Approvals {
			aj := out.ByApprover[a.Approver]
			if aj == nil {
				aj = &approverJSON{}
				out.ByApprover[a.Approver] = aj
			}
			if a.Decision == fund.DecisionApprove {
				aj.Approvals++
			} else {
				aj.Rejections++
			}
			aj.sum += max(a.Time/1e9-t.CreatedAt, 0)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if n := out.WithinSLA + out.Breached; n > 0 {
		rate := int64(out.WithinSLA) * 10000 / int64(n)
		out.SLAMetRate = &rate
	}
	if out.WithinSLA > 0 {
		avg := resolution / int64(out.WithinSLA)
		out.AverageResolutionSeconds = &avg
	}
	for _, a := range out.ByApprover {
		a.AverageResponseSeconds = a.sum / int64(a.Approvals+a.Rejections)
	}
	return json.Marshal(&out)
}
