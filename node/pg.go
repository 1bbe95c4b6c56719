package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"paimon/config"
	"paimon/pgsync"
	"paimon/raftstore"
	"paimon/readmodel"
)

// Restore rebuilds the configured (empty) data folder from PostgreSQL (`paimon pg restore`):
// the node started on it afterwards leads a new cluster of one at PostgreSQL's synced index,
// which other nodes can join.
func Restore(ctx context.Context, cfg *config.Config, logger *slog.Logger, progress func(string)) (uint64, int, error) {
	if cfg.Postgres.DSN == "" {
		return 0, 0, fmt.Errorf("postgres.dsn is empty: nothing to restore from")
	}
	pool, err := pgxpool.New(ctx, cfg.Postgres.DSN)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	rc := cfg.StoreConfig()
	rc.Bootstrap = false
	clusterTLS, err := LoadClusterTLS(cfg.Cluster)
	if err != nil {
		return 0, 0, err
	}
	return pgsync.Restore(ctx, pool, rc, raftstore.Deps{TLS: clusterTLS, Logger: logger}, readmodel.NewViews(cfg.FundInfo()), progress)
}

// VerifyOffline compares the state of a stopped node (its data folder) with PostgreSQL.
func VerifyOffline(ctx context.Context, cfg *config.Config) (*pgsync.Report, error) {
	if cfg.Postgres.DSN == "" {
		return nil, pgsync.ErrDisabled
	}
	v, err := raftstore.ReadOnly(cfg.Node.DataDir)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	pool, err := pgxpool.New(ctx, cfg.Postgres.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	var synced int64
	if err := pool.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint`).Scan(&synced); err != nil {
		return nil, fmt.Errorf("read PostgreSQL's synced index: %w", err)
	}
	if uint64(synced) > v.Index {
		// The folder's state lost its unsynced tail (a crash); the Raft log still has it, and the
		// node replays it when it starts.
		return nil, fmt.Errorf("the stopped node's state (applied index %d) is behind PostgreSQL (synced index %d): start the node so it replays its Raft log, then verify", v.Index, synced)
	}
	return pgsync.Verify(ctx, pool, v, v.Index)
}
