-- Ingest speed (issue 16).
--
-- 1. A writer that knows a message's search text (ingest does:
--    `Content::search_text`, the same rule as 0010's SQL) puts it in the
--    message's INSERT; 0010's trigger wrote every row a second time to
--    fill the column. Writers that leave it NULL still get it filled by
--    the SQL rule (`messages_search_fill`), for the content types that
--    have text.
-- 2. The triggers queue the message's id instead of writing the FTS5 row:
--    the group commit writer indexes the queue once per transaction,
--    after the last job's savepoint (FTS5 writes its pending terms out as
--    a new segment at every savepoint, which was once per push).
--
-- The part between the `search-index` markers is what `imhub_store::bench`
-- drops for the ingest benchmark's baseline and puts back.
CREATE TABLE IF NOT EXISTS messages_fts_queue (id INTEGER PRIMARY KEY);
DROP TRIGGER IF EXISTS messages_search_insert;
DROP TRIGGER IF EXISTS messages_search_update;
-- search-index:begin
CREATE TRIGGER IF NOT EXISTS messages_search_insert AFTER INSERT ON messages
    WHEN NEW.search_text IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO messages_fts_queue (id) VALUES (NEW.id);
END;
CREATE TRIGGER IF NOT EXISTS messages_search_fill AFTER INSERT ON messages
    WHEN NEW.search_text IS NULL AND NEW.direction <> 'activity' AND json_valid(NEW.content)
        AND NEW.content ->> '$.type' IN ('text', 'file', 'location', 'lead_card',
            'mini_program_card', 'order_card', 'custom')
BEGIN
    UPDATE messages SET search_text = NULLIF(CASE NEW.content ->> '$.type'
            WHEN 'text' THEN NEW.content ->> '$.text'
            WHEN 'file' THEN NEW.content ->> '$.name'
            WHEN 'location' THEN NEW.content ->> '$.title'
            WHEN 'lead_card' THEN NEW.content ->> '$.title'
            WHEN 'mini_program_card' THEN NEW.content ->> '$.title'
            WHEN 'order_card' THEN trim(coalesce(NEW.content ->> '$.title', '') || ' ' ||
                coalesce(NEW.content ->> '$.order_id', ''))
            WHEN 'custom' THEN NEW.content ->> '$.description'
        END, '')
    WHERE id = NEW.id;
    INSERT OR IGNORE INTO messages_fts_queue (id) VALUES (NEW.id);
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
    INSERT OR IGNORE INTO messages_fts_queue (id) VALUES (NEW.id);
END;
-- search-index:end
