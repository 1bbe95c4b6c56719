package fund

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"paimon/chainlog"
	"paimon/kv"
)

// approvalRules are test rules: quorum 2 above 1e18, a short STANDARD SLA (100/200/300 s).
func testApprovalRules() ApprovalRules {
	r := DefaultApprovalRules()
	r.LargeAmount = *e18(1)
	r.SLA[0] = SLA{Warn: 100, Escalate: 200, Deadline: 300}
	return r
}

func (e *env) ticket(id string) TicketRecord {
	e.t.Helper()
	t, err := ReadTicket(e.st, id)
	if err != nil {
		e.t.Fatalf("ticket %s: %v", id, err)
	}
	return t
}

func (e *env) decide(at int64, who, role, id string, d Decision, reason string) any {
	e.t.Helper()
	return e.apply(EncodeApprovalDecision(&ApprovalDecisionCommand{Time: at * 1e9, Actor: Actor{Name: who, Role: role}, Ticket: id, Decision: d, Reason: reason}))
}

func refusedWith(t *testing.T, what string, res any, code string) {
	t.Helper()
	v, ok := res.(*ValidationError)
	if !ok || v.Code != code {
		t.Fatalf("%s: got %T %+v, want a refusal %q", what, res, res, code)
	}
}

// TestApprovalTicketLifecycle: a redemption over the threshold opens a ticket needing two
// approvers in its own command; every bad decision is refused and changes nothing; quorum
// approves; the chain's RedemptionApproved closes it as EXECUTED, and its removal reopens it.
func TestApprovalTicketLifecycle(t *testing.T) {
	e := newEnv(t)
	if res, ok := e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()})).(*ApprovalRulesResult); !ok || !res.Changed {
		t.Fatalf("rules: %+v", res)
	}
	req := request(20, 5, true, testNow+day)
	e.logs(req, request(21, 6, false, testNow+day))
	if _, err := ReadTicket(e.st, "redemption-6"); err != ErrNotFound {
		t.Fatalf("a redemption without requiresApproval has a ticket: %v", err)
	}
	const id = "redemption-5"
	tk := e.ticket(id)
	bt := testNow + 20
	mustEqual(t, "ticket", fmt.Sprintln(tk.Status, tk.Required, tk.CreatedAt, tk.WarnAt, tk.EscalateAt, tk.DueAt, tk.Requester, tk.Amount.Dec()),
		fmt.Sprintln("PENDING", 2, bt, bt+100, bt+200, bt+300, chainlog.HexAddress(addr(5)), e18(2).Dec()))
	owner := "wallet:" + chainlog.HexAddress(addr(5))

	before := e.stateDump()
	for _, c := range []struct {
		what, who, role, id string
		d                   Decision
		reason              string
		at                  int64
		code                string
	}{
		{"unknown ticket", "alice", "approver", "redemption-99", DecisionApprove, "", bt, CodeNotFound},
		{"malformed id", "alice", "approver", "redemption-x", DecisionApprove, "", bt, CodeNotFound},
		{"operator", "olga", "operator", id, DecisionApprove, "", bt, CodeForbidden},
		{"own ticket", owner, "approver", id, DecisionApprove, "", bt, CodeForbidden},
		{"reject without reason", "alice", "approver", id, DecisionReject, "", bt, ""},
		{"cancel by another", "alice", "approver", id, DecisionCancel, "", bt, CodeForbidden},
		{"at the deadline", "alice", "approver", id, DecisionApprove, "", bt + 300, CodeConflict},
	} {
		refusedWith(t, c.what, e.decide(c.at, c.who, c.role, c.id, c.d, c.reason), c.code)
	}
	if e.stateDump() != before {
		t.Fatal("a refused decision changed the state")
	}

	r1, ok := e.decide(bt+10, "alice", "approver", id, DecisionApprove, "ok").(*ApprovalDecisionResult)
	if !ok || r1.Ticket.Status != TicketPartiallyApproved || r1.Ticket.Approved() != 1 {
		t.Fatalf("first approval: %+v", r1)
	}
	refusedWith(t, "twice", e.decide(bt+11, "alice", "approver", id, DecisionApprove, ""), CodeConflict)
	r2, ok := e.decide(bt+12, "root", "admin", id, DecisionApprove, "").(*ApprovalDecisionResult)
	if !ok || r2.Ticket.Status != TicketApproved {
		t.Fatalf("quorum: %+v", r2)
	}
	refusedWith(t, "decided", e.decide(bt+13, "bob", "approver", id, DecisionReject, "no"), CodeConflict)
	refusedWith(t, "cancel decided", e.decide(bt+13, owner, "viewer", id, DecisionCancel, ""), CodeConflict)

	// The audit log and the trail have both decisions.
	trail := trailOf(t, e.st, id)
	mustEqual(t, "trail", fmt.Sprint(trail), "[APPROVE:alice:PARTIALLY_APPROVED APPROVE:root:APPROVED]")
	var audits int
	scan(e.st, []byte{pAudit}, []byte{pAudit + 1}, false, func(k, v []byte) (bool, error) {
		var a auditRec
		if a.decode(v) == nil && a.action == "approval.approve" && a.resource == "approvals/"+id {
			audits++
		}
		return true, nil
	})
	mustEqual(t, "audit entries", audits, 2)

	// A tick past the deadline does nothing to a decided ticket.
	e.apply(EncodeTick(&TickCommand{Time: (bt + 1000) * 1e9}))
	mustEqual(t, "status after tick", e.ticket(id).Status, TicketApproved)

	approved := mk("RedemptionApproved", 30, 0, testNow+30, 5, addr(9), testNow+day)
	e.logs(approved)
	tk = e.ticket(id)
	mustEqual(t, "executed", fmt.Sprintln(tk.Status, tk.ExecOutcome, tk.ExecTx), fmt.Sprintln("EXECUTED APPROVED", chainlog.HexHash(approved.TxHash)))
	e.logs(removed(approved))
	mustEqual(t, "after the event's removal", e.ticket(id).Status, TicketApproved)
}

