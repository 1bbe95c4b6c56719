package pgsync

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"paimon/internal/pgtest"
	"paimon/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func testPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestMigrateIsIdempotentAndRefusesNewerSchemas(t *testing.T) {
	pool := testPool(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	logger := testutil.Logger(t, "", slog.LevelWarn)
	v, err := Migrate(ctx, pool, logger)
	if err != nil || v != SchemaVersion() || v < 1 {
		t.Fatalf("first migrate: %d, %v", v, err)
	}
	// Again, as after a restart or on another node: nothing to do, no error.
	if v2, err := Migrate(ctx, pool, logger); err != nil || v2 != v {
		t.Fatalf("second migrate: %d, %v", v2, err)
	}
	var partitioned int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
		WHERE c.relname IN ('ledger', 'audit_log', 'nav_history', 'price_history')`).Scan(&partitioned); err != nil {
		t.Fatal(err)
	}
	if partitioned != 4 {
		t.Fatalf("%d of the 4 time-series tables are partitioned (no TimescaleDB here)", partitioned)
	}
	// A database migrated by a newer paimon: refused, and left as it is.
	if _, err := pool.Exec(ctx, `INSERT INTO `+migrationsTable+` (version_id, is_applied) VALUES ($1, true)`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, pool, logger); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("migrate on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}
