//! Leads (意向用户, issue 14): a contact the team follows up, with what the
//! customer told about themselves, where they came from, a stage and an
//! owner, and the history of every change.
//!
//! Capture happens in the transaction that records a push: for each new
//! customer message [`capture`] asks [`imhub_core::leads`] what the
//! message reveals (a submitted Douyin lead card, phone numbers and WeChat
//! ids in the text, the Meituan order of the conversation) and applies it.
//! It runs only for a message the push really inserted, so a replayed push
//! changes nothing; and capture only fills, never overwrites what an agent
//! typed. The same phone on two leads proposes a merge an agent decides.

use std::collections::HashMap;

use imhub_core::{
    AccountId, ContactId, Content, ConversationId, MessageId, Platform, Role, Timestamp, UserId,
    WorkspaceId,
    content::LeadCardField,
    leads::{self as core, FieldChange, LeadData, LeadId, LeadStage},
};
use serde_json::{Value as Json, json};

use crate::{
    Change, StoreError,
    db::{Db, Dialect, Row, Value},
    rows::platform,
};

/// Largest page of the lead list.
pub const MAX_LEAD_PAGE: u32 = 200;
/// Most leads one bulk change names.
pub const MAX_BULK_LEADS: usize = 200;
/// Most own numbers a workspace keeps.
pub const MAX_OWN_NUMBERS: usize = 50;
/// Longest notes on a lead, in characters.
pub const MAX_LEAD_NOTES_CHARS: usize = 10_000;
/// Longest name, WeChat id or city, in characters.
pub const MAX_LEAD_TEXT_CHARS: usize = 100;

/// Who changes a lead, for its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadActor {
    /// The session user; `None` for API tokens.
    pub user_id: Option<UserId>,
    pub role: Role,
}

/// One contact of a lead (several after a merge).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LeadContact {
    pub contact_id: ContactId,
    pub platform: Platform,
    /// 匿名 when the platform never told us a name.
    pub nickname: String,
}

/// Where a lead came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LeadSource {
    pub platform: Platform,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    /// The conversation the lead was first captured in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// The enter-chat event's context when it carried one (Douyin:
    /// `scene_type`, `object_id`, `ad_info`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Json>,
}

/// A lead as the API shows it (phones in full: the API masks them for
/// agents' lists).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Lead {
    pub id: LeadId,
    /// The contact it was captured on.
    pub contact_id: ContactId,
    /// Every contact of the lead, the first one first.
    pub contacts: Vec<LeadContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 11-digit mainland mobile numbers.
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Other answers of the lead cards the customer submitted.
    pub fields: Vec<LeadCardField>,
    /// Meituan orders the customer's conversations were about, oldest first.
    pub orders: Vec<String>,
    pub source: LeadSource,
    pub stage: LeadStage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// Set when the lead was merged into another (it left the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<LeadId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Lead {
    fn data(&self) -> LeadData {
        LeadData {
            name: self.name.clone(),
            phones: self.phones.clone(),
            wechat_id: self.wechat_id.clone(),
            city: self.city.clone(),
            notes: self.notes.clone(),
            fields: self
                .fields
                .iter()
                .map(|f| (f.label.clone(), f.value.clone()))
                .collect(),
            orders: self.orders.clone(),
        }
    }
}

/// The lead list's filters.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub stage: Option<LeadStage>,
    pub owner_id: Option<UserId>,
    pub platform: Option<Platform>,
    pub account_id: Option<AccountId>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub to: Option<Timestamp>,
    pub has_phone: Option<bool>,
    /// Case-insensitive substring of name, phones, WeChat id or notes.
    pub query: Option<String>,
    /// Older than this (created_at, id).
    pub after: Option<(i64, i64)>,
    pub limit: u32,
}

/// What an edit sets; `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct LeadPatch {
    pub name: Option<Option<String>>,
    pub phones: Option<Vec<String>>,
    pub wechat_id: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub stage: Option<LeadStage>,
    pub owner_id: Option<Option<UserId>>,
}

/// One entry of a lead's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LeadHistoryEntry {
    pub id: i64,
    pub at: Timestamp,
    /// `capture` (from a customer message), `agent`, `api` or `merge`.
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The customer message that caused a capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    pub changes: Vec<FieldChange>,
}

/// The workspace's lead settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LeadSettings {
    /// The merchant's own numbers (11 digits): never taken as a lead's.
    pub own_numbers: Vec<String>,
}

