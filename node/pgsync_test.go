package node

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"

	"paimon/internal/pgtest"
	"paimon/pgsync"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestLeaderKilledInTheMiddleOfASyncBatch stops the leader while its sync transaction is open
// (its PostgreSQL connection is cut, as a crash would cut it): the new leader resumes from
// PostgreSQL's synced index, with no gap and no duplicate.
func TestLeaderKilledInTheMiddleOfASyncBatch(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	c := newCluster(t, 3)
	var (
		armed   atomic.Bool
		hit     = make(chan string, 1)
		release = make(chan struct{})
		once    sync.Once
	)
	for i := range c.cfgs {
		c.cfgs[i].Postgres.DSN = dsn
		c.cfgs[i].Postgres.Interval = 20 * time.Millisecond
		c.cfgs[i].Postgres.MarkInterval = 100 * time.Millisecond
		id := c.cfgs[i].Node.ID
		c.opts[i].PGBeforeCommit = func(uint64) {
			if armed.Load() {
				once.Do(func() {
					hit <- id
					<-release
				})
			}
		}
	}
	// A test that fails while a sync transaction is held must still let it go, or stopping the
	// cluster (registered before, so run after this) waits for it forever.
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	frank := common.HexToAddress("0xf4a4000000000000000000000000000000000006")
	for k := 0; k < 20; k++ {
		c.writeLog(l, transferLog(t, frank, k, 1))
	}
	waitPGSynced(t, c, l)

	armed.Store(true)
	for k := 20; k < 40; k++ {
		c.writeLog(l, transferLog(t, frank, k, 1))
	}
	var victim string
	select {
	case victim = <-hit:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader's sync transaction never reached its commit")
	}
	if victim != c.cfgs[l].Node.ID {
		t.Fatalf("the sync ran on %s, not on the leader %s", victim, c.cfgs[l].Node.ID)
	}
	// The crash: the transaction's connection goes away, then the node stops.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, "paimon/"+victim); err != nil {
		t.Fatal(err)
	}
	releaseOnce.Do(func() { close(release) })
	c.stop(l)

	l2 := c.waitLeaderAmong(l, 15*time.Second)
	for k := 40; k < 60; k++ {
		c.writeLog(l2, transferLog(t, frank, k, 1))
	}
	waitPGSynced(t, c, l2)
	rep, err := pgsync.VerifyStore(ctx, dsn, c.nodes[l2].Store(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences != 0 {
		t.Fatalf("after the new leader resumed:\n%s", rep)
	}
	var shares string
	if err := conn.QueryRow(ctx, `SELECT shares::text FROM accounts WHERE address = $1`, fmtAddr(frank)).Scan(&shares); err != nil || shares != "60" {
		t.Fatalf("shares in PostgreSQL %q (%v), want 60: a write was lost or applied twice", shares, err)
	}
	var ledgerRows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ledger WHERE args->>'to' = $1`, fmtAddr(frank)).Scan(&ledgerRows); err != nil || ledgerRows != 60 {
		t.Fatalf("%d ledger rows for the 60 writes (%v)", ledgerRows, err)
	}
}

func fmtAddr(a common.Address) string { return fmt.Sprintf("0x%x", a.Bytes()) }

// waitPGSynced waits until node i's syncer reports PostgreSQL caught up.
func waitPGSynced(t *testing.T, c *testCluster, i int) {
	t.Helper()
	checkFor(t, 20*time.Second, func() error {
		st := c.nodes[i].Syncer().Status()
		if !st.Running || st.LagIndex != 0 {
			return fmt.Errorf("pgsync on node%d: %+v", i+1, st)
		}
		return nil
	})
}
