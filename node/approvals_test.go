package node

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/config"
	"paimon/fund"
	"paimon/fund/fundtest"
)

const (
	annToken = "ann-approver-token-for-cluster-tests"
	benToken = "ben-approver-token-for-cluster-tests"
)

// approvalRequestLog is a webhook body with a RedemptionRequested of request id needing
// approval, on channel (0 STANDARD, 1 EMERGENCY), in a block of now.
func approvalRequestLog(t testing.TB, id int, channel uint64) []byte {
	t.Helper()
	o := fundtest.Addr(fmt.Sprintf("owner-%d", id))
	ev, err := fundtest.NewEvent("RedemptionRequested", uint64(id), o, o, fundtest.E18(5), fundtest.E18(5), fundtest.E18(0), channel, true, uint64(time.Now().Unix()+86400), uint64(1))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("approval-request/%d", id)))
	ev.TxHash, ev.BlockNumber, ev.BlockTime = common.Hash(h), fundtest.NextBlock(), time.Now().Unix()
	ev.BlockHash = common.Hash(sha256.Sum256(h[:]))
	raw, err := fundtest.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return fundtest.Body(raw)
}

// sameOnEvery waits until path answers 200 with the same body on every running node, each
// having applied at least index, and returns that body.
func (c *testCluster) sameOnEvery(path, token string, index uint64, ok func(map[string]any) error) []byte {
	c.t.Helper()
	var body []byte
	checkFor(c.t, 30*time.Second, func() error {
		body = nil
		for i, n := range c.nodes {
			if n == nil {
				continue
			}
			r := c.do(i, "GET", path, token, nil)
			if r.status != 200 {
				return fmt.Errorf("node%d: %d %s", i+1, r.status, r.body)
			}
			if at, _ := strconv.ParseUint(r.header.Get("X-Paimon-Index"), 10, 64); at < index {
				return fmt.Errorf("node%d at index %d, want %d", i+1, at, index)
			}
			if err := ok(r.json(c.t)); err != nil {
				return fmt.Errorf("node%d: %w", i+1, err)
			}
			if body != nil && !bytes.Equal(body, r.body) {
				return fmt.Errorf("node%d answers %s, another %s", i+1, r.body, body)
			}
			body = r.body
		}
		return nil
	})
	return body
}

