// Package pgsync keeps PostgreSQL, the fund's system of record, in step with the Raft log: it
// migrates the schema, drains the state machine's outbox on the leader into typed tables
// (COPY into staging, then idempotent upserts and the synced index in one transaction), reports
// its lag, replicates a high-water mark so every node prunes its outbox, and verifies or
// rebuilds a node's state from PostgreSQL. It is never on a read path, and writes to the cluster
// never wait for it.
package pgsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5/pgxpool"

	"paimon/fund"
	"paimon/raftstore"
	"paimon/version"
)

// Store is what the syncer needs of the replicated store.
type Store interface {
	SubscribeLeadership() (changes <-chan raftstore.Leadership, cancel func())
	Read() (*raftstore.View, error)
	Propose(ctx context.Context, cmd []byte) (raftstore.Result, error)
	AppliedIndex() uint64
}

// Config is the [postgres] section: the asynchronous sync to the system of record. An empty
// DSN disables the sync: the leader then only prunes the outbox (nothing consumes it).
type Config struct {
	DSN            string        `toml:"dsn"`
	PoolSize       int           `toml:"pool_size"`
	BatchRows      int           `toml:"batch_rows"`
	Interval       time.Duration `toml:"interval"`
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	MaxBackoff     time.Duration `toml:"max_backoff"`
	MarkInterval   time.Duration `toml:"mark_interval"`
	// MaxLag is the sync lag (age of the oldest change PostgreSQL lacks) over which the leader
	// raises the SYSTEM risk event PG_SYNC_LAG; it is cleared once the lag is back under half
	// of it. 0 raises none.
	MaxLag time.Duration `toml:"max_lag"`
	// ApplicationName names the syncer's connections in pg_stat_activity ("paimon/<node id>",
	// set from node.id; not a key of its own).
	ApplicationName string `toml:"-"`
}

// DefaultConfig returns the defaults documented in config.example.toml.
func DefaultConfig() Config {
	return Config{
		PoolSize:       4,
		BatchRows:      20000,
		Interval:       200 * time.Millisecond,
		ConnectTimeout: 5 * time.Second,
		MaxBackoff:     30 * time.Second,
		MarkInterval:   time.Second,
		MaxLag:         time.Minute,
	}
}

// Validate checks the configuration; each error names the [postgres] key at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("postgres.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.DSN != "" && !strings.Contains(c.DSN, "://") && !strings.Contains(c.DSN, "=") {
		bad("dsn", "must be a postgres:// URL or key=value connection string")
	}
	if c.PoolSize < 2 || c.PoolSize > 64 {
		bad("pool_size", "%d must be between 2 and 64", c.PoolSize)
	}
	if c.BatchRows < 1 || c.BatchRows > 1_000_000 {
		bad("batch_rows", "%d must be between 1 and 1000000", c.BatchRows)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", c.Interval}, {"connect_timeout", c.ConnectTimeout}, {"max_backoff", c.MaxBackoff}, {"mark_interval", c.MarkInterval}} {
		if d.v <= 0 {
			bad(d.key, "%s must be positive", d.v)
		}
	}
	if c.MaxLag < 0 {
		bad("max_lag", "%s must not be negative (0 raises no lag risk event)", c.MaxLag)
	}
	return errors.Join(errs...)
}

// Deps are what a Syncer uses besides its configuration and the store.
type Deps struct {
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *metrics.Set // nil: a set of its own
	Now     func() time.Time
	// BeforeCommit, for fault-injection tests, runs inside each drain transaction just before it
	// commits, with the last index the transaction writes.
	BeforeCommit func(lastIndex uint64)
}

// Status is what the syncer reports in /v1/cluster/status and /metrics.
type Status struct {
	Enabled     bool    `json:"enabled"`
	Running     bool    `json:"running"` // draining: this node leads and PostgreSQL answers
	SyncedIndex uint64  `json:"syncedIndex"`
	LagIndex    uint64  `json:"lagIndex"`
	LagSeconds  float64 `json:"lagSeconds"`
	LastError   string  `json:"lastError"`
	Schema      int64   `json:"schemaVersion,omitempty"`
}

