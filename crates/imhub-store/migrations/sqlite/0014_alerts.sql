-- Alerts (issue 14, helper K3): robots and webhooks of a workspace that
-- receive alerts, the workspace's alert settings, deliveries (written in
-- the transaction of their cause, leased and retried like outgoing
-- webhooks), the per-conversation throttle, the robots' rate-limit record,
-- and each channel's last push (for "no push for N hours").
CREATE TABLE alert_targets (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    -- Sealed (secrets.rs); '' when the target has none.
    secret TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL DEFAULT 'text',
    -- Comma list of enabled rules.
    rules TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    last_at INTEGER,
    last_ok INTEGER,
    last_status INTEGER,
    last_code INTEGER,
    last_message TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX alert_targets_by_workspace ON alert_targets(workspace_id, id);
CREATE TABLE alert_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id),
    breach_minutes INTEGER NOT NULL,
    throttle_minutes INTEGER NOT NULL,
    digest_seconds INTEGER NOT NULL,
    silence_hours INTEGER NOT NULL
);
CREATE TABLE alert_deliveries (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    target_id INTEGER NOT NULL REFERENCES alert_targets(id),
    -- JSON array of the alerts this message lists (several: a digest).
    alerts TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_status INTEGER,
    last_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(status, due_at, id);
CREATE INDEX alert_deliveries_by_target ON alert_deliveries(target_id, id);
CREATE TABLE alert_throttle (
    target_id INTEGER NOT NULL,
    throttle_key TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (target_id, throttle_key)
);
CREATE TABLE alert_sends (
    target_id INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX alert_sends_by_target ON alert_sends(target_id, at);
CREATE TABLE channel_activity (
    channel_id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    last_push_at INTEGER NOT NULL,
    -- Set when "no push" was alerted; a new push clears it.
    alerted_at INTEGER
);
CREATE INDEX channel_activity_by_workspace ON channel_activity(workspace_id, last_push_at);
