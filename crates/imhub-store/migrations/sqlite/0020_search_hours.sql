-- Search of older messages, hour by hour (issue 12): PostgreSQL's GIN
-- index gains each message's hour keys. SQLite's FTS5 table
-- already keeps each match's workspace and time, so nothing changes here;
-- the step exists so both backends keep the same migration numbers.
SELECT 1;