/// Two leads with the same phone number, for an agent to merge or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MergeProposal {
    pub id: i64,
    /// The older lead: the one kept when the proposal is accepted.
    pub lead: Lead,
    /// The newer lead, merged into `lead` on acceptance.
    pub other: Lead,
    pub phone: String,
    /// `pending`, `accepted`, `rejected` or `obsolete` (one of the leads
    /// was merged elsewhere first).
    pub status: String,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserId>,
}

fn refused(code: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Refused {
        code,
        detail: detail.into(),
    }
}

const LEAD_COLUMNS: &str = "id, contact_id, name, phones, wechat_id, city, notes, fields, orders, \
    source_platform, source_account_id, source_conversation_id, source_context, stage, owner_id, \
    merged_into, created_at, updated_at";

fn json_col<T: serde::de::DeserializeOwned>(row: &Row, i: usize) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&row.text(i)?)?)
}

fn lead_row(row: &Row) -> Result<Lead, StoreError> {
    let stage = row.text(13)?;
    let fields: Vec<(String, String)> = json_col(row, 7)?;
    Ok(Lead {
        id: LeadId(row.int(0)?),
        contact_id: ContactId(row.int(1)?),
        contacts: Vec::new(),
        name: row.opt_text(2)?,
        phones: json_col(row, 3)?,
        wechat_id: row.opt_text(4)?,
        city: row.opt_text(5)?,
        notes: row.opt_text(6)?,
        fields: fields
            .into_iter()
            .map(|(label, value)| LeadCardField { label, value })
            .collect(),
        orders: json_col(row, 8)?,
        source: LeadSource {
            platform: platform(&row.text(9)?)?,
            account_id: row.opt_int(10)?.map(AccountId),
            conversation_id: row.opt_int(11)?.map(ConversationId),
            context: row
                .opt_text(12)?
                .map(|t| serde_json::from_str(&t))
                .transpose()?,
        },
        stage: LeadStage::parse(&stage)
            .ok_or_else(|| StoreError::Database(format!("unknown lead stage {stage:?}")))?,
        owner_id: row.opt_int(14)?.map(UserId),
        merged_into: row.opt_int(15)?.map(LeadId),
        created_at: Timestamp(row.int(16)?),
        updated_at: Timestamp(row.int(17)?),
    })
}

/// Puts each lead's contacts on it: one query for the whole page.
fn fill_contacts(db: &mut dyn Db, leads: &mut [Lead]) -> Result<(), StoreError> {
    if leads.is_empty() {
        return Ok(());
    }
    let ids: Vec<Value> = leads.iter().map(|l| l.id.0.into()).collect();
    let marks = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db.query(
        &format!(
            "SELECT lc.lead_id, k.id, ch.platform, k.nickname FROM lead_contacts lc \
             JOIN contacts k ON k.id = lc.contact_id JOIN channels ch ON ch.id = k.channel_id \
             WHERE lc.lead_id IN ({marks}) ORDER BY lc.lead_id, lc.added_at, k.id"
        ),
        &ids,
    )?;
    let mut by_lead: HashMap<i64, Vec<LeadContact>> = HashMap::new();
    for row in rows {
        by_lead.entry(row.int(0)?).or_default().push(LeadContact {
            contact_id: ContactId(row.int(1)?),
            platform: platform(&row.text(2)?)?,
            nickname: row
                .opt_text(3)?
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
        });
    }
    for lead in leads {
        lead.contacts = by_lead.remove(&lead.id.0).unwrap_or_default();
        // The first contact first, whatever the clock said.
        if let Some(i) = lead
            .contacts
            .iter()
            .position(|c| c.contact_id == lead.contact_id)
        {
            let first = lead.contacts.remove(i);
            lead.contacts.insert(0, first);
        }
    }
    Ok(())
}

