-- Fan-group join requests and members as the platform's pushes report them
-- (Douyin enter_group_audit_change / group_fans_event). One row per request
-- and per (group, member): a replayed or reordered push updates nothing.
CREATE TABLE group_join_requests (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    group_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    applicant_id INTEGER REFERENCES contacts(id),
    applicant_name TEXT,
    applicant_avatar TEXT,
    status TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (channel_id, request_id)
);
CREATE INDEX group_join_requests_by_group ON group_join_requests(account_id, group_id, status);
CREATE TABLE group_members (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    group_id TEXT NOT NULL,
    member_external_id TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts(id),
    state TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    UNIQUE (channel_id, group_id, member_external_id)
);
CREATE INDEX group_members_by_group ON group_members(account_id, group_id, state);