// Syncer drains the outbox into PostgreSQL while this node leads. New does no I/O; Start runs
// it; Close stops it (idempotent).
type Syncer struct {
	cfg          Config
	store        Store
	logger       *slog.Logger
	now          func() time.Time
	beforeCommit func(lastIndex uint64)

	pool        *pgxpool.Pool // nil until connected; only the run goroutine touches it
	migrated    bool
	synced      uint64 // PostgreSQL's synced index as last read or written; valid while leading
	known       bool   // synced was read from PostgreSQL in this leadership
	markedAt    time.Time
	lagRaised   int8            // PG_SYNC_LAG in force: -1 unknown (read from the state), 0 no, 1 yes
	lagAt       time.Time       // when the lag was last checked
	parts       map[string]bool // monthly partitions known to exist
	newParts    []string        // partitions created by the transaction in progress
	partitioned map[string]bool // tables natively partitioned (not TimescaleDB hypertables)

	mu        sync.Mutex
	lastError string
	running   bool
	schema    int64
	pgSynced  atomic.Uint64

	m struct {
		batches, rows, errors, resyncs *metrics.Counter
		batchSeconds                   *metrics.PrometheusHistogram
	}

	stop      chan struct{}
	done      chan struct{}
	started   atomic.Bool
	closeOnce sync.Once
}

// New returns an unstarted syncer.
func New(cfg Config, store Store, deps Deps) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewSet()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Syncer{cfg: cfg, store: store, logger: deps.Logger.With("component", "pgsync"), now: deps.Now,
		beforeCommit: deps.BeforeCommit, parts: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	set := deps.Metrics
	s.m.batches = set.GetOrCreateCounter("paimon_pgsync_batches_total")
	s.m.rows = set.GetOrCreateCounter("paimon_pgsync_rows_total")
	s.m.errors = set.GetOrCreateCounter("paimon_pgsync_errors_total")
	s.m.resyncs = set.GetOrCreateCounter("paimon_pgsync_full_resyncs_total")
	s.m.batchSeconds = set.GetOrCreatePrometheusHistogram("paimon_pgsync_batch_seconds")
	set.GetOrCreateGauge("paimon_pgsync_enabled", func() float64 { return b2f(cfg.DSN != "") })
	set.GetOrCreateGauge("paimon_pgsync_synced_index", func() float64 { return float64(s.Status().SyncedIndex) })
	set.GetOrCreateGauge("paimon_pgsync_lag_entries", func() float64 { return float64(s.Status().LagIndex) })
	set.GetOrCreateGauge("paimon_pgsync_lag_seconds", func() float64 { return s.Status().LagSeconds })
	return s, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Start runs the syncer in the background.
func (s *Syncer) Start() {
	if s.started.CompareAndSwap(false, true) {
		go s.run()
	}
}

// Close stops the syncer and closes its connections. It is safe to call more than once.
func (s *Syncer) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		if s.started.Load() {
			<-s.done
		}
	})
	return nil
}

// Status reports the sync: PostgreSQL's synced index as this node knows it (the leader reads
// it from PostgreSQL; followers see the replicated high-water mark), the lag behind the applied
// index in entries and in seconds (age of the oldest entry not yet in PostgreSQL), and the
// last error.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	st := Status{Enabled: s.cfg.DSN != "", Running: s.running, LastError: s.lastError, Schema: s.schema}
	s.mu.Unlock()
	v, err := s.store.Read()
	if err != nil {
		return st
	}
	defer v.Close()
	mark, _, _ := fund.SyncMark(v)
	st.SyncedIndex = max(mark, s.pgSynced.Load())
	// The oldest entry PostgreSQL lacks tells both whether it lags and by how long; reading
	// one entry keeps Status cheap however large the backlog.
	var oldest *fund.OutboxEntry
	_ = fund.ReadOutbox(v, st.SyncedIndex, 1, func(e fund.OutboxEntry) bool {
		oldest = &e
		return false
	})
	if oldest != nil {
		st.LagIndex = v.Index - st.SyncedIndex
		st.LagSeconds = max(s.now().Sub(time.Unix(0, oldest.Time)).Seconds(), 0)
	}
	return st
}

func (s *Syncer) setError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastError = ""
		return
	}
	if s.lastError != err.Error() {
		s.logger.Error("postgres sync", "error", err)
	}
	s.lastError = err.Error()
}

func (s *Syncer) setRunning(r bool) {
	s.mu.Lock()
	s.running = r
	s.mu.Unlock()
}