fn load(db: &mut dyn Db, ws: WorkspaceId, id: LeadId) -> Result<Lead, StoreError> {
    let row = db.query_one(
        &format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?;
    let mut lead = [lead_row(&row)?];
    fill_contacts(db, &mut lead)?;
    let [lead] = lead;
    Ok(lead)
}

/// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (one writer).
fn for_update(db: &dyn Db) -> &'static str {
    match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

fn search_text(data: &LeadData) -> String {
    let mut parts: Vec<&str> = Vec::new();
    parts.extend(data.name.as_deref());
    parts.extend(data.phones.iter().map(String::as_str));
    parts.extend(data.wechat_id.as_deref());
    parts.extend(data.notes.as_deref());
    parts.join(" ").to_lowercase()
}

/// Writes a lead's data fields and its phone index.
fn store_data(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
    data: &LeadData,
    now: Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE leads SET name = $1, phones = $2, wechat_id = $3, city = $4, notes = $5, \
           fields = $6, orders = $7, search_text = $8, has_phone = $9, updated_at = $10 \
         WHERE id = $11 AND workspace_id = $12",
        &[
            data.name.clone().into(),
            serde_json::to_string(&data.phones)?.into(),
            data.wechat_id.clone().into(),
            data.city.clone().into(),
            data.notes.clone().into(),
            serde_json::to_string(&data.fields)?.into(),
            serde_json::to_string(&data.orders)?.into(),
            search_text(data).into(),
            (!data.phones.is_empty()).into(),
            now.millis().into(),
            id.0.into(),
            ws.0.into(),
        ],
    )?;
    db.execute("DELETE FROM lead_phones WHERE lead_id = $1", &[id.0.into()])?;
    for phone in &data.phones {
        db.execute(
            "INSERT INTO lead_phones (workspace_id, phone, lead_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[ws.0.into(), phone.clone().into(), id.0.into()],
        )?;
    }
    Ok(())
}

/// Who a history entry names: the kind of change, the agent, the message.
struct Author {
    kind: &'static str,
    user: Option<UserId>,
    message: Option<MessageId>,
}

impl Author {
    /// Capture from a customer message.
    fn capture(message: MessageId) -> Self {
        Author {
            kind: "capture",
            user: None,
            message: Some(message),
        }
    }

    /// An agent's (or an API token's) edit.
    fn of(actor: LeadActor) -> Self {
        Author {
            kind: actor_kind(actor),
            user: actor.user_id,
            message: None,
        }
    }

    /// A merge an agent accepted.
    fn merge(actor: LeadActor) -> Self {
        Author {
            kind: "merge",
            user: actor.user_id,
            message: None,
        }
    }
}

fn record_history(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
    by: Author,
    changes: &[FieldChange],
    now: Timestamp,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    db.execute(
        "INSERT INTO lead_history (lead_id, workspace_id, at, user_id, actor, message_id, changes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id.0.into(),
            ws.0.into(),
            now.millis().into(),
            by.user.map(|u| u.0).into(),
            by.kind.into(),
            by.message.map(|m| m.0).into(),
            serde_json::to_string(changes)?.into(),
        ],
    )?;
    Ok(())
}

/// Proposes merging `id` with every other live lead of the workspace that
/// has one of `phones` (once per pair, whatever was decided before).
fn propose_merges(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
    phones: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    for phone in phones {
        let others = db.query(
            "SELECT p.lead_id FROM lead_phones p JOIN leads l ON l.id = p.lead_id \
             WHERE p.workspace_id = $1 AND p.phone = $2 AND p.lead_id <> $3 \
               AND l.merged_into IS NULL ORDER BY p.lead_id",
            &[ws.0.into(), phone.clone().into(), id.0.into()],
        )?;
        for other in others {
            let other = other.int(0)?;
            let (a, b) = (id.0.min(other), id.0.max(other));
            db.execute(
                "INSERT INTO lead_merge_proposals (workspace_id, lead_id, other_lead_id, phone, \
                   status, created_at) VALUES ($1, $2, $3, $4, 'pending', $5) \
                 ON CONFLICT (workspace_id, lead_id, other_lead_id) DO NOTHING",
                &[
                    ws.0.into(),
                    a.into(),
                    b.into(),
                    phone.clone().into(),
                    now.millis().into(),
                ],
            )?;
        }
    }
    Ok(())
}

/// The workspace's own numbers.
fn own_numbers(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<String>, StoreError> {
    match db.query_opt(
        "SELECT own_numbers FROM lead_settings WHERE workspace_id = $1",
        &[ws.0.into()],
    )? {
        Some(row) => json_col(&row, 0),
        None => Ok(Vec::new()),
    }
}

/// What a customer message's capture needs to know about where it was
/// written.
pub(crate) struct Captured<'a> {
    pub platform: Platform,
    pub account: AccountId,
    pub conversation: ConversationId,
    /// The customer who wrote (the sender, in a group).
    pub contact: ContactId,
    pub message: MessageId,
    pub content: &'a Content,
    /// The message's platform context (the Meituan order).
    pub context: Option<&'a Json>,
}

