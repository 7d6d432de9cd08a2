-- Team inbox (issue 12): assignment, auto-assignment, availability,
-- status with snooze, and durable timers.
ALTER TABLE conversations ADD COLUMN assignee_id INTEGER;
ALTER TABLE conversations ADD COLUMN assigned_at INTEGER;
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
-- When it entered the auto-assignment queue unassigned; NULL when not waiting.
ALTER TABLE conversations ADD COLUMN waiting_since INTEGER;
-- The chat list's views (mine, unassigned, an assignee).
CREATE INDEX conversations_by_assignee
    ON conversations(workspace_id, assignee_id, last_activity_at DESC, id DESC);
-- Live counts (open and pending, by assignee) without reading rows.
CREATE INDEX conversations_by_status_assignee
    ON conversations(workspace_id, status, assignee_id);
-- An agent's load: open assigned conversations.
CREATE INDEX conversations_load ON conversations(assignee_id, status)
    WHERE assignee_id IS NOT NULL;
-- The queue, longest-waiting first.
CREATE INDEX conversations_waiting ON conversations(workspace_id, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE users ADD COLUMN capacity INTEGER NOT NULL DEFAULT 10;
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
ALTER TABLE users ADD COLUMN availability_changed_at INTEGER;
CREATE INDEX users_present ON users(availability, last_seen_at) WHERE availability <> 'offline';
CREATE TABLE account_assignment (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    auto_assign INTEGER NOT NULL DEFAULT 0,
    -- Comma list of user ids; empty: every agent of the workspace.
    agent_ids TEXT NOT NULL DEFAULT '',
    -- The user id round-robin chose last (0: none yet).
    rr_cursor INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX account_assignment_auto ON account_assignment(workspace_id, account_id)
    WHERE auto_assign = 1;
CREATE TABLE workspace_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id),
    requeue_on_away INTEGER NOT NULL DEFAULT 1,
    offline_after_minutes INTEGER NOT NULL DEFAULT 5
);
-- Sticky assignment: the agent a returning customer goes back to.
ALTER TABLE contacts ADD COLUMN last_agent_id INTEGER;
-- Durable timers, leased like the outbox: whatever must happen at a time
-- (a snooze ending; escalations and digests later) happens once, on some
-- node, as soon as one is up after the time.
CREATE TABLE timers (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    conversation_id INTEGER,
    due_at INTEGER NOT NULL,
    payload TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX timers_by_due ON timers(due_at, id);
CREATE INDEX timers_by_conversation ON timers(conversation_id, kind)
    WHERE conversation_id IS NOT NULL;
