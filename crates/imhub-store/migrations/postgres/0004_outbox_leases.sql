-- Fair delivery: leases in force are counted per workspace and account,
-- and each workspace's due entries are found without reading another's
-- backlog, so a tenant with a hung receiver and a long queue costs the
-- others nothing.
CREATE INDEX outbox_by_lease ON outbox(lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX outbox_by_workspace_due ON outbox(workspace_id, due_at, id);
