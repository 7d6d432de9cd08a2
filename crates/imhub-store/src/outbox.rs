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

/// How many leases in force one workspace, and one account, may hold at
/// once, across all nodes, while other workspaces have work. Leases over
/// the share are not taken, so a tenant whose receiver hangs cannot hold
/// every send slot while others wait. A workspace that is the only one with
/// work may use every slot but `reserve`, which stays free for the next
/// workspace that has something to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseShares {
    pub per_workspace: u32,
    pub per_account: u32,
    pub reserve: u32,
}

impl LeaseShares {
    /// No shares: the oldest due entries, whoever they belong to.
    pub const UNLIMITED: LeaseShares = LeaseShares {
        per_workspace: u32::MAX,
        per_account: u32::MAX,
        reserve: 0,
    };
}

/// Rounds of candidate selection per workspace and lease call: each round
/// excludes the accounts the previous one filled.
const FAIR_ROUNDS: usize = 4;

/// Turns the order in which workspaces are offered free slots, so that no
/// workspace is always first.
static ROTATION: AtomicU64 = AtomicU64::new(0);

/// Due, unleased entries that are the oldest of their conversation, oldest
/// first: `(id, account_id)`. Only the oldest entry of each conversation is
/// eligible, so messages to one conversation go out in the order they were
/// queued, even across retries and nodes.
fn candidates(
    db: &mut dyn Db,
    now: Timestamp,
    workspace: Option<i64>,
    skip_accounts: &[i64],
    skip_ids: &[i64],
    limit: i64,
    lock: &str,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut params: Vec<Value> = vec![now.millis().into(), limit.into()];
    let mut filter = String::new();
    if let Some(ws) = workspace {
        params.push(ws.into());
        filter.push_str(&format!(" AND o.workspace_id = ${}", params.len()));
    }
    for (column, list) in [("c.account_id", skip_accounts), ("o.id", skip_ids)] {
        if list.is_empty() {
            continue;
        }
        let start = params.len() + 1;
        let marks: Vec<String> = (start..start + list.len())
            .map(|i| format!("${i}"))
            .collect();
        filter.push_str(&format!(" AND {column} NOT IN ({})", marks.join(", ")));
        params.extend(list.iter().map(|&id| Value::from(id)));
    }
    // A suspended workspace's entries wait (operator.rs).
    let active = crate::operator::ACTIVE_WORKSPACES;
    db.query(
        &format!(
            "SELECT o.id, c.account_id FROM outbox o \
             JOIN conversations c ON c.id = o.conversation_id \
             WHERE o.due_at <= $1 AND (o.lease_until IS NULL OR o.lease_until < $1){filter} \
             AND o.workspace_id {active} \
             AND NOT EXISTS (SELECT 1 FROM outbox p \
               WHERE p.conversation_id = o.conversation_id AND p.id < o.id) \
             ORDER BY o.due_at, o.id LIMIT $2{lock}"
        ),
        &params,
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.int(1)?)))
    .collect()
}

