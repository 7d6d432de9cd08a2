-- Credentials (issue 10 §3): emails unique per workspace instead of across
-- the server, disabled users, API tokens that expire and record their use.
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_workspace_email_key UNIQUE (workspace_id, email);
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
CREATE INDEX users_by_email ON users(email);
CREATE INDEX sessions_by_user ON sessions(user_id);
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_tokens_by_workspace ON api_tokens(workspace_id, id);
