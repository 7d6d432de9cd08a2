//! The team inbox's store logic: assignment (by hand and automatic),
//! availability and presence, status with snooze, and the activity lines
//! each change leaves in the timeline.
//!
//! Auto-assignment decisions are made by the pure functions of
//! [`imhub_core::assignment`]; this module gathers their inputs and applies
//! their outcome inside the caller's transaction. On PostgreSQL several
//! writers (and nodes) run such transactions at once, so the rows a
//! decision reads are locked first, always in the same order, which keeps
//! two writers from assigning one conversation twice or pushing an agent
//! over capacity, and keeps them from deadlocking each other:
//!
//! 1. conversation rows: the conversation a push or a status change is
//!    about (locked by its own update), or the queue, taken with
//!    `SKIP LOCKED` so a conversation another writer holds is left to it;
//! 2. `account_assignment` rows, in account id order;
//! 3. the candidate agents' `users` rows, in id order; their load is
//!    counted only after the lock is held, so it includes every committed
//!    assignment.
//!
//! A conversation is assigned by a conditional update (`WHERE assignee_id
//! IS NULL`) as well, so even a writer that skipped a lock cannot assign it
//! a second time. SQLite has one writer; its locks are implied.

use std::collections::HashMap;

use imhub_core::{
    AccountId, Availability, ContactId, Content, ConversationId, ConversationStatus, MessageId,
    Role, Timestamp, UserId, WorkspaceId,
    assignment::{self, Candidate, Pool, Waiting},
};
use serde_json::{Value, json};

use crate::{
    Change, StoreError,
    db::{Db, Dialect},
    timers,
};

/// Who is changing an assignment, for the role rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The session user; `None` for API tokens.
    pub user_id: Option<UserId>,
    pub role: Role,
}

/// An account's auto-assignment settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AccountAssignment {
    /// Whether new and unassigned conversations of the account are given
    /// to its agents round-robin.
    pub auto_assign: bool,
    /// The agents who take the account's conversations; empty: every
    /// agent of the workspace.
    #[schema(value_type = Vec<i64>)]
    pub agent_ids: Vec<UserId>,
}

/// The workspace's team settings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct TeamSettings {
    /// When an agent goes away or offline, their open conversations that
    /// wait for an answer return to the queue (`false`: they stay).
    pub requeue_on_away: bool,
    /// An agent without a live inbox connection for this long is set offline.
    #[schema(minimum = 1, maximum = 1440)]
    pub offline_after_minutes: u32,
}

impl Default for TeamSettings {
    fn default() -> Self {
        TeamSettings {
            requeue_on_away: true,
            offline_after_minutes: 5,
        }
    }
}

/// Longest `offline_after_minutes` (a day).
pub const MAX_OFFLINE_AFTER_MINUTES: u32 = 1440;

/// Largest capacity an agent may be given.
pub const MAX_CAPACITY: u32 = 1000;

/// How far ahead a snooze may be set (a year).
pub const MAX_SNOOZE_MS: i64 = 366 * 86_400_000;

/// An agent as the team sees them: who is online and how busy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AgentInfo {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub availability: Availability,
    /// Most open conversations auto-assignment gives the agent.
    pub capacity: u32,
    /// Open (not resolved) conversations assigned to the agent now.
    pub open_assigned: u32,
    /// When the agent's inbox was last connected, to about 30 seconds.
    pub last_seen_at: Option<Timestamp>,
}

/// A status change: `snoozed_until` only (and always) with `Snoozed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub status: ConversationStatus,
    pub snoozed_until: Option<Timestamp>,
}

/// The chat list's live counts (open and pending conversations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ConversationCounts {
    /// Assigned to the caller.
    pub mine: u64,
    pub unassigned: u64,
    pub all: u64,
    /// The caller's unread mentions.
    pub mentions: u64,
}

fn refused(code: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Refused {
        code,
        detail: detail.into(),
    }
}

/// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (one writer).
fn for_update(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

/// `$start, $start+1, …` for `n` values.
fn marks(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// What a decision needs to know about one conversation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConversationState {
    pub id: ConversationId,
    pub account_id: AccountId,
    pub channel_id: i64,
    pub contact_id: Option<ContactId>,
    pub status: ConversationStatus,
    pub assignee_id: Option<UserId>,
    pub snoozed_until: Option<Timestamp>,
}

/// The columns [`ConversationState::from_row`] reads, in its order.
pub(crate) const STATE_COLUMNS: &str =
    "id, account_id, channel_id, contact_id, status, assignee_id, snoozed_until";

/// Reads (and on PostgreSQL locks) a conversation of the workspace.
pub(crate) fn lock_conversation(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
) -> Result<ConversationState, StoreError> {
    let lock = for_update(db);
    let row = db.query_one(
        &format!(
            "SELECT {STATE_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2{lock}"
        ),
        &[id.0.into(), ws.0.into()],
    )?;
    ConversationState::from_row(&row)
}

impl ConversationState {
    /// A row of [`STATE_COLUMNS`].
    pub(crate) fn from_row(row: &crate::db::Row) -> Result<Self, StoreError> {
        let status = row.text(4)?;
        Ok(ConversationState {
            id: ConversationId(row.int(0)?),
            account_id: AccountId(row.int(1)?),
            channel_id: row.int(2)?,
            contact_id: row.opt_int(3)?.map(ContactId),
            status: ConversationStatus::parse(&status)
                .ok_or_else(|| StoreError::Database(format!("unknown status {status:?}")))?,
            assignee_id: row.opt_int(5)?.map(UserId),
            snoozed_until: row.opt_int(6)?.map(Timestamp),
        })
    }
}

/// `{"id": .., "name": ..}` of a user, or `null` (the system, or a user
/// deleted since).
fn person(db: &mut dyn Db, user: Option<UserId>) -> Result<Value, StoreError> {
    let Some(id) = user else {
        return Ok(Value::Null);
    };
    Ok(
        match db.query_opt("SELECT name FROM users WHERE id = $1", &[id.0.into()])? {
            Some(row) => json!({"id": id, "name": row.text(0)?}),
            None => Value::Null,
        },
    )
}

/// Writes an activity line: a timeline entry agents see ("小李 把会话分配给
/// 小王"), never delivered, never a `message.created`, never counted as
/// unread or shown as the last message.
pub(crate) fn activity_line(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    channel_id: i64,
    data: Value,
    now: Timestamp,
) -> Result<MessageId, StoreError> {
    let content = Content::Custom {
        data,
        description: None,
    };
    Ok(MessageId(
        db.query_one(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, content, \
               status, created_at, updated_at) \
             VALUES ($1, $2, $3, 'activity', $4, 'sent', $5, $5) RETURNING id",
            &[
                ws.0.into(),
                conversation.0.into(),
                channel_id.into(),
                serde_json::to_string(&content)?.into(),
                now.millis().into(),
            ],
        )?
        .int(0)?,
    ))
}

/// Records a new assignee (or none), with the activity line, the customer's
/// last agent and the change. `only_if_free` makes the update conditional
/// on the conversation still being unassigned (auto-assignment); returns
/// no changes when it no longer is.
fn apply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conv: &ConversationState,
    to: Option<UserId>,
    by: Option<UserId>,
    only_if_free: bool,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    // Unassigned by hand, an auto-assigning account's conversation waits in
    // the queue again; assigned, it waits no more.
    let waiting = match to {
        Some(_) => None,
        None if conv.status == ConversationStatus::Open
            || conv.status == ConversationStatus::Pending =>
        {
            auto_assign_pool(db, conv.account_id)?.map(|_| now.millis())
        }
        None => None,
    };
    let guard = if only_if_free {
        " AND assignee_id IS NULL"
    } else {
        ""
    };
    let n = db.execute(
        &format!(
            "UPDATE conversations SET assignee_id = $1, assigned_at = $2, waiting_since = $3 \
             WHERE id = $4{guard}"
        ),
        &[
            to.map(|u| u.0).into(),
            to.map(|_| now.millis()).into(),
            waiting.into(),
            conv.id.0.into(),
        ],
    )?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if let (Some(agent), Some(contact)) = (to, conv.contact_id) {
        db.execute(
            "UPDATE contacts SET last_agent_id = $1 WHERE id = $2",
            &[agent.0.into(), contact.0.into()],
        )?;
    }
    let data = json!({
        "activity": "assigned",
        "by": person(db, by)?,
        "from": person(db, conv.assignee_id)?,
        "to": person(db, to)?,
    });
    activity_line(db, ws, conv.id, conv.channel_id, data, now)?;
    Ok(vec![Change::ConversationAssigned {
        workspace_id: ws,
        conversation_id: conv.id,
        assignee_id: to,
        by,
    }])
}

/// The account's pool when auto-assignment is on for it: `Some(None)` for
/// every agent of the workspace, `Some(Some(ids))` for those agents.
pub(crate) fn auto_assign_pool(
    db: &mut dyn Db,
    account: AccountId,
) -> Result<Option<Option<Vec<UserId>>>, StoreError> {
    let row = db.query_opt(
        // A disabled account (the console, C) assigns nothing automatically.
        "SELECT agent_ids FROM account_assignment WHERE account_id = $1 AND auto_assign = 1 \
         AND NOT EXISTS (SELECT 1 FROM accounts d \
           WHERE d.id = account_assignment.account_id AND d.disabled_at IS NOT NULL)",
        &[account.0.into()],
    )?;
    row.map(|r| r.text(0).map(|ids| parse_ids(&ids)))
        .transpose()
}

