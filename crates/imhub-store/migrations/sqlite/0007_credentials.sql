-- Credentials (issue 10 §3): emails unique per workspace instead of across
-- the server, disabled users, API tokens that expire and record their use.
-- SQLite cannot drop a UNIQUE column constraint, so users is rebuilt; its
-- one child table (sessions) is rebuilt around it so the foreign key holds
-- while foreign_keys is on.
ALTER TABLE sessions RENAME TO sessions_before_0004;
ALTER TABLE users RENAME TO users_before_0004;
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    UNIQUE (workspace_id, email)
);
INSERT INTO users (id, workspace_id, email, name, password_hash, role, created_at)
    SELECT id, workspace_id, email, name, password_hash, role, created_at FROM users_before_0004;
CREATE INDEX users_by_email ON users(email);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    expires_at INTEGER NOT NULL
);
INSERT INTO sessions (token_hash, user_id, workspace_id, expires_at)
    SELECT token_hash, user_id, workspace_id, expires_at FROM sessions_before_0004;
CREATE INDEX sessions_by_user ON sessions(user_id);
DROP TABLE sessions_before_0004;
DROP TABLE users_before_0004;
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
CREATE INDEX api_tokens_by_workspace ON api_tokens(workspace_id, id);
