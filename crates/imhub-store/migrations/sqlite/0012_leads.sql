-- Leads (issue 14): a contact the team follows up, captured from lead
-- cards and customer text in the push's transaction, with its history,
-- its contacts (several after a merge), its phone numbers (for the merge
-- proposals and the has-phone filter), and the workspace's own numbers.
CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    -- The contact the lead was captured on (it stays after a merge).
    contact_id INTEGER NOT NULL,
    name TEXT,
    -- JSON array of 11-digit numbers.
    phones TEXT NOT NULL DEFAULT '[]',
    wechat_id TEXT,
    city TEXT,
    notes TEXT,
    -- JSON array of [label, value]: other lead-card answers.
    fields TEXT NOT NULL DEFAULT '[]',
    -- JSON array of Meituan order ids (text), oldest first.
    orders TEXT NOT NULL DEFAULT '[]',
    source_platform TEXT NOT NULL,
    source_account_id INTEGER,
    source_conversation_id INTEGER,
    -- The enter-chat event's context (Douyin scene_type, object_id, ad_info).
    source_context TEXT,
    stage TEXT NOT NULL DEFAULT 'new',
    owner_id INTEGER,
    -- Lower-cased name, phones, WeChat id and notes, for the list's search.
    search_text TEXT NOT NULL DEFAULT '',
    has_phone INTEGER NOT NULL DEFAULT 0,
    -- Set when an agent merged this lead into another: it leaves the list.
    merged_into INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX leads_by_workspace ON leads(workspace_id, created_at DESC, id DESC);
-- Every contact of a lead; a contact is on at most one lead.
CREATE TABLE lead_contacts (
    contact_id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX lead_contacts_by_lead ON lead_contacts(lead_id);
CREATE TABLE lead_phones (
    workspace_id INTEGER NOT NULL,
    phone TEXT NOT NULL,
    lead_id INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, phone, lead_id)
);
CREATE INDEX lead_phones_by_lead ON lead_phones(lead_id);
CREATE TABLE lead_history (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    -- The agent, NULL for capture, API tokens and the system.
    user_id INTEGER,
    -- capture, agent, api, merge.
    actor TEXT NOT NULL,
    -- The message that caused a capture.
    message_id INTEGER,
    -- JSON array of {field, from, to}.
    changes TEXT NOT NULL
);
CREATE INDEX lead_history_by_lead ON lead_history(lead_id, id);
-- The same phone on two leads: an agent accepts (merge) or rejects.
-- lead_id < other_lead_id, so a pair is proposed once.
CREATE TABLE lead_merge_proposals (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    lead_id INTEGER NOT NULL,
    other_lead_id INTEGER NOT NULL,
    phone TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    decided_by INTEGER
);
CREATE UNIQUE INDEX lead_merge_pairs ON lead_merge_proposals(workspace_id, lead_id, other_lead_id);
CREATE INDEX lead_merge_by_status ON lead_merge_proposals(workspace_id, status, id);
CREATE TABLE lead_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id),
    -- JSON array of the merchant's own 11-digit numbers.
    own_numbers TEXT NOT NULL DEFAULT '[]'
);
-- The latest enter-chat context of a conversation, for a lead it gives.
ALTER TABLE conversations ADD COLUMN entry_context TEXT;