func trailOf(t *testing.T, r kv.Reader, id string) []string {
	t.Helper()
	k, _ := TicketKey(id)
	p := TicketTrailPrefix(k)
	var out []string
	err := scan(r, p, append(bytes.Clone(p), 0xff), false, func(k, v []byte) (bool, error) {
		a, err := DecodeApprovalRecord(k, v)
		if err != nil {
			return false, err
		}
		out = append(out, a.Decision.String()+":"+a.Actor+":"+a.StatusAfter.String())
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApprovalSLA: ticks fire warn, escalate and the breach once each, with SYSTEM risk
// events (and their alerts); the ticket expires at its deadline; a rejection and a
// cancellation close it before.
func TestApprovalSLA(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()}))
	e.logs(request(20, 1, true, 0), request(21, 2, true, 0), request(22, 3, true, 0))
	bt := testNow + 20
	tick := func(at int64) *TickResult {
		t.Helper()
		r, ok := e.apply(EncodeTick(&TickCommand{Time: at * 1e9})).(*TickResult)
		if !ok {
			t.Fatalf("tick refused")
		}
		return r
	}
	mustEqual(t, "before warn", *tick(bt + 99), TickResult{})
	if _, ok := e.decide(bt+100, "alice", "approver", "redemption-2", DecisionReject, "too large").(*ApprovalDecisionResult); !ok {
		t.Fatal("reject refused")
	}
	if _, ok := e.decide(bt+100, "wallet:"+chainlog.HexAddress(addr(3)), "viewer", "redemption-3", DecisionCancel, "").(*ApprovalDecisionResult); !ok {
		t.Fatal("cancel by the requester refused")
	}
	mustEqual(t, "warn", *tick(bt + 100), TickResult{Warned: 1})
	mustEqual(t, "warn again", *tick(bt + 150), TickResult{})
	mustEqual(t, "escalate and breach in one tick", *tick(bt + 1000), TickResult{Escalated: 1, Expired: 1})
	mustEqual(t, "nothing left", *tick(bt + 5000), TickResult{})
	mustEqual(t, "statuses", fmt.Sprintln(e.ticket("redemption-1").Status, e.ticket("redemption-2").Status, e.ticket("redemption-3").Status),
		"EXPIRED REJECTED CANCELLED\n")
	mustEqual(t, "trail", fmt.Sprint(trailOf(t, e.st, "redemption-1")), "[SLA_WARN::PENDING SLA_ESCALATE::PENDING EXPIRE::EXPIRED]")
	var types []string
	for _, r := range riskRecords(t, e) {
		if r.Source == "SYSTEM" {
			types = append(types, r.Event+"/"+r.Severity)
		}
	}
	mustEqual(t, "risk events", fmt.Sprint(types), "[APPROVAL_SLA_WARN/warning APPROVAL_SLA_ESCALATE/high APPROVAL_SLA_BREACH/critical]")
	refusedWith(t, "expired", e.decide(bt+10, "alice", "approver", "redemption-1", DecisionApprove, ""), CodeConflict)
	if due, ok, err := NextApprovalDue(e.st); err != nil || ok {
		t.Fatalf("due index not empty: %d %v %v", due, ok, err)
	}
}

