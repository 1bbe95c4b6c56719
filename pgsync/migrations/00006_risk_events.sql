-- The risk events in full (issue 11; fund DESIGN.md "Risk events"): risk_events keeps v0.1.0's
-- columns (a CHAIN event by its log; a RULE or SYSTEM event with log_index -1 and its id in
-- tx_hash) and the whole record in rec; risk_event_details has what an operator's report
-- queries: source, severity, type, message, details, the resolution, keyed by the API's id.
-- Written for records of version 2 (from cluster version 0.2); a v0.1.0 record has no row here.
-- Runs once the cluster version is 0.2.

-- +goose Up
CREATE TABLE IF NOT EXISTS risk_event_details (
    id           text PRIMARY KEY,
    time         timestamptz,
    source       text    NOT NULL CHECK (source IN ('CHAIN', 'RULE', 'SYSTEM')),
    severity     text    NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'HIGH', 'CRITICAL')),
    type         text    NOT NULL,
    message      text    NOT NULL,
    details      jsonb,
    block_number bigint  NOT NULL,
    resolved     boolean NOT NULL,
    resolved_by  text,
    resolved_at  timestamptz,
    note         text,
    event_index  bigint,
    raft_index   bigint  NOT NULL,
    pk           bytea   NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS risk_event_details_open ON risk_event_details (severity, time) WHERE NOT resolved;

-- +goose Down
DROP TABLE IF EXISTS risk_event_details;
