//! Durable timers: something that must happen at a time (a snooze ending;
//! later escalations and alert digests), written in the transaction that
//! decided it and leased like the outbox, so it happens once, on whichever
//! node takes it, as soon as any node is up after its time. A timer is
//! generic: a `kind`, an optional conversation and a JSON payload.

use std::sync::atomic::{AtomicU64, Ordering};

use imhub_core::{ConversationId, Timestamp, WorkspaceId};

use crate::{
    StoreError,
    db::{Db, Dialect, Row},
};

/// The kind of the timer that ends a snooze.
pub const SNOOZE_END: &str = "snooze_end";

/// Numbers this process's timer leases, so each lease has its own token.
static LEASES: AtomicU64 = AtomicU64::new(0);

/// A timer to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    /// What it is for (`snooze_end`, …); the engine dispatches on it.
    pub kind: String,
    pub conversation_id: Option<ConversationId>,
    pub due_at: Timestamp,
    pub payload: Option<serde_json::Value>,
}

/// A leased, due timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub kind: String,
    pub conversation_id: Option<ConversationId>,
    pub due_at: Timestamp,
    pub payload: Option<serde_json::Value>,
    /// This lease's own token: only its holder can complete the timer.
    pub lease: String,
}

pub(crate) fn schedule(
    db: &mut dyn Db,
    ws: WorkspaceId,
    timer: &NewTimer,
    now: Timestamp,
) -> Result<i64, StoreError> {
    db.query_one(
        "INSERT INTO timers (workspace_id, kind, conversation_id, due_at, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            ws.0.into(),
            timer.kind.clone().into(),
            timer.conversation_id.map(|c| c.0).into(),
            timer.due_at.millis().into(),
            timer.payload.as_ref().map(|p| p.to_string()).into(),
            now.millis().into(),
        ],
    )?
    .int(0)
}

/// Deletes a conversation's timers of a kind; returns how many.
pub(crate) fn cancel(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    kind: &str,
) -> Result<u64, StoreError> {
    db.execute(
        "DELETE FROM timers WHERE conversation_id = $1 AND kind = $2 AND workspace_id = $3",
        &[conversation.0.into(), kind.into(), ws.0.into()],
    )
}

fn timer(row: &Row, lease: String) -> Result<Timer, StoreError> {
    Ok(Timer {
        id: row.int(0)?,
        workspace_id: WorkspaceId(row.int(1)?),
        kind: row.text(2)?,
        conversation_id: row.opt_int(3)?.map(ConversationId),
        due_at: Timestamp(row.int(4)?),
        payload: row
            .opt_text(5)?
            .map(|t| serde_json::from_str(&t))
            .transpose()?,
        lease,
    })
}

/// Takes up to `limit` due timers whose lease (if any) ran out, oldest
/// first, for `lease_ms`. On PostgreSQL, rows another node is leasing at
/// this moment are skipped rather than waited for.
pub(crate) fn lease(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Result<Vec<Timer>, StoreError> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let rows = db.query(
        &format!(
            "SELECT id, workspace_id, kind, conversation_id, due_at, payload FROM timers \
             WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY due_at, id LIMIT $2{lock}"
        ),
        &[now.millis().into(), i64::from(limit.clamp(1, 500)).into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let lease = format!("{owner}#t{}", LEASES.fetch_add(1, Ordering::Relaxed));
        db.execute(
            "UPDATE timers SET lease_owner = $1, lease_until = $2 WHERE id = $3",
            &[
                lease.clone().into(),
                now.plus_millis(lease_ms).millis().into(),
                row.int(0)?.into(),
            ],
        )?;
        out.push(timer(&row, lease)?);
    }
    Ok(out)
}

/// Deletes a leased timer, in the transaction that does what it was for.
/// `false` when the lease was lost (it expired and another node took the
/// timer) or the timer was cancelled meanwhile: then nothing must be done.
pub(crate) fn take(db: &mut dyn Db, timer: &Timer) -> Result<bool, StoreError> {
    Ok(db.execute(
        "DELETE FROM timers WHERE id = $1 AND lease_owner = $2",
        &[timer.id.into(), timer.lease.clone().into()],
    )? == 1)
}

/// Gives a leased timer back, due again at `at` (its action failed).
pub(crate) fn postpone(db: &mut dyn Db, timer: &Timer, at: Timestamp) -> Result<(), StoreError> {
    db.execute(
        "UPDATE timers SET due_at = $1, lease_owner = NULL, lease_until = NULL \
         WHERE id = $2 AND lease_owner = $3",
        &[
            at.millis().into(),
            timer.id.into(),
            timer.lease.clone().into(),
        ],
    )?;
    Ok(())
}

/// When the next timer is due (or its lease runs out), to let the timer
/// engine sleep.
pub(crate) fn next_due(db: &mut dyn Db) -> Result<Option<Timestamp>, StoreError> {
    let row = db.query_one(
        "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at \
           THEN lease_until ELSE due_at END) FROM timers",
        &[],
    )?;
    Ok(row.opt_int(0)?.map(Timestamp))
}
