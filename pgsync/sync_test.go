package pgsync

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/pgtest"
	"paimon/internal/testutil"
)

func TestSyncRandomEventsThenVerify(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	n := newTestNode(t, dsn)
	evs := randomEvents(7, 3000)
	n.applyEvents(evs[:2000], 50)
	// A reorg withdraws some events, then the rest arrive.
	n.applyEvents(removed(evs[1900:2000]), 50)
	n.applyEvents(evs[2000:], 50)
	var prices []fund.PriceUpdate
	for i := 0; i < 300; i++ {
		prices = append(prices, fund.PriceUpdate{Asset: "0x55d398326f99059ff775485246999027b3197955", Price: *uint256.NewInt(uint64(1e18 + i)), Time: 1_767_225_600 + int64(i)*60})
	}
	n.propose(fund.EncodePrices(&fund.PricesCommand{Time: n.now(), Actor: fund.Actor{Name: "ops", Role: "operator"}, Prices: prices}))
	// Wallet roles: granted, changed, removed.
	admin := fund.Actor{Name: "root", Role: "admin"}
	for i, role := range []string{"viewer", "operator", "admin", "admin", "", "approver"} {
		addr := fundtest.Addr(fmt.Sprintf("wallet%d", i%3))
		n.propose(fund.EncodeRole(&fund.RoleCommand{Time: n.now(), Actor: admin, Address: addr, Role: role}))
	}
	// Approval tickets: an approval of the first open one, then a tick past every SLA (their
	// trails: approval_records).
	var ticket string
	var opened int64
	v, err := n.store.Read()
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Scan([]byte{fund.PrefixTicket}, []byte{fund.PrefixTicket + 1}, false, func(_, val []byte) bool {
		tk, err := fund.DecodeTicket(val)
		if err == nil && tk.Status.Open() {
			ticket, opened = tk.ID, tk.CreatedAt
		}
		return ticket == ""
	})
	v.Close()
	if ticket == "" {
		t.Fatal("the random history opened no approval ticket")
	}
	res := n.propose(fund.EncodeApprovalDecision(&fund.ApprovalDecisionCommand{Time: (opened + 1) * 1e9, Actor: fund.Actor{Name: "ann", Role: "approver"}, Ticket: ticket, Decision: fund.DecisionApprove, Reason: "ok"}))
	if _, ok := res.Value.(*fund.ApprovalDecisionResult); !ok {
		t.Fatalf("decision: %+v", res.Value)
	}
	n.propose(fund.EncodeTick(&fund.TickCommand{Time: n.now() + int64(400*24*time.Hour)}))
	// A rebalance plan, pending its approval (rebalance_plans; its ticket in approval_tickets).
	planID := n.proposeTestPlan(t)
	// Another, cancelled while PROPOSED (fund.CmdRebalanceCancel): its row follows.
	cancelledID := n.storeTestPlan(t)
	if res := n.propose(fund.EncodeRebalanceCancel(&fund.RebalanceCancelCommand{Time: n.now(), Actor: testPlanActor, PlanID: cancelledID, Reason: "test"})); res.Value.(*fund.RebalancePlanResult).Plan.Status != fund.PlanCancelled {
		t.Fatalf("cancel: %+v", res.Value)
	}
	// Two deposits days later: the fund crosses UTC days (daily snapshots).
	later := fundtest.NewChain(fundtest.ChainConfig{Seed: 99, Start: fundtest.DefaultStart + 3*86400, FirstBlock: fundtest.DefaultFirstBlock + 1_000_000})
	later.Deposit(fundtest.Addr("late depositor"), fundtest.E18(10), fundtest.E18(10))
	later.Advance(2 * 24 * time.Hour)
	later.Deposit(fundtest.Addr("late depositor"), fundtest.E18(5), fundtest.E18(5))
	n.applyEvents(later.Events(), 50)
	usdt := common.HexToAddress("0x55d398326f99059ff775485246999027b3197955")
	n.propose(fund.EncodeAssetMeta(&fund.AssetMetaCommand{Time: n.now(), Assets: []fund.AssetMeta{{Token: usdt, Decimals: 6, Symbol: "USDT", Name: "Tether USD"}}}))
	n.waitSynced(60 * time.Second)
	pool := testPool(t, dsn)
	rep := n.verify(pool)
	// The books: fund_books holds the state's figures, asset_metadata the decimals, and
	// daily_snapshots a row per UTC day the random history crossed.
	v, err = n.store.Read()
	if err != nil {
		t.Fatal(err)
	}
	books, err := fund.ReadBooks(v)
	v.Close()
	if err != nil || !books.Started {
		t.Fatalf("books: %+v, %v", books, err)
	}
	var cash, totalAssets string
	var decimals, days int
	if err := pool.QueryRow(context.Background(), `SELECT cash::text, total_assets::text FROM fund_books`).Scan(&cash, &totalAssets); err != nil {
		t.Fatal(err)
	}
	if want := fund.Int256String(&books.Cash); cash != want {
		t.Errorf("fund_books.cash = %s, want %s", cash, want)
	}
	if want := fund.Int256String(&books.TotalAssets); totalAssets != want {
		t.Errorf("fund_books.total_assets = %s, want %s", totalAssets, want)
	}
	if err := pool.QueryRow(context.Background(), `SELECT decimals FROM asset_metadata WHERE token = $1`, strings.ToLower(usdt.Hex())).Scan(&decimals); err != nil || decimals != 6 {
		t.Errorf("asset_metadata: decimals %d (%v)", decimals, err)
	}
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM daily_snapshots WHERE gross_assets = l1_value + l2_value + l3_value
		AND total_assets = gross_assets - total_redemption_liability - fee_redemption`).Scan(&days); err != nil || days == 0 {
		t.Errorf("daily_snapshots: %d rows that add up (%v)", days, err)
	}
	var tickets, records, approvals int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM approval_tickets), (SELECT count(*) FROM approval_records),
		(SELECT count(*) FROM approval_records WHERE ticket_id = $1 AND decision = 'APPROVE' AND actor = 'ann')`, ticket).Scan(&tickets, &records, &approvals); err != nil ||
		tickets == 0 || records <= tickets || approvals != 1 {
		t.Errorf("approval_tickets %d, approval_records %d, the approval %d (%v)", tickets, records, approvals, err)
	}
	var planStatus, planJSONID string
	if err := pool.QueryRow(context.Background(), `SELECT status, plan->>'planId' FROM rebalance_plans WHERE id = $1`, int64(planID)).Scan(&planStatus, &planJSONID); err != nil ||
		planStatus != "PENDING_APPROVAL" || planJSONID != fund.PlanID(planID) {
		t.Errorf("rebalance_plans: %q %q (%v)", planStatus, planJSONID, err)
	}
	var cancelledReason string
	if err := pool.QueryRow(context.Background(), `SELECT status, reason, plan->>'status' FROM rebalance_plans WHERE id = $1`, int64(cancelledID)).Scan(&planStatus, &cancelledReason, &planJSONID); err != nil ||
		planStatus != "CANCELLED" || cancelledReason != "cancelled by token:ops: test" || planJSONID != "CANCELLED" {
		t.Errorf("the cancelled plan's row: %q %q %q (%v)", planStatus, cancelledReason, planJSONID, err)
	}
	// wallet0: viewer, then admin; wallet1: operator, then removed; wallet2: admin, then
	// approver (the role added after v0.1.0: migration 00004 lets the table hold it).
	var roles string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(role, ',' ORDER BY address) FROM wallet_roles`).Scan(&roles); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{fundtest.Addr("wallet0").Hex(): "admin", fundtest.Addr("wallet2").Hex(): "approver"}
	var got int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_roles WHERE (lower(address), role) IN (($1, $2), ($3, $4))`,
		strings.ToLower(fundtest.Addr("wallet0").Hex()), want[fundtest.Addr("wallet0").Hex()],
		strings.ToLower(fundtest.Addr("wallet2").Hex()), want[fundtest.Addr("wallet2").Hex()]).Scan(&got); err != nil || got != 2 || len(roles) != len("admin,approver") {
		t.Fatalf("wallet_roles: %q, %d matching (%v)", roles, got, err)
	}
	total := 0
	for _, tr := range rep.Tables {
		total += tr.PGRows
	}
	if total < 3000 {
		t.Fatalf("only %d rows in PostgreSQL: %s", total, rep)
	}
	// Every node prunes the outbox once the synced index is replicated.
	testutil.CheckFor(t, 5*time.Second, func() error {
		v, err := n.store.Read()
		if err != nil {
			return err
		}
		defer v.Close()
		cnt, _, err := fund.OutboxStats(v, 0)
		if err != nil || cnt != 0 {
			return fmt.Errorf("%d outbox entries left (%v)", cnt, err)
		}
		return nil
	})
	// The ledger is partitioned by month and unique on (tx hash, log index).
	var dup int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT tx_hash, log_index FROM ledger GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("%d duplicated ledger rows (%v)", dup, err)
	}
	var parts int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'ledger'`).Scan(&parts); err != nil || parts == 0 {
		t.Fatalf("ledger has %d partitions (%v)", parts, err)
	}
}

func TestVerifyFindsDifferences(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	n := newTestNode(t, dsn)
	n.applyEvents(randomEvents(3, 400), 40)
	n.waitSynced(30 * time.Second)
	pool := testPool(t, dsn)
	n.verify(pool)
	ctx := context.Background()
	// Tamper with PostgreSQL behind the syncer's back: one amount, one missing row, one extra.
	for _, q := range []string{
		`UPDATE accounts SET shares = shares + 1, rec = rec || '\x00'::bytea WHERE address = (SELECT min(address) FROM accounts)`,
		`DELETE FROM nav_history WHERE pk = (SELECT pk FROM nav_history ORDER BY pk LIMIT 1)`,
		`INSERT INTO flows_hourly SELECT hour + interval '100 years', subscriptions, redemptions, raft_index, pk || '\x01'::bytea, rec FROM flows_hourly LIMIT 1`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	v, err := n.store.Read()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	rep, err := Verify(ctx, pool, v, v.Index)
	if err != nil {
		t.Fatal(err)
	}
	diff := map[string]TableReport{}
	for _, tr := range rep.Tables {
		if tr.Difference {
			diff[tr.Table] = tr
		}
	}
	if len(diff) != 3 || len(diff["accounts"].Different) != 1 || diff["accounts"].StateSum == diff["accounts"].PGSum ||
		len(diff["nav_history"].Missing) != 1 || len(diff["flows_hourly"].Extra) != 1 {
		t.Fatalf("verify did not report the three differences:\n%s", rep)
	}
}

func TestSyncCatchesUpAfterPostgresOutage(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	n := newTestNode(t, dsn, func(c *Config) { c.MaxLag = 2 * time.Second })
	evs := randomEvents(11, 4000)
	n.applyEvents(evs[:500], 50)
	n.waitSynced(30 * time.Second)

	outage := 30 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	pg.Stop(t)
	stopped := time.Now()
	var lastLag uint64
	commands := 0
	for i := 500; time.Since(stopped) < outage; i += 50 {
		if i >= 3500 {
			i = 3450
			evs = append(evs[:3500], randomEvents(int64(i)+time.Now().UnixNano()%1000, 50)...)
		}
		// Every write succeeds while PostgreSQL is down.
		n.applyEvents(evs[i:i+50], 50)
		commands++
		time.Sleep(100 * time.Millisecond)
		if st := n.syncer.Status(); st.LagIndex > lastLag {
			lastLag = st.LagIndex
		}
	}
	st := n.syncer.Status()
	// The lag grows with every write (each write is at least one entry behind).
	if st.LastError == "" || st.LagIndex == 0 || st.LagSeconds < outage.Seconds()/2 || lastLag < uint64(commands) {
		t.Fatalf("during the outage the status shows lag %d (max seen %d), %.1fs, error %q", st.LagIndex, lastLag, st.LagSeconds, st.LastError)
	}
	t.Logf("after %s down: lag %d entries, %.1fs; error %q", outage, st.LagIndex, st.LagSeconds, st.LastError)
	// A lag over postgres.max_lag is one SYSTEM risk event, in force until the lag is back.
	n.checkLagEvent(true)
	pg.Restart(t)
	start := time.Now()
	n.waitSynced(60 * time.Second)
	t.Logf("caught up in %s", time.Since(start))
	if st := n.syncer.Status(); st.LastError != "" {
		t.Fatalf("error after catching up: %q", st.LastError)
	}
	n.verify(testPool(t, dsn))
	testutil.CheckFor(t, 10*time.Second, func() error { return n.lagEvent(false) })
}

// lagEvent checks that PG_SYNC_LAG is (or is not) in force and that exactly one event raised it.
func (n *testNode) lagEvent(active bool) error {
	v, err := n.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	if ok, err := fund.RiskConditionActive(v, fund.RiskPGSyncLag); err != nil || ok != active {
		return fmt.Errorf("PG_SYNC_LAG in force %v (%v), want %v", ok, err, active)
	}
	var events int
	err = v.Scan([]byte{'K'}, []byte{'L'}, false, func(k, val []byte) bool {
		rec, _, err := fund.DecodeRecord(k, val)
		if r, ok := rec.(*fund.RiskEventRecord); err == nil && ok && r.Source == "SYSTEM" && r.Event == fund.RiskPGSyncLag {
			events++
		}
		return true
	})
	if err != nil || events != 1 {
		return fmt.Errorf("%d PG_SYNC_LAG events (%v), want 1", events, err)
	}
	return nil
}

func (n *testNode) checkLagEvent(active bool) {
	n.t.Helper()
	testutil.CheckFor(n.t, 10*time.Second, func() error { return n.lagEvent(active) })
}

func TestFullCopyWhenPostgresIsBehindTheMark(t *testing.T) {
	// A node that ran without PostgreSQL pruned its outbox: enabling the sync copies the state.
	n := newTestNode(t, "")
	n.applyEvents(randomEvents(5, 600), 60)
	testutil.CheckFor(t, 5*time.Second, func() error {
		v, _ := n.store.Read()
		defer v.Close()
		if cnt, _, _ := fund.OutboxStats(v, 0); cnt != 0 {
			return fmt.Errorf("outbox not pruned without postgres: %d", cnt)
		}
		return nil
	})
	n.syncer.Close()
	dsn := pgtest.NewDatabase(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Interval, cfg.MarkInterval, cfg.BatchRows = dsn, 20*time.Millisecond, 50*time.Millisecond, 100
	s, err := New(cfg, n.store, Deps{Logger: testutil.Logger(t, "", slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	n.syncer = s
	s.Start()
	defer s.Close()
	n.waitSynced(30 * time.Second)
	// The full copy wrote the books' row too.
	testutil.CheckFor(t, 30*time.Second, func() error {
		if got := s.m.resyncs.Get(); got != 1 {
			return fmt.Errorf("%d full copies", got)
		}
		return nil
	})
	pool := testPool(t, dsn)
	var rows int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM fund_books f JOIN fund_state s ON s.pk = f.pk AND s.raft_index = f.raft_index`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("fund_books after the full copy: %d rows (%v)", rows, err)
	}
	n.applyEvents(randomEvents(6, 100), 50) // and it goes on entry by entry
	n.waitSynced(30 * time.Second)
	n.verify(pool)
	if got := s.m.resyncs.Get(); got != 1 {
		t.Fatalf("%d full copies, want 1", got)
	}
}