func TestApprovalRulesRefused(t *testing.T) {
	e := newEnv(t)
	bad := testApprovalRules()
	bad.SLA[1].Warn = bad.SLA[1].Deadline + 1
	if !isValidation(e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: bad}))) {
		t.Fatal("warn after deadline accepted")
	}
	bad = testApprovalRules()
	bad.DefaultRequired = 0
	if !isValidation(e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: bad}))) {
		t.Fatal("quorum 0 accepted")
	}
	if r, ok, err := ReadApprovalRules(e.st); err != nil || ok || r.DefaultRequired != 1 {
		t.Fatalf("rules after refusals: %+v %v %v", r, ok, err)
	}
}

func TestApprovalCodecs(t *testing.T) {
	for _, cmd := range [][]byte{
		EncodeApprovalRules(&ApprovalRulesCommand{Time: 5, Rules: testApprovalRules()}),
		EncodeApprovalDecision(&ApprovalDecisionCommand{Time: 5, Actor: Actor{Name: "a", Role: "approver"}, Ticket: "redemption-1", Decision: DecisionReject, Reason: "r"}),
		EncodeTick(&TickCommand{Time: 5}),
		EncodeTicketRetry(&TicketRetryCommand{Time: 5, Actor: Actor{Name: "o", Role: "operator"}, Ticket: "redemption-1", Reason: "r"}),
	} {
		e := newEnv(t)
		if _, err := e.m.Apply(e.st, 1, cmd); err != nil {
			t.Fatalf("type %d: %v", cmd[0], err)
		}
		for i := range len(cmd) - 1 {
			if _, err := e.m.Apply(e.st, 2, cmd[:i+1]); err == nil {
				t.Fatalf("type %d: %d of %d bytes applied", cmd[0], i+1, len(cmd))
			}
		}
		if _, err := e.m.Apply(e.st, 2, append(bytes.Clone(cmd), 0)); err == nil {
			t.Fatalf("type %d: trailing byte applied", cmd[0])
		}
		if CommandVersion(cmd) == "0.1" {
			t.Fatalf("type %d is not gated by the cluster version", cmd[0])
		}
	}
}

