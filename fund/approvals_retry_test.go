package fund

import (
	"bytes"
	"fmt"
	"testing"
)

// TestTicketRetry: an operator retries a decided ticket whose transaction FAILED and gets a
// new execution reference (one new intent); every other retry is refused and changes nothing:
// an unknown ticket, a role other than operator or admin, a ticket not decided, one whose
// decision has no transaction yet or one that did not fail. The retry is in the trail and the
// audit log, and the ticket's record (version 2 once retried) decodes.
func TestTicketRetry(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()}))
	e.logs(request(20, 5, true, testNow+day))
	const id = "redemption-5"
	bt := testNow + 20
	retry := func(at int64, who, role, ticket string) any {
		t.Helper()
		return e.apply(EncodeTicketRetry(&TicketRetryCommand{Time: at * 1e9, Actor: Actor{Name: who, Role: role}, Ticket: ticket, Reason: "role granted again"}))
	}
	intent := func(at int64, ref string) uint64 {
		t.Helper()
		r, ok := e.apply(EncodeTxIntent(&TxIntentCommand{Time: at * 1e9, Purpose: "APPROVE", Reference: ref, Nonce: 1,
			Hash: [32]byte{byte(at)}, Raw: []byte{2, byte(at)}})).(*TxIntentResult)
		if !ok || !r.Created {
			t.Fatalf("intent %s: %+v", ref, r)
		}
		return r.Intent.Seq
	}
	refused := func(what string, res any, code string) {
		t.Helper()
		before := e.stateDump()
		refusedWith(t, what, res, code)
		if e.stateDump() != before {
			t.Fatalf("%s: a refused retry changed the state", what)
		}
	}
	before := e.stateDump()
	refusedWith(t, "pending ticket", retry(bt+1, "olga", "operator", id), CodeConflict)
	refusedWith(t, "unknown ticket", retry(bt+1, "olga", "operator", "redemption-99"), CodeNotFound)
	refusedWith(t, "malformed id", retry(bt+1, "olga", "operator", "redemption-x"), CodeNotFound)
	if e.stateDump() != before {
		t.Fatal("a refused retry changed the state")
	}
	e.decide(bt+2, "alice", "approver", id, DecisionApprove, "")
	if r, ok := e.decide(bt+3, "bob", "approver", id, DecisionApprove, "").(*ApprovalDecisionResult); !ok || r.Ticket.Status != TicketApproved {
		t.Fatalf("quorum: %+v", r)
	}
	refused("no transaction yet", retry(bt+4, "olga", "operator", id), CodeConflict)
	seq := intent(bt+5, id)
	refused("transaction signed", retry(bt+6, "olga", "operator", id), CodeConflict)
	e.apply(EncodeTxUpdate(&TxUpdateCommand{Time: (bt + 7) * 1e9, Seq: seq, State: TxSent}))
	refused("transaction sent", retry(bt+8, "olga", "operator", id), CodeConflict)
	e.apply(EncodeTxUpdate(&TxUpdateCommand{Time: (bt + 9) * 1e9, Seq: seq, State: TxFailed, Reason: "execution reverted: executor: caller is not the executor"}))
	for _, role := range []string{"approver", "viewer", ""} {
		refused("role "+role, retry(bt+10, "olga", role, id), CodeForbidden)
	}
	tk := e.ticket(id)
	if it, ok, err := TicketIntent(e.st, &tk); err != nil || !ok || it.State != TxFailed || it.Reason == "" {
		t.Fatalf("the failure is not shown on the ticket: %+v %v %v", it, ok, err)
	}

	r, ok := retry(bt+11, "olga", "operator", id).(*ApprovalDecisionResult)
	if !ok || r.Ticket.Status != TicketApproved || r.Ticket.Retries != 1 || r.Ticket.ExecReference() != id+"/retry-1" {
		t.Fatalf("retry: %+v", r)
	}
	tk = e.ticket(id)
	mustEqual(t, "ticket after the retry", fmt.Sprint(tk.Status, tk.Retries, tk.ExecReference()), fmt.Sprint(TicketApproved, 1, id+"/retry-1"))
	if _, ok, err := TicketIntent(e.st, &tk); ok || err != nil {
		t.Fatalf("the retried ticket shows the failed transaction still: %v %v", ok, err)
	}
	mustEqual(t, "trail", fmt.Sprint(trailOf(t, e.st, id)), "[APPROVE:alice:PARTIALLY_APPROVED APPROVE:bob:APPROVED RETRY:olga:APPROVED]")
	var audits int
	scan(e.st, []byte{pAudit}, []byte{pAudit + 1}, false, func(k, v []byte) (bool, error) {
		var a auditRec
		if a.decode(v) == nil && a.action == "approval.retry" && a.resource == "approvals/"+id && bytes.Contains(a.after, []byte(id+"/retry-1")) {
			audits++
		}
		return true, nil
	})
	mustEqual(t, "retry audit entries", audits, 1)
	// Retried again before the new transaction exists, or while it is not FAILED: refused.
	refused("retry before the new transaction", retry(bt+12, "root", "admin", id), CodeConflict)
	seq2 := intent(bt+13, id+"/retry-1")
	refused("retry of a transaction sent", retry(bt+14, "root", "admin", id), CodeConflict)
	tk = e.ticket(id)
	if it, ok, _ := TicketIntent(e.st, &tk); !ok || it.Seq != seq2 {
		t.Fatalf("the ticket's execution is not the new intent: %+v", it)
	}
	// The chain's approval closes it; a retry of an EXECUTED ticket is refused.
	e.logs(mk("RedemptionApproved", 30, 0, testNow+30, 5, addr(9), testNow+day))
	refused("executed", retry(bt+15, "root", "admin", id), CodeConflict)
	tk = e.ticket(id)
	if it, ok, _ := TicketIntent(e.st, &tk); !ok || it.Seq != seq2 || tk.Status != TicketExecuted {
		t.Fatalf("executed ticket's execution %+v (%v), status %s", it, ok, tk.Status)
	}
	// The retried ticket's record: version 2, and DecodeRecord reads it.
	k, _ := TicketKey(id)
	v, err := e.st.Get(k)
	if err != nil || v[0] != 2 {
		t.Fatalf("retried ticket record version %d (%v)", v[0], err)
	}
	if rec, ok, err := DecodeRecord(k, v); err != nil || !ok || rec.(*TicketRecord).Retries != 1 {
		t.Fatalf("DecodeRecord: %+v %v %v", rec, ok, err)
	}
}
