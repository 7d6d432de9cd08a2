-- Operator API (issue 15, helper O): a workspace's status (a suspended
-- workspace sends nothing and keeps its pushes held) and its quotas
-- (NULL: the operator's default; 0: no limit), the operator's defaults
-- (written by each node at start from `[limits]`), messages sent per
-- workspace and UTC day (kept on write by a trigger on every message
-- imhub queues: API and inbox replies, automatic replies), and the pushes
-- a suspended workspace received, with their parsed events, processed in
-- order when it is resumed.
ALTER TABLE workspaces ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE workspaces ADD COLUMN suspended_at BIGINT;
ALTER TABLE workspaces ADD COLUMN quota_channels BIGINT;
ALTER TABLE workspaces ADD COLUMN quota_agents BIGINT;
ALTER TABLE workspaces ADD COLUMN quota_messages_per_day BIGINT;
ALTER TABLE workspaces ADD COLUMN quota_media_bytes BIGINT;
CREATE TABLE quota_defaults (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    channels BIGINT NOT NULL,
    agents BIGINT NOT NULL,
    messages_per_day BIGINT NOT NULL,
    media_bytes BIGINT NOT NULL
);
CREATE TABLE daily_sends (
    workspace_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day)
);
CREATE OR REPLACE FUNCTION imhub_count_daily_send() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO daily_sends (workspace_id, day, sent)
        VALUES (NEW.workspace_id, NEW.created_at / 86400000, 1)
        ON CONFLICT (workspace_id, day) DO UPDATE SET sent = daily_sends.sent + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_sends_count AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW.status = 'queued')
    EXECUTE FUNCTION imhub_count_daily_send();
CREATE TABLE held_pushes (
    raw_event_id BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    events TEXT NOT NULL,
    create_unknown_accounts BIGINT NOT NULL
);
CREATE INDEX held_pushes_by_workspace ON held_pushes(workspace_id, raw_event_id);
