-- The merchant's own subscriptions to imhub's events, and every delivery
-- attempt, written in the same transaction as the change they report.
CREATE TABLE webhook_subscriptions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_by_workspace ON webhook_subscriptions(workspace_id, active);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions(id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, due_at);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries(subscription_id, id DESC);
-- What a push looked like besides its body, so it can be replayed.
ALTER TABLE raw_events ADD COLUMN request TEXT;
