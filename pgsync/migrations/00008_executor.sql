-- The executor's transactions (issue 12; executor/DESIGN.md): one row per intent, the
-- transaction signed for one decision (purpose, reference), mutable as it is sent, replaced at
-- its nonce with higher fees, mined, confirmed or failed. A node restored from PostgreSQL reads
-- them back and never signs a second transaction for a decision that has one. attempts holds
-- every signed transaction of the intent ([{hash, state, time}]; the raw bytes are in rec).
-- Runs once the cluster version is 0.2.

-- +goose Up
CREATE TABLE IF NOT EXISTS executor_transactions (
    seq          bigint      PRIMARY KEY,
    purpose      text        NOT NULL,
    reference    text        NOT NULL,
    from_address text        NOT NULL,
    to_address   text        NOT NULL,
    nonce        bigint      NOT NULL,
    state        text        NOT NULL,
    failure      text,
    block_number bigint,
    tx_hash      text,
    attempts     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    raft_index   bigint      NOT NULL,
    pk           bytea       NOT NULL,
    rec          bytea       NOT NULL,
    UNIQUE (purpose, reference)
);
CREATE INDEX IF NOT EXISTS executor_transactions_state ON executor_transactions (state, created_at);

-- +goose Down
DROP TABLE IF EXISTS executor_transactions;
