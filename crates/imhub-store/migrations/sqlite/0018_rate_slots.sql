-- Send rate limits shared by nodes (rate_slots.rs). A SQLite database has
-- one node, which keeps its limits in memory; the table exists so that both
-- backends share one schema and the store's claims behave the same on each
-- (the conformance tests run them on both).
CREATE TABLE rate_slots (
    limit_key TEXT PRIMARY KEY,
    second BIGINT NOT NULL,
    used BIGINT NOT NULL,
    cap BIGINT NOT NULL,
    granted BIGINT NOT NULL
);