fn parse_ids(text: &str) -> Option<Vec<UserId>> {
    let ids: Vec<UserId> = text
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .map(UserId)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// The online, enabled agents of the workspace (of `only`, when given),
/// locked, with their load counted after the lock.
fn candidates(
    db: &mut dyn Db,
    ws: WorkspaceId,
    only: Option<&[UserId]>,
) -> Result<Vec<Candidate>, StoreError> {
    let lock = for_update(db);
    let mut params = vec![ws.0.into()];
    let mut filter = String::new();
    if let Some(ids) = only {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        filter = format!(" AND id IN ({})", marks(2, ids.len()));
        params.extend(ids.iter().map(|u| u.0.into()));
    }
    let rows = db.query(
        &format!(
            "SELECT id, capacity FROM users WHERE workspace_id = $1 AND disabled_at IS NULL \
             AND availability = 'online'{filter} ORDER BY id{lock}"
        ),
        &params,
    )?;
    let mut agents: Vec<Candidate> = rows
        .iter()
        .map(|r| {
            Ok(Candidate {
                id: UserId(r.int(0)?),
                availability: Availability::Online,
                load: 0,
                capacity: count(r.int(1)?),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    if agents.is_empty() {
        return Ok(agents);
    }
    let ids: Vec<_> = agents.iter().map(|a| a.id.0.into()).collect();
    let loads = db.query(
        &format!(
            "SELECT assignee_id, COUNT(*) FROM conversations WHERE assignee_id IN ({}) \
             AND status <> 'resolved' GROUP BY assignee_id",
            marks(1, ids.len())
        ),
        &ids,
    )?;
    for row in loads {
        let (id, n) = (UserId(row.int(0)?), row.int(1)?);
        if let Some(a) = agents.iter_mut().find(|a| a.id == id) {
            a.load = count(n);
        }
    }
    Ok(agents)
}

/// The customer's last agent, for sticky assignment.
fn sticky_agent(db: &mut dyn Db, contact: Option<ContactId>) -> Result<Option<UserId>, StoreError> {
    let Some(contact) = contact else {
        return Ok(None);
    };
    Ok(db
        .query_opt(
            "SELECT last_agent_id FROM contacts WHERE id = $1",
            &[contact.0.into()],
        )?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten()
        .map(UserId))
}

/// Offers one unassigned conversation to auto-assignment (a customer wrote,
/// a chat opened, a snooze ended): the chosen agent gets it, or it waits in
/// the queue. Nothing happens unless `pool` (the account's, when it
/// auto-assigns) is given.
pub(crate) fn offer(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conv: &ConversationState,
    pool: Option<&Option<Vec<UserId>>>,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    if pool.is_none()
        || conv.assignee_id.is_some()
        || !matches!(
            conv.status,
            ConversationStatus::Open | ConversationStatus::Pending
        )
    {
        return Ok(Vec::new());
    }
    let lock = for_update(db);
    // Read the pool again under the lock: the cursor must be the one the
    // last committed decision left.
    let Some(row) = db.query_opt(
        &format!(
            "SELECT agent_ids, rr_cursor FROM account_assignment \
             WHERE account_id = $1 AND auto_assign = 1 AND NOT EXISTS (SELECT 1 FROM accounts d \
               WHERE d.id = account_assignment.account_id AND d.disabled_at IS NOT NULL){lock}"
        ),
        &[conv.account_id.0.into()],
    )?
    else {
        return Ok(Vec::new());
    };
    let only = parse_ids(&row.text(0)?);
    let cursor = Some(row.int(1)?).filter(|c| *c > 0).map(UserId);
    let agents = candidates(db, ws, only.as_deref())?;
    let sticky = sticky_agent(db, conv.contact_id)?;
    match assignment::choose(&agents, cursor, sticky) {
        Some(agent) => {
            let changes = apply(db, ws, conv, Some(agent), None, true, now)?;
            if !changes.is_empty() && Some(agent) != sticky {
                db.execute(
                    "UPDATE account_assignment SET rr_cursor = $1 WHERE account_id = $2",
                    &[agent.0.into(), conv.account_id.0.into()],
                )?;
            }
            Ok(changes)
        }
        None => {
            db.execute(
                "UPDATE conversations SET waiting_since = COALESCE(waiting_since, $1) \
                 WHERE id = $2 AND assignee_id IS NULL",
                &[now.millis().into(), conv.id.0.into()],
            )?;
            Ok(Vec::new())
        }
    }
}

/// Offers an unassigned conversation to every online agent of the
/// workspace below capacity (sticky first), for an automation rule's
/// "assign auto" on an account that does not auto-assign; nothing when
/// nobody is free (it does not join the queue).
pub(crate) fn offer_all(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conv: &ConversationState,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    if conv.assignee_id.is_some() {
        return Ok(Vec::new());
    }
    let agents = candidates(db, ws, None)?;
    let sticky = sticky_agent(db, conv.contact_id)?;
    match assignment::choose(&agents, None, sticky) {
        Some(agent) => apply(db, ws, conv, Some(agent), None, true, now),
        None => Ok(Vec::new()),
    }
}

/// Most queued conversations one drain looks at.
const DRAIN_BATCH: i64 = 500;

/// Hands the workspace's queue, longest-waiting first, to agents who can
/// take more: after an agent came online, resolved a chat, got a larger
/// capacity, or an account turned auto-assignment on. `exclude` keeps a
/// conversation from going straight back to the agent who gave it up.
pub(crate) fn drain(
    db: &mut dyn Db,
    ws: WorkspaceId,
    exclude: Option<(ConversationId, UserId)>,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    let skip_locked = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF c SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let queue = db.query(
        &format!(
            "SELECT c.id, c.account_id, ct.last_agent_id FROM conversations c \
             LEFT JOIN contacts ct ON ct.id = c.contact_id \
             WHERE c.workspace_id = $1 AND c.waiting_since IS NOT NULL \
               AND c.assignee_id IS NULL AND c.status IN ('open', 'pending') \
             ORDER BY c.waiting_since, c.id LIMIT $2{skip_locked}"
        ),
        &[ws.0.into(), DRAIN_BATCH.into()],
    )?;
    if queue.is_empty() {
        return Ok(Vec::new());
    }
    let queue: Vec<Waiting> = queue
        .iter()
        .map(|r| {
            let conversation = ConversationId(r.int(0)?);
            Ok(Waiting {
                conversation,
                account: AccountId(r.int(1)?),
                sticky: r.opt_int(2)?.map(UserId),
                exclude: exclude
                    .filter(|(c, _)| *c == conversation)
                    .map(|(_, agent)| agent),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let lock = for_update(db);
    let mut pools: HashMap<AccountId, Pool> = HashMap::new();
    for row in db.query(
        &format!(
            "SELECT account_id, agent_ids, rr_cursor FROM account_assignment \
             WHERE workspace_id = $1 AND auto_assign = 1 AND NOT EXISTS (SELECT 1 FROM accounts d \
               WHERE d.id = account_assignment.account_id AND d.disabled_at IS NOT NULL) \
             ORDER BY account_id{lock}"
        ),
        &[ws.0.into()],
    )? {
        pools.insert(
            AccountId(row.int(0)?),
            Pool {
                agents: parse_ids(&row.text(1)?),
                cursor: Some(row.int(2)?).filter(|c| *c > 0).map(UserId),
            },
        );
    }
    if pools.is_empty() {
        return Ok(Vec::new());
    }
    let agents = candidates(db, ws, None)?;
    if agents.is_empty() {
        return Ok(Vec::new());
    }
    let plan = assignment::drain(&queue, &agents, &pools);
    let mut changes = Vec::new();
    for (conversation, agent) in plan.assignments {
        let conv = lock_conversation(db, ws, conversation)?;
        changes.extend(apply(db, ws, &conv, Some(agent), None, true, now)?);
    }
    for (account, agent) in plan.cursors {
        db.execute(
            "UPDATE account_assignment SET rr_cursor = $1 WHERE account_id = $2",
            &[agent.0.into(), account.0.into()],
        )?;
    }
    Ok(changes)
}

/// Locks the workspace's auto-assigning accounts before an agent's row is
/// changed, keeping the lock order of the module documentation.
fn lock_pools(db: &mut dyn Db, ws: WorkspaceId) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.query(
            "SELECT account_id FROM account_assignment WHERE workspace_id = $1 \
             AND auto_assign = 1 ORDER BY account_id FOR UPDATE",
            &[ws.0.into()],
        )?;
    }
    Ok(())
}

/// An enabled agent of the workspace, or the refusal saying why not.
fn check_agent(db: &mut dyn Db, ws: WorkspaceId, id: UserId) -> Result<(), StoreError> {
    match db.query_opt(
        "SELECT disabled_at FROM users WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )? {
        None => Err(refused(
            "unknown_agent",
            format!("no agent {id} in this workspace"),
        )),
        Some(row) if row.opt_int(0)?.is_some() => {
            Err(refused("agent_disabled", format!("agent {id} is disabled")))
        }
        Some(_) => Ok(()),
    }
}

/// Assigns a conversation to an agent, or unassigns it (`None`), by hand.
/// Admins may assign anyone; agents may take a conversation that is free
/// or theirs, and give up their own.
pub(crate) fn assign(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
    to: Option<UserId>,
    actor: Actor,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    let conv = lock_conversation(db, ws, id)?;
    if actor.role != Role::Admin {
        let Some(me) = actor.user_id else {
            return Err(refused(
                "needs_user",
                "an agent's API token has no user to assign to; sign in, or use an admin token",
            ));
        };
        let mine_or_free = conv.assignee_id.is_none() || conv.assignee_id == Some(me);
        if !(mine_or_free && (to.is_none() || to == Some(me))) {
            return Err(refused(
                "forbidden",
                "agents may only take a conversation that is free or theirs, and give up their own",
            ));
        }
    }
    if let Some(agent) = to {
        check_agent(db, ws, agent)?;
    }
    if conv.assignee_id == to {
        return Ok(Vec::new());
    }
    let mut changes = apply(db, ws, &conv, to, actor.user_id, false, now)?;
    if let Some(previous) = conv.assignee_id {
        // The previous agent has room again: the queue may move.
        changes.extend(drain(db, ws, Some((id, previous)), now)?);
    }
    Ok(changes)
}

/// Changes a conversation's status. A snooze needs a time in the future
/// and schedules its end as a durable timer; any other status cancels it.
/// Resolving frees the assignee's capacity for the queue.
pub(crate) fn change_status(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
    change: StatusChange,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    match (change.status, change.snoozed_until) {
        (ConversationStatus::Snoozed, None) => {
            return Err(refused("invalid_request", "a snooze needs snoozed_until"));
        }
        (ConversationStatus::Snoozed, Some(until)) if until <= now => {
            return Err(refused(
                "snooze_in_past",
                "snoozed_until must be in the future",
            ));
        }
        (ConversationStatus::Snoozed, Some(until)) if until.0 > now.0 + MAX_SNOOZE_MS => {
            return Err(refused(
                "invalid_request",
                "snoozed_until may be at most a year ahead",
            ));
        }
        (ConversationStatus::Snoozed, Some(_)) => {}
        (_, Some(_)) => {
            return Err(refused(
                "invalid_request",
                "snoozed_until goes only with the status snoozed",
            ));
        }
        (_, None) => {}
    }
    let conv = lock_conversation(db, ws, id)?;
    if conv.status == change.status && conv.snoozed_until == change.snoozed_until {
        return Ok(Vec::new());
    }
    // Resolved and snoozed conversations do not wait in the queue.
    let leaves_queue = matches!(
        change.status,
        ConversationStatus::Resolved | ConversationStatus::Snoozed
    );
    db.execute(
        "UPDATE conversations SET status = $1, snoozed_until = $2, \
           waiting_since = CASE WHEN $3 = 1 THEN NULL ELSE waiting_since END \
         WHERE id = $4",
        &[
            change.status.as_str().into(),
            change.snoozed_until.map(|t| t.0).into(),
            i64::from(leaves_queue).into(),
            id.0.into(),
        ],
    )?;
    timers::cancel(db, ws, id, timers::SNOOZE_END)?;
    if let Some(until) = change.snoozed_until {
        timers::schedule(
            db,
            ws,
            &timers::NewTimer {
                kind: timers::SNOOZE_END.to_string(),
                conversation_id: Some(id),
                due_at: until,
                payload: None,
            },
            now,
        )?;
    }
    let mut data = json!({
        "activity": "status",
        "by": person(db, by)?,
        "status": change.status,
    });
    if let Some(until) = change.snoozed_until {
        data["until"] = json!(until);
    }
    activity_line(db, ws, id, conv.channel_id, data, now)?;
    let mut changes = vec![Change::ConversationStatusChanged {
        workspace_id: ws,
        conversation_id: id,
        status: change.status,
    }];
    if conv.assignee_id.is_some() && change.status == ConversationStatus::Resolved {
        changes.extend(drain(db, ws, None, now)?);
    }
    Ok(changes)
}

/// A customer's message reopened a resolved or snoozed conversation (the
/// caller already set it open): the snooze's timer goes, the timeline
/// says so, and the change is reported.
pub(crate) fn reopened_by_customer(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    channel_id: i64,
    was: ConversationStatus,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    if was == ConversationStatus::Snoozed {
        timers::cancel(db, ws, conversation, timers::SNOOZE_END)?;
    }
    activity_line(
        db,
        ws,
        conversation,
        channel_id,
        json!({"activity": "status", "by": null, "status": "open", "reason": "customer_message"}),
        now,
    )?;
    Ok(vec![Change::ConversationStatusChanged {
        workspace_id: ws,
        conversation_id: conversation,
        status: ConversationStatus::Open,
    }])
}

/// A snooze's time came (the timer engine): the conversation is open again,
/// and offered to auto-assignment when nobody has it. Nothing happens when
/// it was woken or re-snoozed since.
pub(crate) fn end_snooze(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ConversationId,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    let conv = match lock_conversation(db, ws, id) {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let due = conv.snoozed_until.is_some_and(|t| t <= now);
    if conv.status != ConversationStatus::Snoozed || !due {
        return Ok(Vec::new());
    }
    db.execute(
        "UPDATE conversations SET status = 'open', snoozed_until = NULL WHERE id = $1",
        &[id.0.into()],
    )?;
    activity_line(
        db,
        ws,
        id,
        conv.channel_id,
        json!({"activity": "status", "by": null, "status": "open", "reason": "snooze_ended"}),
        now,
    )?;
    let mut changes = vec![Change::ConversationStatusChanged {
        workspace_id: ws,
        conversation_id: id,
        status: ConversationStatus::Open,
    }];
    let woken = ConversationState {
        status: ConversationStatus::Open,
        snoozed_until: None,
        ..conv
    };
    let pool = auto_assign_pool(db, conv.account_id)?;
    changes.extend(offer(db, ws, &woken, pool.as_ref(), now)?);
    Ok(changes)
}

pub(crate) fn get_account_assignment(
    db: &mut dyn Db,
    ws: WorkspaceId,
    account: AccountId,
) -> Result<AccountAssignment, StoreError> {
    db.query_one(
        "SELECT id FROM accounts WHERE id = $1 AND workspace_id = $2",
        &[account.0.into(), ws.0.into()],
    )?;
    Ok(
        match db.query_opt(
            "SELECT auto_assign, agent_ids FROM account_assignment WHERE account_id = $1",
            &[account.0.into()],
        )? {
            Some(row) => AccountAssignment {
                auto_assign: row.int(0)? != 0,
                agent_ids: parse_ids(&row.text(1)?).unwrap_or_default(),
            },
            None => AccountAssignment {
                auto_assign: false,
                agent_ids: Vec::new(),
            },
        },
    )
}

/// Replaces an account's auto-assignment settings. Turned on, the queue
/// moves at once; turned off, the account's conversations leave it.
pub(crate) fn set_account_assignment(
    db: &mut dyn Db,
    ws: WorkspaceId,
    account: AccountId,
    settings: &AccountAssignment,
    now: Timestamp,
) -> Result<(AccountAssignment, Vec<Change>), StoreError> {
    db.query_one(
        "SELECT id FROM accounts WHERE id = $1 AND workspace_id = $2",
        &[account.0.into(), ws.0.into()],
    )?;
    let mut ids = settings.agent_ids.clone();
    ids.sort();
    ids.dedup();
    for id in &ids {
        check_agent(db, ws, *id)?;
    }
    let list = ids
        .iter()
        .map(|u| u.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    db.execute(
        "INSERT INTO account_assignment (account_id, workspace_id, auto_assign, agent_ids, \
           rr_cursor) VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (account_id) DO UPDATE SET auto_assign = excluded.auto_assign, \
           agent_ids = excluded.agent_ids",
        &[
            account.0.into(),
            ws.0.into(),
            i64::from(settings.auto_assign).into(),
            list.into(),
        ],
    )?;
    let changes = if settings.auto_assign {
        drain(db, ws, None, now)?
    } else {
        db.execute(
            "UPDATE conversations SET waiting_since = NULL WHERE account_id = $1 \
             AND waiting_since IS NOT NULL",
            &[account.0.into()],
        )?;
        Vec::new()
    };
    Ok((get_account_assignment(db, ws, account)?, changes))
}

pub(crate) fn get_team_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
) -> Result<TeamSettings, StoreError> {
    Ok(
        match db.query_opt(
            "SELECT requeue_on_away, offline_after_minutes FROM workspace_settings \
             WHERE workspace_id = $1",
            &[ws.0.into()],
        )? {
            Some(row) => TeamSettings {
                requeue_on_away: row.int(0)? != 0,
                offline_after_minutes: count(row.int(1)?),
            },
            None => TeamSettings::default(),
        },
    )
}

pub(crate) fn set_team_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
    settings: TeamSettings,
) -> Result<TeamSettings, StoreError> {
    if !(1..=MAX_OFFLINE_AFTER_MINUTES).contains(&settings.offline_after_minutes) {
        return Err(refused(
            "invalid_request",
            format!("offline_after_minutes must be 1 to {MAX_OFFLINE_AFTER_MINUTES}"),
        ));
    }
    db.execute(
        "INSERT INTO workspace_settings (workspace_id, requeue_on_away, offline_after_minutes) \
         VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET \
           requeue_on_away = excluded.requeue_on_away, \
           offline_after_minutes = excluded.offline_after_minutes",
        &[
            ws.0.into(),
            i64::from(settings.requeue_on_away).into(),
            i64::from(settings.offline_after_minutes).into(),
        ],
    )?;
    get_team_settings(db, ws)
}

const AGENT_COLUMNS: &str = "u.id, u.name, u.role, u.availability, u.capacity, u.last_seen_at, \
    (SELECT COUNT(*) FROM conversations c WHERE c.assignee_id = u.id AND c.status <> 'resolved')";

fn agent_info(row: &crate::db::Row) -> Result<AgentInfo, StoreError> {
    let (role, availability) = (row.text(2)?, row.text(3)?);
    Ok(AgentInfo {
        id: UserId(row.int(0)?),
        name: row.text(1)?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Database(format!("unknown role {role:?}")))?,
        availability: Availability::parse(&availability).ok_or_else(|| {
            StoreError::Database(format!("unknown availability {availability:?}"))
        })?,
        capacity: count(row.int(4)?),
        last_seen_at: row.opt_int(5)?.map(Timestamp),
        open_assigned: count(row.int(6)?),
    })
}

/// The workspace's enabled agents, oldest first.
pub(crate) fn list_agents(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<AgentInfo>, StoreError> {
    db.query(
        &format!(
            "SELECT {AGENT_COLUMNS} FROM users u WHERE u.workspace_id = $1 \
             AND u.disabled_at IS NULL ORDER BY u.id"
        ),
        &[ws.0.into()],
    )?
    .iter()
    .map(agent_info)
    .collect()
}

pub(crate) fn get_agent(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
) -> Result<AgentInfo, StoreError> {
    agent_info(&db.query_one(
        &format!("SELECT {AGENT_COLUMNS} FROM users u WHERE u.id = $1 AND u.workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)
}

/// Sets how many open conversations auto-assignment gives an agent; a
/// larger capacity lets the queue move at once.
pub(crate) fn set_capacity(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    capacity: u32,
    now: Timestamp,
) -> Result<(AgentInfo, Vec<Change>), StoreError> {
    if capacity > MAX_CAPACITY {
        return Err(refused(
            "invalid_request",
            format!("capacity must be 0 to {MAX_CAPACITY}"),
        ));
    }
    lock_pools(db, ws)?;
    let n = db.execute(
        "UPDATE users SET capacity = $1 WHERE id = $2 AND workspace_id = $3",
        &[i64::from(capacity).into(), id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    let changes = drain(db, ws, None, now)?;
    Ok((get_agent(db, ws, id)?, changes))
}

/// The open conversations of an agent that wait for an answer (the last
/// message is the customer's, or there is none yet), locked: the ones
/// that go back to the queue when the agent goes away.
fn waiting_on(db: &mut dyn Db, agent: UserId) -> Result<Vec<ConversationId>, StoreError> {
    let lock = for_update(db);
    db.query(
        &format!(
            "SELECT id FROM conversations WHERE assignee_id = $1 AND status = 'open' \
             AND (last_message_id IS NULL OR (SELECT m.direction FROM messages m \
               WHERE m.id = conversations.last_message_id) = 'in') ORDER BY id{lock}"
        ),
        &[agent.0.into()],
    )?
    .iter()
    .map(|r| r.int(0).map(ConversationId))
    .collect()
}

/// Takes every unresolved conversation away from an agent who was
/// disabled or is being deleted: each goes back to the queue (with its
/// activity line and change) and the queue moves to the agents left. Call
/// it before the user row goes, so the activity lines can name them.
pub(crate) fn release_agent(
    db: &mut dyn Db,
    ws: WorkspaceId,
    agent: UserId,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    lock_pools(db, ws)?;
    db.execute(
        "UPDATE users SET availability = 'offline', availability_changed_at = $1 \
         WHERE id = $2 AND workspace_id = $3 AND availability <> 'offline'",
        &[now.millis().into(), agent.0.into(), ws.0.into()],
    )?;
    let lock = for_update(db);
    let held: Vec<ConversationId> = db
        .query(
            &format!(
                "SELECT id FROM conversations WHERE workspace_id = $1 AND assignee_id = $2 \
                 AND status <> 'resolved' ORDER BY id{lock}"
            ),
            &[ws.0.into(), agent.0.into()],
        )?
        .iter()
        .map(|r| r.int(0).map(ConversationId))
        .collect::<Result<_, _>>()?;
    let mut changes = Vec::new();
    for conversation in held {
        let conv = lock_conversation(db, ws, conversation)?;
        changes.extend(apply(db, ws, &conv, None, None, false, now)?);
    }
    db.execute(
        "UPDATE contacts SET last_agent_id = NULL WHERE workspace_id = $1 AND last_agent_id = $2",
        &[ws.0.into(), agent.0.into()],
    )?;
    changes.extend(drain(db, ws, None, now)?);
    Ok(changes)
}

/// Sets an agent's availability; `stale_before`, for the presence sweeper,
/// makes it conditional on the agent not having been seen since. Going
/// online lets the queue move; going away or offline returns the agent's
/// waiting conversations to the queue when the workspace says so.
pub(crate) fn set_availability(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    availability: Availability,
    stale_before: Option<Timestamp>,
    now: Timestamp,
) -> Result<(AgentInfo, Vec<Change>), StoreError> {
    let current = get_agent(db, ws, id)?;
    let settings = get_team_settings(db, ws)?;
    let leaving = availability != Availability::Online;
    let requeue = if leaving && settings.requeue_on_away {
        waiting_on(db, id)?
    } else {
        Vec::new()
    };
    lock_pools(db, ws)?;
    let mut params = vec![
        availability.as_str().into(),
        now.millis().into(),
        id.0.into(),
        ws.0.into(),
    ];
    let mut condition = String::new();
    if let Some(before) = stale_before {
        params.push(before.millis().into());
        condition = " AND COALESCE(last_seen_at, 0) < $5".to_string();
    }
    // Setting one's own availability counts as being seen.
    let seen = if stale_before.is_none() {
        ", last_seen_at = $2"
    } else {
        ""
    };
    let changed = db.execute(
        &format!(
            "UPDATE users SET availability = $1, availability_changed_at = $2{seen} \
             WHERE id = $3 AND workspace_id = $4 AND availability <> $1{condition}"
        ),
        &params,
    )?;
    if changed == 0 {
        if stale_before.is_none() && current.availability == availability {
            db.execute(
                "UPDATE users SET last_seen_at = $1 WHERE id = $2",
                &[now.millis().into(), id.0.into()],
            )?;
        }
        return Ok((get_agent(db, ws, id)?, Vec::new()));
    }
    let mut changes = vec![Change::AvailabilityChanged {
        workspace_id: ws,
        user_id: id,
        availability,
    }];
    for conversation in requeue {
        let conv = lock_conversation(db, ws, conversation)?;
        changes.extend(apply(db, ws, &conv, None, None, false, now)?);
    }
    changes.extend(drain(db, ws, None, now)?);
    Ok((get_agent(db, ws, id)?, changes))
}

/// Records that an agent's inbox is connected now.
pub(crate) fn touch_presence(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE users SET last_seen_at = $1 WHERE id = $2 AND workspace_id = $3",
        &[now.millis().into(), id.0.into(), ws.0.into()],
    )?;
    Ok(())
}

/// The agents, in every workspace, not seen for their workspace's
/// `offline_after_minutes` and not offline yet: (workspace, agent, the
/// time they must not have been seen since). At most 500 per call.
pub(crate) fn stale_agents(
    db: &mut dyn Db,
    now: Timestamp,
) -> Result<Vec<(WorkspaceId, UserId, Timestamp)>, StoreError> {
    db.query(
        "SELECT u.id, u.workspace_id, COALESCE(s.offline_after_minutes, 5) FROM users u \
         LEFT JOIN workspace_settings s ON s.workspace_id = u.workspace_id \
         WHERE u.availability <> 'offline' \
           AND COALESCE(u.last_seen_at, 0) < $1 - 60000 * COALESCE(s.offline_after_minutes, 5) \
         ORDER BY u.workspace_id, u.id LIMIT 500",
        &[now.millis().into()],
    )?
    .iter()
    .map(|row| {
        Ok((
            WorkspaceId(row.int(1)?),
            UserId(row.int(0)?),
            now.plus_millis(-60_000 * row.int(2)?),
        ))
    })
    .collect()
}

/// Open and pending conversations by view; `me` for mine and mentions.
pub(crate) fn counts(
    db: &mut dyn Db,
    ws: WorkspaceId,
    me: Option<UserId>,
) -> Result<ConversationCounts, StoreError> {
    let row = db.query_one(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN assignee_id IS NULL THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN assignee_id = $2 THEN 1 ELSE 0 END), 0) FROM conversations \
         WHERE workspace_id = $1 AND status IN ('open', 'pending')",
        &[ws.0.into(), me.map(|u| u.0).into()],
    )?;
    let n = |i: usize| row.int(i).map(|n| u64::try_from(n).unwrap_or_default());
    let mut counts = ConversationCounts {
        all: n(0)?,
        unassigned: n(1)?,
        mine: if me.is_some() { n(2)? } else { 0 },
        mentions: 0,
    };
    if let Some(me) = me {
        counts.mentions = u64::try_from(
            db.query_one(
                "SELECT COUNT(*) FROM mentions WHERE workspace_id = $1 AND user_id = $2 \
                 AND read_at IS NULL",
                &[ws.0.into(), me.0.into()],
            )?
            .int(0)?,
        )
        .unwrap_or_default();
    }
    Ok(counts)
}
