-- imhub schema, SQLite flavour. Times are Unix milliseconds; JSON is text.
CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    expires_at INTEGER NOT NULL
);
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX channels_by_workspace ON channels(workspace_id, id);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX accounts_by_workspace ON accounts(workspace_id, id);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    external_id TEXT NOT NULL,
    nickname TEXT,
    avatar TEXT,
    UNIQUE (channel_id, external_id)
);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    platform TEXT NOT NULL,
    kind TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    peer_external_id TEXT NOT NULL,
    title TEXT,
    avatar TEXT,
    status TEXT NOT NULL,
    unread_count INTEGER NOT NULL DEFAULT 0,
    last_message_id INTEGER,
    last_message_preview TEXT,
    last_activity_at INTEGER NOT NULL,
    last_inbound_at INTEGER,
    reply_context TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, kind, peer_external_id)
);
CREATE INDEX conversations_by_activity ON conversations(workspace_id, last_activity_at DESC, id DESC);
CREATE INDEX conversations_by_account ON conversations(account_id, last_activity_at DESC, id DESC);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    channel_id INTEGER NOT NULL,
    direction TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    platform_message_id TEXT,
    sender_id INTEGER,
    sender_name TEXT,
    error_code TEXT,
    error_text TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_by_platform_id ON messages(channel_id, platform_message_id)
    WHERE platform_message_id IS NOT NULL;
CREATE INDEX messages_by_conversation ON messages(conversation_id, created_at DESC, id DESC);
CREATE TABLE raw_events (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    event_key TEXT,
    body BLOB NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    received_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX raw_events_by_key ON raw_events(channel_id, event_key) WHERE event_key IS NOT NULL;
CREATE INDEX raw_events_by_status ON raw_events(workspace_id, status, id);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    op TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_by_due ON outbox(due_at, id);
CREATE INDEX outbox_by_conversation ON outbox(conversation_id, id);
CREATE TABLE idempotency_keys (
    workspace_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE TABLE media (
    key TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