// TestApprovalTicketsOnACluster: a redemption needing approval opens its ticket in the entry
// that applies it, identical on every node (the leader's [approvals] rules replicated: two
// approvals above 1e18); two approvers deciding through two different followers reach the
// quorum; an EMERGENCY ticket left undecided passes its short SLA through the leader's ticks,
// warn, escalate and breach raised once each, the same events on every node, and expires.
func TestApprovalTicketsOnACluster(t *testing.T) {
	c := newCluster(t, 3)
	for i := range c.cfgs {
		a := &c.cfgs[i].Approvals
		a.LargeAmount = "1000000000000000000"
		a.EmergencyWarn, a.EmergencyEscalate, a.EmergencyDeadline = 2*time.Second, 3*time.Second, 4*time.Second
		a.TickInterval = 100 * time.Millisecond
		c.cfgs[i].Auth.Tokens = append(c.cfgs[i].Auth.Tokens,
			config.Token{Name: "ann", Role: "approver", SHA256: tokenSum(annToken)},
			config.Token{Name: "ben", Role: "approver", SHA256: tokenSum(benToken)})
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	c.waitClusterVersion(l)
	// The leader replicates its rules once the cluster version allows.
	checkFor(t, 20*time.Second, func() error {
		v, err := c.nodes[l].Store().Read()
		if err != nil {
			return err
		}
		defer v.Close()
		rules, replicated, err := fund.ReadApprovalRules(v)
		if err != nil || !replicated || rules.LargeAmount.Uint64() != 1e18 {
			return fmt.Errorf("rules %+v replicated %v: %v", rules, replicated, err)
		}
		return nil
	})
	if r := c.do(l, "POST", "/v1/admin/logs", adminToken, approvalRequestLog(t, 7, 0)); r.status != 200 {
		t.Fatalf("logs: %d %s", r.status, r.body)
	}
	idx, _ := strconv.ParseUint(c.do(l, "GET", "/v1/approvals/redemption-7?consistency=leader", adminToken, nil).header.Get("X-Paimon-Index"), 10, 64)
	c.sameOnEvery("/v1/approvals/redemption-7", adminToken, idx, func(m map[string]any) error {
		if m["status"] != "PENDING" || m["requiredApprovals"] != 2.0 {
			return fmt.Errorf("ticket %v", m)
		}
		return nil
	})

	f1, f2 := (l+1)%3, (l+2)%3
	r := c.do(f1, "POST", "/v1/approvals/redemption-7/approve", annToken, []byte(`{"reason":"checked the owner"}`))
	if r.status != 200 || r.json(t)["status"] != "PARTIALLY_APPROVED" {
		t.Fatalf("ann through node%d: %d %s", f1+1, r.status, r.body)
	}
	if r := c.do(f2, "POST", "/v1/approvals/redemption-7/approve", annToken, nil); r.status != 409 {
		t.Fatalf("ann again through node%d: %d %s", f2+1, r.status, r.body)
	}
	r = c.do(f2, "POST", "/v1/approvals/redemption-7/approve", benToken, nil)
	if r.status != 200 || r.json(t)["status"] != "APPROVED" {
		t.Fatalf("ben through node%d: %d %s", f2+1, r.status, r.body)
	}
	c.sameOnEvery("/v1/approvals/redemption-7", adminToken, 0, func(m map[string]any) error {
		if m["status"] != "APPROVED" || len(m["trail"].([]any)) != 2 {
			return fmt.Errorf("ticket %v", m)
		}
		return nil
	})

	// An EMERGENCY ticket nobody decides: warn, escalate, breach, EXPIRED.
	if r := c.do(f1, "POST", "/v1/admin/logs", adminToken, approvalRequestLog(t, 8, 1)); r.status != 200 {
		t.Fatalf("logs: %d %s", r.status, r.body)
	}
	c.sameOnEvery("/v1/approvals/redemption-8", adminToken, 0, func(m map[string]any) error {
		if m["status"] != "EXPIRED" || m["slaBreached"] != true {
			return fmt.Errorf("status %v", m["status"])
		}
		return nil
	})
	body := c.sameOnEvery("/v1/risk/events?source=SYSTEM", viewerToken, 0, func(m map[string]any) error {
		if n := len(m["items"].([]any)); n != 3 {
			return fmt.Errorf("%d SYSTEM risk events", n)
		}
		return nil
	})
	for _, typ := range []string{"APPROVAL_SLA_WARN", "APPROVAL_SLA_ESCALATE", "APPROVAL_SLA_BREACH"} {
		if bytes.Count(body, []byte(`"type":"`+typ+`"`)) != 1 {
			t.Errorf("%s not once in %s", typ, body)
		}
	}
	// Each raised its alert once, the same (index included) on every node.
	alerts := c.sameOnEvery("/v1/alerts?source=SYSTEM", viewerToken, 0, func(m map[string]any) error {
		if n := len(m["items"].([]any)); n != 3 {
			return fmt.Errorf("%d SYSTEM alerts", n)
		}
		return nil
	})
	for _, typ := range []string{"APPROVAL_SLA_WARN", "APPROVAL_SLA_ESCALATE", "APPROVAL_SLA_BREACH"} {
		if bytes.Count(alerts, []byte(`"type":"`+typ+`"`)) != 1 {
			t.Errorf("alert %s not once in %s", typ, alerts)
		}
	}
	rep := c.do(l, "GET", "/v1/approvals/sla-report", adminToken, nil).json(t)
	if rep["total"] != 2.0 || rep["breached"] != 1.0 || rep["slaWarnings"] != 1.0 || rep["slaEscalations"] != 1.0 {
		t.Errorf("sla report %v", rep)
	}
}
