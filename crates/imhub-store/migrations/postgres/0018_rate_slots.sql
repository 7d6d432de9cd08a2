-- Send rate limits shared by every node (rate_slots.rs): one row per limit
-- key ('channel:12', 'account:7') counting the sends granted in the Unix
-- second `second`, on all nodes together. A claim for a later second
-- starts the count again, so the table never grows beyond one row per key.
-- UNLOGGED: a count matters only during its own second, so nothing here
-- needs to survive a database crash, and a claim's commit waits for no WAL
-- flush.
CREATE UNLOGGED TABLE rate_slots (
    limit_key TEXT PRIMARY KEY,
    second BIGINT NOT NULL,
    used BIGINT NOT NULL,
    cap BIGINT NOT NULL,
    granted BIGINT NOT NULL
);