/// Applies what a newly stored customer message reveals to the writer's
/// lead, creating it when the message names the customer (a submitted
/// card, a phone, a WeChat id); an order alone is only recorded on a lead
/// that exists. Call it only for a message this transaction inserted.
pub(crate) fn capture(
    db: &mut dyn Db,
    ws: WorkspaceId,
    m: Captured<'_>,
    now: Timestamp,
) -> Result<Vec<Change>, StoreError> {
    let mut facts = core::facts_of(m.content, m.context, &[]);
    if !facts.phones.is_empty() || !facts.wechat_ids.is_empty() {
        // The merchant's numbers matter only where there are numbers: the
        // settings row is read for those messages alone.
        let own = own_numbers(db, ws)?;
        if !own.is_empty() {
            let refs: Vec<&str> = own.iter().map(String::as_str).collect();
            facts = core::facts_of(m.content, m.context, &refs);
            facts.phones.retain(|p| !own.contains(p));
        }
    }
    if !facts.makes_a_lead() && facts.order_id.is_none() {
        return Ok(Vec::new());
    }
    let existing = db
        .query_opt(
            "SELECT lead_id FROM lead_contacts WHERE contact_id = $1 AND workspace_id = $2",
            &[m.contact.0.into(), ws.0.into()],
        )?
        .map(|r| r.int(0).map(LeadId))
        .transpose()?;
    match existing {
        Some(id) => {
            let lead = load(db, ws, id)?;
            let before = lead.data();
            let Some(after) = core::absorb(&before, &facts) else {
                return Ok(Vec::new());
            };
            store_data(db, ws, id, &after, now)?;
            let changes = core::diff(&before, &after);
            record_history(db, ws, id, Author::capture(m.message), &changes, now)?;
            let new_phones: Vec<String> = after
                .phones
                .iter()
                .filter(|p| !before.phones.contains(p))
                .cloned()
                .collect();
            propose_merges(db, ws, id, &new_phones, now)?;
            Ok(vec![Change::LeadUpdated {
                workspace_id: ws,
                lead_id: id,
            }])
        }
        None if facts.makes_a_lead() => {
            let Some(data) = core::absorb(&LeadData::default(), &facts) else {
                return Ok(Vec::new());
            };
            let entry = db
                .query_opt(
                    "SELECT entry_context FROM conversations WHERE id = $1",
                    &[m.conversation.0.into()],
                )?
                .and_then(|r| r.opt_text(0).transpose())
                .transpose()?;
            let id = LeadId(
                db.query_one(
                    "INSERT INTO leads (workspace_id, contact_id, source_platform, \
                       source_account_id, source_conversation_id, source_context, stage, \
                       created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $7) RETURNING id",
                    &[
                        ws.0.into(),
                        m.contact.0.into(),
                        m.platform.as_str().into(),
                        m.account.0.into(),
                        m.conversation.0.into(),
                        entry.into(),
                        now.millis().into(),
                    ],
                )?
                .int(0)?,
            );
            db.execute(
                "INSERT INTO lead_contacts (contact_id, lead_id, workspace_id, added_at) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    m.contact.0.into(),
                    id.0.into(),
                    ws.0.into(),
                    now.millis().into(),
                ],
            )?;
            store_data(db, ws, id, &data, now)?;
            let mut changes = vec![FieldChange {
                field: "stage".into(),
                from: Json::Null,
                to: json!(LeadStage::New),
            }];
            changes.extend(core::diff(&LeadData::default(), &data));
            record_history(db, ws, id, Author::capture(m.message), &changes, now)?;
            propose_merges(db, ws, id, &data.phones, now)?;
            Ok(vec![Change::LeadCreated {
                workspace_id: ws,
                lead_id: id,
            }])
        }
        None => Ok(Vec::new()),
    }
}

