//! Automation in the store: the rules and settings of a workspace, and
//! the application of [`imhub_core::automation::decide`] inside the
//! transaction that records its cause (a push, an escalation timer), so a
//! replayed push, a second node or a crash between commit and answer never
//! sends a second automatic reply and an acknowledged push never loses
//! its reply (STYLE.md 12).
//!
//! Cost when a workspace has no rules: one primary-key read of
//! `automation_settings` per push. With rules, the compiled rule set is
//! kept per process and keyed by the workspace's rule-set version (a new
//! random value on every change, written in the changing transaction), so
//! a push reads that one row, finds its rules compiled, and only reads the
//! conversation facts the rules look at.

use std::{
    cell::RefCell,
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use imhub_core::{
    AccountId, Content, ConversationId, ConversationStatus, LabelId, MessageId, Platform,
    QuickReplyId, Timestamp, WorkspaceId,
    automation::{
        Action, AssignTo, AutomationContext, AutomationEvent, AutomationSettings, AutomationState,
        CompiledRule, Condition, DOUYIN_AUTO_REPLY_CHARS, Limits, ReplyHeld, Rule, RuleId, Scope,
        Trigger, decide,
    },
    hours::WorkingHours,
    template::{self, Variable},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Change, StoreError,
    assignment::{self, ConversationState},
    db::{Db, Row},
    ingest::touch_conversation,
    outbox, timers,
};

/// The kind of the durable timer an escalation rule sets (payload:
/// `{"rule_id": n}`).
pub const ESCALATION: &str = "automation_escalation";

/// Most rules one workspace may have.
pub const MAX_RULES: usize = 200;
/// Longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 100;
/// Recent failures kept per rule.
pub const MAX_FAILURES_KEPT: i64 = 50;
/// Days the statistics cover (today and the six before, UTC).
pub const STATS_DAYS: i64 = 7;

const DAY_MS: i64 = 86_400_000;

/// A rule as the API writes it (the id and position are the store's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub scope: Scope,
    pub trigger: Trigger,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    /// Seconds before the rule fires again in one conversation; the
    /// trigger's default when absent (welcome 86400, keywords 60, off
    /// hours 3600, escalation 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_secs: Option<u32>,
}

fn enabled_by_default() -> bool {
    true
}

impl RuleBody {
    fn into_rule(self, id: RuleId) -> Rule {
        Rule {
            id,
            name: self.name,
            enabled: self.enabled,
            scope: self.scope,
            trigger: self.trigger,
            conditions: self.conditions,
            actions: self.actions,
            cooldown_secs: self.cooldown_secs,
        }
    }
}

/// A stored rule with its place in the workspace's order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredRule {
    #[serde(flatten)]
    pub rule: Rule,
    /// 0-based place in the order rules are evaluated in.
    pub position: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One day of a rule's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub fired: i64,
    pub sent: i64,
    pub failed: i64,
}

/// A reply of a rule that failed, or an action that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleFailure {
    pub at: Timestamp,
    /// The platform's own code for a refused reply (`28003070`,
    /// `reply_window_closed`, …), or imhub's for an action that could not
    /// run (`unknown_agent`, `unknown_label`, `unknown_quick_reply`, …).
    pub code: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
}

/// A rule's counters for the last [`STATS_DAYS`] days and its recent failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleStats {
    pub rule_id: RuleId,
    /// Times the rule fired (its conditions held, cooldown past).
    pub fired: i64,
    /// Automatic replies the platform accepted.
    pub sent: i64,
    /// Automatic replies the platform refused, and actions that failed.
    pub failed: i64,
    /// Oldest first, one entry per day with activity.
    pub days: Vec<DayStats>,
    /// Newest first, at most 20.
    pub recent_failures: Vec<RuleFailure>,
}

/// A sample for `POST /automation/rules/test`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// The customer's message (absent with `entered_chat`).
    #[serde(default)]
    pub text: Option<String>,
    pub platform: Platform,
    /// The account the message would reach (must be the workspace's).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub account_id: Option<AccountId>,
    /// When it would arrive; now when absent.
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The customer opened the chat instead of writing.
    #[serde(default)]
    pub entered_chat: bool,
    /// The message starts a new conversation (a welcome on platforms without
    /// an enter event); true by default.
    #[serde(default = "enabled_by_default")]
    pub new_conversation: bool,
    /// The nickname `{{contact.nickname}}` is filled with (匿名 by default).
    #[serde(default)]
    pub nickname: Option<String>,
}

/// What one rule would do about a sample.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TestFired {
    pub rule_id: RuleId,
    pub name: String,
    /// The actions that would run (a held reply is left out).
    pub actions: Vec<Action>,
    /// Why the reply would be held back, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reply_held: Option<ReplyHeld>,
    /// The reply as it would be sent, variables filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Content>,
}

/// The outcome of a dry run: nothing is stored or sent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleTestOutcome {
    /// Whether the time is within business hours.
    pub within_business_hours: bool,
    pub fired: Vec<TestFired>,
    /// Escalation timers that would be set.
    pub escalations: Vec<TestEscalation>,
}

/// An escalation a sample would schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TestEscalation {
    pub rule_id: RuleId,
    pub due_at: Timestamp,
}

fn refused(code: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Refused {
        code,
        detail: detail.into(),
    }
}

/// A fresh rule-set version: random across processes and databases, so two
/// stores in one process never mistake each other's cached rules.
fn new_version() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_i64(Timestamp::now().millis());
    h.write_u32(std::process::id());
    (h.finish() >> 1) as i64
}

