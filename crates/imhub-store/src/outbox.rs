//! The durable outbox: what the delivery engine must still do, with leases
//! so a crashed node's work is taken over and no entry runs twice at once.

use std::sync::atomic::{AtomicU64, Ordering};

use imhub_core::{
    AccountId, ChannelId, ConversationId, ConversationKind, MessageId, OutboundTarget, Timestamp,
    WorkspaceId,
};

use crate::{
    Change, OutboxJob, OutboxOp, OutboxResult, StoreError,
    db::{Db, Dialect, Value},
    rows::message,
};

/// Numbers this process's leases, so each lease has its own token.
static LEASES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn insert(
    db: &mut dyn Db,
    ws: WorkspaceId,
    message: MessageId,
    conversation: ConversationId,
    op: OutboxOp,
    due: Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO outbox (workspace_id, message_id, conversation_id, op, due_at, attempts, \
           created_at) VALUES ($1, $2, $3, $4, $5, 0, $5)",
        &[
            ws.0.into(),
            message.0.into(),
            conversation.0.into(),
            op.as_str().into(),
            due.millis().into(),
        ],
    )?;
    Ok(())
}

pub(crate) fn lease(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Result<Vec<OutboxJob>, StoreError> {
    // Only the oldest entry of each conversation is eligible, so messages to
    // one conversation go out in the order they were queued, even across
    // retries and nodes.
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF o SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let ids: Vec<i64> = db
        .query(
            &format!(
                "SELECT o.id FROM outbox o \
                 WHERE o.due_at <= $1 AND (o.lease_until IS NULL OR o.lease_until < $1) \
                 AND NOT EXISTS (SELECT 1 FROM outbox p \
                   WHERE p.conversation_id = o.conversation_id AND p.id < o.id) \
                 ORDER BY o.due_at, o.id LIMIT $2{lock}"
            ),
            &[now.millis().into(), i64::from(limit).into()],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_, _>>()?;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        let lease = format!("{owner}#{}", LEASES.fetch_add(1, Ordering::Relaxed));
        db.execute(
            "UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE id = $3",
            &[
                lease.clone().into(),
                (now.millis() + lease_ms).into(),
                id.into(),
            ],
        )?;
        let row = db.query_one(
            "SELECT o.id, o.workspace_id, c.channel_id, c.account_id, o.op, o.attempts, \
               c.kind, a.external_id, c.peer_external_id, c.reply_context, c.last_inbound_at, \
               o.message_id \
             FROM outbox o JOIN conversations c ON c.id = o.conversation_id \
             JOIN accounts a ON a.id = c.account_id WHERE o.id = $1",
            &[id.into()],
        )?;
        let op = row.text(4)?;
        let op = OutboxOp::parse(&op)
            .ok_or_else(|| StoreError::Database(format!("unknown outbox op {op:?}")))?;
        let kind = row.text(6)?;
        let message_id = row.int(11)?;
        if op == OutboxOp::Send {
            db.execute(
                "UPDATE messages SET status = 'sending' WHERE id = $1 AND status = 'queued'",
                &[message_id.into()],
            )?;
        }
        let msg = message(&db.query_one(
            &format!(
                "SELECT {} FROM messages WHERE id = $1",
                crate::rows::MESSAGE_COLUMNS
            ),
            &[message_id.into()],
        )?)?;
        jobs.push(OutboxJob {
            id: row.int(0)?,
            workspace_id: WorkspaceId(row.int(1)?),
            channel_id: ChannelId(row.int(2)?),
            account_id: AccountId(row.int(3)?),
            op,
            attempts: row.int(5)?,
            lease,
            message: msg,
            target: OutboundTarget {
                kind: ConversationKind::parse(&kind)
                    .ok_or_else(|| StoreError::Database(format!("unknown kind {kind:?}")))?,
                account_external_id: row.text(7)?,
                peer_external_id: row.text(8)?,
                reply_context: row
                    .opt_text(9)?
                    .map(|t| serde_json::from_str(&t))
                    .transpose()?,
                last_inbound_at: row.opt_int(10)?.map(Timestamp),
            },
        });
    }
    Ok(jobs)
}

pub(crate) fn complete(
    db: &mut dyn Db,
    job: &OutboxJob,
    result: OutboxResult,
) -> Result<Vec<Change>, StoreError> {
    let now = Timestamp::now().millis();
    let held: [Value; 2] = [job.id.into(), job.lease.clone().into()];
    let message_id = job.message.id.0;
    let changed = vec![Change::MessageUpdated {
        workspace_id: job.workspace_id,
        conversation_id: job.message.conversation_id,
        message_id: job.message.id,
    }];
    if let OutboxResult::Defer { at } = &result {
        let n = db.execute(
            "UPDATE outbox SET due_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3",
            &[at.millis().into(), held[0].clone(), held[1].clone()],
        )?;
        return lease_check(n).map(|()| Vec::new());
    }
    if let OutboxResult::Retry { at, error } = &result {
        let n = db.execute(
            "UPDATE outbox SET due_at = $1, attempts = attempts + 1, last_error = $2, \
             lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
            &[
                at.millis().into(),
                error.clone().into(),
                held[0].clone(),
                held[1].clone(),
            ],
        )?;
        return lease_check(n).map(|()| Vec::new());
    }
    let n = db.execute(
        "DELETE FROM outbox WHERE id = $1 AND lease_owner = $2",
        &held,
    )?;
    lease_check(n)?;
    match (job.op, result) {
        (
            OutboxOp::Send,
            OutboxResult::Done {
                platform_message_id,
            },
        ) => {
            db.execute(
                "UPDATE messages SET status = 'sent', updated_at = $1 \
                 WHERE id = $2 AND status IN ('queued', 'sending')",
                &[now.into(), message_id.into()],
            )?;
            if let Some(pid) = platform_message_id {
                adopt_platform_id(db, message_id, job.message.conversation_id.0, &pid)?;
            }
            Ok(changed)
        }
        (OutboxOp::Send, OutboxResult::Failed { code, text }) => {
            db.execute(
                "UPDATE messages SET status = 'failed', error_code = $1, error_text = $2, \
                 updated_at = $3 WHERE id = $4 AND status IN ('queued', 'sending')",
                &[code.into(), text.into(), now.into(), message_id.into()],
            )?;
            Ok(changed)
        }
        (OutboxOp::Recall, OutboxResult::Done { .. }) => {
            db.execute(
                "UPDATE messages SET status = 'recalled', updated_at = $1 \
                 WHERE id = $2 AND status IN ('sent', 'delivered', 'read')",
                &[now.into(), message_id.into()],
            )?;
            Ok(changed)
        }
        (OutboxOp::Recall, OutboxResult::Failed { code, text }) => {
            tracing::warn!(message = message_id, %code, %text, "recall failed for good");
            Ok(Vec::new())
        }
        _ => Ok(Vec::new()),
    }
}

/// Gives a sent message the platform's id. The platform may have pushed an
/// echo of this very send first (stored as a message written from the
/// platform's app, holding the id): the echo is then dropped, so the chat
/// shows the message once and it can still be recalled by its id.
fn adopt_platform_id(
    db: &mut dyn Db,
    message_id: i64,
    conversation_id: i64,
    pid: &str,
) -> Result<(), StoreError> {
    let echo = db.query_opt(
        "SELECT e.id FROM messages e JOIN messages m ON m.channel_id = e.channel_id \
         WHERE m.id = $1 AND e.platform_message_id = $2 AND e.id <> $1 AND e.direction = 'out' \
         AND e.conversation_id = $3",
        &[message_id.into(), pid.into(), conversation_id.into()],
    )?;
    if let Some(echo) = echo {
        let echo = echo.int(0)?;
        db.execute("DELETE FROM messages WHERE id = $1", &[echo.into()])?;
        db.execute(
            "UPDATE conversations SET last_message_id = $1 WHERE id = $2 AND last_message_id = $3",
            &[message_id.into(), conversation_id.into(), echo.into()],
        )?;
    }
    // Where another message (not an echo of ours) holds the id, keep it there.
    db.execute(
        "UPDATE messages SET platform_message_id = $1 WHERE id = $2 AND NOT EXISTS \
         (SELECT 1 FROM messages e WHERE e.channel_id = messages.channel_id \
          AND e.platform_message_id = $1)",
        &[pid.into(), message_id.into()],
    )?;
    Ok(())
}

fn lease_check(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::Conflict(
            "the outbox lease expired and another worker took the entry over".into(),
        ))
    } else {
        Ok(())
    }
}

/// Frees every lease of `owner` (its tokens are `{owner}#{n}`).
pub(crate) fn release_leases(db: &mut dyn Db, owner: &str) -> Result<u64, StoreError> {
    db.execute(
        "UPDATE outbox SET lease_owner = NULL, lease_until = NULL \
         WHERE substr(lease_owner, 1, length($1) + 1) = $1 || '#'",
        &[owner.into()],
    )
}

pub(crate) fn next_due(db: &mut dyn Db) -> Result<Option<Timestamp>, StoreError> {
    let row = db.query_one(
        "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at \
           THEN lease_until ELSE due_at END) FROM outbox",
        &[],
    )?;
    Ok(row.opt_int(0)?.map(Timestamp))
}
