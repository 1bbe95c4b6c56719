package pgsync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/pgtest"
)

// TestRiskEventDetailsSynced: risk events of record version 2 reach risk_event_details with
// their source, severity, message, details and resolution; a CHAIN event a removal reverts
// leaves both tables; verify finds no difference.
func TestRiskEventDetailsSynced(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	n := newTestNode(t, dsn)
	pool := testPool(t, dsn)

	mk := func(name string, li uint64, args ...any) chainlog.Event {
		ev, err := fundtest.NewEvent(name, args...)
		if err != nil {
			t.Fatal(err)
		}
		ev.BlockNumber, ev.LogIndex, ev.BlockTime = 100, li, 1_750_000_000
		ev.TxHash[0], ev.TxHash[1] = 0xaa, byte(li)
		ev.BlockHash[0] = 0xbb
		return ev
	}
	low := mk("LowLiquidityAlert", 1, 900, 1000, fundtest.E18(1), fundtest.E18(10))
	emergency := mk("EmergencyModeChanged", 2, true)
	n.applyEvents([]chainlog.Event{low, emergency}, 10)
	res := n.propose(fund.EncodeRiskEvent(&fund.RiskEventCommand{Time: n.now(), Type: fund.RiskPGSyncLag, Severity: fund.SeverityWarning,
		Message: "lag", Details: []byte(`{"lagSeconds":90}`)}))
	sysID := res.Value.(*fund.RiskEventResult).ID
	lowID := fmt.Sprintf("%d-%d-%s", low.BlockNumber, low.LogIndex, chainlog.HexHash(low.TxHash))
	n.propose(fund.EncodeRiskResolve(&fund.RiskResolveCommand{Time: n.now(), Actor: fund.Actor{Name: "ops"}, ID: lowID, Note: "ok"}))
	n.waitSynced(30 * time.Second)
	n.verify(pool)

	type detail struct {
		source, severity, typ, message string
		details                        []byte
		resolved                       bool
		by, note                       *string
		index                          *int64
	}
	read := func() map[string]detail {
		rows, err := pool.Query(context.Background(), `SELECT id, source, severity, type, message, details, resolved, resolved_by, note, event_index FROM risk_event_details`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]detail{}
		for rows.Next() {
			var id string
			var d detail
			if err := rows.Scan(&id, &d.source, &d.severity, &d.typ, &d.message, &d.details, &d.resolved, &d.by, &d.note, &d.index); err != nil {
				t.Fatal(err)
			}
			out[id] = d
		}
		return out
	}
	got := read()
	if len(got) != 3 {
		t.Fatalf("%d detail rows: %v", len(got), got)
	}
	if d := got[lowID]; d.source != "CHAIN" || d.severity != "WARNING" || d.typ != "LowLiquidityAlert" || !d.resolved || d.by == nil || *d.by != "ops" ||
		d.note == nil || *d.note != "ok" || d.index != nil || len(d.details) == 0 {
		t.Errorf("CHAIN row: %+v", d)
	}
	if d := got[sysID]; d.source != "SYSTEM" || d.severity != "WARNING" || d.message != "lag" || d.resolved || d.index == nil || string(d.details) != `{"lagSeconds": 90}` {
		t.Errorf("SYSTEM row: %+v (details %s)", d, d.details)
	}

	// A removal reverts the CHAIN event: both tables lose it.
	rm := low
	rm.Removed = true
	n.applyEvents([]chainlog.Event{rm}, 10)
	n.waitSynced(30 * time.Second)
	n.verify(pool)
	if got := read(); len(got) != 2 {
		t.Fatalf("after the removal: %v", got)
	}
}
