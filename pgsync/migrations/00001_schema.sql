-- The fund's system of record. Every synced table carries the Raft index of the change that
-- wrote its row (upserts only move forward: WHERE excluded.raft_index > t.raft_index, so a
-- replayed batch is harmless), the record's state-store key (pk) and its binary value (rec),
-- from which `paimon pg restore` rebuilds a node. Amounts are NUMERIC(78,0) (uint256 base units;
-- an amount that went below zero because ingest started mid-history stays negative).

-- +goose Up
CREATE TABLE IF NOT EXISTS sync_checkpoint (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    synced_index  bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    schema_note   text
);
INSERT INTO sync_checkpoint (id, synced_index, schema_note)
VALUES (true, 0, 'written by paimon pgsync') ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS fund_state (
    id                         boolean PRIMARY KEY DEFAULT true CHECK (id),
    share_price                numeric(78,0) NOT NULL,
    total_assets               numeric(78,0) NOT NULL,
    total_supply               numeric(78,0) NOT NULL,
    total_locked_shares        numeric(78,0) NOT NULL,
    total_redemption_liability numeric(78,0) NOT NULL,
    fee_management             numeric(78,0) NOT NULL,
    fee_performance            numeric(78,0) NOT NULL,
    fee_redemption             numeric(78,0) NOT NULL,
    emergency_mode             boolean       NOT NULL,
    holder_count               bigint        NOT NULL,
    tiers                      jsonb         NOT NULL,
    last_block                 bigint        NOT NULL,
    latest_block_time          timestamptz,
    updated_at                 timestamptz,
    raft_index                 bigint        NOT NULL,
    pk                         bytea         NOT NULL,
    rec                        bytea         NOT NULL
);

-- One row per synced change of the fund's totals: the fund's history, append-only.
CREATE TABLE IF NOT EXISTS fund_snapshots (
    raft_index                 bigint PRIMARY KEY,
    synced_at                  timestamptz   NOT NULL DEFAULT now(),
    updated_at                 timestamptz,
    share_price                numeric(78,0) NOT NULL,
    total_assets               numeric(78,0) NOT NULL,
    total_supply               numeric(78,0) NOT NULL,
    total_locked_shares        numeric(78,0) NOT NULL,
    total_redemption_liability numeric(78,0) NOT NULL,
    holder_count               bigint        NOT NULL,
    last_block                 bigint        NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
    address             text PRIMARY KEY,
    shares              numeric(78,0) NOT NULL,
    locked_shares       numeric(78,0) NOT NULL,
    deposited           numeric(78,0) NOT NULL,
    withdrawn           numeric(78,0) NOT NULL,
    redeemed            numeric(78,0) NOT NULL,
    pending_redemptions numeric(78,0) NOT NULL,
    first_seen          timestamptz,
    last_activity       timestamptz,
    raft_index          bigint NOT NULL,
    pk                  bytea  NOT NULL UNIQUE,
    rec                 bytea  NOT NULL
);

CREATE TABLE IF NOT EXISTS redemptions (
    request_id        numeric(78,0) PRIMARY KEY,
    owner             text          NOT NULL,
    receiver          text          NOT NULL,
    shares            numeric(78,0) NOT NULL,
    locked_amount     numeric(78,0) NOT NULL,
    estimated_fee     numeric(78,0) NOT NULL,
    gross_amount      numeric(78,0) NOT NULL,
    fee               numeric(78,0) NOT NULL,
    net_amount        numeric(78,0) NOT NULL,
    channel           text          NOT NULL,
    status            text          NOT NULL,
    requires_approval boolean       NOT NULL,
    settlement_time   timestamptz,
    window_id         numeric(78,0),
    requested_at      timestamptz,
    tx_hash           text,
    raft_index        bigint NOT NULL,
    pk                bytea  NOT NULL UNIQUE,
    rec               bytea  NOT NULL
);
CREATE INDEX IF NOT EXISTS redemptions_owner ON redemptions (owner);
CREATE INDEX IF NOT EXISTS redemptions_status ON redemptions (status);

CREATE TABLE IF NOT EXISTS redemption_timeline (
    request_id   numeric(78,0) NOT NULL REFERENCES redemptions (request_id) ON DELETE CASCADE,
    step         integer       NOT NULL,
    status       text          NOT NULL,
    time         timestamptz,
    tx_hash      text,
    block_number bigint,
    raft_index   bigint        NOT NULL,
    PRIMARY KEY (request_id, step)
);

CREATE TABLE IF NOT EXISTS assets (
    token             text PRIMARY KEY,
    tier              text          NOT NULL,
    active            boolean       NOT NULL,
    target_allocation numeric(78,0) NOT NULL,
    holding           numeric(78,0) NOT NULL,
    raft_index        bigint NOT NULL,
    pk                bytea  NOT NULL UNIQUE,
    rec               bytea  NOT NULL
);

CREATE TABLE IF NOT EXISTS prices (
    asset      text PRIMARY KEY,
    price      numeric(78,0) NOT NULL,
    source     text          NOT NULL,
    source_id  smallint,
    time       timestamptz,
    raft_index bigint NOT NULL,
    pk         bytea  NOT NULL UNIQUE,
    rec        bytea  NOT NULL
);

