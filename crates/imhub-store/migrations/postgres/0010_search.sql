-- Full-text search of message text (issue 12), substring semantics for
-- Chinese and English alike: a pg_trgm GIN index on `messages.search_text`.
--
-- `imhub_search_text` is the one rule for the text a message is found by
-- (the same rule as SQLite's migration): a text message's text; a file's
-- name; the title of a location, lead card or mini-program card; an order
-- card's title and order id; a custom message's description; nothing for
-- pictures, videos, voice, stickers, goods cards, and activity lines
-- (never searchable). Notes are indexed like replies; the query decides
-- who may see them.
--
-- pg_trgm builds trigrams of "word" characters as the database's LC_CTYPE
-- defines them: under a UTF-8 locale (C.UTF-8, en_US.UTF-8, zh_CN.UTF-8)
-- Chinese characters count; under `C`/`POSIX` they do not, and Chinese
-- searches still answer correctly, but by reading the whole index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE OR REPLACE FUNCTION imhub_search_text(direction TEXT, content TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN direction = 'activity' THEN NULL ELSE NULLIF(CASE j ->> 'type'
        WHEN 'text' THEN j ->> 'text'
        WHEN 'file' THEN j ->> 'name'
        WHEN 'location' THEN j ->> 'title'
        WHEN 'lead_card' THEN j ->> 'title'
        WHEN 'mini_program_card' THEN j ->> 'title'
        WHEN 'order_card' THEN trim(coalesce(j ->> 'title', '') || ' ' || coalesce(j ->> 'order_id', ''))
        WHEN 'custom' THEN j ->> 'description'
    END, '') END
    FROM (SELECT content::jsonb AS j) AS parsed
$$;
-- The part between the `search-index` markers is what `imhub_store::bench`
-- drops for the ingest benchmark's baseline and puts back afterwards.
-- search-index:begin
ALTER TABLE messages ADD COLUMN IF NOT EXISTS search_text TEXT
    GENERATED ALWAYS AS (imhub_search_text(direction, content)) STORED;
-- search-gin:begin (0020 replaced this index by messages_search_hours)
CREATE INDEX IF NOT EXISTS messages_search_trgm ON messages
    USING gin (search_text gin_trgm_ops) WHERE search_text IS NOT NULL;
-- search-gin:end
CREATE INDEX IF NOT EXISTS messages_by_workspace_time
    ON messages (workspace_id, created_at DESC, id DESC);
-- search-index:end
