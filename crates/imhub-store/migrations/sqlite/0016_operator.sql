-- Operator API (issue 15, helper O): a workspace's status (a suspended
-- workspace sends nothing and keeps its pushes held) and its quotas
-- (NULL: the operator's default; 0: no limit), the operator's defaults
-- (written by each node at start from `[limits]`), messages sent per
-- workspace and UTC day (kept on write by a trigger on every message
-- imhub queues: API and inbox replies, automatic replies), and the pushes
-- a suspended workspace received, with their parsed events, processed in
-- order when it is resumed.
ALTER TABLE workspaces ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE workspaces ADD COLUMN suspended_at INTEGER;
ALTER TABLE workspaces ADD COLUMN quota_channels INTEGER;
ALTER TABLE workspaces ADD COLUMN quota_agents INTEGER;
ALTER TABLE workspaces ADD COLUMN quota_messages_per_day INTEGER;
ALTER TABLE workspaces ADD COLUMN quota_media_bytes INTEGER;
CREATE TABLE quota_defaults (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    channels INTEGER NOT NULL,
    agents INTEGER NOT NULL,
    messages_per_day INTEGER NOT NULL,
    media_bytes INTEGER NOT NULL
);
CREATE TABLE daily_sends (
    workspace_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, day)
);
CREATE TRIGGER daily_sends_count AFTER INSERT ON messages
    WHEN NEW.direction = 'out' AND NEW.status = 'queued'
BEGIN
    INSERT INTO daily_sends (workspace_id, day, sent)
        VALUES (NEW.workspace_id, NEW.created_at / 86400000, 1)
        ON CONFLICT (workspace_id, day) DO UPDATE SET sent = sent + 1;
END;
CREATE TABLE held_pushes (
    raw_event_id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    events TEXT NOT NULL,
    create_unknown_accounts INTEGER NOT NULL
);
CREATE INDEX held_pushes_by_workspace ON held_pushes(workspace_id, raw_event_id);
