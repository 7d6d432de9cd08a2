//! What the operator (whoever runs the server) does to workspaces: their
//! status (a suspended workspace sends nothing and holds its pushes), their
//! quotas with usage counters, and deleting one with all of its data.
//!
//! Suspension, in the store:
//! - a push to a workspace that is not `active` is kept raw with status
//!   `held`, with its parsed events, in the push's own transaction
//!   ([`hold_push`], called first by the ingest); a replay of it is a
//!   duplicate as usual;
//! - the outbox, outgoing webhooks and alerts of such a workspace are not
//!   leased ([`ACTIVE_WORKSPACES`] in their lease queries): they wait;
//! - resuming turns the workspace `resuming` (pushes are still held), then
//!   [`drain_held`] processes the held pushes in id order and turns it
//!   `active` in the transaction that finds none left, under a lock on the
//!   workspace's row, so no push is held after the last drain looked.

use imhub_core::{InboundEvent, Timestamp, Workspace, WorkspaceId};

use crate::{
    Change, PushRecord, PushRecorded, StoreError,
    db::{Db, Dialect, Row, Value},
};

/// `IN`-clause tail for lease queries: the workspace is active (not
/// suspended, not resuming). Used as `AND o.workspace_id {ACTIVE_WORKSPACES}`.
pub(crate) const ACTIVE_WORKSPACES: &str =
    "NOT IN (SELECT id FROM workspaces WHERE status <> 'active')";

/// Milliseconds in a UTC day (days are counted from the Unix epoch).
pub const DAY_MS: i64 = 86_400_000;

/// Whether a workspace works normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceStatus {
    /// Works normally.
    Active,
    /// Its API and inbox answer 403 `workspace_suspended`, it sends nothing,
    /// its pushes are held.
    Suspended,
    /// Being resumed: held pushes are processed in order; new ones are
    /// still held until none is left, then it is active.
    Resuming,
}

impl WorkspaceStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Active => "active",
            WorkspaceStatus::Suspended => "suspended",
            WorkspaceStatus::Resuming => "resuming",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "active" => Ok(WorkspaceStatus::Active),
            "suspended" => Ok(WorkspaceStatus::Suspended),
            "resuming" => Ok(WorkspaceStatus::Resuming),
            other => Err(StoreError::Database(format!(
                "unknown workspace status {other:?}"
            ))),
        }
    }
}

/// A workspace's quotas as the operator set them: `None` follows the
/// operator's default ([`QuotaDefaults`]), `Some(0)` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quotas {
    /// Connected channels.
    pub channels: Option<u64>,
    /// Users (admins and agents, disabled ones included).
    pub agents: Option<u64>,
    /// Messages the workspace sends per UTC day (API and inbox replies,
    /// automatic replies); inbound messages are never refused.
    pub messages_per_day: Option<u64>,
    /// Bytes of uploaded media.
    pub media_bytes: Option<u64>,
}

/// The operator's default quotas (`[limits]`); `0` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuotaDefaults {
    pub channels: u64,
    pub agents: u64,
    pub messages_per_day: u64,
    pub media_bytes: u64,
}

/// What a workspace uses of its quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub channels: u64,
    pub agents: u64,
    /// Messages sent since the UTC day began.
    pub messages_today: u64,
    pub media_bytes: u64,
}

/// A workspace as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorWorkspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
    pub status: WorkspaceStatus,
    /// When it was suspended (kept while resuming).
    pub suspended_at: Option<Timestamp>,
    /// As set (`None`: the default).
    pub quotas: Quotas,
    /// As in force: the set value or the default; `0` is no limit.
    pub effective: QuotaDefaults,
    pub usage: Usage,
    /// Pushes held while suspended, not processed yet.
    pub held_pushes: u64,
}

impl OperatorWorkspace {
    /// The plain workspace.
    pub fn workspace(&self) -> Workspace {
        Workspace {
            id: self.id,
            name: self.name.clone(),
            created_at: self.created_at,
        }
    }
}