// TestApprovalsIndependentOfBatching is the property: random requests, decisions by random
// actors and ticks applied one command per batch and in random batches leave byte-identical
// stores, and every ticket's status agrees with its approvals and its trail.
func TestApprovalsIndependentOfBatching(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var cmds [][]byte
		now := testNow
		cmds = append(cmds, EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()}))
		actors := []Actor{{Name: "alice", Role: "approver"}, {Name: "bob", Role: "approver"}, {Name: "root", Role: "admin"},
			{Name: "olga", Role: "operator"}, {Name: "wallet:" + chainlog.HexAddress(addr(1)), Role: "viewer"}}
		for i := range 120 {
			now += int64(rng.IntN(60))
			switch rng.IntN(4) {
			case 0:
				bn := uint64(100 + i)
				ev := mk("RedemptionRequested", bn, 0, now, rng.IntN(12), addr(rng.IntN(3)), addr(1), e18(2), e18(uint64(rng.IntN(3))), u(5), rng.IntN(2), rng.IntN(3) > 0, now+day, 9)
				cmds = append(cmds, EncodeLogs(&LogsCommand{Time: now * 1e9, Events: []chainlog.Event{ev}}))
			case 1:
				cmds = append(cmds, EncodeTick(&TickCommand{Time: now * 1e9}))
			default:
				d := []Decision{DecisionApprove, DecisionApprove, DecisionReject, DecisionCancel}[rng.IntN(4)]
				cmds = append(cmds, EncodeApprovalDecision(&ApprovalDecisionCommand{Time: now * 1e9, Actor: actors[rng.IntN(len(actors))],
					Ticket: fmt.Sprintf("redemption-%d", rng.IntN(12)), Decision: d, Reason: "r"}))
			}
		}
		one := newEnv(t)
		for _, c := range cmds {
			one.apply(c)
		}
		batched := newEnv(t)
		for i := 0; i < len(cmds); {
			n := 1 + rng.IntN(8)
			for j := i; j < min(i+n, len(cmds)); j++ {
				batched.index++
				if _, err := batched.m.Apply(batched.st, batched.index, cmds[j]); err != nil {
					t.Fatal(err)
				}
			}
			if err := batched.m.EndBatch(batched.st, batched.index); err != nil {
				t.Fatal(err)
			}
			batched.m.Committed()
			i += n
		}
		if a, b := one.dump(), batched.dump(); a != b {
			t.Fatalf("seed %d: batching changed the state:\n%s", seed, diffDumps(a, b))
		}
		tickets := 0
		scan(one.st, []byte{pTicket}, []byte{pTicket + 1}, false, func(k, v []byte) (bool, error) {
			tk, err := DecodeTicket(v)
			if err != nil {
				t.Fatal(err)
			}
			tickets++
			n := tk.Approved()
			switch tk.Status {
			case TicketApproved:
				if n < tk.Required {
					t.Errorf("%s approved with %d of %d", tk.ID, n, tk.Required)
				}
			case TicketPending, TicketPartiallyApproved:
				if n >= tk.Required || (n > 0) != (tk.Status == TicketPartiallyApproved) {
					t.Errorf("%s %s with %d of %d", tk.ID, tk.Status, n, tk.Required)
				}
			}
			seen := map[string]bool{}
			for _, a := range tk.Approvals {
				if seen[a.Approver] || a.Approver == "wallet:"+tk.Requester || (a.Role != "approver" && a.Role != "admin") {
					t.Errorf("%s: bad approval %+v", tk.ID, a)
				}
				seen[a.Approver] = true
			}
			trail := trailOf(t, one.st, tk.ID)
			if uint32(len(trail)) != tk.Records {
				t.Errorf("%s: %d trail records, ticket counts %d", tk.ID, len(trail), tk.Records)
			}
			return true, nil
		})
		if tickets == 0 {
			t.Fatalf("seed %d: no tickets", seed)
		}
	}
}

// TestTrailSurvivesAReorgedRequest: a request with a decision is dropped by a reorg (its
// ticket goes, its trail stays: append only) and comes back in another block: the new ticket's
// records continue the trail's sequence, so the earlier decision's record is never overwritten.
func TestTrailSurvivesAReorgedRequest(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: 1, Rules: testApprovalRules()}))
	req := request(20, 5, true, testNow+day)
	e.logs(req)
	const id = "redemption-5"
	e.decide(testNow+21, "alice", "approver", id, DecisionApprove, "first")
	k, _ := TicketKey(id)
	first, err := e.st.Get(ticketRecKey(TicketRedemption, (*[32]byte)(k[2:]), 0))
	if err != nil {
		t.Fatal(err)
	}
	first = bytes.Clone(first)
	e.logs(removed(req))
	if _, err := ReadTicket(e.st, id); err != ErrNotFound {
		t.Fatalf("the reorg left the ticket: %v", err)
	}
	e.logs(request(25, 5, true, testNow+day)) // the same request, mined again in another block
	tk := e.ticket(id)
	if tk.Status != TicketPending || tk.Records != 1 {
		t.Fatalf("reopened ticket %+v: want PENDING continuing the trail at 1", tk)
	}
	e.decide(testNow+26, "bob", "approver", id, DecisionApprove, "second")
	mustEqual(t, "trail", fmt.Sprint(trailOf(t, e.st, id)), "[APPROVE:alice:PARTIALLY_APPROVED APPROVE:bob:PARTIALLY_APPROVED]")
	if again, err := e.st.Get(ticketRecKey(TicketRedemption, (*[32]byte)(k[2:]), 0)); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("the first record was overwritten: %x, was %x (%v)", again, first, err)
	}
}

