-- Automation (issue 13): rules as data, per-workspace settings, the
-- conversation's automation state, automatic replies marked on messages,
-- per-rule counters kept on write and the rules' recent failures.
CREATE TABLE automation_rules (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    position INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    -- The rule as JSON (name, scope, trigger, conditions, actions, cooldown).
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX automation_rules_by_workspace ON automation_rules(workspace_id, position, id);
-- Business hours and limits, and the version of the workspace's rule set:
-- a new random value on every change of a rule or of the settings, so a
-- push reads one row to know whether its cached rules are current (and no
-- row at all means no rules).
CREATE TABLE automation_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id),
    settings TEXT,
    version INTEGER NOT NULL,
    enabled_rules INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE conversations ADD COLUMN automation_state TEXT;
-- Who wrote an outbound message imhub sent (agent, api, automation).
ALTER TABLE messages ADD COLUMN sender_kind TEXT;
ALTER TABLE messages ADD COLUMN rule_id INTEGER;
-- The platform context this very message answers (an automatic reply to
-- an enter-chat event carries that event's), and that event's time;
-- NULL: the conversation's latest, as for agents' replies.
ALTER TABLE messages ADD COLUMN reply_context TEXT;
ALTER TABLE messages ADD COLUMN reply_to_at INTEGER;
-- Fired / sent / failed per rule and UTC day.
CREATE TABLE automation_stats (
    rule_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    fired INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, day)
);
CREATE TABLE automation_failures (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    rule_id INTEGER NOT NULL,
    conversation_id INTEGER,
    message_id INTEGER,
    code TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX automation_failures_by_rule ON automation_failures(rule_id, id);
