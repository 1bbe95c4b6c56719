-- The approver role (between operator and admin, OPERATIONS.md) can be granted through
-- POST /v1/admin/roles. Roles are stored by name: the existing rows keep their meaning.

-- +goose Up
ALTER TABLE wallet_roles DROP CONSTRAINT IF EXISTS wallet_roles_role_check;
ALTER TABLE wallet_roles ADD CONSTRAINT wallet_roles_role_check CHECK (role IN ('viewer', 'operator', 'approver', 'admin'));

-- +goose Down
DELETE FROM wallet_roles WHERE role = 'approver';
ALTER TABLE wallet_roles DROP CONSTRAINT IF EXISTS wallet_roles_role_check;
ALTER TABLE wallet_roles ADD CONSTRAINT wallet_roles_role_check CHECK (role IN ('viewer', 'operator', 'admin'));