// TestApprovalRulesRaiseOpenQuorum: a ticket opened before any CmdApprovalRules (the
// defaults: 1 approval) gets the quorum of the rules that follow (default_required 3): two
// approvals leave it PARTIALLY_APPROVED, the third approves it. The raise is audited, changes
// the ticket record in the rules command's outbox entries (PostgreSQL's sync), leaves the SLA
// times and closed tickets alone, and a later rule asking less never lowers it.
func TestApprovalRulesRaiseOpenQuorum(t *testing.T) {
	e := newOutboxEnv(t)
	e.logs(request(20, 5, true, testNow+day), request(21, 6, true, testNow+day))
	const id, closed = "redemption-5", "redemption-6"
	opened := e.ticket(id)
	mustEqual(t, "required before the rules", opened.Required, uint8(1))
	e.decide(testNow+22, "wallet:"+chainlog.HexAddress(addr(6)), "viewer", closed, DecisionCancel, "")

	rules := DefaultApprovalRules()
	rules.DefaultRequired = 3
	if res, ok := e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: (testNow + 30) * 1e9, Rules: rules})).(*ApprovalRulesResult); !ok || !res.Changed {
		t.Fatalf("rules: %+v", res)
	}
	tk := e.ticket(id)
	mustEqual(t, "raised", fmt.Sprintln(tk.Status, tk.Required, tk.WarnAt, tk.EscalateAt, tk.DueAt),
		fmt.Sprintln("PENDING", 3, opened.WarnAt, opened.EscalateAt, opened.DueAt))
	mustEqual(t, "closed ticket", e.ticket(closed).Required, uint8(1))
	k, _ := TicketKey(id)
	var synced int
	for _, o := range readOutbox(t, e.st, e.index-1) {
		if bytes.Equal(o.Key, k) {
			got, err := DecodeTicket(o.Value)
			if err != nil || got.Required != 3 || o.Index != e.index {
				t.Fatalf("outbox entry of the raised ticket: %+v %v", got, err)
			}
			synced++
		} else if o.Key[0] == pTicket {
			t.Fatalf("outbox entry of another ticket %x", o.Key)
		}
	}
	mustEqual(t, "outbox entries of the ticket", synced, 1)
	var audits []string
	scan(e.st, []byte{pAudit}, []byte{pAudit + 1}, false, func(k, v []byte) (bool, error) {
		var a auditRec
		if a.decode(v) == nil && a.action == "approval.quorum_raise" {
			audits = append(audits, a.resource+" "+string(a.before)+" "+string(a.after))
		}
		return true, nil
	})
	mustEqual(t, "audit", fmt.Sprint(audits), `[approvals/redemption-5 {"required":1} {"required":3}]`)

	// Lower rules leave the open ticket's quorum as it is.
	rules.DefaultRequired = 2
	e.apply(EncodeApprovalRules(&ApprovalRulesCommand{Time: (testNow + 40) * 1e9, Rules: rules}))
	mustEqual(t, "after lower rules", e.ticket(id).Required, uint8(3))

	for i, who := range []string{"alice", "bob"} {
		r, ok := e.decide(testNow+50+int64(i), who, "approver", id, DecisionApprove, "").(*ApprovalDecisionResult)
		if !ok || r.Ticket.Status != TicketPartiallyApproved {
			t.Fatalf("approval %d: %+v", i+1, r)
		}
	}
	r, ok := e.decide(testNow+60, "carol", "approver", id, DecisionApprove, "").(*ApprovalDecisionResult)
	if !ok || r.Ticket.Status != TicketApproved || r.Ticket.Approved() != 3 {
		t.Fatalf("third approval: %+v", r)
	}
}