/// Records that the workspace's rules or settings changed: a new version
/// and the count of enabled rules (0: pushes skip automation at once).
fn bump(db: &mut dyn Db, ws: WorkspaceId) -> Result<(), StoreError> {
    let enabled = db
        .query_one(
            "SELECT COUNT(*) FROM automation_rules WHERE workspace_id = $1 AND enabled = 1",
            &[ws.0.into()],
        )?
        .int(0)?;
    db.execute(
        "INSERT INTO automation_settings (workspace_id, settings, version, enabled_rules) \
         VALUES ($1, NULL, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET \
           version = excluded.version, enabled_rules = excluded.enabled_rules",
        &[ws.0.into(), new_version().into(), enabled.into()],
    )?;
    Ok(())
}

// Rules and settings.

const RULE_COLUMNS: &str = "id, position, enabled, body, created_at, updated_at";

fn stored_rule(row: &Row) -> Result<StoredRule, StoreError> {
    let mut body: Value = serde_json::from_str(&row.text(3)?)?;
    body["id"] = json!(row.int(0)?);
    body["enabled"] = json!(row.int(2)? != 0);
    Ok(StoredRule {
        rule: serde_json::from_value(body)?,
        position: row.int(1)?,
        created_at: Timestamp(row.int(4)?),
        updated_at: Timestamp(row.int(5)?),
    })
}

/// The stored JSON of a rule: everything but the id and the enabled flag,
/// which are columns.
fn body_json(rule: &Rule) -> Result<String, StoreError> {
    let mut v = serde_json::to_value(rule)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("enabled");
    }
    Ok(v.to_string())
}

