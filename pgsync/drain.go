package pgsync

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"paimon/fund"
)

// advisoryLock serializes drainers: an old leader that has not noticed it lost leadership and
// the new one never interleave their transactions.
var advisoryLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("paimon pgsync"))
	return int64(h.Sum64() >> 1)
}()

// batch is a set of outbox entries turned into rows, ready to be written in one transaction.
type batch struct {
	last      uint64 // the last index it covers, entirely
	schema    int64  // the schema its records need (schemaTarget when it was read)
	entries   int
	rows      []row   // one per record: its last change in the batch
	snapshots [][]any // every change of the fund's totals
}

// prepare reads the outbox entries after index (up to BatchRows, never stopping inside an
// index: all entries of a command go together) and converts them; nil when there are none.
func (s *Syncer) prepare(after uint64) (*batch, error) {
	v, err := s.store.Read()
	if err != nil {
		return nil, err
	}
	schema := s.schemaTarget()
	var entries []fund.OutboxEntry
	err = fund.ReadOutbox(v, after, 0, func(e fund.OutboxEntry) bool {
		if len(entries) >= s.cfg.BatchRows && e.Index != entries[len(entries)-1].Index {
			return false
		}
		e.Key = append([]byte(nil), e.Key...)
		if e.Value != nil {
			e.Value = append([]byte(nil), e.Value...)
		}
		entries = append(entries, e)
		return true
	})
	v.Close()
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	// Only the last change of a record in the batch is written (an upsert may not touch a row
	// twice); every change of the fund's totals is kept as a snapshot row.
	b := &batch{last: entries[len(entries)-1].Index, schema: schema, entries: len(entries), rows: make([]row, 0, len(entries))}
	latest := map[string]int{}
	for _, e := range entries {
		r, err := toRow(e.Index, e.Key, e.Value)
		if err != nil {
			return nil, err
		}
		if r.snapshot != nil {
			b.snapshots = append(b.snapshots, r.snapshot)
		}
		k := r.t.name + "\x00" + string(r.pk)
		if i, ok := latest[k]; ok {
			b.rows[i] = r
			continue
		}
		latest[k] = len(b.rows)
		b.rows = append(b.rows, r)
	}
	return b, nil
}

// maxBatchesPerDrain bounds one drain, so the loop gets back to leadership checks and marks.
const maxBatchesPerDrain = 16

// drain writes the outbox entries after PostgreSQL's synced index, a transaction per batch,
// and returns how many entries it wrote. The next batch is read and converted while the
// current one is written: the node and PostgreSQL work at the same time.
func (s *Syncer) drain(ctx context.Context) (int, error) {
	b, err := s.prepare(s.synced)
	if b == nil || err != nil {
		return 0, err
	}
	total := 0
	for n := 0; b != nil && n < maxBatchesPerDrain; n++ {
		next := make(chan *batch, 1)
		nextErr := make(chan error, 1)
		go func(after uint64) {
			nb, err := s.prepare(after)
			next <- nb
			nextErr <- err
		}(b.last)
		err := s.write(ctx, b)
		nb, perr := <-next, <-nextErr
		if err != nil {
			return total, err
		}
		total += b.entries
		if perr != nil {
			return total, perr
		}
		b = nb
	}
	return total, nil
}

