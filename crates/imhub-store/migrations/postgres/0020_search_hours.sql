-- Search of older messages, hours at a time (issue 12).
--
-- 0010's GIN index gives every message a term matches, in all of time: a
-- term with thousands of matches had each one's heap row read (pg_trgm
-- must recheck), although a page needs the newest twenty. This index
-- adds a second column: each message's hour keys, one per level of
-- blocks of 1, 16, 256 and 4,096 hours, each key the workspace (2^24
-- keys each), the level (2^22 each) and the block of the message's time.
-- A search asks for the term AND a few blocks (`&&`), one index scan
-- intersects the two inside the index, and only the matches of those
-- hours are read from the heap. The expression is
-- `imhub_store::search::HOUR_KEYS_SQL`, word for word: PostgreSQL uses an
-- expression index only for the same expression.
--
-- Building it on an existing database reads every message once (ten
-- million messages: see BENCHMARKS.md, "Search").
DROP INDEX IF EXISTS messages_search_trgm;
-- The part between the `search-index` markers is what `imhub_store::bench`
-- drops for the ingest benchmark's baseline and puts back (with 0010's).
-- search-index:begin
CREATE INDEX IF NOT EXISTS messages_search_hours ON messages
    USING gin (search_text gin_trgm_ops, (ARRAY[workspace_id * 16777216 + created_at / 3600000,
     workspace_id * 16777216 + 4194304 + created_at / 57600000,
     workspace_id * 16777216 + 8388608 + created_at / 921600000,
     workspace_id * 16777216 + 12582912 + created_at / 14745600000]))
    WHERE search_text IS NOT NULL;
-- search-index:end