// run is the syncer's goroutine: the store's one leadership notification starts a drain for
// each term this node leads and stops it when the term ends; followers idle.
func (s *Syncer) run() {
	defer close(s.done)
	defer func() {
		if s.pool != nil {
			s.pool.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	changes, unsubscribe := s.store.SubscribeLeadership()
	defer unsubscribe()
	raftstore.WhileLeader(ctx, changes, s.syncTerm)
}

// syncTerm syncs while ctx lasts (this node's term as leader, or until Close), backing off with
// jitter while PostgreSQL fails. Each term resumes from PostgreSQL's synced index: another
// leader may have synced in between.
func (s *Syncer) syncTerm(ctx context.Context) {
	s.known = false
	s.lagRaised = -1
	defer func() {
		s.known = false
		s.setRunning(false)
	}()
	failures := 0
	for {
		wait := s.cfg.Interval
		n, err := s.step(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			s.m.errors.Inc()
			s.setError(err)
			s.setRunning(false)
			s.known = false
			failures++
			wait = backoff(failures, s.cfg.Interval, s.cfg.MaxBackoff)
		default:
			if failures > 0 {
				s.logger.Info("postgres sync resumed", "after_failures", failures, "synced_index", s.synced)
			}
			failures = 0
			s.setError(nil)
			if n > 0 {
				wait = 0 // more may be waiting: drain again at once
			}
		}
		s.watchLag(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// watchLag raises the SYSTEM risk event PG_SYNC_LAG when the lag goes over MaxLag and clears it
// once the lag is under half of it, checking at most once a second. The state keeps whether
// it is in force (a term starts by reading it), so a lag that persists across leaders raises
// one event.
func (s *Syncer) watchLag(ctx context.Context) {
	if s.cfg.MaxLag <= 0 || s.cfg.DSN == "" || s.now().Sub(s.lagAt) < time.Second {
		return
	}
	s.lagAt = s.now()
	if s.lagRaised < 0 {
		v, err := s.store.Read()
		if err != nil {
			return
		}
		active, err := fund.RiskConditionActive(v, fund.RiskPGSyncLag)
		v.Close()
		if err != nil {
			return
		}
		s.lagRaised = 0
		if active {
			s.lagRaised = 1
		}
	}
	st := s.Status()
	lag := time.Duration(st.LagSeconds * float64(time.Second))
	var c *fund.RiskEventCommand
	switch {
	case s.lagRaised == 0 && lag > s.cfg.MaxLag:
		det, _ := json.Marshal(map[string]any{"lagSeconds": int64(st.LagSeconds), "lagEntries": st.LagIndex, "maxLagSeconds": int64(s.cfg.MaxLag.Seconds()),
			"syncedIndex": st.SyncedIndex, "lastError": st.LastError})
		c = &fund.RiskEventCommand{Type: fund.RiskPGSyncLag, Severity: fund.SeverityWarning, Details: det,
			Message: fmt.Sprintf("PostgreSQL sync lags %s behind the state (bound %s, %d entries)", lag.Round(time.Second), s.cfg.MaxLag, st.LagIndex)}
	case s.lagRaised == 1 && lag < s.cfg.MaxLag/2:
		c = &fund.RiskEventCommand{Type: fund.RiskPGSyncLag, Clear: true}
	default:
		return
	}
	c.Time = s.now().UnixNano()
	cmd := fund.EncodeRiskEvent(c)
	if cv, ok := s.store.(interface{ ClusterVersion() string }); ok && version.Compare(cv.ClusterVersion(), fund.CommandVersion(cmd)) < 0 {
		return // a cluster mid-upgrade cannot apply it yet: nothing to report but the lag itself
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.store.Propose(pctx, cmd); err != nil {
		s.logger.Warn("propose risk event", "type", c.Type, "clear", c.Clear, "error", err)
		return
	}
	s.lagRaised = 1
	if c.Clear {
		s.lagRaised = 0
	}
}

// backoff doubles the pause per failure up to max, with ±50 % jitter so that nodes and
// retries do not move in lockstep.
func backoff(failures int, base, maxWait time.Duration) time.Duration {
	d := base << min(failures, 16)
	if d > maxWait || d <= 0 {
		d = maxWait
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// step does one round on the leader and returns how many outbox entries it wrote.
func (s *Syncer) step(ctx context.Context) (int, error) {
	if s.cfg.DSN == "" {
		return 0, s.pruneOnly(ctx)
	}
	if err := s.connect(ctx); err != nil {
		return 0, err
	}
	if !s.known {
		if err := s.resume(ctx); err != nil {
			return 0, err
		}
	}
	s.setRunning(true)
	n, err := s.drain(ctx)
	if err != nil {
		return 0, err
	}
	// Clear the error with the drain that succeeded, not after the round: the status must not
	// show the changes synced and, a moment longer, the outage's error.
	s.setError(nil)
	if err := s.maybeMark(ctx); err != nil {
		s.logger.Warn("replicate the synced index", "error", err)
	}
	return n, nil
}

// connect opens the pool and migrates the schema, once per process (again after a failure).
func (s *Syncer) connect(ctx context.Context) error {
	if s.pool == nil {
		pcfg, err := pgxpool.ParseConfig(s.cfg.DSN)
		if err != nil {
			return fmt.Errorf("postgres.dsn: %w", err)
		}
		pcfg.MaxConns = int32(s.cfg.PoolSize)
		pcfg.ConnConfig.ConnectTimeout = s.cfg.ConnectTimeout
		if s.cfg.ApplicationName != "" {
			pcfg.ConnConfig.RuntimeParams["application_name"] = s.cfg.ApplicationName
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		s.pool = pool
	}
	// The schema goes as far as the cluster version allows (SchemaFor), and further once the
	// cluster version is raised.
	target := s.schemaTarget()
	s.mu.Lock()
	schema := s.schema
	s.mu.Unlock()
	if s.migrated && schema >= target {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout+30*time.Second)
	defer cancel()
	v, err := MigrateTo(cctx, s.pool, s.logger, target)
	if err != nil {
		return err
	}
	s.migrated = true
	s.mu.Lock()
	s.schema = v
	s.mu.Unlock()
	return s.loadPartitions(cctx)
}

// loadPartitions learns which tables are partitioned natively and which partitions exist.
func (s *Syncer) loadPartitions(ctx context.Context) error {
	s.partitioned = map[string]bool{}
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid`)
	if err != nil {
		return fmt.Errorf("list partitioned tables: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		s.partitioned[name] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid`)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		s.parts[name] = true
	}
	return rows.Err()
}

// committed records the partitions the committed transaction created; a rolled back
// transaction's partitions are forgotten (see drain).
func (s *Syncer) committed() {
	for _, p := range s.newParts {
		s.parts[p] = true
	}
	s.newParts = s.newParts[:0]
}

// resume reads PostgreSQL's synced index when this node takes over the sync. When PostgreSQL is
// behind the outbox's high-water mark it cannot be caught up entry by entry: the whole state is
// copied instead.
func (s *Syncer) resume(ctx context.Context) error {
	var synced int64
	if err := s.pool.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint`).Scan(&synced); err != nil {
		return fmt.Errorf("read synced index: %w", err)
	}
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	mark, _, err := fund.SyncMark(v)
	v.Close()
	if err != nil {
		return err
	}
	s.synced, s.known = uint64(synced), true
	s.pgSynced.Store(s.synced)
	if s.synced < mark {
		s.logger.Warn("postgres is behind the outbox high-water mark: copying the whole state", "synced_index", s.synced, "mark", mark)
		return s.fullResync(ctx)
	}
	s.logger.Info("postgres sync resumes", "synced_index", s.synced, "mark", mark)
	return nil
}

// maybeMark replicates PostgreSQL's synced index, at most every MarkInterval, so every node
// prunes the outbox up to it.
func (s *Syncer) maybeMark(ctx context.Context) error {
	if s.now().Sub(s.markedAt) < s.cfg.MarkInterval {
		return nil
	}
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	mark, _, err := fund.SyncMark(v)
	v.Close()
	if err != nil || mark >= s.synced {
		return err
	}
	s.markedAt = s.now()
	_, err = s.store.Propose(ctx, fund.EncodeSyncMark(s.synced, s.now().UnixNano()))
	return err
}

// pruneOnly keeps the outbox from growing when no PostgreSQL is configured: the leader marks
// everything applied as consumed.
func (s *Syncer) pruneOnly(ctx context.Context) error {
	if s.now().Sub(s.markedAt) < s.cfg.MarkInterval {
		return nil
	}
	s.markedAt = s.now()
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	n, _, err := fund.OutboxStats(v, 0)
	idx := v.Index
	v.Close()
	if err != nil || n == 0 {
		return err
	}
	_, err = s.store.Propose(ctx, fund.EncodeSyncMark(idx, s.now().UnixNano()))
	if errors.Is(err, raftstore.ErrNotLeader) || errors.Is(err, raftstore.ErrNoLeader) {
		return nil
	}
	return err
}

// schemaTarget is the schema the replicated cluster version allows (SchemaFor): the store's
// cluster version is raised when the command raising it applies, so read after a view is
// opened, it allows at least every record that view holds.
func (s *Syncer) schemaTarget() int64 {
	if cv, ok := s.store.(interface{ ClusterVersion() string }); ok {
		return SchemaFor(cv.ClusterVersion())
	}
	return SchemaVersion()
}

// currentSchema is the schema version the syncer migrated PostgreSQL to.
func (s *Syncer) currentSchema() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schema
}
