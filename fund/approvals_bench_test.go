package fund

import (
	"fmt"
	"testing"

	"paimon/chainlog"
)

// approvalsBenchEnv holds n open tickets opened at testNow (STANDARD: warn 12 h later).
func approvalsBenchEnv(b *testing.B, n int) *env {
	e := newEnv(b)
	evs := make([]chainlog.Event, 0, n)
	for i := range n {
		evs = append(evs, request(uint64(10+i), i+1, true, 0))
	}
	e.logs(evs...)
	return e
}

// BenchmarkTickIdle is the leader's tick when nothing is due, over 1,000 open tickets: the cost
// of time advancing (one seek of the due index).
func BenchmarkTickIdle(b *testing.B) {
	e := approvalsBenchEnv(b, 1000)
	cmd := EncodeTick(&TickCommand{Time: (testNow + 3600) * 1e9})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.index++
		if _, err := e.m.Apply(e.st, e.index, cmd); err != nil {
			b.Fatal(err)
		}
		if err := e.m.EndBatch(e.st, e.index); err != nil {
			b.Fatal(err)
		}
		e.m.Committed()
	}
}

// BenchmarkApprovalDecision applies approvals, each to another ticket (with its trail record
// and audit entry), one command per batch.
func BenchmarkApprovalDecision(b *testing.B) {
	e := approvalsBenchEnv(b, max(b.N, 1))
	cmds := make([][]byte, b.N)
	for i := range cmds {
		cmds[i] = EncodeApprovalDecision(&ApprovalDecisionCommand{Time: (testNow + 60) * 1e9, Actor: Actor{Name: "ann", Role: "approver"},
			Ticket: fmt.Sprintf("redemption-%d", i+1), Decision: DecisionApprove})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e.index++
		res, err := e.m.Apply(e.st, e.index, cmds[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := res.(*ApprovalDecisionResult); !ok {
			b.Fatalf("refused: %v", res)
		}
		if err := e.m.EndBatch(e.st, e.index); err != nil {
			b.Fatal(err)
		}
		e.m.Committed()
	}
}