pub(crate) fn list_rules(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<StoredRule>, StoreError> {
    db.query(
        &format!(
            "SELECT {RULE_COLUMNS} FROM automation_rules WHERE workspace_id = $1 \
             ORDER BY position, id"
        ),
        &[ws.0.into()],
    )?
    .iter()
    .map(stored_rule)
    .collect()
}

pub(crate) fn get_rule(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: RuleId,
) -> Result<StoredRule, StoreError> {
    stored_rule(&db.query_one(
        &format!("SELECT {RULE_COLUMNS} FROM automation_rules WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)
}

/// Checks a rule for saving: [`CompiledRule::new`]'s reasons, the reply's
/// variables, and that every quick reply (shared), label, agent and
/// account it names is the workspace's.
fn check_rule(db: &mut dyn Db, ws: WorkspaceId, rule: &Rule) -> Result<(), StoreError> {
    let name = rule.name.trim();
    if name.is_empty() || name.chars().count() > MAX_RULE_NAME_CHARS {
        return Err(refused(
            "invalid_request",
            format!("a rule's name has 1 to {MAX_RULE_NAME_CHARS} characters"),
        ));
    }
    CompiledRule::new(rule.clone()).map_err(|e| refused(e.code(), e.to_string()))?;
    let exists = |db: &mut dyn Db, sql: &str, id: i64| -> Result<bool, StoreError> {
        Ok(db.query_opt(sql, &[id.into(), ws.0.into()])?.is_some())
    };
    let label = |db: &mut dyn Db, id: LabelId| -> Result<(), StoreError> {
        if exists(
            db,
            "SELECT 1 FROM labels WHERE id = $1 AND workspace_id = $2",
            id.0,
        )? {
            Ok(())
        } else {
            Err(refused(
                "unknown_label",
                format!("label {id} is not a label of this workspace"),
            ))
        }
    };
    for id in &rule.scope.account_ids {
        if !exists(
            db,
            "SELECT 1 FROM accounts WHERE id = $1 AND workspace_id = $2",
            id.0,
        )? {
            return Err(refused(
                "invalid_request",
                format!("account {id} is not an account of this workspace"),
            ));
        }
    }
    for id in &rule.scope.label_ids {
        label(db, *id)?;
    }
    for c in &rule.conditions {
        if let Condition::ContactHasLabel { label_id } | Condition::ContactLacksLabel { label_id } =
            c
        {
            label(db, *label_id)?;
        }
    }
    for action in &rule.actions {
        match action {
            Action::Reply {
                text,
                content,
                quick_reply_id,
            } => {
                if let Some(text) = text {
                    template::validate(text).map_err(|e| refused(e.code(), e.to_string()))?;
                }
                if let Some(content) = content {
                    content
                        .validate()
                        .map_err(|r| refused("invalid_reply", r.message))?;
                }
                if let Some(id) = quick_reply_id {
                    let shared = db
                        .query_opt(
                            "SELECT text FROM quick_replies WHERE id = $1 AND workspace_id = $2 \
                             AND owner_user_id IS NULL",
                            &[id.0.into(), ws.0.into()],
                        )?
                        .ok_or_else(|| {
                            refused(
                                "unknown_quick_reply",
                                format!(
                                    "quick reply {} is not a shared quick reply of this workspace",
                                    id.0
                                ),
                            )
                        })?;
                    let text = shared.text(0)?;
                    let douyin = rule.scope.platforms.is_empty()
                        || rule.scope.platforms.contains(&Platform::Douyin);
                    let chars = text.chars().count();
                    if douyin && chars > DOUYIN_AUTO_REPLY_CHARS {
                        return Err(refused(
                            "reply_too_long_for_douyin",
                            format!(
                                "a Douyin automatic reply may have at most \
                                 {DOUYIN_AUTO_REPLY_CHARS} characters; this quick reply has {chars}"
                            ),
                        ));
                    }
                }
            }
            Action::Assign(AssignTo::Agent { agent_id })
                if !exists(
                    db,
                    "SELECT 1 FROM users WHERE id = $1 AND workspace_id = $2 \
                     AND disabled_at IS NULL",
                    agent_id.0,
                )? =>
            {
                return Err(refused(
                    "unknown_agent",
                    format!("user {agent_id} is not an enabled agent of this workspace"),
                ));
            }
            Action::AddLabel { label_id } => label(db, *label_id)?,
            Action::SetStatus {
                status: ConversationStatus::Snoozed,
            } => {
                return Err(refused(
                    "invalid_request",
                    "a rule cannot snooze (there is no time to wake at); use pending or resolved",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn create_rule(
    db: &mut dyn Db,
    ws: WorkspaceId,
    body: RuleBody,
    now: Timestamp,
) -> Result<StoredRule, StoreError> {
    let rule = body.into_rule(RuleId(0));
    check_rule(db, ws, &rule)?;
    let count = db.query_one(
        "SELECT COUNT(*), COALESCE(MAX(position), -1) FROM automation_rules \
             WHERE workspace_id = $1",
        &[ws.0.into()],
    )?;
    if count.int(0)? as usize >= MAX_RULES {
        return Err(refused(
            "invalid_request",
            format!("a workspace may have at most {MAX_RULES} rules"),
        ));
    }
    let id = db
        .query_one(
            "INSERT INTO automation_rules (workspace_id, position, enabled, body, created_at, \
               updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            &[
                ws.0.into(),
                (count.int(1)? + 1).into(),
                rule.enabled.into(),
                body_json(&rule)?.into(),
                now.millis().into(),
            ],
        )?
        .int(0)?;
    bump(db, ws)?;
    get_rule(db, ws, RuleId(id))
}

pub(crate) fn update_rule(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: RuleId,
    body: RuleBody,
    now: Timestamp,
) -> Result<StoredRule, StoreError> {
    get_rule(db, ws, id)?;
    let rule = body.into_rule(id);
    check_rule(db, ws, &rule)?;
    db.execute(
        "UPDATE automation_rules SET enabled = $1, body = $2, updated_at = $3 \
         WHERE id = $4 AND workspace_id = $5",
        &[
            rule.enabled.into(),
            body_json(&rule)?.into(),
            now.millis().into(),
            id.0.into(),
            ws.0.into(),
        ],
    )?;
    bump(db, ws)?;
    get_rule(db, ws, id)
}

pub(crate) fn delete_rule(db: &mut dyn Db, ws: WorkspaceId, id: RuleId) -> Result<(), StoreError> {
    let n = db.execute(
        "DELETE FROM automation_rules WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    db.execute(
        "DELETE FROM automation_stats WHERE rule_id = $1",
        &[id.0.into()],
    )?;
    db.execute(
        "DELETE FROM automation_failures WHERE rule_id = $1",
        &[id.0.into()],
    )?;
    bump(db, ws)
}

/// Puts the workspace's rules in the order of `ids`, which must name each
/// of them exactly once.
pub(crate) fn reorder_rules(
    db: &mut dyn Db,
    ws: WorkspaceId,
    ids: &[RuleId],
) -> Result<Vec<StoredRule>, StoreError> {
    let mut have: Vec<i64> = list_rules(db, ws)?.iter().map(|r| r.rule.id.0).collect();
    let mut wanted: Vec<i64> = ids.iter().map(|r| r.0).collect();
    have.sort_unstable();
    wanted.sort_unstable();
    if have != wanted {
        return Err(refused(
            "invalid_request",
            "rule_ids must list every rule of the workspace exactly once",
        ));
    }
    for (position, id) in ids.iter().enumerate() {
        db.execute(
            "UPDATE automation_rules SET position = $1 WHERE id = $2 AND workspace_id = $3",
            &[(position as i64).into(), id.0.into(), ws.0.into()],
        )?;
    }
    bump(db, ws)?;
    list_rules(db, ws)
}

pub(crate) fn get_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
) -> Result<AutomationSettings, StoreError> {
    let row = db.query_opt(
        "SELECT settings FROM automation_settings WHERE workspace_id = $1",
        &[ws.0.into()],
    )?;
    match row.map(|r| r.opt_text(0)).transpose()?.flatten() {
        Some(text) => Ok(serde_json::from_str(&text)?),
        None => Ok(AutomationSettings::default()),
    }
}

pub(crate) fn set_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
    settings: AutomationSettings,
) -> Result<AutomationSettings, StoreError> {
    settings.check().map_err(|e| refused("invalid_hours", e))?;
    bump(db, ws)?;
    db.execute(
        "UPDATE automation_settings SET settings = $1 WHERE workspace_id = $2",
        &[serde_json::to_string(&settings)?.into(), ws.0.into()],
    )?;
    Ok(settings)
}

// The rule set a push evaluates.

/// A workspace's enabled rules, compiled, with its hours and limits.
pub(crate) struct RuleSet {
    rules: Vec<CompiledRule>,
    hours: WorkingHours,
    limits: Limits,
    /// Whether any rule looks at labels, at "first contact ever", or at
    /// "new conversation", so pushes read those facts only when needed.
    needs_labels: bool,
    needs_first_contact: bool,
    needs_new_conversation: bool,
}

/// Compiled rule sets by (workspace id, rule-set version).
type RuleSets = HashMap<(i64, i64), Arc<RuleSet>>;

/// Compiled rule sets, shared by this process.
static CACHE: Mutex<Option<RuleSets>> = Mutex::new(None);

/// Most rule sets kept; the cache is emptied when it grows past this.
const CACHE_LIMIT: usize = 4096;

fn load_rule_set(
    db: &mut dyn Db,
    ws: WorkspaceId,
    enabled_only: bool,
) -> Result<Option<Arc<RuleSet>>, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT version, enabled_rules, settings FROM automation_settings WHERE workspace_id = $1",
        &[ws.0.into()],
    )?
    else {
        return Ok(None);
    };
    if row.int(1)? == 0 {
        return Ok(None);
    }
    let key = (ws.0, row.int(0)?);
    if enabled_only
        && let Some(found) = CACHE
            .lock()
            .ok()
            .and_then(|c| c.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok(Some(found));
    }
    let settings: AutomationSettings = match row.opt_text(2)? {
        Some(text) => serde_json::from_str(&text)?,
        None => AutomationSettings::default(),
    };
    let hours = match settings.working_hours() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(workspace = ws.0, error = %e, "automation hours unusable; always open");
            WorkingHours::always(imhub_core::hours::DEFAULT_TIME_ZONE)
                .map_err(|e| StoreError::Database(e.to_string()))?
        }
    };
    let mut rules = Vec::new();
    for stored in list_rules(db, ws)? {
        if !stored.rule.enabled {
            continue;
        }
        let id = stored.rule.id;
        match CompiledRule::new(stored.rule) {
            Ok(c) => rules.push(c),
            // Saved rules were checked; one that no longer compiles (a
            // limit lowered since) is skipped, not fatal to the push.
            Err(e) => tracing::warn!(rule = id.0, error = %e, "automation rule skipped"),
        }
    }
    let any = |f: &dyn Fn(&Rule) -> bool| rules.iter().any(|c| f(&c.rule));
    let set = Arc::new(RuleSet {
        needs_labels: any(&|r| {
            !r.scope.label_ids.is_empty()
                || r.conditions.iter().any(|c| {
                    matches!(
                        c,
                        Condition::ContactHasLabel { .. } | Condition::ContactLacksLabel { .. }
                    )
                })
        }),
        needs_first_contact: any(&|r| r.conditions.contains(&Condition::FirstContactEver)),
        needs_new_conversation: any(&|r| r.trigger == Trigger::EnteredChat),
        rules,
        hours,
        limits: settings.limits(),
    });
    if let Ok(mut cache) = CACHE.lock() {
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, Arc::clone(&set));
    }
    Ok(Some(set))
}

/// The rule set of one push, looked up at most once per push.
#[derive(Default)]
pub(crate) struct PushRules {
    loaded: RefCell<Option<Option<Arc<RuleSet>>>>,
}

impl PushRules {
    fn get(&self, db: &mut dyn Db, ws: WorkspaceId) -> Result<Option<Arc<RuleSet>>, StoreError> {
        if let Some(found) = self.loaded.borrow().as_ref() {
            return Ok(found.clone());
        }
        let set = load_rule_set(db, ws, true)?;
        *self.loaded.borrow_mut() = Some(set.clone());
        Ok(set)
    }
}

// Applying decisions.

/// What the store was told happened, as automation sees it.
pub(crate) enum Cause<'a> {
    /// The customer opened the chat; `context` is the enter event's reply context.
    EnteredChat {
        context: Option<&'a Value>,
        at: Timestamp,
    },
    /// A customer message was recorded (not a duplicate).
    CustomerMessage {
        message: MessageId,
        content: &'a Content,
        context: Option<&'a Value>,
        at: Timestamp,
    },
    /// An escalation timer of a rule came due.
    Timer { rule: RuleId },
}

/// What applying a decision did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub changes: Vec<Change>,
    /// An automatic reply entered the outbox (wake the delivery engine).
    pub queued: bool,
}

