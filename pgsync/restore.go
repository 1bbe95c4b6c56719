package pgsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"paimon/fund"
	"paimon/kv"
	"paimon/raftstore"
	"paimon/readmodel"
)

// ViewRenderer renders the fund's materialized views (readmodel.Views).
type ViewRenderer interface {
	RenderView(r kv.Reader, name string) ([]byte, error)
}

// Restore builds a node from PostgreSQL into an empty data folder, so that a cluster that lost
// every node can be rebuilt from the system of record: it reads every record PostgreSQL holds,
// as of one consistent snapshot, writes them back into a new state exactly (each row keeps the
// record's bytes), derives the indexes, renders the views, and seeds the folder so that the node
// starts at PostgreSQL's synced index as the only voter of a new cluster. progress, if not nil,
// receives a line per table and per 100,000 rows.
func Restore(ctx context.Context, pool *pgxpool.Pool, rcfg raftstore.Config, rdeps raftstore.Deps, views ViewRenderer, progress func(string)) (index uint64, records int, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	db := stdlib.OpenDBFromPool(pool)
	v, err := dbVersion(ctx, db)
	db.Close()
	if err != nil {
		return 0, 0, err
	}
	switch known := SchemaVersion(); {
	case v == 0:
		return 0, 0, errors.New("the database has no paimon schema: nothing to restore")
	case v > known:
		return 0, 0, fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d", ErrSchemaTooNew, v, known)
	}
	// One snapshot of the whole database: a leader still syncing into it cannot tear the copy.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	var synced int64
	if err := tx.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint`).Scan(&synced); err != nil {
		return 0, 0, fmt.Errorf("read synced index: %w", err)
	}
	if synced == 0 {
		return 0, 0, errors.New("PostgreSQL has synced nothing yet: nothing to restore")
	}
	index = uint64(synced)
	progress(fmt.Sprintf("restoring the state at Raft index %d from PostgreSQL", index))
	start := time.Now()
	err = raftstore.Seed(rcfg, rdeps, index, func(rw kv.ReadWriter) error {
		for _, t := range syncedTables {
			if ok, err := tableExists(ctx, tx, t); err != nil || !ok {
				if err != nil {
					return err
				}
				progress(fmt.Sprintf("  %-20s (not in this schema)", t.name))
				continue
			}
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT pk, rec FROM %s WHERE raft_index <= $1 ORDER BY pk", t.name), synced)
			if err != nil {
				return fmt.Errorf("read %s: %w", t.name, err)
			}
			n := 0
			for rows.Next() {
				var pk, rec []byte
				if err := rows.Scan(&pk, &rec); err != nil {
					rows.Close()
					return err
				}
				if fund.RecordType(pk) == "" {
					rows.Close()
					return fmt.Errorf("%s holds a row whose key %x is not a record", t.name, pk)
				}
				if err := rw.Set(pk, rec); err != nil {
					rows.Close()
					return err
				}
				if n++; n%100_000 == 0 {
					progress(fmt.Sprintf("  %s: %d rows", t.name, n))
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read %s: %w", t.name, err)
			}
			records += n
			progress(fmt.Sprintf("  %-20s %9d rows", t.name, n))
		}
		progress("deriving the indexes")
		if err := fund.RebuildIndexes(rw); err != nil {
			return err
		}
		if err := fund.SetSyncMark(rw, index, time.Now().UnixNano()); err != nil {
			return err
		}
		progress("rendering the views")
		for _, name := range readmodel.ViewNames() {
			body, err := views.RenderView(rw, name)
			if err != nil {
				return fmt.Errorf("render view %s: %w", name, err)
			}
			if err := rw.Set(fund.ViewKey(name), body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	progress(fmt.Sprintf("restored %d records at index %d in %s", records, index, time.Since(start).Round(time.Millisecond)))
	return index, records, nil
}

// VerifyStore waits up to wait for PostgreSQL to hold everything the store has applied, then
// compares them (see Verify). It connects with its own short-lived pool, so any node can verify.
func VerifyStore(ctx context.Context, dsn string, store Store, wait time.Duration) (*Report, error) {
	if dsn == "" {
		return nil, ErrDisabled
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	deadline := time.Now().Add(wait)
	attempts := 0
	for {
		var synced int64
		if err := pool.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint`).Scan(&synced); err != nil {
			// The leader may not have migrated a fresh database yet: wait for it, up to wait.
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("read synced index: %w", err)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		v, err := store.Read()
		if err != nil {
			return nil, err
		}
		// PostgreSQL holds everything once no outbox entry is newer than its synced index.
		pending, _, err := fund.OutboxStats(v, uint64(synced))
		if err != nil {
			v.Close()
			return nil, err
		}
		if pending == 0 {
			rep, err := Verify(ctx, pool, v, v.Index)
			v.Close()
			// On a cluster that keeps writing, PostgreSQL may move on while it is read; a real
			// difference survives a second look, a passing one does not.
			if err != nil || rep.Differences == 0 || attempts >= 2 {
				return rep, err
			}
			attempts++
			continue
		}
		v.Close()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("PostgreSQL is behind: %d outbox entries after its synced index %d (waited %s)", pending, synced, wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Verify compares this node's state with PostgreSQL after waiting up to wait for it to catch
// up (VerifyStore over the syncer's DSN and store): GET /v1/admin/pg/verify.
func (s *Syncer) Verify(ctx context.Context, wait time.Duration) (*Report, error) {
	return VerifyStore(ctx, s.cfg.DSN, s.store, wait)
}