/// Keeps how the customer entered the chat (Douyin's enter-chat context)
/// on the conversation, for the source of a lead it gives later.
pub(crate) fn record_entry(
    db: &mut dyn Db,
    conversation: ConversationId,
    entry: &Json,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE conversations SET entry_context = $1 WHERE id = $2",
        &[entry.to_string().into(), conversation.0.into()],
    )?;
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn list_leads(
    db: &mut dyn Db,
    ws: WorkspaceId,
    filter: &LeadFilter,
) -> Result<Vec<Lead>, StoreError> {
    let mut sql =
        format!("SELECT {LEAD_COLUMNS} FROM leads WHERE workspace_id = $1 AND merged_into IS NULL");
    let mut params: Vec<Value> = vec![ws.0.into()];
    let mut bind = |sql: &mut String, clause: &str, value: Value| {
        params.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(stage) = filter.stage {
        bind(&mut sql, " AND stage = ?", stage.as_str().into());
    }
    if let Some(owner) = filter.owner_id {
        bind(&mut sql, " AND owner_id = ?", owner.0.into());
    }
    if let Some(p) = filter.platform {
        bind(&mut sql, " AND source_platform = ?", p.as_str().into());
    }
    if let Some(a) = filter.account_id {
        bind(&mut sql, " AND source_account_id = ?", a.0.into());
    }
    if let Some(from) = filter.from {
        bind(&mut sql, " AND created_at >= ?", from.millis().into());
    }
    if let Some(to) = filter.to {
        bind(&mut sql, " AND created_at < ?", to.millis().into());
    }
    if let Some(has) = filter.has_phone {
        bind(&mut sql, " AND has_phone = ?", has.into());
    }
    if let Some(q) = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        // "138 0013 8000" finds 13800138000.
        let compact: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let q = if !compact.is_empty() && compact.chars().all(|c| c.is_ascii_digit()) {
            compact
        } else {
            q.to_lowercase()
        };
        let pattern = format!("%{}%", escape_like(&q));
        bind(
            &mut sql,
            " AND search_text LIKE ? ESCAPE '\\'",
            pattern.into(),
        );
    }
    if let Some((at, id)) = filter.after {
        bind(&mut sql, " AND created_at <= ?", at.into());
        bind(&mut sql, " AND (created_at < ?", at.into());
        bind(&mut sql, " OR id < ?)", id.into());
    }
    let limit = filter.limit.clamp(1, MAX_LEAD_PAGE);
    bind(
        &mut sql,
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        i64::from(limit).into(),
    );
    let mut page: Vec<Lead> = db
        .query(&sql, &params)?
        .iter()
        .map(lead_row)
        .collect::<Result<_, _>>()?;
    fill_contacts(db, &mut page)?;
    Ok(page)
}

pub(crate) fn get_lead(db: &mut dyn Db, ws: WorkspaceId, id: LeadId) -> Result<Lead, StoreError> {
    load(db, ws, id)
}

/// The lead of a contact (after a merge, the one it was merged into).
pub(crate) fn contact_lead(
    db: &mut dyn Db,
    ws: WorkspaceId,
    contact: ContactId,
) -> Result<Option<Lead>, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT lead_id FROM lead_contacts WHERE contact_id = $1 AND workspace_id = $2",
        &[contact.0.into(), ws.0.into()],
    )?
    else {
        return Ok(None);
    };
    load(db, ws, LeadId(row.int(0)?)).map(Some)
}

/// An enabled agent of the workspace, or the refusal saying why not.
fn check_owner(db: &mut dyn Db, ws: WorkspaceId, id: UserId) -> Result<(), StoreError> {
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

fn actor_kind(actor: LeadActor) -> &'static str {
    if actor.user_id.is_some() {
        "agent"
    } else {
        "api"
    }
}