/// The facts of a conversation the rules and replies look at.
struct Facts {
    kind: String,
    contact_id: Option<i64>,
    assignee_id: Option<i64>,
    title: String,
    peer: String,
    state: AutomationState,
    account_name: String,
}

fn facts(db: &mut dyn Db, conversation: ConversationId) -> Result<Facts, StoreError> {
    let row = db.query_one(
        "SELECT c.kind, c.contact_id, c.assignee_id, c.title, c.peer_external_id, \
           c.automation_state, a.name FROM conversations c \
         JOIN accounts a ON a.id = c.account_id WHERE c.id = $1",
        &[conversation.0.into()],
    )?;
    Ok(Facts {
        kind: row.text(0)?,
        contact_id: row.opt_int(1)?,
        assignee_id: row.opt_int(2)?,
        title: row
            .opt_text(3)?
            .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
        peer: row.text(4)?,
        state: match row.opt_text(5)? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => AutomationState::default(),
        },
        account_name: row.text(6)?,
    })
}

/// Runs the workspace's rules on `cause` in the caller's transaction and
/// applies what they decide. `now` is the time of the decision (the push's
/// arrival, the timer's due time as the engine saw it).
pub(crate) fn on_event(
    db: &mut dyn Db,
    rules: &PushRules,
    ws: WorkspaceId,
    platform: Platform,
    conv: &ConversationState,
    cause: Cause<'_>,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let Some(set) = rules.get(db, ws)? else {
        if let Cause::Timer { rule } = cause {
            // No rules any more: the pending escalation is simply forgotten.
            forget_timer(db, conv.id, rule)?;
        }
        return Ok(Applied::default());
    };
    if let Cause::Timer { rule } = &cause
        && !set.rules.iter().any(|r| r.rule.id == *rule)
    {
        // The rule was disabled or deleted since its timer was set.
        forget_timer(db, conv.id, *rule)?;
        return Ok(Applied::default());
    }
    // Most pushes match no rule: those cost nothing more than their text
    // matched once, no read of the conversation, no write.
    let pre_text = match &cause {
        Cause::CustomerMessage {
            content: Content::Text { text },
            ..
        } => Some(text.as_str()),
        _ => None,
    };
    let pre_event = match &cause {
        Cause::EnteredChat { .. } => AutomationEvent::EnteredChat,
        Cause::CustomerMessage { .. } => AutomationEvent::CustomerMessage {
            text: pre_text,
            new_conversation: true,
        },
        Cause::Timer { rule } => AutomationEvent::Timer { rule: *rule },
    };
    if !imhub_core::automation::may_trigger(
        &set.rules,
        &pre_event,
        platform,
        conv.account_id,
        &set.hours,
        now,
    ) {
        return Ok(Applied::default());
    }
    let f = facts(db, conv.id)?;
    // Automation answers customers in direct chats only.
    if f.kind != "direct" {
        return Ok(Applied::default());
    }
    let mut labels: Vec<LabelId> = Vec::new();
    if set.needs_labels {
        labels = crate::labels::conversation_labels(db, ws, conv.id)?;
        if let Some(contact) = f.contact_id {
            labels.extend(crate::labels::contact_labels(
                db,
                ws,
                imhub_core::ContactId(contact),
            )?);
        }
    }
    let first_contact_ever = set.needs_first_contact
        && match f.contact_id {
            Some(contact) => {
                db.query_one(
                    "SELECT COUNT(*) FROM conversations WHERE contact_id = $1",
                    &[contact.into()],
                )?
                .int(0)?
                    <= 1
            }
            None => false,
        };
    let text_of = |c: &Content| match c {
        Content::Text { text } => Some(text.clone()),
        _ => None,
    };
    let (event_text, new_conversation) = match &cause {
        Cause::CustomerMessage {
            message, content, ..
        } => {
            let new = set.needs_new_conversation
                && db
                    .query_opt(
                        "SELECT 1 FROM messages WHERE conversation_id = $1 AND id <> $2 \
                         AND direction IN ('in', 'out') LIMIT 1",
                        &[conv.id.0.into(), message.0.into()],
                    )?
                    .is_none();
            (text_of(content), new)
        }
        _ => (None, false),
    };
    let event = match &cause {
        Cause::EnteredChat { .. } => AutomationEvent::EnteredChat,
        Cause::CustomerMessage { .. } => AutomationEvent::CustomerMessage {
            text: event_text.as_deref(),
            new_conversation,
        },
        Cause::Timer { rule } => AutomationEvent::Timer { rule: *rule },
    };
    let ctx = AutomationContext {
        platform,
        account_id: conv.account_id,
        platform_has_enter_event: platform == Platform::Douyin,
        labels: &labels,
        assigned: f.assignee_id.is_some(),
        first_contact_ever,
    };
    let decision = decide(
        &set.rules, &event, &ctx, &f.state, &set.hours, set.limits, now,
    );
    let mut applied = Applied::default();
    // A new local day with nothing counted yet is not worth a write.
    let mut before = f.state.clone();
    if before.replies_today == 0 && decision.state.replies_today == 0 {
        before.reply_day = decision.state.reply_day;
    }
    if decision.state != before {
        db.execute(
            "UPDATE conversations SET automation_state = $1 WHERE id = $2",
            &[
                serde_json::to_string(&decision.state)?.into(),
                conv.id.0.into(),
            ],
        )?;
    }
    for timer in &decision.timers {
        timers::schedule(
            db,
            ws,
            &timers::NewTimer {
                kind: ESCALATION.to_string(),
                conversation_id: Some(conv.id),
                due_at: timer.due_at,
                payload: Some(json!({"rule_id": timer.rule})),
            },
            now,
        )?;
    }
    let (context, event_at) = match &cause {
        Cause::EnteredChat { context, at } | Cause::CustomerMessage { context, at, .. } => {
            (*context, Some(*at))
        }
        Cause::Timer { .. } => (None, None),
    };
    for fired in &decision.fired {
        count(db, ws, fired.rule, now, Counter::Fired)?;
        for action in &fired.actions {
            let step = apply_action(
                db,
                ws,
                platform,
                conv,
                &f,
                fired.rule,
                action,
                (context, event_at),
                now,
                &mut applied,
            );
            match step {
                Ok(()) => {}
                // An action the store refuses (an agent disabled since the
                // rule was saved) is the rule's failure, not the push's.
                Err(StoreError::Refused { code, detail }) => {
                    fail(db, ws, fired.rule, Some(conv.id), None, code, &detail, now)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(applied)
}

/// Fills a reply's variables for the conversation; `{{agent.name}}` is the
/// assignee's name (empty when nobody has the conversation).
fn render(
    db: &mut dyn Db,
    ws: WorkspaceId,
    platform: Platform,
    f: &Facts,
    text: &str,
) -> Result<String, StoreError> {
    let agent = match f.assignee_id {
        Some(id) => db
            .query_opt(
                "SELECT name FROM users WHERE id = $1 AND workspace_id = $2",
                &[id.into(), ws.0.into()],
            )?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_default(),
        None => String::new(),
    };
    template::render(text, |v| match v {
        Variable::ContactNickname => f.title.clone(),
        Variable::ContactPlatformId => f.peer.clone(),
        Variable::AgentName => agent.clone(),
        Variable::AccountName => f.account_name.clone(),
        Variable::ConversationPlatform => platform.as_str().to_string(),
    })
    .map_err(|e| refused(e.code(), e.to_string()))
}

/// The content a reply action sends, variables filled.
fn reply_content(
    db: &mut dyn Db,
    ws: WorkspaceId,
    platform: Platform,
    f: &Facts,
    action: &Action,
) -> Result<Option<Content>, StoreError> {
    let Action::Reply {
        text,
        content,
        quick_reply_id,
    } = action
    else {
        return Ok(None);
    };
    let content = match (text, content, quick_reply_id) {
        (Some(text), _, _) => Content::Text {
            text: render(db, ws, platform, f, text)?,
        },
        (None, Some(content), _) => content.clone(),
        (None, None, Some(id)) => quick_reply(db, ws, platform, f, *id)?,
        (None, None, None) => return Ok(None),
    };
    if platform == Platform::Douyin
        && let Content::Text { text } = &content
    {
        let chars = text.chars().count();
        if chars > DOUYIN_AUTO_REPLY_CHARS {
            return Err(refused(
                "reply_too_long_for_douyin",
                format!(
                    "with its variables filled the reply has {chars} characters; Douyin takes \
                     at most {DOUYIN_AUTO_REPLY_CHARS}"
                ),
            ));
        }
    }
    content.validate().map_err(|r| refused(r.code, r.message))?;
    Ok(Some(content))
}

/// A shared quick reply's content: its text filled, or its image or card
/// when it has no text.
fn quick_reply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    platform: Platform,
    f: &Facts,
    id: QuickReplyId,
) -> Result<Content, StoreError> {
    let row = db
        .query_opt(
            "SELECT text, content FROM quick_replies WHERE id = $1 AND workspace_id = $2 \
             AND owner_user_id IS NULL",
            &[id.0.into(), ws.0.into()],
        )?
        .ok_or_else(|| {
            refused(
                "unknown_quick_reply",
                format!("quick reply {} no longer exists", id.0),
            )
        })?;
    let text = row.text(0)?;
    if text.trim().is_empty()
        && let Some(content) = row.opt_text(1)?
    {
        return Ok(serde_json::from_str(&content)?);
    }
    Ok(Content::Text {
        text: render(db, ws, platform, f, &text)?,
    })
}

#[allow(clippy::too_many_arguments)]
fn apply_action(
    db: &mut dyn Db,
    ws: WorkspaceId,
    platform: Platform,
    conv: &ConversationState,
    f: &Facts,
    rule: RuleId,
    action: &Action,
    (context, event_at): (Option<&Value>, Option<Timestamp>),
    now: Timestamp,
    applied: &mut Applied,
) -> Result<(), StoreError> {
    match action {
        Action::Reply { .. } => {
            // Past the workspace's messages per day (operator quota) the
            // reply is the rule's failure `quota_exceeded`, not queued.
            crate::operator::check_daily_sends(db, ws, now)?;
            let Some(content) = reply_content(db, ws, platform, f, action)? else {
                return Ok(());
            };
            // After the message it answers, even when the platform's clock
            // is a little ahead of ours.
            let at = event_at.map_or(now, |t| t.max(now));
            let id = MessageId(
                db.query_one(
                    "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, \
                       content, status, created_at, updated_at, sender_kind, rule_id, \
                       reply_context, reply_to_at) \
                     VALUES ($1, $2, $3, 'out', $4, 'queued', $5, $5, 'automation', $6, $7, $8) \
                     RETURNING id",
                    &[
                        ws.0.into(),
                        conv.id.0.into(),
                        conv.channel_id.into(),
                        serde_json::to_string(&content)?.into(),
                        at.millis().into(),
                        rule.0.into(),
                        context.map(|c| c.to_string()).into(),
                        context.and(event_at).map(|t| t.millis()).into(),
                    ],
                )?
                .int(0)?,
            );
            touch_conversation(db, conv.id, id, at, &content.preview(), false, None)?;
            outbox::insert(db, ws, id, conv.id, crate::OutboxOp::Send, at)?;
            // An automatic reply does not end the customer's turn; its time
            // is noted on it (reply-time KPIs).
            crate::turns::on_message(
                db,
                ws,
                conv.id,
                imhub_core::turns::Writer::Automation,
                at,
                None,
                id,
            )?;
            applied.queued = true;
            applied.changes.push(Change::MessageCreated {
                workspace_id: ws,
                conversation_id: conv.id,
                message_id: id,
            });
            applied.changes.push(Change::ConversationUpdated {
                workspace_id: ws,
                conversation_id: conv.id,
            });
        }
        Action::Assign(AssignTo::Agent { agent_id }) => {
            let enabled = db
                .query_opt(
                    "SELECT 1 FROM users WHERE id = $1 AND workspace_id = $2 \
                     AND disabled_at IS NULL",
                    &[agent_id.0.into(), ws.0.into()],
                )?
                .is_some();
            if !enabled {
                return Err(refused(
                    "unknown_agent",
                    format!("user {agent_id} is no longer an enabled agent"),
                ));
            }
            let system = assignment::Actor {
                user_id: None,
                role: imhub_core::Role::Admin,
            };
            applied.changes.extend(assignment::assign(
                db,
                ws,
                conv.id,
                Some(*agent_id),
                system,
                now,
            )?);
        }
        Action::Assign(AssignTo::Auto) => {
            let current = assignment::lock_conversation(db, ws, conv.id)?;
            if current.assignee_id.is_none() {
                // The account's own pool when it auto-assigns, else every
                // agent of the workspace.
                let pool = assignment::auto_assign_pool(db, conv.account_id)?;
                let changes = match pool {
                    Some(_) => assignment::offer(db, ws, &current, pool.as_ref(), now)?,
                    None => assignment::offer_all(db, ws, &current, now)?,
                };
                applied.changes.extend(changes);
            }
        }
        Action::AddLabel { label_id } => {
            db.query_opt(
                "SELECT 1 FROM labels WHERE id = $1 AND workspace_id = $2",
                &[label_id.0.into(), ws.0.into()],
            )?
            .ok_or_else(|| {
                refused(
                    "unknown_label",
                    format!("label {label_id} no longer exists"),
                )
            })?;
            let n = db.execute(
                "INSERT INTO conversation_labels (conversation_id, label_id, workspace_id) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[conv.id.0.into(), label_id.0.into(), ws.0.into()],
            )?;
            if n > 0 {
                applied.changes.push(Change::ConversationLabelsChanged {
                    workspace_id: ws,
                    conversation_id: conv.id,
                });
            }
        }
        Action::SetStatus { status } => {
            applied.changes.extend(assignment::change_status(
                db,
                ws,
                conv.id,
                crate::StatusChange {
                    status: *status,
                    snoozed_until: None,
                },
                None,
                now,
            )?);
        }
        Action::EmitWebhook => applied.changes.push(Change::AutomationFired {
            workspace_id: ws,
            conversation_id: conv.id,
            rule_id: rule,
        }),
    }
    Ok(())
}

/// Drops a rule from a conversation's pending escalations (its timer fired
/// while the rule was gone).
fn forget_timer(
    db: &mut dyn Db,
    conversation: ConversationId,
    rule: RuleId,
) -> Result<(), StoreError> {
    let Some(row) = db.query_opt(
        "SELECT automation_state FROM conversations WHERE id = $1",
        &[conversation.0.into()],
    )?
    else {
        return Ok(());
    };
    let Some(text) = row.opt_text(0)? else {
        return Ok(());
    };
    let mut state: AutomationState = serde_json::from_str(&text).unwrap_or_default();
    if state.pending_timers.remove(&rule) {
        db.execute(
            "UPDATE conversations SET automation_state = $1 WHERE id = $2",
            &[serde_json::to_string(&state)?.into(), conversation.0.into()],
        )?;
    }
    Ok(())
}

/// A human replied in the conversation (an agent's or API send, or the
/// merchant writing in the platform's app): automatic replies pause for
/// the takeover minutes and pending escalations are cancelled, in the
/// reply's own transaction.
pub(crate) fn human_replied(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    at: Timestamp,
) -> Result<(), StoreError> {
    let Some(row) = db.query_opt(
        "SELECT automation_state FROM conversations WHERE id = $1 AND workspace_id = $2",
        &[conversation.0.into(), ws.0.into()],
    )?
    else {
        return Ok(());
    };
    let state: AutomationState = match row.opt_text(0)? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => AutomationState::default(),
    };
    let had_timers = !state.pending_timers.is_empty();
    let next = imhub_core::automation::human_replied(&state, at);
    db.execute(
        "UPDATE conversations SET automation_state = $1 WHERE id = $2",
        &[serde_json::to_string(&next)?.into(), conversation.0.into()],
    )?;
    if had_timers {
        timers::cancel(db, ws, conversation, ESCALATION)?;
    }
    Ok(())
}

/// An escalation timer came due: the rule is evaluated with
/// [`AutomationEvent::Timer`] in the timer's own transaction.
pub(crate) fn escalate(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    payload: Option<&Value>,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let Some(rule) = payload
        .and_then(|p| p.get("rule_id"))
        .and_then(Value::as_i64)
        .map(RuleId)
    else {
        return Ok(Applied::default());
    };
    let conv = match assignment::lock_conversation(db, ws, conversation) {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(Applied::default()),
        Err(e) => return Err(e),
    };
    let platform = crate::rows::platform(
        &db.query_one(
            "SELECT platform FROM conversations WHERE id = $1",
            &[conversation.0.into()],
        )?
        .text(0)?,
    )?;
    on_event(
        db,
        &PushRules::default(),
        ws,
        platform,
        &conv,
        Cause::Timer { rule },
        now,
    )
}

// Counters and failures.

enum Counter {
    Fired,
    Sent,
    Failed,
}

fn utc_day(at: Timestamp) -> i64 {
    at.millis().div_euclid(DAY_MS)
}

fn count(
    db: &mut dyn Db,
    ws: WorkspaceId,
    rule: RuleId,
    at: Timestamp,
    counter: Counter,
) -> Result<(), StoreError> {
    let (fired, sent, failed) = match counter {
        Counter::Fired => (1i64, 0i64, 0i64),
        Counter::Sent => (0, 1, 0),
        Counter::Failed => (0, 0, 1),
    };
    db.execute(
        "INSERT INTO automation_stats (rule_id, day, workspace_id, fired, sent, failed) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rule_id, day) DO UPDATE SET \
           fired = automation_stats.fired + excluded.fired, \
           sent = automation_stats.sent + excluded.sent, \
           failed = automation_stats.failed + excluded.failed",
        &[
            rule.0.into(),
            utc_day(at).into(),
            ws.0.into(),
            fired.into(),
            sent.into(),
            failed.into(),
        ],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn fail(
    db: &mut dyn Db,
    ws: WorkspaceId,
    rule: RuleId,
    conversation: Option<ConversationId>,
    message: Option<MessageId>,
    code: &str,
    text: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    count(db, ws, rule, at, Counter::Failed)?;
    let text: String = text.chars().take(500).collect();
    let id = db
        .query_one(
            "INSERT INTO automation_failures (workspace_id, rule_id, conversation_id, \
               message_id, code, text, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                ws.0.into(),
                rule.0.into(),
                conversation.map(|c| c.0).into(),
                message.map(|m| m.0).into(),
                code.into(),
                text.into(),
                at.millis().into(),
            ],
        )?
        .int(0)?;
    db.execute(
        "DELETE FROM automation_failures WHERE rule_id = $1 AND id <= $2",
        &[rule.0.into(), (id - MAX_FAILURES_KEPT * 4).into()],
    )?;
    Ok(())
}

/// How an automatic reply's delivery ended, counted for its rule: called
/// by the outbox in the transaction that records the outcome. Nothing for
/// messages no rule sent.
pub(crate) fn delivered(
    db: &mut dyn Db,
    ws: WorkspaceId,
    message: &imhub_core::Message,
    failure: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    let Some(rule) = message.rule_id else {
        return Ok(());
    };
    let now = Timestamp::now();
    match failure {
        None => count(db, ws, rule, now, Counter::Sent),
        Some((code, text)) => fail(
            db,
            ws,
            rule,
            Some(message.conversation_id),
            Some(message.id),
            code,
            text,
            now,
        ),
    }
}

fn civil(day: i64) -> String {
    Timestamp(day * DAY_MS)
        .to_rfc3339()
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn rule_stats(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: RuleId,
    now: Timestamp,
) -> Result<RuleStats, StoreError> {
    get_rule(db, ws, id)?;
    let today = utc_day(now);
    let days: Vec<DayStats> = db
        .query(
            "SELECT day, fired, sent, failed FROM automation_stats \
             WHERE rule_id = $1 AND day > $2 AND day <= $3 ORDER BY day",
            &[id.0.into(), (today - STATS_DAYS).into(), today.into()],
        )?
        .iter()
        .map(|r| {
            Ok(DayStats {
                day: civil(r.int(0)?),
                fired: r.int(1)?,
                sent: r.int(2)?,
                failed: r.int(3)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let recent_failures = db
        .query(
            "SELECT at, code, text, conversation_id, message_id FROM automation_failures \
             WHERE rule_id = $1 ORDER BY id DESC LIMIT 20",
            &[id.0.into()],
        )?
        .iter()
        .map(|r| {
            Ok(RuleFailure {
                at: Timestamp(r.int(0)?),
                code: r.text(1)?,
                text: r.text(2)?,
                conversation_id: r.opt_int(3)?.map(ConversationId),
                message_id: r.opt_int(4)?.map(MessageId),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(RuleStats {
        rule_id: id,
        fired: days.iter().map(|d| d.fired).sum(),
        sent: days.iter().map(|d| d.sent).sum(),
        failed: days.iter().map(|d| d.failed).sum(),
        days,
        recent_failures,
    })
}

/// A dry run: which enabled rules would fire on the sample and what they
/// would send, reading only (nothing stored, nothing sent). The sample's
/// conversation is a fresh one: unassigned, no labels, no automation
/// history, the contact's first.
pub(crate) fn test_rules(
    db: &mut dyn Db,
    ws: WorkspaceId,
    sample: &RuleTest,
) -> Result<RuleTestOutcome, StoreError> {
    let account_name = match sample.account_id {
        Some(id) => db
            .query_one(
                "SELECT a.name, c.platform FROM accounts a JOIN channels c ON c.id = a.channel_id \
                 WHERE a.id = $1 AND a.workspace_id = $2",
                &[id.0.into(), ws.0.into()],
            )?
            .text(0)?,
        None => String::new(),
    };
    let now = sample.at.unwrap_or_else(Timestamp::now);
    let set = load_rule_set(db, ws, false)?;
    let settings = get_settings(db, ws)?;
    let hours = settings
        .working_hours()
        .map_err(|e| refused("invalid_hours", e.to_string()))?;
    let within = hours.is_open(now);
    let Some(set) = set else {
        return Ok(RuleTestOutcome {
            within_business_hours: within,
            fired: Vec::new(),
            escalations: Vec::new(),
        });
    };
    let event = if sample.entered_chat {
        AutomationEvent::EnteredChat
    } else {
        AutomationEvent::CustomerMessage {
            text: sample.text.as_deref(),
            new_conversation: sample.new_conversation,
        }
    };
    let ctx = AutomationContext {
        platform: sample.platform,
        account_id: sample.account_id.unwrap_or(AccountId(0)),
        platform_has_enter_event: sample.platform == Platform::Douyin,
        labels: &[],
        assigned: false,
        first_contact_ever: true,
    };
    let decision = decide(
        &set.rules,
        &event,
        &ctx,
        &AutomationState::default(),
        &hours,
        settings.limits(),
        now,
    );
    let f = Facts {
        kind: "direct".into(),
        contact_id: None,
        assignee_id: None,
        title: sample
            .nickname
            .clone()
            .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
        peer: String::new(),
        state: AutomationState::default(),
        account_name,
    };
    let mut fired = Vec::new();
    for one in decision.fired {
        let name = set
            .rules
            .iter()
            .find(|r| r.rule.id == one.rule)
            .map(|r| r.rule.name.clone())
            .unwrap_or_default();
        let mut reply = None;
        for action in &one.actions {
            if let Some(content) = reply_content(db, ws, sample.platform, &f, action)? {
                reply = Some(content);
            }
        }
        fired.push(TestFired {
            rule_id: one.rule,
            name,
            actions: one.actions,
            reply_held: one.reply_held,
            reply,
        });
    }
    Ok(RuleTestOutcome {
        within_business_hours: within,
        fired,
        escalations: decision
            .timers
            .iter()
            .map(|t| TestEscalation {
                rule_id: t.rule,
                due_at: t.due_at,
            })
            .collect(),
    })
}