func TestBadPostgresKeepsTheNodeServing(t *testing.T) {
	good := pgtest.NewDatabase(t)
	newer := pgtest.NewDatabase(t)
	pool := testPool(t, newer)
	if _, err := Migrate(context.Background(), pool, testutil.Logger(t, "", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO `+migrationsTable+` (version_id, is_applied) VALUES ($1, true)`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ dsn, want string }{
		"nothing listens":  {"postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", "connect"},
		"unknown database": {good[:len(good)-len("?sslmode=disable")] + "_nope?sslmode=disable", "does not exist"},
		"refused password": {replaceUser(good, "nobody"), "nobody"},
		"not a DSN":        {"port=x", "postgres.dsn"}, // passes Validate (key=value), fails pgx's parser
		"newer schema":     {newer, "newer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t, tc.dsn)
			n.applyEvents(randomEvents(1, 20), 10) // writes are not held up
			testutil.CheckFor(t, 10*time.Second, func() error {
				st := n.syncer.Status()
				if st.LastError == "" || st.Running {
					return fmt.Errorf("status %+v", st)
				}
				if !strings.Contains(strings.ToLower(st.LastError), tc.want) {
					return fmt.Errorf("error %q does not mention %q", st.LastError, tc.want)
				}
				return nil
			})
			if _, err := n.store.Propose(context.Background(), fund.EncodeAudit(&fund.AuditCommand{Time: 1, Actor: fund.Actor{Name: "x", Role: "admin"}, Action: "still.works"})); err != nil {
				t.Fatalf("the node stopped serving writes: %v", err)
			}
		})
	}
}

// replaceUser returns dsn with another user name.
func replaceUser(dsn, user string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	u.User = url.User(user)
	return u.String()
}
