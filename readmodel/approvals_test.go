package readmodel

import (
	"testing"

	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/fund"
)

// TestTicketShowsItsIntent: GET /v1/approvals/{id} of a decided ticket shows the executor's
// intent for it (state, nonce, transaction, time) as its execution until the chain's event
// closes it; the list item (what push renders from the record) shows the ticket alone.
func TestTicketShowsItsIntent(t *testing.T) {
	e := newEnv(t)
	h := addr(3)
	e.logs(mk("RedemptionRequested", 20, 0, testNow, 9, h, h, e18(2), e18(2), u(5), 0, true, testNow+86400, 1))
	const id = "redemption-9"
	if res, ok := e.apply(fund.EncodeApprovalDecision(&fund.ApprovalDecisionCommand{Time: (testNow + 5) * 1e9,
		Actor: fund.Actor{Name: "ann", Role: "approver"}, Ticket: id, Decision: fund.DecisionApprove})).(*fund.ApprovalDecisionResult); !ok || res.Ticket.Status != fund.TicketApproved {
		t.Fatalf("approve: %+v", res)
	}
	one := e.json(Ticket(e.st, id))
	if one["execution"] != nil {
		t.Fatalf("execution before any intent: %v", one["execution"])
	}
	tx := chainlogtest.TxHash(99, 1)
	e.apply(fund.EncodeTxIntent(&fund.TxIntentCommand{Time: (testNow + 6) * 1e9, Purpose: "APPROVE", Reference: id, From: addr(7), To: addr(8),
		Nonce: 4, Hash: tx, Raw: []byte{1, 2, 3}}))
	one = e.json(Ticket(e.st, id))
	e.check("execution", one, expect{"status": "APPROVED", "execution.status": "SIGNED", "execution.nonce": 4,
		"execution.txHash": chainlog.HexHash(tx), "execution.submittedAt": fmtUnixNano((testNow + 6) * 1e9), "execution.confirmedAt": nil})
	list := e.json(Approvals(e.st, ApprovalFilter{}, Page{Limit: 10}))
	if it := list["items"].([]any)[0].(map[string]any); it["execution"] != nil {
		t.Fatalf("the list item shows the intent: %v", it)
	}
}
