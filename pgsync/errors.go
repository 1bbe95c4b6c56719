package pgsync

import "errors"

var (
	// ErrSchemaTooNew: the database was migrated by a newer version of paimon.
	ErrSchemaTooNew = errors.New("pgsync: database schema is newer than this binary")
	// ErrBehindMark: PostgreSQL's synced index is below the outbox high-water mark, so entries
	// it never received were pruned (a database restored from an old backup, or sync enabled on
	// a node that has run without it). The syncer then copies the whole state instead.
	ErrBehindMark = errors.New("pgsync: PostgreSQL is behind the outbox high-water mark")
	// ErrDisabled: no DSN is configured.
	ErrDisabled = errors.New("pgsync: disabled (postgres.dsn is empty)")
	// ErrDifference: verify found PostgreSQL and the node's state apart.
	ErrDifference = errors.New("pgsync: PostgreSQL differs from the node's state")
)
