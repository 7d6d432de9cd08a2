-- PostgreSQL's 0021 fills messages.search_text from the INSERT, as
-- SQLite's 0019 already does; nothing changes here (both backends keep
-- the same migration numbers).
SELECT 1;