// write stores one batch and the new synced index in one transaction.
func (s *Syncer) write(ctx context.Context, b *batch) error {
	// The cluster version may have been raised since this round migrated (connect): the batch
	// can then hold records of tables the schema does not have yet. Migrate first.
	if b.schema > s.currentSchema() {
		if err := s.connect(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	s.newParts = s.newParts[:0]
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	dbSynced, err := lockCheckpoint(ctx, tx)
	if err != nil {
		return err
	}
	if dbSynced != s.synced {
		// Another drainer moved PostgreSQL on: continue from where it is.
		s.logger.Warn("postgres synced index moved under this node", "expected", s.synced, "found", dbSynced)
		s.synced = dbSynced
		s.pgSynced.Store(dbSynced)
		return tx.Commit(ctx)
	}
	w := newTxWriter(s, tx)
	for _, r := range b.rows {
		w.add(r)
	}
	w.snapshots = b.snapshots
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.apply(ctx); err != nil {
		return err
	}
	if err := setCheckpoint(ctx, tx, b.last); err != nil {
		return err
	}
	if s.beforeCommit != nil {
		s.beforeCommit(b.last)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.committed()
	s.synced = b.last
	s.pgSynced.Store(b.last)
	s.m.batches.Inc()
	s.m.rows.Add(b.entries)
	s.m.batchSeconds.UpdateDuration(start)
	return nil
}

func lockCheckpoint(ctx context.Context, tx pgx.Tx) (uint64, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLock); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	var synced int64
	if err := tx.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint FOR UPDATE`).Scan(&synced); err != nil {
		return 0, fmt.Errorf("read synced index: %w", err)
	}
	return uint64(synced), nil
}

func setCheckpoint(ctx context.Context, tx pgx.Tx, index uint64) error {
	if _, err := tx.Exec(ctx, `UPDATE sync_checkpoint SET synced_index = $1, updated_at = now()`, int64(index)); err != nil {
		return fmt.Errorf("write synced index: %w", err)
	}
	return nil
}

// txWriter stages rows with COPY into temporary tables of one transaction and then moves them
// into their targets with set-based statements.
type txWriter struct {
	s         *Syncer
	tx        pgx.Tx
	staged    map[*table]bool
	rows      map[*table][][]any
	deletes   [][]any // tbl, pk, raft_index
	timeline  [][]any
	snapshots [][]any
	books     [][]any // fund_books rows (one per fund change written; the upsert keeps the newest)
	risk      [][]any // risk_event_details rows (one per risk event written)
	months    map[*table]map[time.Time]bool
}

func newTxWriter(s *Syncer, tx pgx.Tx) *txWriter {
	return &txWriter{s: s, tx: tx, staged: map[*table]bool{}, rows: map[*table][][]any{}, months: map[*table]map[time.Time]bool{}}
}

func stageName(t *table) string { return "stage_" + t.name }

func (w *txWriter) add(r row) {
	if r.deleted {
		w.deletes = append(w.deletes, []any{r.t.name, r.pk, int64(r.index)})
		if r.t == tRiskEvent {
			w.deletes = append(w.deletes, []any{tRiskDetail.name, r.pk, int64(r.index)})
		}
		return
	}
	w.rows[r.t] = append(w.rows[r.t], r.vals)
	if r.risk != nil {
		w.risk = append(w.risk, r.risk)
	}
	if r.books != nil { // the singleton's (once per batch: rows hold each record's last change)
		w.books = append(w.books, r.books)
	}
	w.timeline = append(w.timeline, r.timeline...)
	if r.t.partBy != "" {
		if w.months[r.t] == nil {
			w.months[r.t] = map[time.Time]bool{}
		}
		w.months[r.t][monthOf(r.part)] = true
	}
}

// stage creates t's staging table once per transaction.
func (w *txWriter) stage(ctx context.Context, t *table, like string) error {
	if w.staged[t] {
		return nil
	}
	if _, err := w.tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", stageName(t), like)); err != nil {
		return fmt.Errorf("stage %s: %w", t.name, err)
	}
	w.staged[t] = true
	return nil
}

var tDeletes = &table{name: "deletes", cols: []string{"tbl", "pk", "raft_index"}}

// flush copies what was added so far into the staging tables.
func (w *txWriter) flush(ctx context.Context) error {
	if err := w.ensurePartitions(ctx); err != nil {
		return err
	}
	copyRows := func(t *table, like string, rows [][]any) error {
		if len(rows) == 0 {
			return nil
		}
		if t == tDeletes && !w.staged[t] {
			if _, err := w.tx.Exec(ctx, "CREATE TEMP TABLE stage_deletes (tbl text, pk bytea, raft_index bigint) ON COMMIT DROP"); err != nil {
				return err
			}
			w.staged[t] = true
		} else if err := w.stage(ctx, t, like); err != nil {
			return err
		}
		if _, err := w.tx.CopyFrom(ctx, pgx.Identifier{stageName(t)}, t.cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", t.name, err)
		}
		return nil
	}
	for _, t := range syncedTables {
		if err := copyRows(t, t.name, w.rows[t]); err != nil {
			return err
		}
		w.rows[t] = w.rows[t][:0]
	}
	for _, c := range []struct {
		t    *table
		rows *[][]any
	}{{tTimeline, &w.timeline}, {tSnapshot, &w.snapshots}, {tBooks, &w.books}, {tRiskDetail, &w.risk}, {tDeletes, &w.deletes}} {
		if err := copyRows(c.t, c.t.name, *c.rows); err != nil {
			return err
		}
		*c.rows = (*c.rows)[:0]
	}
	return nil
}

// apply moves the staged rows into their tables.
func (w *txWriter) apply(ctx context.Context) error {
	for _, t := range syncedTables {
		if w.staged[t] {
			if _, err := w.tx.Exec(ctx, upsertSQL(t, stageName(t))); err != nil {
				return fmt.Errorf("upsert %s: %w", t.name, err)
			}
		}
	}
	if w.staged[tTimeline] {
		// A redemption's timeline is rewritten when its row was (its raft_index is the staged one).
		if _, err := w.tx.Exec(ctx, `DELETE FROM redemption_timeline t USING stage_redemptions s, redemptions r
			WHERE t.request_id = s.request_id AND r.request_id = s.request_id AND r.raft_index = s.raft_index`); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
		if _, err := w.tx.Exec(ctx, `INSERT INTO redemption_timeline (request_id, step, status, time, tx_hash, block_number, raft_index)
			SELECT st.request_id, st.step, st.status, st.time, st.tx_hash, st.block_number, st.raft_index
			FROM stage_redemption_timeline st JOIN redemptions r ON r.request_id = st.request_id AND r.raft_index = st.raft_index`); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
	}
	if w.staged[tBooks] {
		if _, err := w.tx.Exec(ctx, upsertSQL(tBooks, stageName(tBooks))); err != nil {
			return fmt.Errorf("upsert %s: %w", tBooks.name, err)
		}
	}
	if w.staged[tRiskDetail] {
		if _, err := w.tx.Exec(ctx, upsertSQL(tRiskDetail, stageName(tRiskDetail))); err != nil {
			return fmt.Errorf("upsert %s: %w", tRiskDetail.name, err)
		}
	}
	if w.staged[tSnapshot] {
		if _, err := w.tx.Exec(ctx, `INSERT INTO fund_snapshots (`+strings.Join(tSnapshot.cols, ", ")+`)
			SELECT `+strings.Join(tSnapshot.cols, ", ")+` FROM stage_fund_snapshots ON CONFLICT (raft_index) DO NOTHING`); err != nil {
			return fmt.Errorf("fund snapshots: %w", err)
		}
	}
	if w.staged[tDeletes] {
		for _, t := range prunedTables {
			if !t.inSchema(w.s.currentSchema()) {
				continue
			}
			if _, err := w.tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s t USING stage_deletes d
				WHERE d.tbl = '%s' AND t.pk = d.pk AND t.raft_index < d.raft_index`, t.name, t.name)); err != nil {
				return fmt.Errorf("delete from %s: %w", t.name, err)
			}
		}
	}
	return nil
}

// ensurePartitions creates the monthly partitions the staged rows need, before they are moved
// (a row for a month without a partition would fail the whole transaction).
func (w *txWriter) ensurePartitions(ctx context.Context) error {
	for t, months := range w.months {
		if !w.s.partitioned[t.name] {
			continue // a TimescaleDB hypertable makes its own chunks
		}
		list := make([]time.Time, 0, len(months))
		for m := range months {
			list = append(list, m)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Before(list[j]) })
		for _, m := range list {
			name := partitionName(t, m)
			if w.s.parts[name] {
				continue
			}
			q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')",
				name, t.name, m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339))
			if _, err := w.tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("create partition %s: %w", name, err)
			}
			w.s.newParts = append(w.s.newParts, name)
		}
		clear(months)
	}
	return nil
}
