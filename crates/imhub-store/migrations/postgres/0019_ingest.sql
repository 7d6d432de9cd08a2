-- Ingest speed (issue 16). Nothing changes in the PostgreSQL schema; the
-- step exists so both backends keep the same migration numbers.
SELECT 1;