/// Text a patch sets: trimmed, blank is none, within `max` characters.
fn checked_text(
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<String>, StoreError> {
    let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    if value.is_some_and(|v| v.chars().count() > max) {
        return Err(refused(
            "invalid_request",
            format!("{field} has at most {max} characters"),
        ));
    }
    Ok(value.map(str::to_string))
}

/// Sets stage and owner on a locked lead; returns the history entries.
fn set_stage_owner(
    db: &mut dyn Db,
    ws: WorkspaceId,
    lead: &Lead,
    stage: Option<LeadStage>,
    owner: Option<Option<UserId>>,
    now: Timestamp,
) -> Result<Vec<FieldChange>, StoreError> {
    let mut changes = Vec::new();
    if let Some(stage) = stage.filter(|s| *s != lead.stage) {
        db.execute(
            "UPDATE leads SET stage = $1, updated_at = $2 WHERE id = $3 AND workspace_id = $4",
            &[
                stage.as_str().into(),
                now.millis().into(),
                lead.id.0.into(),
                ws.0.into(),
            ],
        )?;
        changes.push(FieldChange {
            field: "stage".into(),
            from: json!(lead.stage),
            to: json!(stage),
        });
    }
    if let Some(owner) = owner.filter(|o| *o != lead.owner_id) {
        db.execute(
            "UPDATE leads SET owner_id = $1, updated_at = $2 WHERE id = $3 AND workspace_id = $4",
            &[
                owner.map(|o| o.0).into(),
                now.millis().into(),
                lead.id.0.into(),
                ws.0.into(),
            ],
        )?;
        changes.push(FieldChange {
            field: "owner_id".into(),
            from: json!(lead.owner_id),
            to: json!(owner),
        });
    }
    Ok(changes)
}

fn lock(db: &mut dyn Db, ws: WorkspaceId, id: LeadId) -> Result<Lead, StoreError> {
    let sql = format!(
        "SELECT id FROM leads WHERE id = $1 AND workspace_id = $2{}",
        for_update(db)
    );
    db.query_one(&sql, &[id.0.into(), ws.0.into()])?;
    load(db, ws, id)
}

pub(crate) fn update_lead(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
    patch: &LeadPatch,
    actor: LeadActor,
    now: Timestamp,
) -> Result<(Lead, Vec<Change>), StoreError> {
    if let Some(Some(owner)) = patch.owner_id {
        check_owner(db, ws, owner)?;
    }
    let lead = lock(db, ws, id)?;
    let before = lead.data();
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name = checked_text("name", name, MAX_LEAD_TEXT_CHARS)?;
    }
    if let Some(w) = &patch.wechat_id {
        after.wechat_id = checked_text("wechat_id", w, MAX_LEAD_TEXT_CHARS)?;
    }
    if let Some(city) = &patch.city {
        after.city = checked_text("city", city, MAX_LEAD_TEXT_CHARS)?;
    }
    if let Some(notes) = &patch.notes {
        after.notes = checked_text("notes", notes, MAX_LEAD_NOTES_CHARS)?;
    }
    if let Some(phones) = &patch.phones {
        let mut list = Vec::new();
        for p in phones {
            let Some(n) = core::normalize_own_number(p) else {
                return Err(refused(
                    "invalid_phone",
                    format!("{p:?} is not a mainland mobile number (11 digits, 1[3-9]…)"),
                ));
            };
            if !list.contains(&n) {
                list.push(n);
            }
        }
        if list.len() > core::MAX_LEAD_PHONES {
            return Err(refused(
                "invalid_request",
                format!("a lead has at most {} phone numbers", core::MAX_LEAD_PHONES),
            ));
        }
        after.phones = list;
    }
    let mut changes = core::diff(&before, &after);
    if !changes.is_empty() {
        store_data(db, ws, id, &after, now)?;
        let new_phones: Vec<String> = after
            .phones
            .iter()
            .filter(|p| !before.phones.contains(p))
            .cloned()
            .collect();
        propose_merges(db, ws, id, &new_phones, now)?;
    }
    changes.extend(set_stage_owner(
        db,
        ws,
        &lead,
        patch.stage,
        patch.owner_id,
        now,
    )?);
    if changes.is_empty() {
        return Ok((lead, Vec::new()));
    }
    record_history(db, ws, id, Author::of(actor), &changes, now)?;
    Ok((
        load(db, ws, id)?,
        vec![Change::LeadUpdated {
            workspace_id: ws,
            lead_id: id,
        }],
    ))
}

