-- The admin console (issue 15): a channel's settings change after it is
-- connected (updated_at tells caches on every node), a disconnected channel
-- stays as the history of its conversations, an account can be disabled,
-- an agent has an avatar (an upload's key) and a language.
ALTER TABLE channels ADD COLUMN updated_at INTEGER;
ALTER TABLE channels ADD COLUMN disconnected_at INTEGER;
ALTER TABLE accounts ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN avatar_key TEXT;
ALTER TABLE users ADD COLUMN language TEXT;
-- Channel health: today's pushes of a channel are one range of this index.
CREATE INDEX raw_events_by_channel ON raw_events(channel_id, received_at);
-- Channel health: a channel's last failed send. Partial: failed messages
-- are few, so every other message costs nothing here.
CREATE INDEX messages_failed_by_channel ON messages(channel_id, updated_at) WHERE status = 'failed';