/// The fair lease: each workspace with work is offered free slots in turn,
/// up to its share minus the leases it holds in force on every node; each
/// workspace's entries are read from its own index range, so another's
/// backlog is never scanned.
fn fair_ids(
    db: &mut dyn Db,
    now: Timestamp,
    limit: u32,
    shares: LeaseShares,
    lock: &str,
) -> Result<Vec<i64>, StoreError> {
    use std::collections::HashMap;

    // The workspaces that have entries at all, by a skip scan of the
    // (workspace_id, due_at, id) index: one probe per workspace.
    let mut workspaces: Vec<i64> = db
        .query(
            "WITH RECURSIVE w(id) AS ( \
               SELECT MIN(workspace_id) FROM outbox \
               UNION ALL \
               SELECT (SELECT MIN(workspace_id) FROM outbox WHERE workspace_id > w.id) \
               FROM w WHERE w.id IS NOT NULL) \
             SELECT id FROM w WHERE id IS NOT NULL",
            &[],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_, _>>()?;
    if let [alone] = workspaces[..] {
        // Nobody else has anything queued: no share applies, only the
        // reserve is kept free for whoever comes next.
        let limit = i64::from(limit.saturating_sub(shares.reserve));
        if limit == 0 {
            return Ok(Vec::new());
        }
        return Ok(candidates(db, now, Some(alone), &[], &[], limit, lock)?
            .into_iter()
            .map(|(id, _)| id)
            .collect());
    }
    // Leases in force per workspace and account, across every node. Only
    // leased rows are read (partial index): at most the slots in use.
    let mut busy_ws: HashMap<i64, u32> = HashMap::new();
    let mut busy_account: HashMap<i64, u32> = HashMap::new();
    for row in db.query(
        "SELECT o.workspace_id, c.account_id FROM outbox o \
         JOIN conversations c ON c.id = o.conversation_id \
         WHERE o.lease_until IS NOT NULL AND o.lease_until >= $1",
        &[now.millis().into()],
    )? {
        *busy_ws.entry(row.int(0)?).or_default() += 1;
        *busy_account.entry(row.int(1)?).or_default() += 1;
    }
    if !workspaces.is_empty() {
        let turn = ROTATION.fetch_add(1, Ordering::Relaxed) as usize % workspaces.len();
        workspaces.rotate_left(turn);
    }
    let mut ids: Vec<i64> = Vec::new();
    for ws in workspaces {
        let left = i64::from(limit) - ids.len() as i64;
        if left <= 0 {
            break;
        }
        let room = shares
            .per_workspace
            .saturating_sub(busy_ws.get(&ws).copied().unwrap_or(0));
        if room == 0 {
            continue;
        }
        let mut wanted = left.min(i64::from(room));
        let mut full_accounts: Vec<i64> = busy_account
            .iter()
            .filter(|&(_, &n)| n >= shares.per_account)
            .map(|(&account, _)| account)
            .collect();
        let mut taken_here: Vec<i64> = Vec::new();
        for _ in 0..FAIR_ROUNDS {
            if wanted <= 0 {
                break;
            }
            let found = candidates(db, now, Some(ws), &full_accounts, &taken_here, wanted, lock)?;
            let fetched = found.len() as i64;
            let mut skipped = false;
            for (id, account) in found {
                let in_account = busy_account.entry(account).or_default();
                if *in_account >= shares.per_account {
                    skipped = true;
                    if !full_accounts.contains(&account) {
                        full_accounts.push(account);
                    }
                    continue;
                }
                *in_account += 1;
                taken_here.push(id);
                wanted -= 1;
            }
            // Nothing held back, or nothing more to find: this round was the last.
            if !skipped || fetched == 0 {
                break;
            }
        }
        ids.extend(taken_here);
    }
    Ok(ids)
}

pub(crate) fn lease(
    db: &mut dyn Db,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
    shares: LeaseShares,
) -> Result<Vec<OutboxJob>, StoreError> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF o SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let ids: Vec<i64> = if shares == LeaseShares::UNLIMITED {
        candidates(db, now, None, &[], &[], i64::from(limit), lock)?
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    } else {
        fair_ids(db, now, limit, shares, lock)?
    };
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
            // A message that answers one event (an automatic welcome to an
            // enter-chat event) quotes that event's context, not the latest.
            "SELECT o.id, o.workspace_id, c.channel_id, c.account_id, o.op, o.attempts, \
               c.kind, a.external_id, c.peer_external_id, \
               COALESCE(m.reply_context, c.reply_context), \
               CASE WHEN m.reply_context IS NULL THEN c.last_inbound_at ELSE m.reply_to_at END, \
               o.message_id \
             FROM outbox o JOIN conversations c ON c.id = o.conversation_id \
             JOIN messages m ON m.id = o.message_id \
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
            crate::automation::delivered(db, job.workspace_id, &job.message, None)?;
            Ok(changed)
        }
        (OutboxOp::Send, OutboxResult::Failed { code, text }) => {
            db.execute(
                "UPDATE messages SET status = 'failed', error_code = $1, error_text = $2, \
                 updated_at = $3 WHERE id = $4 AND status IN ('queued', 'sending')",
                &[
                    code.clone().into(),
                    text.clone().into(),
                    now.into(),
                    message_id.into(),
                ],
            )?;
            crate::automation::delivered(db, job.workspace_id, &job.message, Some((&code, &text)))?;
            // Alerts (K3): a reply that failed for good.
            crate::alerts::reply_failed(
                db,
                job.workspace_id,
                &job.message,
                &code,
                &text,
                Timestamp(now),
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
        &format!(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at \
               THEN lease_until ELSE due_at END) FROM outbox WHERE workspace_id {}",
            crate::operator::ACTIVE_WORKSPACES
        ),
        &[],
    )?;
    Ok(row.opt_int(0)?.map(Timestamp))
}
