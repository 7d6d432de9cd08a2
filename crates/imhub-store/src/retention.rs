//! Pruning by age: what imhub keeps only for a while (raw push bodies,
//! webhook delivery records, idempotency keys, expired sessions and OAuth
//! states), in small batches so the writer is never held for long.

use imhub_core::Timestamp;

use crate::{
    StoreError,
    db::{Db, Dialect},
};

/// How long each kind of record is kept, in milliseconds. Operator
/// configuration; `None` keeps that kind forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw push bodies and headers (the row and its status stay).
    pub raw_bodies_ms: Option<i64>,
    /// Outgoing-webhook delivery records that ended (delivered or failed).
    pub webhook_deliveries_ms: Option<i64>,
    /// Idempotency keys of API sends.
    pub idempotency_keys_ms: Option<i64>,
    /// OAuth states of the Douyin QR flow, past their expiry.
    pub oauth_states_ms: Option<i64>,
}

/// How many records one batch pruned, by kind. `locked_out` when another
/// node holds the pruning lock (PostgreSQL): it is doing this work now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub raw_bodies: u64,
    pub webhook_deliveries: u64,
    pub idempotency_keys: u64,
    pub sessions: u64,
    pub oauth_states: u64,
    pub locked_out: bool,
}

impl Pruned {
    /// Records pruned in all.
    pub fn total(&self) -> u64 {
        self.raw_bodies
            + self.webhook_deliveries
            + self.idempotency_keys
            + self.sessions
            + self.oauth_states
    }
}

/// The advisory lock that lets one node at a time prune on PostgreSQL.
const PRUNE_LOCK: i64 = 7262;

/// Prunes at most `batch` records of each kind that are older than the
/// policy allows at `now`. Call it again while it prunes a full batch.
pub(crate) fn prune(
    db: &mut dyn Db,
    policy: &RetentionPolicy,
    now: Timestamp,
    batch: u32,
) -> Result<Pruned, StoreError> {
    if db.dialect() == Dialect::Postgres {
        let locked = db
            .query_one(
                "SELECT CASE WHEN pg_try_advisory_xact_lock($1) THEN 1 ELSE 0 END",
                &[PRUNE_LOCK.into()],
            )?
            .int(0)?;
        if locked == 0 {
            return Ok(Pruned {
                locked_out: true,
                ..Pruned::default()
            });
        }
    }
    let batch = i64::from(batch.max(1));
    let before = |age: i64| now.millis().saturating_sub(age);
    let mut pruned = Pruned::default();
    if let Some(age) = policy.raw_bodies_ms {
        // The predicate repeats the partial index's, so the index is used.
        let (unpruned, empty) = match db.dialect() {
            Dialect::Sqlite => ("(length(body) > 0 OR request IS NOT NULL)", "x''"),
            Dialect::Postgres => (
                "(octet_length(body) > 0 OR request IS NOT NULL)",
                "''::bytea",
            ),
        };
        pruned.raw_bodies = db.execute(
            &format!(
                "UPDATE raw_events SET body = {empty}, request = NULL WHERE id IN \
                 (SELECT id FROM raw_events WHERE received_at < $1 AND {unpruned} \
                  ORDER BY received_at LIMIT $2)"
            ),
            &[before(age).into(), batch.into()],
        )?;
    }
    if let Some(age) = policy.webhook_deliveries_ms {
        for status in ["delivered", "failed"] {
            pruned.webhook_deliveries += db.execute(
                "DELETE FROM webhook_deliveries WHERE id IN \
                 (SELECT id FROM webhook_deliveries WHERE status = $1 AND due_at < $2 LIMIT $3)",
                &[status.into(), before(age).into(), batch.into()],
            )?;
        }
    }
    if let Some(age) = policy.idempotency_keys_ms {
        pruned.idempotency_keys = db.execute(
            "DELETE FROM idempotency_keys WHERE (workspace_id, key) IN \
             (SELECT workspace_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
            &[before(age).into(), batch.into()],
        )?;
    }
    pruned.sessions = db.execute(
        "DELETE FROM sessions WHERE token_hash IN \
         (SELECT token_hash FROM sessions WHERE expires_at < $1 LIMIT $2)",
        &[now.millis().into(), batch.into()],
    )?;
    if let Some(age) = policy.oauth_states_ms {
        pruned.oauth_states = db.execute(
            "DELETE FROM channel_state WHERE (channel_id, key) IN \
             (SELECT channel_id, key FROM channel_state \
              WHERE key LIKE 'douyin.oauth_state.%' AND updated_at < $1 LIMIT $2)",
            &[before(age).into(), batch.into()],
        )?;
    }
    Ok(pruned)
}
