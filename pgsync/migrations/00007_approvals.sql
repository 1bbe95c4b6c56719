-- Approval tickets (issue 12; fund DESIGN.md "Approval tickets"): approval_tickets holds each
-- ticket as it is now (mutable: decisions, the SLA, the chain's execution change it);
-- approval_records is every ticket's trail (decisions, cancellations, SLA milestones, expiry),
-- append only. Amounts are NUMERIC(78,0) base units. Runs once the cluster version is 0.2.

-- +goose Up
CREATE TABLE IF NOT EXISTS approval_tickets (
    id                 text PRIMARY KEY,
    type               text          NOT NULL,
    reference_id       numeric(78,0) NOT NULL,
    status             text          NOT NULL,
    channel            text          NOT NULL,
    amount             numeric(78,0) NOT NULL,
    requester          text          NOT NULL,
    required_approvals smallint      NOT NULL,
    approvals          smallint      NOT NULL,
    created_at         timestamptz,
    sla_warn_at        timestamptz,
    sla_escalate_at    timestamptz,
    sla_deadline       timestamptz,
    closed_at          timestamptz,
    exec_tx_hash       text,
    exec_outcome       text,
    raft_index         bigint        NOT NULL,
    pk                 bytea         NOT NULL,
    rec                bytea         NOT NULL
);
CREATE INDEX IF NOT EXISTS approval_tickets_status ON approval_tickets (status, created_at);

CREATE TABLE IF NOT EXISTS approval_records (
    ticket_id    text        NOT NULL,
    seq          integer     NOT NULL,
    decision     text        NOT NULL,
    actor        text,
    role         text,
    reason       text,
    time         timestamptz NOT NULL,
    status_after text        NOT NULL,
    raft_index   bigint      NOT NULL,
    pk           bytea       NOT NULL,
    rec          bytea       NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

-- +goose Down
DROP TABLE IF EXISTS approval_records;
DROP TABLE IF EXISTS approval_tickets;