/// Which quota a creation counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    Channels,
    Agents,
}

/// What one drain step did.
#[derive(Debug, Clone, Default)]
pub struct Drained {
    /// Held pushes processed in this step.
    pub processed: usize,
    /// What they changed, for live events.
    pub changes: Vec<Change>,
    /// An automatic reply entered the outbox.
    pub outbox_queued: bool,
    /// The workspace is active now (nothing was left).
    pub active: bool,
}

const COLUMNS: &str = "id, name, created_at, status, suspended_at, quota_channels, quota_agents, \
     quota_messages_per_day, quota_media_bytes";

fn unsigned(v: Option<i64>) -> Option<u64> {
    v.map(|n| u64::try_from(n).unwrap_or(0))
}

fn signed(v: Option<u64>) -> Value {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX)).into()
}

fn count(db: &mut dyn Db, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    Ok(u64::try_from(db.query_one(sql, params)?.int(0)?).unwrap_or(0))
}

/// The operator's defaults (zero, no limit, until a node wrote them).
pub(crate) fn defaults(db: &mut dyn Db) -> Result<QuotaDefaults, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT channels, agents, messages_per_day, media_bytes FROM quota_defaults WHERE id = 1",
        &[],
    )?
    else {
        return Ok(QuotaDefaults::default());
    };
    let n = |i| row.int(i).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(QuotaDefaults {
        channels: n(0)?,
        agents: n(1)?,
        messages_per_day: n(2)?,
        media_bytes: n(3)?,
    })
}

/// Replaces the operator's defaults (each node at start, from `[limits]`).
pub(crate) fn set_defaults(db: &mut dyn Db, d: QuotaDefaults) -> Result<(), StoreError> {
    let v = |n: u64| Value::from(i64::try_from(n).unwrap_or(i64::MAX));
    db.execute(
        "INSERT INTO quota_defaults (id, channels, agents, messages_per_day, media_bytes) \
         VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET channels = excluded.channels, \
           agents = excluded.agents, messages_per_day = excluded.messages_per_day, \
           media_bytes = excluded.media_bytes",
        &[
            v(d.channels),
            v(d.agents),
            v(d.messages_per_day),
            v(d.media_bytes),
        ],
    )?;
    Ok(())
}

fn effective(q: Quotas, d: QuotaDefaults) -> QuotaDefaults {
    QuotaDefaults {
        channels: q.channels.unwrap_or(d.channels),
        agents: q.agents.unwrap_or(d.agents),
        messages_per_day: q.messages_per_day.unwrap_or(d.messages_per_day),
        media_bytes: q.media_bytes.unwrap_or(d.media_bytes),
    }
}

fn quotas_of(row: &Row) -> Result<Quotas, StoreError> {
    Ok(Quotas {
        channels: unsigned(row.opt_int(5)?),
        agents: unsigned(row.opt_int(6)?),
        messages_per_day: unsigned(row.opt_int(7)?),
        media_bytes: unsigned(row.opt_int(8)?),
    })
}

