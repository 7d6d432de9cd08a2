-- Messages an agent wrote, found quickly when the agent is deleted (their
-- authorship is cleared so a later user never inherits it). Partial: the
-- customers' messages, nearly all rows, have no author and cost nothing.
CREATE INDEX messages_by_author ON messages(workspace_id, author_id) WHERE author_id IS NOT NULL;
