-- Team inbox (issue 12), notes and the library: private notes and their
-- mentions, workspace labels on conversations and contacts, quick replies
-- (话术), free-text notes about a contact, the agent who wrote a message.
ALTER TABLE messages ADD COLUMN author_id INTEGER;
ALTER TABLE contacts ADD COLUMN notes TEXT;
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE TABLE conversation_labels (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    label_id INTEGER NOT NULL REFERENCES labels(id),
    workspace_id INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, label_id)
);
CREATE INDEX conversation_labels_by_label ON conversation_labels(workspace_id, label_id, conversation_id);
CREATE TABLE contact_labels (
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    label_id INTEGER NOT NULL REFERENCES labels(id),
    workspace_id INTEGER NOT NULL,
    PRIMARY KEY (contact_id, label_id)
);
CREATE INDEX contact_labels_by_label ON contact_labels(label_id, contact_id);
-- owner_user_id NULL: shared by the workspace; else the agent's own.
CREATE TABLE quick_replies (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    owner_user_id INTEGER,
    folder TEXT NOT NULL,
    title TEXT NOT NULL,
    shortcut TEXT,
    text TEXT NOT NULL,
    content TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX quick_replies_by_workspace ON quick_replies(workspace_id, owner_user_id, folder, title, id);
CREATE UNIQUE INDEX quick_replies_by_shortcut ON quick_replies(workspace_id, COALESCE(owner_user_id, 0), shortcut)
    WHERE shortcut IS NOT NULL;
CREATE TABLE mentions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    user_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX mentions_by_user ON mentions(workspace_id, user_id, created_at DESC, message_id DESC);
CREATE INDEX mentions_unread ON mentions(workspace_id, user_id, conversation_id) WHERE read_at IS NULL;
CREATE INDEX conversations_by_contact ON conversations(contact_id, last_activity_at DESC, id DESC);
