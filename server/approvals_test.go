package server

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/fund"
	"paimon/fund/fundtest"
)

// requestLog is a RedemptionRequested of request id by owner, needing approval, of locked
// amount n × 1e18, in a block of now.
func requestLog(t testing.TB, id int, owner string, n uint64) []byte {
	t.Helper()
	o := common.HexToAddress(owner)
	ev, err := fundtest.NewEvent("RedemptionRequested", uint64(id), o, o, fundtest.E18(n), fundtest.E18(n), fundtest.E18(0), uint64(0), true, uint64(time.Now().Unix()+86400), uint64(1))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("request/%d", id)))
	ev.TxHash, ev.BlockNumber, ev.BlockTime = common.Hash(h), fundtest.NextBlock(), time.Now().Unix()
	ev.BlockHash = common.Hash(sha256.Sum256(h[:]))
	raw, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return fundtest.Body(raw)
}

// TestApprovalEndpoints: a redemption over the large amount opens a ticket needing two
// approvers; the list, the queue, one ticket with its trail and the SLA report show it; bad
// decisions are refused with their codes and change nothing; two approvers approve it.
func TestApprovalEndpoints(t *testing.T) {
	n := newTestNode(t)
	alice, bob, carol := newWallet(t), newWallet(t), newWallet(t)
	for _, w := range []wallet{alice, bob, carol} {
		if r := n.do("POST", "/v1/admin/roles", adminToken, []byte(`{"address":"`+w.addr+`","role":"approver"}`)); r.status != 200 {
			t.Fatalf("grant: %d %s", r.status, r.body)
		}
	}
	ta, tb, tc := n.login(alice), n.login(bob), n.login(carol)
	if r := n.do("POST", "/v1/admin/logs", operatorToken, requestLog(t, 4242, carol.addr, 2_000_000)); r.status != 200 {
		t.Fatalf("logs: %d %s", r.status, r.body)
	}
	const id = "redemption-4242"
	list := n.mustGet("/v1/approvals?status=pending&type=REDEMPTION", adminToken)
	items := list["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != id || items[0].(map[string]any)["requiredApprovals"] != 2.0 {
		t.Fatalf("list: %v", list)
	}
	q := n.mustGet("/v1/redemptions/pending-approvals", ta)
	if s := q["summary"].(map[string]any); s["count"] != 1.0 || s["totalAmount"] != "2000000000000000000000000" {
		t.Fatalf("queue: %v", q)
	}

	for _, c := range []struct {
		what, token, path, body string
		status                  int
		code                    string
	}{
		{"own ticket", tc, "approve", "", 403, "FORBIDDEN"},
		{"reject without a reason", ta, "reject", `{}`, 400, "VALIDATION_ERROR"},
		{"unknown field", ta, "approve", `{"reason":"x","amount":1}`, 400, "VALIDATION_ERROR"},
		{"cancel by a viewer", viewerToken, "cancel", "", 403, "FORBIDDEN"},
		{"operator", operatorToken, "approve", "", 403, "FORBIDDEN"},
	} {
		r := n.do("POST", "/v1/approvals/"+id+"/"+c.path, c.token, []byte(c.body))
		if r.status != c.status || r.errorCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.what, r.status, r.body, c.status, c.code)
		}
	}
	for _, p := range []string{"/v1/approvals/redemption-1/approve", "/v1/approvals/nope/approve"} {
		if r := n.do("POST", p, ta, nil); r.status != 404 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	r := n.do("POST", "/v1/approvals/"+id+"/approve", ta, []byte(`{"reason":"checked"}`))
	if r.status != 200 || r.json(t)["status"] != "PARTIALLY_APPROVED" {
		t.Fatalf("first approval: %d %s", r.status, r.body)
	}
	if r := n.do("POST", "/v1/approvals/"+id+"/approve", ta, nil); r.status != 409 || r.errorCode() != "CONFLICT" {
		t.Fatalf("twice: %d %s", r.status, r.body)
	}
	r = n.do("POST", "/v1/approvals/"+id+"/approve", tb, nil)
	if r.status != 200 || r.json(t)["status"] != "APPROVED" {
		t.Fatalf("quorum: %d %s", r.status, r.body)
	}
	one := n.mustGet("/v1/approvals/"+id+"?consistency=leader", ta)
	trail := one["trail"].([]any)
	if len(trail) != 2 || trail[0].(map[string]any)["actor"] != "wallet:"+alice.addr || trail[1].(map[string]any)["status"] != "APPROVED" {
		t.Fatalf("trail: %v", one)
	}
	audit := n.mustGet("/v1/audit?action=approval.approve", viewerToken)
	if got := len(audit["items"].([]any)); got != 2 {
		t.Fatalf("audit: %d entries: %v", got, audit)
	}
	rep := n.mustGet("/v1/approvals/sla-report", adminToken)
	if rep["total"] != 1.0 || rep["withinSla"] != 1.0 || rep["slaMetRate"] != 10000.0 || rep["byApprover"].(map[string]any)["wallet:"+bob.addr] == nil {
		t.Fatalf("sla report: %v", rep)
	}
	for _, p := range []string{"/v1/approvals/redemption-7", "/v1/approvals/x-1"} {
		if r := n.do("GET", p, adminToken, nil); r.status != 404 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	if r := n.do("GET", "/v1/approvals/sla-report?from=tomorrow", adminToken, nil); r.status != 400 || !strings.Contains(string(r.body), "from") {
		t.Errorf("bad from: %d %s", r.status, r.body)
	}
}

// FuzzParseDecision: a decision body is a reason or a VALIDATION_ERROR, never a panic.
func FuzzParseDecision(f *testing.F) {
	for _, s := range []string{"", "{}", `{"reason":"ok"}`, `{"reason":""}`, `{"reason":" "}`, `{"reason":1}`, `{"reason":"x","y":2}`,
		`{"reason":"\xff"}`, `[]`, `{"reason":"` + strings.Repeat("a", 1025) + `"}`, `{"reason":"a"} {}`, "null",
		`{"reason":"ok","signature":"0x` + strings.Repeat("11", 65) + `"}`, `{"signature":""}`, `{"signature":5}`} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, d uint8) {
		req, err := parseDecision(body, decisionOf(d))
		reason := req.Reason
		if err != nil {
			if ae, ok := apiErrorOf(err); ok || ae.Status != 400 {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if len(reason) > maxDecisionReason || (decisionOf(d) == 2 && strings.TrimSpace(reason) == "") {
			t.Fatalf("%q accepted as %q", body, reason)
		}
	})
}

func decisionOf(d uint8) fund.Decision { return fund.Decision(d%3 + 1) }

// signDecision is a wallet's EIP-712 signature of a decision on chain 56 (the test node's).
func signDecision(t testing.TB, w wallet, id string, d fund.Decision, reason string) string {
	t.Helper()
	h, err := DecisionHash(id, d, reason, 56)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := crypto.Sign(h, w.key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return hexutil.Encode(sig)
}

// TestApprovalSignatures: with approvals.require_signature, a wallet session's decision needs
// its EIP-712 signature; a missing, malformed or foreign one, or one of another decision, is a
// clear 4xx and changes nothing; static tokens are refused unless exempt.
func TestApprovalSignatures(t *testing.T) {
	for _, exempt := range []bool{false, true} {
		n := newTestNode(t, func(su *setup) { su.server.ApprovalSignature, su.server.ApprovalTokensExempt = true, exempt })
		alice, bob, carol := newWallet(t), newWallet(t), newWallet(t)
		for _, w := range []wallet{alice, bob} {
			if r := n.do("POST", "/v1/admin/roles", adminToken, []byte(`{"address":"`+w.addr+`","role":"approver"}`)); r.status != 200 {
				t.Fatalf("grant: %d %s", r.status, r.body)
			}
		}
		ta := n.login(alice)
		id := 5151
		if exempt {
			id = 5152
		}
		if r := n.do("POST", "/v1/admin/logs", operatorToken, requestLog(t, id, carol.addr, 2_000_000)); r.status != 200 {
			t.Fatalf("logs: %d %s", r.status, r.body)
		}
		tid := fmt.Sprintf("redemption-%d", id)
		body := func(reason, sig string) []byte {
			return []byte(fmt.Sprintf(`{"reason":%q,"signature":%q}`, reason, sig))
		}
		for _, c := range []struct {
			what, token string
			body        []byte
			status      int
		}{
			{"no signature", ta, []byte(`{"reason":"ok"}`), 400},
			{"malformed", ta, body("ok", "0x1234"), 400},
			{"not hex", ta, body("ok", "zz"), 400},
			{"by another wallet", ta, body("ok", signDecision(t, bob, tid, fund.DecisionApprove, "ok")), 403},
			{"of another reason", ta, body("ok", signDecision(t, alice, tid, fund.DecisionApprove, "other")), 403},
			{"of a rejection", ta, body("ok", signDecision(t, alice, tid, fund.DecisionReject, "ok")), 403},
			{"of another ticket", ta, body("ok", signDecision(t, alice, "redemption-1", fund.DecisionApprove, "ok")), 403},
			{"a static token's signature", adminToken, body("ok", signDecision(t, alice, tid, fund.DecisionApprove, "ok")), 400},
		} {
			if r := n.do("POST", "/v1/approvals/"+tid+"/approve", c.token, c.body); r.status != c.status {
				t.Errorf("exempt %v, %s: %d %s, want %d", exempt, c.what, r.status, r.body, c.status)
			}
		}
		if got := n.mustGet("/v1/approvals/"+tid+"?consistency=leader", adminToken); got["status"] != "PENDING" {
			t.Fatalf("a refused decision changed the ticket: %v", got)
		}
		r := n.do("POST", "/v1/approvals/"+tid+"/approve", ta, body("ok", signDecision(t, alice, tid, fund.DecisionApprove, "ok")))
		if r.status != 200 || r.json(t)["status"] != "PARTIALLY_APPROVED" {
			t.Fatalf("signed approval: %d %s", r.status, r.body)
		}
		r = n.do("POST", "/v1/approvals/"+tid+"/approve", adminToken, nil)
		if want := map[bool]int{false: 403, true: 200}[exempt]; r.status != want {
			t.Fatalf("exempt %v: a static token without a signature: %d %s, want %d", exempt, r.status, r.body, want)
		}
	}
}

// TestDecisionAfterTheDeadline: a decision dated at or after the ticket's SLA deadline (the
// server's clock moved past it) is a clear 409 and changes nothing: no approval, no trail entry.
func TestDecisionAfterTheDeadline(t *testing.T) {
	var offset atomic.Int64
	n := newTestNode(t, func(su *setup) {
		su.clock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	if r := n.do("POST", "/v1/admin/logs", operatorToken, requestLog(t, 77, newWallet(t).addr, 10)); r.status != 200 {
		t.Fatalf("logs: %d %s", r.status, r.body)
	}
	const id = "redemption-77"
	before := n.mustGet("/v1/approvals/"+id+"?consistency=leader", adminToken)
	offset.Store(int64(25 * time.Hour)) // past every channel's default deadline (24 h at most)
	r := n.do("POST", "/v1/approvals/"+id+"/approve", adminToken, []byte(`{"reason":"late"}`))
	if r.status != 409 || r.errorCode() != "CONFLICT" || !strings.Contains(string(r.body), "deadline") {
		t.Fatalf("a decision past the deadline: %d %s", r.status, r.body)
	}
	after := n.mustGet("/v1/approvals/"+id+"?consistency=leader", adminToken)
	if fmt.Sprint(after) != fmt.Sprint(before) || after["status"] != "PENDING" || len(after["approvals"].([]any)) != 0 {
		t.Fatalf("a refused decision changed the ticket:\n%v\n%v", before, after)
	}
}
