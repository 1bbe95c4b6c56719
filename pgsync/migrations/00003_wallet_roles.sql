-- Wallet roles granted through POST /v1/admin/roles (bootstrap admins from the config file are
-- not stored: they come from every node's config). A removed role is a deleted row; the change
-- itself stays in audit_log (action role.set).

-- +goose Up
CREATE TABLE IF NOT EXISTS wallet_roles (
    address    text        PRIMARY KEY,
    role       text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    updated_at timestamptz NOT NULL,
    raft_index bigint      NOT NULL,
    pk         bytea       NOT NULL,
    rec        bytea       NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS wallet_roles;
