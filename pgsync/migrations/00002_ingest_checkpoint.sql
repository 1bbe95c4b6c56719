-- Where chain ingest stands: the last block applied and the recent blocks kept to find the
-- common ancestor of a reorg. A node rebuilt from PostgreSQL resumes ingest from here.

-- +goose Up
CREATE TABLE IF NOT EXISTS ingest_checkpoint (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    block_number bigint      NOT NULL,
    block_hash   text        NOT NULL,
    recent       jsonb       NOT NULL,
    updated_at   timestamptz,
    raft_index   bigint      NOT NULL,
    pk           bytea       NOT NULL,
    rec          bytea       NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS ingest_checkpoint;
