package pgsync

import (
	"context"
	"fmt"
	"time"

	"paimon/fund"
)

// fullResync copies every primary record of the state, as of one applied index, into
// PostgreSQL in one transaction, deletes the rows the state no longer has, and sets the synced
// index to that index. It is how a database that fell behind the outbox's high-water mark (or
// that sync was enabled on late) catches up: the entries it missed were pruned, but their
// effects are all in the state.
func (s *Syncer) fullResync(ctx context.Context) error {
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	index := v.Index
	s.newParts = s.newParts[:0]
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := lockCheckpoint(ctx, tx); err != nil {
		return err
	}
	w := newTxWriter(s, tx)
	var n int
	logged := time.Now()
	var scanErr error
	err = v.Scan(nil, nil, false, func(k, val []byte) bool {
		if !fund.IsPrimaryRecord(k) {
			return true
		}
		r, err := toRow(index, append([]byte(nil), k...), append([]byte(nil), val...))
		if err != nil {
			scanErr = err
			return false
		}
		w.add(r)
		if r.snapshot != nil {
			w.snapshots = append(w.snapshots, r.snapshot)
		}
		if n++; n%s.cfg.BatchRows == 0 {
			if scanErr = w.flush(ctx); scanErr != nil {
				return false
			}
			if time.Since(logged) > 5*time.Second {
				logged = time.Now()
				s.logger.Info("postgres full copy in progress", "records", n, "index", index)
			}
		}
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return fmt.Errorf("full copy at %d: %w", index, err)
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.apply(ctx); err != nil {
		return err
	}
	// Rows of records the state no longer has. The audit log is append-only and the state never
	// deletes an audit entry.
	for _, t := range prunedTables {
		if !t.inSchema(s.currentSchema()) {
			continue
		}
		q := "DELETE FROM " + t.name
		if w.staged[t] {
			q += fmt.Sprintf(" t WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE s.pk = t.pk)", stageName(t))
		}
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("full copy: prune %s: %w", t.name, err)
		}
	}
	if err := setCheckpoint(ctx, tx, index); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit full copy: %w", err)
	}
	s.committed()
	s.synced = index
	s.pgSynced.Store(index)
	s.m.resyncs.Inc()
	s.m.rows.Add(n)
	s.logger.Info("postgres full copy done", "index", index, "records", n)
	return nil
}
