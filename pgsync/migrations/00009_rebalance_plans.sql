-- Rebalancing plans (issue 13; fund DESIGN.md "Rebalancing plans"): one row per plan as it is
-- now (mutable: execution, approval, the chain's trades and the realised state change it).
-- plan is the plan as GET /v1/rebalance/history renders it (inputs, actions with their
-- transactions, estimated and realised states). Amounts are NUMERIC(78,0) base units. Runs once
-- the cluster version is 0.2.

-- +goose Up
CREATE TABLE IF NOT EXISTS rebalance_plans (
    id                bigint        PRIMARY KEY,
    status            text          NOT NULL,
    total_amount      numeric(78,0) NOT NULL,
    requires_approval boolean       NOT NULL,
    ticket_id         text,
    created_by        text          NOT NULL,
    created_at        timestamptz,
    executed_by       text,
    executed_at       timestamptz,
    finished_at       timestamptz,
    reason            text,
    plan              jsonb         NOT NULL,
    raft_index        bigint        NOT NULL,
    pk                bytea         NOT NULL,
    rec               bytea         NOT NULL
);
CREATE INDEX IF NOT EXISTS rebalance_plans_status ON rebalance_plans (status, id);

-- +goose Down
DROP TABLE IF EXISTS rebalance_plans;
