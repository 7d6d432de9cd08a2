-- Retention: find what is old enough to prune without scanning, and
-- count a workspace's media for its quota.
CREATE INDEX raw_events_unpruned ON raw_events(received_at) WHERE octet_length(body) > 0 OR request IS NOT NULL;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
ALTER TABLE media ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE media SET size = octet_length(bytes);
CREATE INDEX media_by_workspace ON media(workspace_id);