/// Messages the workspace queued on the UTC day of `now`.
fn sent_today(db: &mut dyn Db, ws: WorkspaceId, now: Timestamp) -> Result<u64, StoreError> {
    Ok(db
        .query_opt(
            "SELECT sent FROM daily_sends WHERE workspace_id = $1 AND day = $2",
            &[ws.0.into(), (now.millis().div_euclid(DAY_MS)).into()],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

fn usage(db: &mut dyn Db, ws: WorkspaceId, now: Timestamp) -> Result<Usage, StoreError> {
    Ok(Usage {
        channels: count(
            db,
            "SELECT COUNT(*) FROM channels WHERE workspace_id = $1 AND disconnected_at IS NULL",
            &[ws.0.into()],
        )?,
        agents: count(
            db,
            "SELECT COUNT(*) FROM users WHERE workspace_id = $1",
            &[ws.0.into()],
        )?,
        messages_today: sent_today(db, ws, now)?,
        media_bytes: u64::try_from(crate::media::media_usage(db, ws)?).unwrap_or(0),
    })
}

fn summary(
    db: &mut dyn Db,
    row: &Row,
    d: QuotaDefaults,
    now: Timestamp,
) -> Result<OperatorWorkspace, StoreError> {
    let id = WorkspaceId(row.int(0)?);
    let quotas = quotas_of(row)?;
    Ok(OperatorWorkspace {
        id,
        name: row.text(1)?,
        created_at: Timestamp(row.int(2)?),
        status: WorkspaceStatus::parse(&row.text(3)?)?,
        suspended_at: row.opt_int(4)?.map(Timestamp),
        quotas,
        effective: effective(quotas, d),
        usage: usage(db, id, now)?,
        held_pushes: count(
            db,
            "SELECT COUNT(*) FROM held_pushes WHERE workspace_id = $1",
            &[id.0.into()],
        )?,
    })
}

/// One workspace with status, quotas and usage.
pub(crate) fn get(
    db: &mut dyn Db,
    ws: WorkspaceId,
    now: Timestamp,
) -> Result<OperatorWorkspace, StoreError> {
    let row = db.query_one(
        &format!("SELECT {COLUMNS} FROM workspaces WHERE id = $1"),
        &[ws.0.into()],
    )?;
    let d = defaults(db)?;
    summary(db, &row, d, now)
}

/// Every workspace, oldest first, with status, quotas and usage.
pub(crate) fn list(db: &mut dyn Db, now: Timestamp) -> Result<Vec<OperatorWorkspace>, StoreError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM workspaces ORDER BY id"),
        &[],
    )?;
    let d = defaults(db)?;
    rows.iter().map(|row| summary(db, row, d, now)).collect()
}

/// Renames a workspace.
pub(crate) fn rename(db: &mut dyn Db, ws: WorkspaceId, name: &str) -> Result<(), StoreError> {
    if db.execute(
        "UPDATE workspaces SET name = $2 WHERE id = $1",
        &[ws.0.into(), name.into()],
    )? == 0
    {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Replaces a workspace's quotas.
pub(crate) fn set_quotas(db: &mut dyn Db, ws: WorkspaceId, q: Quotas) -> Result<(), StoreError> {
    if db.execute(
        "UPDATE workspaces SET quota_channels = $2, quota_agents = $3, \
           quota_messages_per_day = $4, quota_media_bytes = $5 WHERE id = $1",
        &[
            ws.0.into(),
            signed(q.channels),
            signed(q.agents),
            signed(q.messages_per_day),
            signed(q.media_bytes),
        ],
    )? == 0
    {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Suspends a workspace (again while resuming: the drain stops holding
/// back). Suspending a suspended workspace changes nothing.
pub(crate) fn suspend(db: &mut dyn Db, ws: WorkspaceId, now: Timestamp) -> Result<(), StoreError> {
    if db.execute(
        "UPDATE workspaces SET status = 'suspended', \
           suspended_at = COALESCE(suspended_at, $2) WHERE id = $1",
        &[ws.0.into(), now.millis().into()],
    )? == 0
    {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Starts resuming a suspended workspace (its pushes stay held until
/// [`drain_held`] finds none left); an active one stays active.
pub(crate) fn begin_resume(db: &mut dyn Db, ws: WorkspaceId) -> Result<(), StoreError> {
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    db.execute(
        "UPDATE workspaces SET status = 'resuming' WHERE id = $1 AND status = 'suspended'",
        &[ws.0.into()],
    )?;
    Ok(())
}

/// Workspaces being resumed (a node that died mid-drain leaves them so;
/// any node finishes them).
pub(crate) fn resuming(db: &mut dyn Db) -> Result<Vec<WorkspaceId>, StoreError> {
    db.query(
        "SELECT id FROM workspaces WHERE status = 'resuming' ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| r.int(0).map(WorkspaceId))
    .collect()
}

/// The workspace's status; on PostgreSQL, unless it is active, read again
/// under a share lock on its row, so a push cannot be held after a drain
/// (which locks the row for update) found none left and turned it active.
fn status_for_push(db: &mut dyn Db, ws: WorkspaceId) -> Result<WorkspaceStatus, StoreError> {
    let sql = "SELECT status FROM workspaces WHERE id = $1";
    let status = WorkspaceStatus::parse(&db.query_one(sql, &[ws.0.into()])?.text(0)?)?;
    if status == WorkspaceStatus::Active || db.dialect() == Dialect::Sqlite {
        return Ok(status);
    }
    WorkspaceStatus::parse(
        &db.query_one(&format!("{sql} FOR SHARE"), &[ws.0.into()])?
            .text(0)?,
    )
}

/// The ingest's first step: when the workspace is not active, keeps the
/// push raw as `held` with its parsed events and returns what to answer
/// (a replay of a held push is a duplicate, as any replay); `None` when
/// the workspace is active and the push is recorded as usual.
pub(crate) fn hold_push(
    db: &mut dyn Db,
    ws: WorkspaceId,
    push: &PushRecord,
) -> Result<Option<PushRecorded>, StoreError> {
    if status_for_push(db, ws)? == WorkspaceStatus::Active {
        return Ok(None);
    }
    db.query_one(
        "SELECT id FROM channels WHERE id = $1 AND workspace_id = $2",
        &[push.channel_id.0.into(), ws.0.into()],
    )?;
    let inserted = db.query_opt(
        "INSERT INTO raw_events (workspace_id, channel_id, event_key, body, status, received_at, \
           request) VALUES ($1, $2, $3, $4, 'held', $5, $6) \
         ON CONFLICT (channel_id, event_key) WHERE event_key IS NOT NULL DO NOTHING RETURNING id",
        &[
            ws.0.into(),
            push.channel_id.0.into(),
            push.event_key.clone().into(),
            push.body.clone().into(),
            push.received_at.millis().into(),
            push.request.as_ref().map(|r| r.to_string()).into(),
        ],
    )?;
    let Some(raw) = inserted else {
        return Ok(Some(PushRecorded {
            duplicate: true,
            ..PushRecorded::default()
        }));
    };
    db.execute(
        "INSERT INTO held_pushes (raw_event_id, workspace_id, events, create_unknown_accounts) \
         VALUES ($1, $2, $3, $4)",
        &[
            raw.int(0)?.into(),
            ws.0.into(),
            serde_json::to_string(&push.events)?.into(),
            push.create_unknown_accounts.into(),
        ],
    )?;
    crate::alerts::note_push(db, ws, push.channel_id, push.received_at)?;
    Ok(Some(PushRecorded::default()))
}

/// Processes up to `limit` held pushes of a resuming workspace, oldest
/// first, each as it would have been on arrival (its raw event turns
/// `processed`, or `unprocessable` with the reason); when none is left,
/// turns the workspace active in this same transaction. Holds the
/// workspace's row for update, so drains of one workspace run one at a
/// time and pushes wait for the drain's commit before deciding to hold.
pub(crate) fn drain_held(
    db: &mut dyn Db,
    ws: WorkspaceId,
    limit: u32,
) -> Result<Drained, StoreError> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let status = WorkspaceStatus::parse(
        &db.query_one(
            &format!("SELECT status FROM workspaces WHERE id = $1{lock}"),
            &[ws.0.into()],
        )?
        .text(0)?,
    )?;
    let mut drained = Drained::default();
    if status != WorkspaceStatus::Resuming {
        // Suspended again meanwhile (keep holding), or active already.
        drained.active = status == WorkspaceStatus::Active;
        return Ok(drained);
    }
    let rows = db.query(
        "SELECT raw_event_id, events, create_unknown_accounts FROM held_pushes \
         WHERE workspace_id = $1 ORDER BY raw_event_id LIMIT $2",
        &[ws.0.into(), i64::from(limit.max(1)).into()],
    )?;
    for row in &rows {
        let raw_id = row.int(0)?;
        let events: Vec<InboundEvent> = serde_json::from_str(&row.text(1)?)?;
        let recorded = crate::ingest::replay_raw_event(db, ws, raw_id, &events, row.int(2)? != 0)?;
        db.execute(
            "DELETE FROM held_pushes WHERE raw_event_id = $1",
            &[raw_id.into()],
        )?;
        drained.processed += 1;
        drained.outbox_queued |= recorded.outbox_queued;
        drained.changes.extend(recorded.changes);
    }
    let left = count(
        db,
        "SELECT COUNT(*) FROM held_pushes WHERE workspace_id = $1",
        &[ws.0.into()],
    )?;
    if left == 0 {
        db.execute(
            "UPDATE workspaces SET status = 'active', suspended_at = NULL WHERE id = $1",
            &[ws.0.into()],
        )?;
        drained.active = true;
    }
    Ok(drained)
}

/// Refuses a creation past the workspace's quota (`quota_exceeded`), in the
/// creating transaction.
pub(crate) fn check_quota(
    db: &mut dyn Db,
    ws: WorkspaceId,
    kind: QuotaKind,
) -> Result<(), StoreError> {
    let row = db.query_one(
        &format!("SELECT {COLUMNS} FROM workspaces WHERE id = $1"),
        &[ws.0.into()],
    )?;
    let limits = effective(quotas_of(&row)?, defaults(db)?);
    let (limit, what, sql) = match kind {
        QuotaKind::Channels => (
            limits.channels,
            "channels",
            "SELECT COUNT(*) FROM channels WHERE workspace_id = $1 AND disconnected_at IS NULL",
        ),
        QuotaKind::Agents => (
            limits.agents,
            "users",
            "SELECT COUNT(*) FROM users WHERE workspace_id = $1",
        ),
    };
    if limit == 0 {
        return Ok(());
    }
    let used = count(db, sql, &[ws.0.into()])?;
    if used >= limit {
        return Err(StoreError::Refused {
            code: "quota_exceeded",
            detail: format!("the workspace has {used} {what}; its quota is {limit}"),
        });
    }
    Ok(())
}

/// Refuses another message sent today past the workspace's
/// `messages_per_day` (`quota_exceeded`); an automatic reply refused so is
/// the rule's failure (not queued).
pub(crate) fn check_daily_sends(
    db: &mut dyn Db,
    ws: WorkspaceId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(row) = db.query_opt(
        "SELECT quota_messages_per_day FROM workspaces WHERE id = $1",
        &[ws.0.into()],
    )?
    else {
        return Err(StoreError::NotFound);
    };
    let limit = match unsigned(row.opt_int(0)?) {
        Some(set) => set,
        None => defaults(db)?.messages_per_day,
    };
    if limit == 0 {
        return Ok(());
    }
    let sent = sent_today(db, ws, now)?;
    if sent >= limit {
        return Err(StoreError::Refused {
            code: "quota_exceeded",
            detail: format!(
                "the workspace sent {sent} messages today (UTC); its quota is {limit} a day"
            ),
        });
    }
    Ok(())
}

/// Tables without a workspace column whose rows belong to a workspace
/// through another table's id: (table, column, parent table). A new such
/// table must be listed here (the delete test names it otherwise).
pub const SCOPED_BY_PARENT: &[(&str, &str, &str)] = &[
    ("channel_state", "channel_id", "channels"),
    ("alert_sends", "target_id", "alert_targets"),
    ("alert_throttle", "target_id", "alert_targets"),
];

/// Tables that belong to no workspace: the server's own (the migrations,
/// the operator's defaults) and per-second send counters keyed by a
/// platform app or account (`rate_slots`, gone within seconds).
pub const GLOBAL_TABLES: &[&str] = &[
    "workspaces",
    "schema_migrations",
    "quota_defaults",
    "rate_slots",
];

/// Every base table of the schema with whether it has a `workspace_id`
/// column, from the database's own catalogue.
pub fn catalogue(db: &mut dyn Db) -> Result<Vec<(String, bool)>, StoreError> {
    let rows = match db.dialect() {
        Dialect::Sqlite => db.query(
            "SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) \
               WHERE name = 'workspace_id') FROM sqlite_master m \
             WHERE m.type = 'table' AND m.sql NOT LIKE 'CREATE VIRTUAL%' \
               AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'messages_fts_%' \
             ORDER BY m.name",
            &[],
        )?,
        Dialect::Postgres => db.query(
            "SELECT t.table_name::text, CASE WHEN EXISTS (SELECT 1 \
               FROM information_schema.columns c WHERE c.table_schema = t.table_schema \
               AND c.table_name = t.table_name AND c.column_name = 'workspace_id') \
               THEN 1 ELSE 0 END \
             FROM information_schema.tables t \
             WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             ORDER BY 1",
            &[],
        )?,
    };
    rows.iter()
        .map(|r| Ok((r.text(0)?, r.int(1)? != 0)))
        .collect()
}

/// Foreign keys as (referencing table, referenced table).
fn references(db: &mut dyn Db, tables: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    match db.dialect() {
        Dialect::Sqlite => {
            for table in tables {
                for row in db.query(
                    "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)",
                    &[table.as_str().into()],
                )? {
                    out.push((table.clone(), row.text(0)?));
                }
            }
        }
        Dialect::Postgres => {
            for row in db.query(
                "SELECT DISTINCT c.relname::text, p.relname::text FROM pg_constraint k \
                 JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE k.contype = 'f' AND n.nspname = current_schema()",
                &[],
            )? {
                out.push((row.text(0)?, row.text(1)?));
            }
        }
    }
    Ok(out)
}

/// Deletes a workspace and every row of it, in every table with a
/// workspace column (found in the catalogue, so tables added later are
/// covered) and in [`SCOPED_BY_PARENT`]; referencing rows go before the
/// rows they reference. Its uploads are rows of `media`, so they go too.
pub(crate) fn delete_workspace(db: &mut dyn Db, ws: WorkspaceId) -> Result<(), StoreError> {
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    let catalogue = catalogue(db)?;
    let mut pending: Vec<String> = catalogue
        .iter()
        .filter(|(name, has_ws)| *has_ws && !GLOBAL_TABLES.contains(&name.as_str()))
        .map(|(name, _)| name.clone())
        .collect();
    let present = |name: &str| catalogue.iter().any(|(n, _)| n == name);
    for (table, _, _) in SCOPED_BY_PARENT {
        if present(table) {
            pending.push((*table).to_string());
        }
    }
    let mut edges = references(db, &pending)?;
    for (table, _, parent) in SCOPED_BY_PARENT {
        edges.push(((*table).to_string(), (*parent).to_string()));
    }
    while !pending.is_empty() {
        // A table no other pending table still references goes next.
        let Some(next) = pending.iter().position(|t| {
            !edges
                .iter()
                .any(|(child, parent)| parent == t && child != t && pending.contains(child))
        }) else {
            return Err(StoreError::Database(format!(
                "cannot order the deletion: foreign keys form a cycle among {pending:?}"
            )));
        };
        let table = pending.remove(next);
        let sql = match SCOPED_BY_PARENT.iter().find(|(t, _, _)| *t == table) {
            Some((_, column, parent)) => format!(
                "DELETE FROM {table} WHERE {column} IN \
                 (SELECT id FROM {parent} WHERE workspace_id = $1)"
            ),
            None => format!("DELETE FROM {table} WHERE workspace_id = $1"),
        };
        db.execute(&sql, &[ws.0.into()])?;
    }
    db.execute("DELETE FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    Ok(())
}
