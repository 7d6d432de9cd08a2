-- Per-channel state adapters keep between restarts and share between nodes
-- (Douyin OAuth tokens, a client_token): key/value, values are JSON text.
CREATE TABLE channel_state (
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, key)
);
