-- Full-text search of message text (issue 12), substring semantics for
-- Chinese and English alike: an FTS5 table with the trigram tokenizer.
--
-- `messages.search_text` is the text a message is found by, extracted from
-- its JSON content by one rule (the same rule as PostgreSQL's
-- `imhub_search_text`): a text message's text; a file's name; the title of
-- a location, lead card or mini-program card; an order card's title and
-- order id; a custom message's description; nothing for pictures, videos,
-- voice, stickers, goods cards, and activity lines (never searchable).
-- Notes are indexed like replies; the query decides who may see them.
--
-- The triggers below keep the column and the index up to date for every
-- writer; the part between the `search-index` markers is what
-- `imhub_store::bench` drops for the ingest benchmark's baseline and puts
-- back (with the `search-backfill` part) after a bulk load.
ALTER TABLE messages ADD COLUMN search_text TEXT;
-- Contentless: the text lives in `messages` only; rows are deleted by
-- rowid. The unindexed columns are kept in the index's own small table, so
-- a query filters and orders its matches without reading `messages`.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    search_text, workspace_id UNINDEXED, conversation_id UNINDEXED, created_at UNINDEXED,
    note UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1, tokenize = 'trigram'
);
-- search-backfill:begin
UPDATE messages SET search_text = CASE
    WHEN direction = 'activity' OR NOT json_valid(content) THEN NULL
    ELSE NULLIF(CASE content ->> '$.type'
        WHEN 'text' THEN content ->> '$.text'
        WHEN 'file' THEN content ->> '$.name'
        WHEN 'location' THEN content ->> '$.title'
        WHEN 'lead_card' THEN content ->> '$.title'
        WHEN 'mini_program_card' THEN content ->> '$.title'
        WHEN 'order_card' THEN trim(coalesce(content ->> '$.title', '') || ' ' ||
            coalesce(content ->> '$.order_id', ''))
        WHEN 'custom' THEN content ->> '$.description'
    END, '') END;
INSERT INTO messages_fts (rowid, search_text, workspace_id, conversation_id, created_at, note)
    SELECT id, search_text, workspace_id, conversation_id, created_at, direction = 'note'
    FROM messages WHERE search_text IS NOT NULL;
-- search-backfill:end
-- search-index:begin
CREATE INDEX IF NOT EXISTS messages_by_workspace_time
    ON messages (workspace_id, created_at DESC, id DESC);
CREATE TRIGGER IF NOT EXISTS messages_search_insert AFTER INSERT ON messages BEGIN
    UPDATE messages SET search_text = CASE
        WHEN NEW.direction = 'activity' OR NOT json_valid(NEW.content) THEN NULL
        ELSE NULLIF(CASE NEW.content ->> '$.type'
            WHEN 'text' THEN NEW.content ->> '$.text'
            WHEN 'file' THEN NEW.content ->> '$.name'
            WHEN 'location' THEN NEW.content ->> '$.title'
            WHEN 'lead_card' THEN NEW.content ->> '$.title'
            WHEN 'mini_program_card' THEN NEW.content ->> '$.title'
            WHEN 'order_card' THEN trim(coalesce(NEW.content ->> '$.title', '') || ' ' ||
                coalesce(NEW.content ->> '$.order_id', ''))
            WHEN 'custom' THEN NEW.content ->> '$.description'
        END, '') END
    WHERE id = NEW.id;
    INSERT INTO messages_fts (rowid, search_text, workspace_id, conversation_id, created_at, note)
        SELECT id, search_text, workspace_id, conversation_id, created_at, direction = 'note'
        FROM messages WHERE id = NEW.id AND search_text IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS messages_search_update AFTER UPDATE OF content, direction ON messages
BEGIN
    DELETE FROM messages_fts WHERE rowid = OLD.id AND OLD.search_text IS NOT NULL;
    UPDATE messages SET search_text = CASE
        WHEN NEW.direction = 'activity' OR NOT json_valid(NEW.content) THEN NULL
        ELSE NULLIF(CASE NEW.content ->> '$.type'
            WHEN 'text' THEN NEW.content ->> '$.text'
            WHEN 'file' THEN NEW.content ->> '$.name'
            WHEN 'location' THEN NEW.content ->> '$.title'
            WHEN 'lead_card' THEN NEW.content ->> '$.title'
            WHEN 'mini_program_card' THEN NEW.content ->> '$.title'
            WHEN 'order_card' THEN trim(coalesce(NEW.content ->> '$.title', '') || ' ' ||
                coalesce(NEW.content ->> '$.order_id', ''))
            WHEN 'custom' THEN NEW.content ->> '$.description'
        END, '') END
    WHERE id = NEW.id;
    INSERT INTO messages_fts (rowid, search_text, workspace_id, conversation_id, created_at, note)
        SELECT id, search_text, workspace_id, conversation_id, created_at, direction = 'note'
        FROM messages WHERE id = NEW.id AND search_text IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS messages_search_delete AFTER DELETE ON messages
    WHEN OLD.search_text IS NOT NULL
BEGIN
    DELETE FROM messages_fts WHERE rowid = OLD.id;
END;
-- search-index:end
