package server

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"paimon/fund"
	"paimon/kv"
	"paimon/raftstore"
	"paimon/readmodel"
)

// Approval tickets (OPERATIONS.md, "Approval tickets"): GET /v1/approvals, GET
// /v1/approvals/{id}, POST /v1/approvals/{id}/approve|reject|cancel, GET
// /v1/redemptions/pending-approvals, GET /v1/approvals/sla-report. Every decision goes through
// the log (fund.CmdApprovalDecision), which checks it against the replicated ticket and audits
// it; a refused one changes nothing. POST /v1/approvals/{id}/retry (operator) retries a decided
// ticket whose transaction FAILED (fund.CmdTicketRetry), audited likewise.

func renderApprovals(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseApprovalFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.Approvals(r, f, p) })
}

func renderTicket(v kv.Reader, q *readQuery) ([]byte, error) { return readmodel.Ticket(v, q.group) }

func renderPendingApprovals(v kv.Reader, _ *readQuery) ([]byte, error) {
	return readmodel.PendingApprovals(v)
}

func renderSLAReport(v kv.Reader, q *readQuery) ([]byte, error) {
	rq, err := readmodel.ParseSLAReportQuery(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.SLAReport(v, rq)
}

// decisionRequest is the body of the decision endpoints; it may be empty (approve, cancel).
type decisionRequest struct {
	Reason string `json:"reason"`
	// Signature is the EIP-712 second factor of a wallet session (approvals_sig.go).
	Signature string `json:"signature"`
}

// maxDecisionReason is the longest reason a decision keeps (fund refuses longer ones too).
const maxDecisionReason = 1024

// parseDecision reads a decision's body: an optional JSON object {"reason", "signature"}, the
// reason valid UTF-8 of at most 1,024 bytes and, for a rejection, not empty; a cancellation
// takes no signature.
func parseDecision(body []byte, d fund.Decision) (decisionRequest, error) {
	var req decisionRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return req, err
		}
	}
	switch {
	case len(req.Reason) > maxDecisionReason:
		return req, validation(fmt.Sprintf("reason is over %d bytes", maxDecisionReason), map[string]any{"param": "reason"})
	case !utf8.ValidString(req.Reason):
		return req, validation("reason must be valid UTF-8", map[string]any{"param": "reason"})
	case d == fund.DecisionReject && len(bytes.TrimSpace([]byte(req.Reason))) == 0:
		return req, validation("a rejection needs a reason", map[string]any{"param": "reason"})
	case d == fund.DecisionCancel && req.Signature != "":
		return req, validation("a cancellation takes no signature", map[string]any{"param": "signature"})
	}
	return req, nil
}

func (s *Server) approveTicket(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	return s.decide(ctx, rc, fund.DecisionApprove)
}

func (s *Server) rejectTicket(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	return s.decide(ctx, rc, fund.DecisionReject)
}

func (s *Server) cancelTicket(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	return s.decide(ctx, rc, fund.DecisionCancel)
}

// decide proposes a decision and answers the ticket after it. An id that names no ticket is
// 404; the state machine refuses the rest (409 for a closed ticket, a ticket past its
// deadline or a second decision by the same approver; 403 for the requester or a role that may
// not decide).
func (s *Server) decide(ctx *fasthttp.RequestCtx, rc *reqCtx, d fund.Decision) error {
	id := string(rc.param)
	if _, _, ok := fund.ParseTicketID(id); !ok {
		return fmt.Errorf("%w: approval ticket %.100q", errNotFound, id)
	}
	req, err := parseDecision(ctx.PostBody(), d)
	if err != nil {
		return err
	}
	if d != fund.DecisionCancel {
		if err := s.checkDecisionSignature(&rc.who, req.Signature, id, d, req.Reason); err != nil {
			return err
		}
	}
	res, err := s.propose(fund.EncodeApprovalDecision(&fund.ApprovalDecisionCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Ticket: id, Decision: d, Reason: req.Reason}))
	if err != nil {
		return err
	}
	return s.respondTicket(ctx, res)
}

// respondTicket answers the ticket a decision or a retry left, or the refusal.
func (s *Server) respondTicket(ctx *fasthttp.RequestCtx, res raftstore.Result) error {
	dr, ok := res.Value.(*fund.ApprovalDecisionResult)
	if !ok {
		return resultError(res.Value)
	}
	body, err := readmodel.TicketJSON(&dr.Ticket)
	if err != nil {
		return err
	}
	s.respond(ctx, body, res.Index)
	return nil
}

// retryRequest is the body of POST /v1/approvals/{id}/retry; it may be empty.
type retryRequest struct {
	Reason string `json:"reason"`
}

// retryTicket is POST /v1/approvals/{id}/retry (operator, on the leader): the ticket's
// decision gets a new execution reference, so the leader's executor sends one new transaction
// for it. Only an APPROVED or REJECTED ticket whose current transaction FAILED: anything else
// is 409 and changes nothing (404 for an unknown ticket).
func (s *Server) retryTicket(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	id := string(rc.param)
	if _, _, ok := fund.ParseTicketID(id); !ok {
		return fmt.Errorf("%w: approval ticket %.100q", errNotFound, id)
	}
	var req retryRequest
	if body := ctx.PostBody(); len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return err
		}
	}
	switch {
	case len(req.Reason) > maxDecisionReason:
		return validation(fmt.Sprintf("reason is over %d bytes", maxDecisionReason), map[string]any{"param": "reason"})
	case !utf8.ValidString(req.Reason):
		return validation("reason must be valid UTF-8", map[string]any{"param": "reason"})
	}
	res, err := s.propose(fund.EncodeTicketRetry(&fund.TicketRetryCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Ticket: id, Reason: req.Reason}))
	if err != nil {
		return err
	}
	return s.respondTicket(ctx, res)
}