pub(crate) fn bulk_update(
    db: &mut dyn Db,
    ws: WorkspaceId,
    ids: &[LeadId],
    stage: Option<LeadStage>,
    owner: Option<Option<UserId>>,
    actor: LeadActor,
    now: Timestamp,
) -> Result<(Vec<LeadId>, Vec<Change>), StoreError> {
    if ids.len() > MAX_BULK_LEADS {
        return Err(refused(
            "invalid_request",
            format!("a bulk change names at most {MAX_BULK_LEADS} leads"),
        ));
    }
    if let Some(Some(o)) = owner {
        check_owner(db, ws, o)?;
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut changed = Vec::new();
    let mut out = Vec::new();
    // Locked in id order, so two bulk changes cannot deadlock; one id of
    // another workspace refuses the whole change.
    for id in sorted {
        let lead = lock(db, ws, id)?;
        let changes = set_stage_owner(db, ws, &lead, stage, owner, now)?;
        if changes.is_empty() {
            continue;
        }
        record_history(db, ws, id, Author::of(actor), &changes, now)?;
        changed.push(id);
        out.push(Change::LeadUpdated {
            workspace_id: ws,
            lead_id: id,
        });
    }
    Ok((changed, out))
}

pub(crate) fn lead_history(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
) -> Result<Vec<LeadHistoryEntry>, StoreError> {
    db.query_one(
        "SELECT id FROM leads WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    db.query(
        "SELECT id, at, actor, user_id, message_id, changes FROM lead_history \
         WHERE lead_id = $1 AND workspace_id = $2 ORDER BY id",
        &[id.0.into(), ws.0.into()],
    )?
    .iter()
    .map(|r| {
        Ok(LeadHistoryEntry {
            id: r.int(0)?,
            at: Timestamp(r.int(1)?),
            actor: r.text(2)?,
            user_id: r.opt_int(3)?.map(UserId),
            message_id: r.opt_int(4)?.map(MessageId),
            changes: json_col(r, 5)?,
        })
    })
    .collect()
}

pub(crate) fn get_settings(db: &mut dyn Db, ws: WorkspaceId) -> Result<LeadSettings, StoreError> {
    Ok(LeadSettings {
        own_numbers: own_numbers(db, ws)?,
    })
}

pub(crate) fn set_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
    numbers: &[String],
) -> Result<LeadSettings, StoreError> {
    let mut own = Vec::new();
    for n in numbers {
        let Some(d) = core::normalize_own_number(n) else {
            return Err(refused(
                "invalid_phone",
                format!("{n:?} is not a mainland mobile number (11 digits, 1[3-9]…)"),
            ));
        };
        if !own.contains(&d) {
            own.push(d);
        }
    }
    if own.len() > MAX_OWN_NUMBERS {
        return Err(refused(
            "invalid_request",
            format!("at most {MAX_OWN_NUMBERS} own numbers"),
        ));
    }
    db.execute(
        "INSERT INTO lead_settings (workspace_id, own_numbers) VALUES ($1, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET own_numbers = excluded.own_numbers",
        &[ws.0.into(), serde_json::to_string(&own)?.into()],
    )?;
    Ok(LeadSettings { own_numbers: own })
}

const PROPOSAL_COLUMNS: &str =
    "id, lead_id, other_lead_id, phone, status, created_at, decided_at, decided_by";

fn proposal(db: &mut dyn Db, ws: WorkspaceId, row: &Row) -> Result<MergeProposal, StoreError> {
    Ok(MergeProposal {
        id: row.int(0)?,
        lead: load(db, ws, LeadId(row.int(1)?))?,
        other: load(db, ws, LeadId(row.int(2)?))?,
        phone: row.text(3)?,
        status: row.text(4)?,
        created_at: Timestamp(row.int(5)?),
        decided_at: row.opt_int(6)?.map(Timestamp),
        decided_by: row.opt_int(7)?.map(UserId),
    })
}