CREATE TABLE IF NOT EXISTS flows_hourly (
    hour          timestamptz PRIMARY KEY,
    subscriptions numeric(78,0) NOT NULL,
    redemptions   numeric(78,0) NOT NULL,
    raft_index    bigint NOT NULL,
    pk            bytea  NOT NULL UNIQUE,
    rec           bytea  NOT NULL
);

CREATE TABLE IF NOT EXISTS risk_events (
    block_number bigint      NOT NULL,
    log_index    bigint      NOT NULL,
    tx_hash      text        NOT NULL,
    severity     text        NOT NULL,
    event        text        NOT NULL,
    block_time   timestamptz,
    contract     text        NOT NULL,
    raft_index   bigint NOT NULL,
    pk           bytea  NOT NULL UNIQUE,
    rec          bytea  NOT NULL,
    PRIMARY KEY (block_number, log_index, tx_hash)
);

-- The ledger of decoded chain events and the audit log: partitioned by month (the syncer
-- creates each month's partition before it writes into it); unique keys include the partition
-- key, as PostgreSQL requires ((tx_hash, log_index) determines block_time).
CREATE TABLE IF NOT EXISTS ledger (
    tx_hash      text        NOT NULL,
    log_index    bigint      NOT NULL,
    block_number bigint      NOT NULL,
    block_hash   text        NOT NULL,
    block_time   timestamptz NOT NULL,
    contract     text        NOT NULL,
    event        text        NOT NULL,
    args         jsonb       NOT NULL,
    raft_index   bigint      NOT NULL,
    pk           bytea       NOT NULL,
    rec          bytea       NOT NULL,
    PRIMARY KEY (tx_hash, log_index, block_time)
) PARTITION BY RANGE (block_time);
CREATE INDEX IF NOT EXISTS ledger_pk ON ledger (pk);
CREATE INDEX IF NOT EXISTS ledger_block ON ledger (block_number, log_index);

CREATE TABLE IF NOT EXISTS audit_log (
    id         text        NOT NULL,
    time       timestamptz NOT NULL,
    actor      text        NOT NULL,
    role       text        NOT NULL,
    action     text        NOT NULL,
    resource   text        NOT NULL,
    ip         text        NOT NULL,
    user_agent text        NOT NULL,
    before     jsonb,
    after      jsonb,
    raft_index bigint      NOT NULL,
    pk         bytea       NOT NULL,
    rec        bytea       NOT NULL,
    PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE INDEX IF NOT EXISTS audit_log_pk ON audit_log (pk);

-- The audit log is append-only: rows are inserted, never updated or deleted.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paimon_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
-- +goose StatementEnd
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION paimon_audit_append_only();

-- NAV and price history: TimescaleDB hypertables when that extension is installed and
-- preloaded, native monthly partitions otherwise.
-- +goose StatementBegin
DO $$
DECLARE
    timescale boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
        AND current_setting('shared_preload_libraries', true) LIKE '%timescaledb%';
BEGIN
    IF timescale THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        CREATE TABLE IF NOT EXISTS nav_history (
            time timestamptz NOT NULL, block_number bigint NOT NULL, log_index bigint NOT NULL,
            share_price numeric(78,0) NOT NULL, total_assets numeric(78,0) NOT NULL, total_supply numeric(78,0) NOT NULL,
            raft_index bigint NOT NULL, pk bytea NOT NULL, rec bytea NOT NULL,
            PRIMARY KEY (time, block_number, log_index));
        PERFORM create_hypertable('nav_history', 'time', chunk_time_interval => interval '1 month', if_not_exists => true);
        CREATE TABLE IF NOT EXISTS price_history (
            asset text NOT NULL, time timestamptz NOT NULL, origin bytea NOT NULL,
            price numeric(78,0) NOT NULL, source text NOT NULL, source_id smallint,
            raft_index bigint NOT NULL, pk bytea NOT NULL, rec bytea NOT NULL,
            PRIMARY KEY (asset, time, origin));
        PERFORM create_hypertable('price_history', 'time', chunk_time_interval => interval '1 month', if_not_exists => true);
    ELSE
        CREATE TABLE IF NOT EXISTS nav_history (
            time timestamptz NOT NULL, block_number bigint NOT NULL, log_index bigint NOT NULL,
            share_price numeric(78,0) NOT NULL, total_assets numeric(78,0) NOT NULL, total_supply numeric(78,0) NOT NULL,
            raft_index bigint NOT NULL, pk bytea NOT NULL, rec bytea NOT NULL,
            PRIMARY KEY (time, block_number, log_index)) PARTITION BY RANGE (time);
        CREATE TABLE IF NOT EXISTS price_history (
            asset text NOT NULL, time timestamptz NOT NULL, origin bytea NOT NULL,
            price numeric(78,0) NOT NULL, source text NOT NULL, source_id smallint,
            raft_index bigint NOT NULL, pk bytea NOT NULL, rec bytea NOT NULL,
            PRIMARY KEY (asset, time, origin)) PARTITION BY RANGE (time);
    END IF;
END $$;
-- +goose StatementEnd
CREATE INDEX IF NOT EXISTS nav_history_pk ON nav_history (pk);
CREATE INDEX IF NOT EXISTS price_history_pk ON price_history (pk);

-- +goose Down
DROP TABLE IF EXISTS price_history, nav_history, audit_log, ledger, risk_events, flows_hourly,
    prices, assets, redemption_timeline, redemptions, accounts, fund_snapshots, fund_state, sync_checkpoint;
DROP FUNCTION IF EXISTS paimon_audit_append_only();
