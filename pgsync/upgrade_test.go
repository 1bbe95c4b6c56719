package pgsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"paimon/internal/pgtest"
	"paimon/internal/testutil"
	"paimon/raftstore"
	"paimon/version"
)

// releaseMigrations are the migration files each release shipped, by SHA-256. A released
// migration is never edited (a database that applied it would not get the change): a schema
// change is a new, additive migration.
var releaseMigrations = map[string]map[string]string{
	"v0.1.0": {
		"00001_schema.sql":            "33a992cc7c7cbc141594fb47cc3de904f5f39fe1c46efb1615825116b6783535",
		"00002_ingest_checkpoint.sql": "bdaf74107eec0c7eb7375f8e8c60850e8491e45e12dc17ab808f85b6d48f8b92",
		"00003_wallet_roles.sql":      "abe65c981b5fb2a2777cdcc9af8d37248516ed9ab9102d138909a31d1cf14291",
	},
}

// TestMigrateFromReleaseSchemas: every release's migrations are still here unchanged, and a
// database at a release's schema, holding that release's rows, is migrated to this binary's
// schema with its rows intact. Goose runs each migration in its own transaction and records it,
// so an interrupted run leaves the database at the last whole migration and the next Migrate
// goes on from there (which is what starting at a release's schema exercises).
func TestMigrateFromReleaseSchemas(t *testing.T) {
	for release, files := range releaseMigrations {
		t.Run(release, func(t *testing.T) {
			last := int64(len(files)) // numbered 1..n
			for name, want := range files {
				b, err := fs.ReadFile(migrationsFS(), name)
				if err != nil {
					t.Fatalf("%s's migration %s is gone: %v", release, name, err)
				}
				if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
					t.Fatalf("%s's migration %s was edited: add a new migration instead", release, name)
				}
			}
			pool := testPool(t, pgtest.NewDatabase(t))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db := stdlib.OpenDBFromPool(pool)
			defer db.Close()
			p, err := goose.NewProvider(goose.DialectPostgres, db, migrationsFS(),
				goose.WithDisableGlobalRegistry(true), goose.WithTableName(migrationsTable))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, last); err != nil {
				t.Fatalf("%s's schema: %v", release, err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO wallet_roles (address, role, updated_at, raft_index, pk, rec)
				VALUES ('0x00000000000000000000000000000000000000aa', 'operator', now(), 7, '\x01', '\x02')`); err != nil {
				t.Fatalf("a %s row: %v", release, err)
			}
			// While the cluster still runs at the base version (a member may go back to v0.1.0),
			// the schema stays at what v0.1.0 accepts.
			logger := testutil.Logger(t, "", slog.LevelWarn)
			if v, err := MigrateTo(ctx, pool, logger, SchemaFor(version.Base)); err != nil || v != last {
				t.Fatalf("migrate at cluster version %s: %d, %v, want %d", version.Base, v, err, last)
			}
			v, err := MigrateTo(ctx, pool, logger, SchemaFor(version.Cluster))
			if err != nil || v != SchemaVersion() {
				t.Fatalf("migrate from %s's schema: %d, %v", release, v, err)
			}
			var role string
			var idx int64
			if err := pool.QueryRow(ctx, `SELECT role, raft_index FROM wallet_roles WHERE address = '0x00000000000000000000000000000000000000aa'`).Scan(&role, &idx); err != nil || role != "operator" || idx != 7 {
				t.Fatalf("%s's row after the migration: %q %d %v", release, role, idx, err)
			}
			if _, err := pool.Exec(ctx, `UPDATE wallet_roles SET role = 'approver'`); err != nil {
				t.Fatalf("the current schema refuses an approver: %v", err)
			}
		})
	}
}

// TestSchemaFor: migrations after v0.1.0's schema wait for the cluster version of their release.
func TestSchemaFor(t *testing.T) {
	if got := SchemaFor(version.Base); got != 3 {
		t.Errorf("SchemaFor(%s) = %d, want v0.1.0's 3", version.Base, got)
	}
	if got := SchemaFor(version.Cluster); got != SchemaVersion() {
		t.Errorf("SchemaFor(%s) = %d, want %d", version.Cluster, got, SchemaVersion())
	}
	if got := SchemaFor(""); got != 3 {
		t.Errorf("SchemaFor(\"\") = %d, want 3", got)
	}
	for _, m := range schemaSince {
		if m.version > SchemaVersion() || !version.Valid(m.cluster) || version.Compare(m.cluster, version.Cluster) > 0 {
			t.Errorf("schemaSince entry %+v", m)
		}
	}
}

// versionedStore is a store whose cluster version the test sets (the syncer reads it).
type versionedStore struct {
	*raftstore.Store
	v atomic.Value // string
}

func (s *versionedStore) ClusterVersion() string { return s.v.Load().(string) }

// TestSchemaFollowsAVersionRaisedMidRound: the syncer migrated for cluster version 0.1 at the
// start of its round, then the version was raised and a record of a later table (a rebalance
// plan, schema 9) applied before the drain read the outbox. The drain migrates before it
// writes that batch; before, its transaction failed on the missing table and the round ended
// in an error (healed only by the next round's migration).
func TestSchemaFollowsAVersionRaisedMidRound(t *testing.T) {
	// The node's own syncer gets a PostgreSQL that refuses it (so it neither migrates nor
	// prunes the outbox) and is closed: this test drives its own, one step at a time.
	n := newTestNode(t, "", func(c *Config) { c.DSN = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1" })
	n.syncer.Close()
	vs := &versionedStore{Store: n.store}
	vs.v.Store(version.Base)
	cfg := n.syncer.cfg
	cfg.DSN = pgtest.NewDatabase(t)
	s, err := New(cfg, vs, Deps{Logger: testutil.Logger(t, "", slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.step(ctx); err != nil {
		t.Fatalf("first round at cluster version %s: %v", version.Base, err)
	}
	if got := s.currentSchema(); got != SchemaFor(version.Base) {
		t.Fatalf("schema %d at cluster version %s, want %d", got, version.Base, SchemaFor(version.Base))
	}
	id := n.storeTestPlan(t)
	vs.v.Store(version.Cluster) // raised after the round's connect, before its drain
	if _, err := s.drain(ctx); err != nil {
		t.Fatalf("drain after the cluster version was raised: %v", err)
	}
	if got := s.currentSchema(); got != SchemaVersion() {
		t.Errorf("schema %d after the drain, want %d", got, SchemaVersion())
	}
	var status string
	if err := s.pool.QueryRow(ctx, `SELECT status FROM rebalance_plans WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatalf("plan %d in PostgreSQL: %v", id, err)
	}
}