/// Merge proposals, newest first; `status` filters (`pending` by default
/// in the API).
pub(crate) fn list_merge_proposals(
    db: &mut dyn Db,
    ws: WorkspaceId,
    status: Option<&str>,
    limit: u32,
) -> Result<Vec<MergeProposal>, StoreError> {
    let limit = i64::from(limit.clamp(1, MAX_LEAD_PAGE));
    let rows = match status {
        Some(s) => db.query(
            &format!(
                "SELECT {PROPOSAL_COLUMNS} FROM lead_merge_proposals \
                 WHERE workspace_id = $1 AND status = $2 ORDER BY id DESC LIMIT $3"
            ),
            &[ws.0.into(), s.into(), limit.into()],
        )?,
        None => db.query(
            &format!(
                "SELECT {PROPOSAL_COLUMNS} FROM lead_merge_proposals \
                 WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[ws.0.into(), limit.into()],
        )?,
    };
    rows.iter().map(|r| proposal(db, ws, r)).collect()
}

/// Accepts (merges the newer lead into the older: data filled in, phones,
/// answers and orders joined, notes kept from both, contacts moved) or
/// rejects a pending proposal. A decided one is `InvalidState`.
pub(crate) fn decide_merge(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: i64,
    accept: bool,
    actor: LeadActor,
    now: Timestamp,
) -> Result<(MergeProposal, Vec<Change>), StoreError> {
    let sql = format!(
        "SELECT {PROPOSAL_COLUMNS} FROM lead_merge_proposals WHERE id = $1 AND workspace_id = $2{}",
        for_update(db)
    );
    let row = db.query_one(&sql, &[id.into(), ws.0.into()])?;
    let status = row.text(4)?;
    if status != "pending" {
        return Err(StoreError::InvalidState(format!(
            "the proposal is {status} already"
        )));
    }
    let (keep, gone) = (LeadId(row.int(1)?), LeadId(row.int(2)?));
    let mut changes = Vec::new();
    if accept {
        let survivor = lock(db, ws, keep)?;
        let merged = lock(db, ws, gone)?;
        let before = survivor.data();
        let other = merged.data();
        let mut after = core::absorb(
            &before,
            &core::Facts {
                name: other.name.clone(),
                phones: other.phones.clone(),
                wechat_ids: other.wechat_id.iter().cloned().collect(),
                city: other.city.clone(),
                fields: other.fields.clone(),
                order_id: None,
            },
        )
        .unwrap_or_else(|| before.clone());
        for order in &other.orders {
            if !after.orders.contains(order) {
                after.orders.push(order.clone());
            }
        }
        after.notes = match (&before.notes, &other.notes) {
            (Some(a), Some(b)) if a != b => Some(format!("{a}\n{b}")),
            (None, Some(b)) => Some(b.clone()),
            (a, _) => a.clone(),
        };
        let mut history = core::diff(&before, &after);
        let contacts_before: Vec<ContactId> =
            survivor.contacts.iter().map(|c| c.contact_id).collect();
        db.execute(
            "UPDATE lead_contacts SET lead_id = $1 WHERE lead_id = $2 AND workspace_id = $3",
            &[keep.0.into(), gone.0.into(), ws.0.into()],
        )?;
        db.execute(
            "DELETE FROM lead_phones WHERE lead_id = $1",
            &[gone.0.into()],
        )?;
        db.execute(
            "UPDATE leads SET merged_into = $1, updated_at = $2 WHERE id = $3",
            &[keep.0.into(), now.millis().into(), gone.0.into()],
        )?;
        store_data(db, ws, keep, &after, now)?;
        let mut contacts_after = contacts_before.clone();
        contacts_after.extend(merged.contacts.iter().map(|c| c.contact_id));
        history.push(FieldChange {
            field: "contacts".into(),
            from: json!(contacts_before),
            to: json!(contacts_after),
        });
        if survivor.owner_id.is_none() && merged.owner_id.is_some() {
            history.extend(set_stage_owner(
                db,
                ws,
                &survivor,
                None,
                Some(merged.owner_id),
                now,
            )?);
        }
        record_history(db, ws, keep, Author::merge(actor), &history, now)?;
        record_history(
            db,
            ws,
            gone,
            Author::merge(actor),
            &[FieldChange {
                field: "merged_into".into(),
                from: Json::Null,
                to: json!(keep),
            }],
            now,
        )?;
        // Proposals with the merged lead are moot; its phones now belong to
        // the survivor, which proposes again where needed.
        db.execute(
            "UPDATE lead_merge_proposals SET status = 'obsolete', decided_at = $1 \
             WHERE workspace_id = $2 AND status = 'pending' AND id <> $3 \
               AND (lead_id = $4 OR other_lead_id = $4)",
            &[now.millis().into(), ws.0.into(), id.into(), gone.0.into()],
        )?;
        propose_merges(db, ws, keep, &after.phones, now)?;
        changes.push(Change::LeadUpdated {
            workspace_id: ws,
            lead_id: keep,
        });
        changes.push(Change::LeadUpdated {
            workspace_id: ws,
            lead_id: gone,
        });
    }
    db.execute(
        "UPDATE lead_merge_proposals SET status = $1, decided_at = $2, decided_by = $3 \
         WHERE id = $4",
        &[
            if accept { "accepted" } else { "rejected" }.into(),
            now.millis().into(),
            actor.user_id.map(|u| u.0).into(),
            id.into(),
        ],
    )?;
    let row = db.query_one(
        &format!("SELECT {PROPOSAL_COLUMNS} FROM lead_merge_proposals WHERE id = $1"),
        &[id.into()],
    )?;
    Ok((proposal(db, ws, &row)?, changes))
}

/// The lead as an outgoing webhook carries it (phones in full: it goes to
/// the merchant's own CRM); `null` when it is gone.
pub(crate) fn webhook_body(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LeadId,
) -> Result<Json, StoreError> {
    match load(db, ws, id) {
        Ok(lead) => Ok(serde_json::to_value(lead)?),
        Err(StoreError::NotFound) => Ok(Json::Null),
        Err(e) => Err(e),
    }
}
