package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/jackc/pgx/v5"

	"paimon/executor"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
	"paimon/internal/pgtest"
	"paimon/internal/testutil"
	"paimon/pgsync"
)

// countingSource offers the same decisions at every round and counts the rounds.
type countingSource struct {
	decisions []executor.Decision
	rounds    atomic.Int64
}

func (s *countingSource) Decisions(context.Context) ([]executor.Decision, error) {
	s.rounds.Add(1)
	return s.decisions, nil
}

// TestRestoredNodeReusesIntents: the executor's intents are in PostgreSQL
// (executor_transactions), verified with the rest, and a node restored from PostgreSQL
// (`paimon pg restore`) knows them: its executor, offered the same decision again by its
// source at every round and by Submit, signs nothing new and answers the recorded intent; the
// chain saw one transaction from the account.
func TestRestoredNodeReusesIntents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	key := fundchain.DerivedKey("executor", 11)
	account := crypto.PubkeyToAddress(key.PublicKey)
	_, client := startFundSim(t, ctx, 11, key)

	c := newCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.Cluster.Join, cfg.Cluster.BootstrapExpect = nil, 0
	cfg.Postgres.DSN, cfg.Postgres.Interval, cfg.Postgres.MarkInterval = dsn, 20*time.Millisecond, 100*time.Millisecond
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)

	// An executor over the node's store (the node's own has no key configured), with a
	// source that keeps offering one decision: APPROVE for a ticket.
	decision := executor.Decision{Purpose: executor.PurposeApprove, Reference: "redemption-7", RedemptionID: big.NewInt(7)}
	startExecutor := func(i int) (*executor.Executor, *countingSource) {
		t.Helper()
		src := &countingSource{decisions: []executor.Decision{decision}}
		ecfg := executor.DefaultConfig()
		ecfg.ReplaceAfter = time.Hour
		e, err := executor.New(ecfg, executor.Deps{
			Store:      &executorStore{store: c.nodes[i].Store(), applyTimeout: 3 * time.Second},
			Leadership: c.nodes[i].Store(), Clients: []executor.Client{client}, Key: key,
			RedemptionManager: common.HexToAddress("0x00000000000000000000000000000000000000e7"),
			ChainID:           chainsim.ChainID, Confirmations: 1, Poll: 20 * time.Millisecond,
			Logger: testutil.Logger(t, "executor", slog.LevelWarn), Source: src,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e, src
	}
	intents := func(i int) []executor.Intent {
		t.Helper()
		its, err := (&executorStore{store: c.nodes[i].Store(), applyTimeout: time.Second}).Intents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return its
	}
	e1, _ := startExecutor(0)
	var recorded executor.Intent
	checkFor(t, 30*time.Second, func() error {
		its := intents(0)
		if len(its) != 1 || its[0].State != executor.StateConfirmed {
			return fmt.Errorf("intents %+v", its)
		}
		recorded = its[0]
		return nil
	})
	e1.Close()
	waitPGSynced(t, c, 0)
	rep, err := pgsync.VerifyStore(ctx, dsn, c.nodes[0].Store(), 10*time.Second)
	if err != nil || rep.Differences != 0 {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
	found := false
	for _, tr := range rep.Tables {
		found = found || tr.Table == "executor_transactions" && tr.StateRows == 1 && tr.PGRows == 1
	}
	if !found {
		t.Fatalf("verify does not compare executor_transactions:\n%s", rep)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state, ref, hash string
	var nonce, attempts int
	if err := conn.QueryRow(ctx, `SELECT state, reference, nonce, tx_hash, jsonb_array_length(attempts) FROM executor_transactions WHERE purpose = 'APPROVE'`).
		Scan(&state, &ref, &nonce, &hash, &attempts); err != nil {
		t.Fatal(err)
	}
	if state != "CONFIRMED" || ref != decision.Reference || uint64(nonce) != recorded.Nonce || hash != recorded.MinedHash.Hex() || attempts != 1 {
		t.Fatalf("executor_transactions: %s %s nonce %d hash %s, %d attempts; recorded %+v", state, ref, nonce, hash, attempts, recorded)
	}

	// Every node lost: a new one is rebuilt from PostgreSQL into an empty folder.
	c.stop(0)
	cfg.Node.DataDir = filepath.Join(t.TempDir(), "restored")
	if _, _, err := Restore(ctx, cfg, testutil.Logger(t, "restore", slog.LevelWarn), nil); err != nil {
		t.Fatal(err)
	}
	c.start(0)
	c.waitLeader(15 * time.Second)
	c.waitClusterVersion(0)
	if its := intents(0); len(its) != 1 || its[0].Seq != recorded.Seq || its[0].State != executor.StateConfirmed {
		t.Fatalf("restored intents %+v, recorded %+v", its, recorded)
	}
	e2, src := startExecutor(0)
	var again executor.Intent
	checkFor(t, 10*time.Second, func() (err error) {
		again, err = e2.Submit(ctx, decision) // ErrNotLeader until its loop saw the leadership
		return err
	})
	if again.Seq != recorded.Seq || len(again.Attempts) != 1 || again.Attempts[0].Hash != recorded.Attempts[0].Hash {
		t.Fatalf("submitted on the restored node: %+v, recorded %+v", again, recorded)
	}
	checkFor(t, 10*time.Second, func() error {
		if n := src.rounds.Load(); n < 5 {
			return fmt.Errorf("%d rounds", n)
		}
		return nil
	})
	if its := intents(0); len(its) != 1 {
		t.Fatalf("the restored node signed again: %+v", its)
	}
	if n, err := client.NonceAt(ctx, account, nil); err != nil || n != 1 {
		t.Fatalf("the account sent %d transactions (%v), want 1", n, err)
	}
}
