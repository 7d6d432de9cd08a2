-- Search of older messages, hour by hour (issue 12).
--
-- 0010's GIN index gives every message a term matches, in all of time: a
-- term with thousands of matches had each one's heap row read (pg_trgm
-- must recheck), even though a page needs the newest twenty. This index
-- adds a second key per message, its workspace and hour
-- (`workspace_id * 16777216 + created_at / 3600000`, the same expression
-- `imhub_store::search` asks with; btree_gin gives GIN its integer
-- operators), so one index scan ANDs the term's trigrams with a range of
-- the workspace's hours inside the index and only the matches of those
-- hours are read from the heap. Queries without the hours (nothing in
-- imhub asks so) still use the trigrams alone.
--
-- Building it on an existing database reads every message once; on ten
-- million messages that took about N minutes (see BENCHMARKS.md).
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX IF EXISTS messages_search_trgm;
-- The part between the `search-index` markers is what `imhub_store::bench`
-- drops for the ingest benchmark's baseline and puts back (with 0010's).
-- search-index:begin
CREATE INDEX IF NOT EXISTS messages_search_hours ON messages
    USING gin (search_text gin_trgm_ops, (workspace_id * 16777216 + created_at / 3600000))
    WHERE search_text IS NOT NULL;
-- search-index:end
