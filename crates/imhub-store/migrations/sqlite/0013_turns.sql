-- Reply-time KPIs (issue 14): the conversation's open turn, closed turns
-- with their counted wait, daily rows per account and agent (local day of
-- the turn's start in the workspace's counting zone) with a histogram of
-- waits in fixed buckets (imhub_core::turns::BUCKET_UPPER_MS), and the
-- workspace's counting window and target. All kept on write, in the
-- transaction of the message that caused them.
ALTER TABLE conversations ADD COLUMN turn_open_since INTEGER;
ALTER TABLE conversations ADD COLUMN turn_auto_at INTEGER;
CREATE INDEX conversations_turn_open ON conversations(workspace_id, turn_open_since, id)
    WHERE turn_open_since IS NOT NULL;
CREATE TABLE turns (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    -- The agent who answered; NULL: the merchant's own app or an API token.
    agent_id INTEGER,
    -- The human reply that closed the turn (one turn per reply).
    message_id INTEGER NOT NULL UNIQUE,
    day INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    wait_ms INTEGER NOT NULL,
    within_target INTEGER NOT NULL,
    auto_wait_ms INTEGER
);
CREATE INDEX turns_by_day ON turns(workspace_id, day, id);
CREATE INDEX turns_by_conversation ON turns(conversation_id, id);
-- Four kinds of rows per day: (account, agent 0) every turn of the
-- account; (account 0, agent 0) every turn of the workspace; (account,
-- agent) and (account 0, agent) the turns an agent answered, per account
-- and in all. Each report then reads one contiguous range of at most
-- days × accounts (or agents) rows of one of the two indexes.
CREATE TABLE kpi_daily (
    workspace_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    agent_id INTEGER NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    within_target INTEGER NOT NULL DEFAULT 0,
    unanswered INTEGER NOT NULL DEFAULT 0,
    auto_only INTEGER NOT NULL DEFAULT 0,
    b0 INTEGER NOT NULL DEFAULT 0,
    b1 INTEGER NOT NULL DEFAULT 0,
    b2 INTEGER NOT NULL DEFAULT 0,
    b3 INTEGER NOT NULL DEFAULT 0,
    b4 INTEGER NOT NULL DEFAULT 0,
    b5 INTEGER NOT NULL DEFAULT 0,
    b6 INTEGER NOT NULL DEFAULT 0,
    b7 INTEGER NOT NULL DEFAULT 0,
    b8 INTEGER NOT NULL DEFAULT 0,
    b9 INTEGER NOT NULL DEFAULT 0,
    b10 INTEGER NOT NULL DEFAULT 0,
    b11 INTEGER NOT NULL DEFAULT 0,
    b12 INTEGER NOT NULL DEFAULT 0,
    b13 INTEGER NOT NULL DEFAULT 0,
    b14 INTEGER NOT NULL DEFAULT 0,
    b15 INTEGER NOT NULL DEFAULT 0,
    b16 INTEGER NOT NULL DEFAULT 0,
    b17 INTEGER NOT NULL DEFAULT 0,
    b18 INTEGER NOT NULL DEFAULT 0,
    b19 INTEGER NOT NULL DEFAULT 0,
    b20 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, account_id, agent_id, day)
);
CREATE INDEX kpi_daily_by_agent ON kpi_daily(workspace_id, agent_id, account_id, day);
CREATE TABLE kpi_settings (
    workspace_id INTEGER PRIMARY KEY,
    time_zone TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    target_ms INTEGER NOT NULL,
    warning_ms INTEGER NOT NULL
);
