-- Leases in force, counted per workspace and account so that delivery
-- shares its send slots fairly between tenants.
CREATE INDEX outbox_by_lease ON outbox(lease_until) WHERE lease_until IS NOT NULL;
