-- The fund's books (issue 11; fund DESIGN.md "The books"): the current figures (fund_books,
-- written from the fund singleton once the books started), every asset's metadata
-- (asset_metadata, from CmdAssetMeta) and the books at the end of every UTC day
-- (daily_snapshots, written inside apply, replicated state). Amounts are NUMERIC(78,0) base
-- units and may be negative; ratios and the drift are basis points; computed_share_price and
-- nav_drift_bps are NULL when they cannot be computed. Runs once the cluster version is 0.2.

-- +goose Up
CREATE TABLE IF NOT EXISTS fund_books (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    cash                 numeric(78,0) NOT NULL,
    gross_assets         numeric(78,0) NOT NULL,
    total_assets         numeric(78,0) NOT NULL,
    l1_value             numeric(78,0) NOT NULL,
    l2_value             numeric(78,0) NOT NULL,
    l3_value             numeric(78,0) NOT NULL,
    l1_ratio             numeric(78,0) NOT NULL,
    l2_ratio             numeric(78,0) NOT NULL,
    l3_ratio             numeric(78,0) NOT NULL,
    computed_share_price numeric(78,0),
    nav_drift_bps        numeric(78,0),
    raft_index           bigint        NOT NULL,
    pk                   bytea         NOT NULL
);

CREATE TABLE IF NOT EXISTS asset_metadata (
    token      text PRIMARY KEY,
    decimals   smallint NOT NULL,
    symbol     text,
    name       text,
    raft_index bigint   NOT NULL,
    pk         bytea    NOT NULL,
    rec        bytea    NOT NULL
);

CREATE TABLE IF NOT EXISTS daily_snapshots (
    day                        date PRIMARY KEY,
    block_time                 timestamptz,
    last_block                 bigint        NOT NULL,
    cash                       numeric(78,0) NOT NULL,
    gross_assets               numeric(78,0) NOT NULL,
    total_assets               numeric(78,0) NOT NULL,
    l1_value                   numeric(78,0) NOT NULL,
    l2_value                   numeric(78,0) NOT NULL,
    l3_value                   numeric(78,0) NOT NULL,
    l1_ratio                   numeric(78,0) NOT NULL,
    l2_ratio                   numeric(78,0) NOT NULL,
    l3_ratio                   numeric(78,0) NOT NULL,
    total_redemption_liability numeric(78,0) NOT NULL,
    fee_redemption             numeric(78,0) NOT NULL,
    fee_management             numeric(78,0) NOT NULL,
    fee_performance            numeric(78,0) NOT NULL,
    total_supply               numeric(78,0) NOT NULL,
    total_locked_shares        numeric(78,0) NOT NULL,
    share_price                numeric(78,0) NOT NULL,
    computed_share_price       numeric(78,0),
    nav_drift_bps              numeric(78,0),
    emergency_mode             boolean       NOT NULL,
    holder_count               bigint        NOT NULL,
    raft_index                 bigint        NOT NULL,
    pk                         bytea         NOT NULL,
    rec                        bytea         NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS daily_snapshots;
DROP TABLE IF EXISTS asset_metadata;
DROP TABLE IF EXISTS fund_books;
