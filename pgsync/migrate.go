package pgsync

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"paimon/version"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationsTable is goose's version table, named for this project.
const migrationsTable = "paimon_schema_version"

func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded folder exists at build time
	}
	return sub
}

// SchemaVersion is the newest schema this binary knows: the highest numbered migration file.
func SchemaVersion() int64 {
	entries, _ := fs.ReadDir(migrationsFS(), ".")
	var v int64
	for _, e := range entries {
		n, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64)
		if err == nil && n > v {
			v = n
		}
	}
	return v
}

// schemaSince lists the migrations after v0.1.0's schema (3) with the cluster version from which
// they may run. A migration runs only once every member runs a release that knows it: until
// the cluster version is raised a node may still go back to the previous release, whose sync
// refuses a schema newer than its own (ErrSchemaTooNew). The rows that need a later migration
// (an approver in wallet_roles) cannot exist before that cluster version either. Append one
// entry per new migration, with the cluster version of its release.
var schemaSince = []struct {
	version int64
	cluster string
}{
	{4, "0.2"}, // 00004_wallet_roles_approver.sql
	{5, "0.2"}, // 00005_books.sql
	{6, "0.2"}, // 00006_risk_events.sql
	{7, "0.2"}, // 00007_approvals.sql
	{8, "0.2"}, // 00008_executor.sql
	{9, "0.2"}, // 00009_rebalance_plans.sql
}

// SchemaFor returns the newest schema version the cluster version allows this binary to
// migrate to.
func SchemaFor(clusterVersion string) int64 {
	target := SchemaVersion()
	for _, m := range schemaSince {
		if version.Compare(clusterVersion, m.cluster) < 0 && m.version <= target {
			target = m.version - 1
		}
	}
	return target
}

// Migrate brings the schema up to this binary's version. It is idempotent, safe to run from
// several nodes at once (goose takes a session lock), and refuses a database whose schema is
// newer than this binary knows (ErrSchemaTooNew): an older node must not write into a newer
// schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (int64, error) {
	return MigrateTo(ctx, pool, logger, SchemaVersion())
}

// MigrateTo is Migrate up to schema version target (SchemaFor the cluster's version); a database
// already past target is left as it is.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, target int64) (int64, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrationsFS(),
		goose.WithDisableGlobalRegistry(true), goose.WithTableName(migrationsTable), goose.WithSlog(logger))
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	current, err := dbVersion(ctx, db)
	if err != nil {
		return 0, err
	}
	if known := SchemaVersion(); current > known {
		return current, fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d", ErrSchemaTooNew, current, known)
	}
	if current >= target {
		return current, nil
	}
	res, err := p.UpTo(ctx, target)
	if err != nil {
		return current, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range res {
		logger.Info("postgres migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration.String())
	}
	return target, nil
}

// dbVersion reads the highest applied migration, or 0 on a fresh database.
func dbVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrationsTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT max(version_id) FROM `+migrationsTable+` WHERE is_applied`).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v.Int64, nil
}
