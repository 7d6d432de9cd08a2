//! Alerts (issue 14): a workspace's alert targets (robots and signed
//! webhooks) with the rules enabled on each, its alert settings, and the
//! deliveries. An alert is raised inside the transaction of its cause (a
//! breach timer firing, an account losing its authorization, a reply
//! failing for good, a channel falling silent, a new lead): throttled per
//! conversation (or account, or channel) and target, then added to the
//! target's delivery that is still collecting, or written as a new one. The
//! first alert in a quiet period goes out at once; those that follow within
//! `digest_seconds` go out together as one digest. Deliveries are leased
//! and retried like outgoing webhooks, and no robot gets more messages a
//! minute than its platform takes.

use imhub_core::{
    Account, AccountState, ChannelId, ConversationId, Message, Timestamp, WorkspaceId,
    alerts::{Alert, AlertRule, MessageFormat, TargetKind},
    hours::WorkingHours,
};
use serde::{Deserialize, Serialize};

use crate::{
    StoreError,
    db::{Db, Dialect, Row},
    secrets::{KeyRing, Slot},
    timers::{self, NewTimer},
};

/// The timer kind of a customer's wait reaching the breach threshold.
pub const BREACH: &str = "alert_breach";
/// The timer kind of the periodic "no push for N hours" check.
pub const SILENCE_CHECK: &str = "alert_silence";
/// How often channels are checked for silence.
pub const SILENCE_CHECK_EVERY_MS: i64 = 15 * 60_000;
/// A turn that opened longer ago than this when recorded (history
/// imports) sets no breach timer.
pub const HISTORY_MS: i64 = 3_600_000;
/// Most targets a workspace may have.
pub const MAX_TARGETS: usize = 20;
/// Most alerts one delivery collects; later ones start a new delivery.
pub const MAX_ALERTS_PER_DELIVERY: usize = 100;

/// An alert target as the API shows it: never the secret, and the URL
/// with its query values hidden (a 企业微信 `key` or a 钉钉
/// `access_token` is a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertTarget {
    pub id: i64,
    pub kind: TargetKind,
    pub name: String,
    /// The URL with every query value (and a 飞书 hook token) as `***`.
    pub url: String,
    /// Whether a signing secret is stored (it is never shown).
    pub secret_set: bool,
    pub format: MessageFormat,
    /// The rules enabled on this target.
    pub rules: Vec<AlertRule>,
    pub enabled: bool,
    /// How the last attempt (a delivery or the test) ended.
    pub last_result: Option<AlertResult>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How one attempt ended, with the robot's own answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertResult {
    pub at: Timestamp,
    pub ok: bool,
    /// The HTTP status, when the robot answered.
    pub http_status: Option<i64>,
    /// The robot's own code: `errcode` (企业微信, 钉钉), `code` (飞书).
    pub code: Option<i64>,
    /// The robot's own message: `errmsg` / `msg`.
    pub message: Option<String>,
    /// Our reason when there was no usable answer (refused target,
    /// timeout, connection failure).
    pub error: Option<String>,
}

/// A target to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertTarget {
    pub kind: TargetKind,
    pub name: String,
    pub url: String,
    pub secret: Option<String>,
    pub format: MessageFormat,
    pub rules: Vec<AlertRule>,
    pub enabled: bool,
}

/// Changes to a target; `None` keeps a field. `secret: Some(None)` removes
/// the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertTargetPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub secret: Option<Option<String>>,
    pub format: Option<MessageFormat>,
    pub rules: Option<Vec<AlertRule>>,
    pub enabled: Option<bool>,
}

/// A workspace's alert settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// A customer waiting this long for a human reply is a breach (1–1440).
    #[schema(minimum = 1, maximum = 1440)]
    pub breach_minutes: i64,
    /// One alert per conversation (account, channel) and target per this
    /// many minutes (0–1440; 0 never throttles).
    #[schema(minimum = 0, maximum = 1440)]
    pub throttle_minutes: i64,
    /// Alerts within this many seconds after a message go out together
    /// as one digest (0–3600; 0 sends each alone).
    #[schema(minimum = 0, maximum = 3600)]
    pub digest_seconds: i64,
    /// A channel without any push for this many hours is silent (1–720).
    #[schema(minimum = 1, maximum = 720)]
    pub silence_hours: i64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            breach_minutes: 3,
            throttle_minutes: 10,
            digest_seconds: 60,
            silence_hours: 6,
        }
    }
}

impl AlertSettings {
    /// Why the settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let range = |name: &str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between {lo} and {hi}"))
            }
        };
        range("breach_minutes", self.breach_minutes, 1, 1440)?;
        range("throttle_minutes", self.throttle_minutes, 0, 1440)?;
        range("digest_seconds", self.digest_seconds, 0, 3600)?;
        range("silence_hours", self.silence_hours, 1, 720)
    }
}

/// A delivery to send (leased), or a test send: what the engine needs.
#[derive(Clone)]
pub struct AlertJob {
    /// The delivery; 0 for a test send.
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub target_id: i64,
    pub kind: TargetKind,
    pub url: String,
    pub secret: Option<String>,
    pub format: MessageFormat,
    pub alerts: Vec<Alert>,
    pub attempts: i64,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for AlertJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertJob")
            .field("id", &self.id)
            .field("target_id", &self.target_id)
            .field("kind", &self.kind)
            .field("alerts", &self.alerts.len())
            .finish_non_exhaustive()
    }
}

/// What comes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertNext {
    Delivered,
    Retry { at: Timestamp },
    GaveUp,
}

/// One delivery as listed on its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertDelivery {
    pub id: i64,
    pub target_id: i64,
    pub alerts: Vec<Alert>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    /// The robot's own code of the last attempt.
    pub last_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// The URL as shown: every query value replaced by `***` (a 企业微信 `key`,
/// a 钉钉 `access_token`), and for 飞书 the hook token of the path too.
pub fn redact_url(kind: TargetKind, url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match (kind, base.rfind("/hook/")) {
        (TargetKind::Feishu, Some(at)) => format!("{}/hook/***", &base[..at]),
        _ => base.to_string(),
    };
    match query {
        None => base,
        Some(query) => {
            let hidden: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}=***"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", hidden.join("&"))
        }
    }
}

fn rules_text(rules: &[AlertRule]) -> String {
    let mut names: Vec<&str> = AlertRule::ALL
        .iter()
        .filter(|r| rules.contains(r))
        .map(|r| r.as_str())
        .collect();
    names.dedup();
    names.join(",")
}

fn parse_rules(text: &str) -> Vec<AlertRule> {
    text.split(',').filter_map(AlertRule::parse).collect()
}

const TARGET_COLUMNS: &str = "id, kind, name, url, secret, format, rules, enabled, last_at, \
     last_ok, last_status, last_code, last_message, last_error, created_at, updated_at";

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} {value:?} in database"))
}

fn target(row: &Row) -> Result<AlertTarget, StoreError> {
    let kind = row.text(1)?;
    let format = row.text(5)?;
    let last_result = match row.opt_int(8)? {
        Some(at) => Some(AlertResult {
            at: Timestamp(at),
            ok: row.opt_int(9)?.unwrap_or(0) != 0,
            http_status: row.opt_int(10)?,
            code: row.opt_int(11)?,
            message: row.opt_text(12)?,
            error: row.opt_text(13)?,
        }),
        None => None,
    };
    let kind = TargetKind::parse(&kind).ok_or_else(|| bad("alert target kind", &kind))?;
    Ok(AlertTarget {
        id: row.int(0)?,
        kind,
        name: row.text(2)?,
        url: redact_url(kind, &row.text(3)?),
        secret_set: !row.text(4)?.is_empty(),
        format: MessageFormat::parse(&format).ok_or_else(|| bad("message format", &format))?,
        rules: parse_rules(&row.text(6)?),
        enabled: row.int(7)? != 0,
        last_result,
        created_at: Timestamp(row.int(14)?),
        updated_at: Timestamp(row.int(15)?),
    })
}

fn seal_secret(
    db: &mut dyn Db,
    keys: &KeyRing,
    id: i64,
    secret: Option<&str>,
) -> Result<(), StoreError> {
    let sealed = match secret.filter(|s| !s.is_empty()) {
        Some(s) => keys.seal(Slot::AlertTargetSecret { target: id }, s)?,
        None => String::new(),
    };
    db.execute(
        "UPDATE alert_targets SET secret = $1 WHERE id = $2",
        &[sealed.into(), id.into()],
    )?;
    Ok(())
}

pub(crate) fn create_target(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    new: NewAlertTarget,
    now: Timestamp,
) -> Result<AlertTarget, StoreError> {
    let count = db
        .query_one(
            "SELECT COUNT(*) FROM alert_targets WHERE workspace_id = $1",
            &[ws.0.into()],
        )?
        .int(0)?;
    if count >= MAX_TARGETS as i64 {
        return Err(StoreError::Refused {
            code: "too_many_alert_targets",
            detail: format!("a workspace may have at most {MAX_TARGETS} alert targets"),
        });
    }
    let id = db
        .query_one(
            "INSERT INTO alert_targets (workspace_id, kind, name, url, secret, format, rules, \
               enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $8) \
             RETURNING id",
            &[
                ws.0.into(),
                new.kind.as_str().into(),
                new.name.clone().into(),
                new.url.clone().into(),
                new.format.as_str().into(),
                rules_text(&new.rules).into(),
                new.enabled.into(),
                now.millis().into(),
            ],
        )?
        .int(0)?;
    seal_secret(db, keys, id, new.secret.as_deref())?;
    ensure_silence_check(db, ws, now)?;
    get_target(db, ws, id)
}

pub(crate) fn get_target(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: i64,
) -> Result<AlertTarget, StoreError> {
    target(&db.query_one(
        &format!("SELECT {TARGET_COLUMNS} FROM alert_targets WHERE id = $1 AND workspace_id = $2"),
        &[id.into(), ws.0.into()],
    )?)
}

pub(crate) fn list_targets(
    db: &mut dyn Db,
    ws: WorkspaceId,
) -> Result<Vec<AlertTarget>, StoreError> {
    db.query(
        &format!("SELECT {TARGET_COLUMNS} FROM alert_targets WHERE workspace_id = $1 ORDER BY id"),
        &[ws.0.into()],
    )?
    .iter()
    .map(target)
    .collect()
}

/// The stored kind, URL (in full) and secret of a target, for checks and
/// sends.
pub(crate) fn target_job(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    id: i64,
) -> Result<AlertJob, StoreError> {
    let row = db.query_one(
        "SELECT kind, url, secret, format FROM alert_targets WHERE id = $1 AND workspace_id = $2",
        &[id.into(), ws.0.into()],
    )?;
    job_from(keys, ws, id, &row, 0)
}

/// Reads kind, url, secret and format from `row` starting at `at`.
fn job_from(
    keys: &KeyRing,
    ws: WorkspaceId,
    target_id: i64,
    row: &Row,
    at: usize,
) -> Result<AlertJob, StoreError> {
    let kind = row.text(at)?;
    let format = row.text(at + 3)?;
    let sealed = row.text(at + 2)?;
    Ok(AlertJob {
        id: 0,
        workspace_id: ws,
        target_id,
        kind: TargetKind::parse(&kind).ok_or_else(|| bad("alert target kind", &kind))?,
        url: row.text(at + 1)?,
        secret: if sealed.is_empty() {
            None
        } else {
            Some(keys.open(Slot::AlertTargetSecret { target: target_id }, &sealed)?)
        },
        format: MessageFormat::parse(&format).ok_or_else(|| bad("message format", &format))?,
        alerts: Vec::new(),
        attempts: 0,
        created_at: Timestamp(0),
    })
}

pub(crate) fn update_target(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    id: i64,
    patch: AlertTargetPatch,
    now: Timestamp,
) -> Result<AlertTarget, StoreError> {
    get_target(db, ws, id)?;
    let rules = patch.rules.as_deref().map(rules_text);
    db.execute(
        "UPDATE alert_targets SET name = COALESCE($1, name), url = COALESCE($2, url), \
           format = COALESCE($3, format), rules = COALESCE($4, rules), \
           enabled = COALESCE($5, enabled), updated_at = $6 WHERE id = $7 AND workspace_id = $8",
        &[
            patch.name.into(),
            patch.url.into(),
            patch.format.map(|f| f.as_str()).into(),
            rules.into(),
            patch.enabled.map(i64::from).into(),
            now.millis().into(),
            id.into(),
            ws.0.into(),
        ],
    )?;
    if let Some(secret) = patch.secret {
        seal_secret(db, keys, id, secret.as_deref())?;
    }
    ensure_silence_check(db, ws, now)?;
    get_target(db, ws, id)
}

pub(crate) fn delete_target(db: &mut dyn Db, ws: WorkspaceId, id: i64) -> Result<(), StoreError> {
    get_target(db, ws, id)?;
    for sql in [
        "DELETE FROM alert_deliveries WHERE target_id = $1",
        "DELETE FROM alert_throttle WHERE target_id = $1",
        "DELETE FROM alert_sends WHERE target_id = $1",
        "DELETE FROM alert_targets WHERE id = $1",
    ] {
        db.execute(sql, &[id.into()])?;
    }
    Ok(())
}

/// Records how an attempt (a delivery or the test) ended, on the target.
pub(crate) fn record_result(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: i64,
    result: &AlertResult,
) -> Result<(), StoreError> {
    let n = db.execute(
        "UPDATE alert_targets SET last_at = $1, last_ok = $2, last_status = $3, last_code = $4, \
           last_message = $5, last_error = $6 WHERE id = $7 AND workspace_id = $8",
        &[
            result.at.millis().into(),
            result.ok.into(),
            result.http_status.into(),
            result.code.into(),
            result.message.clone().into(),
            result.error.clone().into(),
            id.into(),
            ws.0.into(),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn get_settings(db: &mut dyn Db, ws: WorkspaceId) -> Result<AlertSettings, StoreError> {
    let row = db.query_opt(
        "SELECT breach_minutes, throttle_minutes, digest_seconds, silence_hours \
         FROM alert_settings WHERE workspace_id = $1",
        &[ws.0.into()],
    )?;
    Ok(match row {
        Some(row) => AlertSettings {
            breach_minutes: row.int(0)?,
            throttle_minutes: row.int(1)?,
            digest_seconds: row.int(2)?,
            silence_hours: row.int(3)?,
        },
        None => AlertSettings::default(),
    })
}

pub(crate) fn set_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
    settings: AlertSettings,
) -> Result<AlertSettings, StoreError> {
    settings.check().map_err(|detail| StoreError::Refused {
        code: "invalid_request",
        detail,
    })?;
    db.execute(
        "INSERT INTO alert_settings (workspace_id, breach_minutes, throttle_minutes, \
           digest_seconds, silence_hours) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workspace_id) DO UPDATE SET breach_minutes = excluded.breach_minutes, \
           throttle_minutes = excluded.throttle_minutes, digest_seconds = excluded.digest_seconds, \
           silence_hours = excluded.silence_hours",
        &[
            ws.0.into(),
            settings.breach_minutes.into(),
            settings.throttle_minutes.into(),
            settings.digest_seconds.into(),
            settings.silence_hours.into(),
        ],
    )?;
    Ok(settings)
}

/// The enabled targets of the workspace with `rule` on.
fn targets_with(db: &mut dyn Db, ws: WorkspaceId, rule: AlertRule) -> Result<Vec<i64>, StoreError> {
    db.query(
        "SELECT id FROM alert_targets WHERE workspace_id = $1 AND enabled = 1 \
           AND (',' || rules || ',') LIKE $2 ORDER BY id",
        &[ws.0.into(), format!("%,{},%", rule.as_str()).into()],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// Raises `alert` on every enabled target with its rule on, in the caller's
/// transaction. `throttle_key` names what it is about (`conversation:7`):
/// a target alerted about the same key within `throttle_minutes` is
/// skipped. Returns on how many targets it was queued.
pub fn raise(
    db: &mut dyn Db,
    ws: WorkspaceId,
    alert: &Alert,
    throttle_key: Option<&str>,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let targets = targets_with(db, ws, alert.rule)?;
    if targets.is_empty() {
        return Ok(0);
    }
    let settings = get_settings(db, ws)?;
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let mut queued = 0;
    for target in targets {
        if let Some(key) = throttle_key {
            let key = format!("{}:{key}", alert.rule.as_str());
            let last = db
                .query_opt(
                    &format!(
                        "SELECT last_at FROM alert_throttle WHERE target_id = $1 \
                         AND throttle_key = $2{lock}"
                    ),
                    &[target.into(), key.clone().into()],
                )?
                .map(|r| r.int(0))
                .transpose()?;
            let window = settings.throttle_minutes.saturating_mul(60_000);
            if last.is_some_and(|last| now.millis() < last.saturating_add(window)) {
                continue;
            }
            db.execute(
                "INSERT INTO alert_throttle (target_id, throttle_key, last_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (target_id, throttle_key) DO UPDATE SET last_at = excluded.last_at",
                &[target.into(), key.into(), now.millis().into()],
            )?;
        }
        queue(
            db,
            ws,
            target,
            alert,
            settings.digest_seconds * 1000,
            now,
            lock,
        )?;
        queued += 1;
    }
    Ok(queued)
}

/// Adds `alert` to the target's collecting delivery (not attempted yet and
/// due later), or writes a new delivery: due now after a quiet period, due
/// `digest_ms` after the previous one otherwise (so it collects).
fn queue(
    db: &mut dyn Db,
    ws: WorkspaceId,
    target: i64,
    alert: &Alert,
    digest_ms: i64,
    now: Timestamp,
    lock: &str,
) -> Result<(), StoreError> {
    let collecting = db.query_opt(
        &format!(
            "SELECT id, alerts FROM alert_deliveries WHERE target_id = $1 AND status = 'pending' \
               AND attempts = 0 AND lease_until IS NULL AND due_at > $2 \
             ORDER BY id DESC LIMIT 1{lock}"
        ),
        &[target.into(), now.millis().into()],
    )?;
    if let Some(row) = collecting {
        let mut alerts: Vec<Alert> = serde_json::from_str(&row.text(1)?)?;
        if alerts.len() < MAX_ALERTS_PER_DELIVERY {
            alerts.push(alert.clone());
            let n = db.execute(
                "UPDATE alert_deliveries SET alerts = $1 WHERE id = $2 AND attempts = 0 \
                 AND lease_until IS NULL",
                &[serde_json::to_string(&alerts)?.into(), row.int(0)?.into()],
            )?;
            if n == 1 {
                return Ok(());
            }
        }
    }
    let previous = db
        .query_one(
            "SELECT MAX(created_at) FROM alert_deliveries WHERE target_id = $1",
            &[target.into()],
        )?
        .opt_int(0)?;
    let due = match previous {
        Some(prev) if digest_ms > 0 && prev.saturating_add(digest_ms) > now.millis() => {
            prev.saturating_add(digest_ms)
        }
        _ => now.millis(),
    };
    db.execute(
        "INSERT INTO alert_deliveries (workspace_id, target_id, alerts, status, attempts, due_at, \
           created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5)",
        &[
            ws.0.into(),
            target.into(),
            serde_json::to_string(std::slice::from_ref(alert))?.into(),
            due.into(),
            now.millis().into(),
        ],
    )?;
    Ok(())
}

/// Takes due deliveries for `lease_ms`. A target that had its platform's
/// messages-per-minute already is not attempted: its delivery waits until
/// the oldest send of the minute leaves the window (no attempt counted).
pub(crate) fn lease(
    db: &mut dyn Db,
    keys: &KeyRing,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Result<Vec<AlertJob>, StoreError> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let rows = db.query(
        &format!(
            "SELECT d.id, d.workspace_id, d.target_id, d.alerts, d.attempts, d.created_at, \
               t.kind, t.url, t.secret, t.format \
             FROM alert_deliveries d JOIN alert_targets t ON t.id = d.target_id \
             WHERE d.status = 'pending' AND d.due_at <= $1 \
               AND (d.lease_until IS NULL OR d.lease_until < $1) \
               AND d.workspace_id {active} \
             ORDER BY d.due_at, d.id LIMIT $2{lock}",
            // A suspended workspace's alerts wait (operator.rs).
            active = crate::operator::ACTIVE_WORKSPACES
        ),
        &[now.millis().into(), i64::from(limit.clamp(1, 500)).into()],
    )?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.int(0)?;
        let ws = WorkspaceId(row.int(1)?);
        let target = row.int(2)?;
        let mut job = job_from(keys, ws, target, &row, 6)?;
        let minute_ago = now.millis() - 60_000;
        db.execute(
            "DELETE FROM alert_sends WHERE target_id = $1 AND at <= $2",
            &[target.into(), minute_ago.into()],
        )?;
        let sends = db.query_one(
            "SELECT COUNT(*), MIN(at) FROM alert_sends WHERE target_id = $1 AND at > $2",
            &[target.into(), minute_ago.into()],
        )?;
        if sends.int(0)? >= job.kind.per_minute() {
            let oldest = sends.opt_int(1)?.unwrap_or(now.millis());
            db.execute(
                "UPDATE alert_deliveries SET due_at = $1 WHERE id = $2",
                &[(oldest + 60_001).into(), id.into()],
            )?;
            continue;
        }
        db.execute(
            "INSERT INTO alert_sends (target_id, at) VALUES ($1, $2)",
            &[target.into(), now.millis().into()],
        )?;
        db.execute(
            "UPDATE alert_deliveries SET lease_until = $1 WHERE id = $2",
            &[(now.millis() + lease_ms).into(), id.into()],
        )?;
        job.id = id;
        job.alerts = serde_json::from_str(&row.text(3)?)?;
        job.attempts = row.int(4)?;
        job.created_at = Timestamp(row.int(5)?);
        jobs.push(job);
    }
    Ok(jobs)
}

/// Records how a leased delivery's attempt ended, on the delivery and on
/// its target.
pub(crate) fn complete(
    db: &mut dyn Db,
    job: &AlertJob,
    result: &AlertResult,
    next: AlertNext,
) -> Result<(), StoreError> {
    let error = result.error.clone().or_else(|| {
        result
            .message
            .clone()
            .map(|m| format!("{}: {m}", result.code.unwrap_or_default()))
    });
    match next {
        AlertNext::Delivered => db.execute(
            "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, \
               last_status = $1, last_code = $2, last_error = NULL, delivered_at = $3, \
               lease_until = NULL WHERE id = $4",
            &[
                result.http_status.into(),
                result.code.into(),
                result.at.millis().into(),
                job.id.into(),
            ],
        )?,
        AlertNext::Retry { at } => db.execute(
            "UPDATE alert_deliveries SET attempts = attempts + 1, due_at = $1, last_status = $2, \
               last_code = $3, last_error = $4, lease_until = NULL WHERE id = $5",
            &[
                at.millis().into(),
                result.http_status.into(),
                result.code.into(),
                error.into(),
                job.id.into(),
            ],
        )?,
        AlertNext::GaveUp => db.execute(
            "UPDATE alert_deliveries SET status = 'failed', attempts = attempts + 1, \
               last_status = $1, last_code = $2, last_error = $3, lease_until = NULL WHERE id = $4",
            &[
                result.http_status.into(),
                result.code.into(),
                error.into(),
                job.id.into(),
            ],
        )?,
    };
    // The target may have been deleted meanwhile: nothing to show it on.
    match record_result(db, job.workspace_id, job.target_id, result) {
        Ok(()) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) fn list_deliveries(
    db: &mut dyn Db,
    ws: WorkspaceId,
    target: i64,
    limit: u32,
) -> Result<Vec<AlertDelivery>, StoreError> {
    get_target(db, ws, target)?;
    db.query(
        "SELECT id, target_id, alerts, status, attempts, due_at, last_status, last_code, \
           last_error, created_at, delivered_at FROM alert_deliveries \
         WHERE target_id = $1 AND workspace_id = $2 ORDER BY id DESC LIMIT $3",
        &[
            target.into(),
            ws.0.into(),
            i64::from(limit.clamp(1, 500)).into(),
        ],
    )?
    .iter()
    .map(|row| {
        let status = row.text(3)?;
        Ok(AlertDelivery {
            id: row.int(0)?,
            target_id: row.int(1)?,
            alerts: serde_json::from_str(&row.text(2)?)?,
            next_attempt_at: (status == "pending")
                .then(|| row.int(5).map(Timestamp))
                .transpose()?,
            status,
            attempts: row.int(4)?,
            last_status: row.opt_int(6)?,
            last_code: row.opt_int(7)?,
            last_error: row.opt_text(8)?,
            created_at: Timestamp(row.int(9)?),
            delivered_at: row.opt_int(10)?.map(Timestamp),
        })
    })
    .collect()
}

// Causes. Each runs in the transaction of its cause.

/// Who a conversation is with, for the alert's subject: the contact's or
/// group's name and the account.
fn conversation_subject(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
) -> Result<Option<String>, StoreError> {
    let row = db.query_opt(
        "SELECT COALESCE(ct.nickname, c.title, c.peer_external_id), a.name, c.platform \
         FROM conversations c JOIN accounts a ON a.id = c.account_id \
         LEFT JOIN contacts ct ON ct.id = c.contact_id \
         WHERE c.id = $1 AND c.workspace_id = $2",
        &[conversation.0.into(), ws.0.into()],
    )?;
    row.map(|r| {
        Ok(format!(
            "{} · {} · {}",
            r.opt_text(0)?.unwrap_or_default(),
            platform_name(&r.text(2)?),
            r.text(1)?
        ))
    })
    .transpose()
}

fn platform_name(platform: &str) -> &str {
    match platform {
        "douyin" => "抖音",
        "tencent_im" | "tencent" => "腾讯 IM",
        "meituan" => "美团",
        "custom" => "自定义渠道",
        other => other,
    }
}

/// A turn opened: a customer now waits for a human reply. Schedules the
/// conversation's breach timer at `breach_minutes` of counted wait
/// (inside `window` when given; helper K2's counting window) unless one
/// is set, and only when some target has the breach rule on.
pub fn turn_opened(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    started_at: Timestamp,
    window: Option<&WorkingHours>,
    now: Timestamp,
) -> Result<(), StoreError> {
    // A wait that began long ago is history (an import, a replay): the
    // team cannot act on it any more, so it raises nothing.
    if started_at.millis() < now.millis().saturating_sub(HISTORY_MS)
        || targets_with(db, ws, AlertRule::Breach)?.is_empty()
    {
        return Ok(());
    }
    let set = db
        .query_opt(
            "SELECT 1 FROM timers WHERE conversation_id = $1 AND kind = $2 AND workspace_id = $3",
            &[conversation.0.into(), BREACH.into(), ws.0.into()],
        )?
        .is_some();
    if set {
        return Ok(());
    }
    let settings = get_settings(db, ws)?;
    let wait_ms = settings.breach_minutes.saturating_mul(60_000);
    let Some(due) = imhub_core::alerts::wait_reached_at(started_at, wait_ms, window) else {
        return Ok(());
    };
    timers::schedule(
        db,
        ws,
        &NewTimer {
            kind: BREACH.to_string(),
            conversation_id: Some(conversation),
            due_at: due,
            payload: Some(serde_json::json!({
                "started_at": started_at,
                "breach_minutes": settings.breach_minutes,
            })),
        },
        now,
    )?;
    Ok(())
}

/// A turn closed (a human replied): the breach timer is moot.
pub fn turn_closed(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
) -> Result<(), StoreError> {
    timers::cancel(db, ws, conversation, BREACH)?;
    Ok(())
}

/// What the changes of a transaction raise: a new lead
/// (`Change::LeadCreated`, helper K1's capture). Called by `events::emit`.
pub(crate) fn on_changes(
    db: &mut dyn Db,
    changes: &[crate::Change],
    now: Timestamp,
) -> Result<(), StoreError> {
    for change in changes {
        if let crate::Change::LeadCreated {
            workspace_id,
            lead_id,
        } = change
        {
            let ws = *workspace_id;
            if targets_with(db, ws, AlertRule::NewLead)?.is_empty() {
                continue;
            }
            let Some(row) = db.query_opt(
                "SELECT l.name, l.phones, l.wechat_id, l.city, l.source_platform, \
                   l.source_conversation_id, ct.nickname FROM leads l \
                 LEFT JOIN contacts ct ON ct.id = l.contact_id \
                 WHERE l.id = $1 AND l.workspace_id = $2",
                &[lead_id.0.into(), ws.0.into()],
            )?
            else {
                continue;
            };
            let name = row
                .opt_text(0)?
                .or(row.opt_text(6)?)
                .unwrap_or_else(|| "未命名".to_string());
            let phones: Vec<String> = serde_json::from_str(&row.text(1)?).unwrap_or_default();
            let mut detail = vec![platform_name(&row.text(4)?).to_string()];
            // Robots post into shared group chats: numbers are masked there.
            detail.extend(phones.iter().map(|p| mask_phone(p)));
            if let Some(wechat) = row.opt_text(2)? {
                detail.push(format!("微信 {}", mask_middle(&wechat)));
            }
            if let Some(city) = row.opt_text(3)? {
                detail.push(city);
            }
            lead_created(
                db,
                ws,
                row.opt_int(5)?.map(ConversationId),
                &name,
                &detail.join(" · "),
                now,
            )?;
        }
    }
    Ok(())
}

/// `13812345678` → `138****5678`.
fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() == 11 {
        format!(
            "{}****{}",
            chars[..3].iter().collect::<String>(),
            chars[7..].iter().collect::<String>()
        )
    } else {
        mask_middle(phone)
    }
}

/// Keeps the first two and last two characters.
fn mask_middle(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 4 {
        return "****".to_string();
    }
    format!(
        "{}****{}",
        chars[..2].iter().collect::<String>(),
        chars[chars.len() - 2..].iter().collect::<String>()
    )
}

/// Raises a new-lead alert (`subject`: the lead's name, `detail`: source
/// and masked numbers); [`on_changes`] calls it for `Change::LeadCreated`.
pub fn lead_created(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: Option<ConversationId>,
    subject: &str,
    detail: &str,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let alert = Alert {
        rule: AlertRule::NewLead,
        at: now,
        subject: subject.to_string(),
        detail: detail.to_string(),
        conversation_id: conversation.map(|c| c.0),
    };
    // Each lead is news: no throttle.
    raise(db, ws, &alert, None, now)
}

/// An account's state was set: alerts when it went from active to
/// needing re-authorization.
pub(crate) fn account_state_set(
    db: &mut dyn Db,
    ws: WorkspaceId,
    before: AccountState,
    account: &Account,
    now: Timestamp,
) -> Result<(), StoreError> {
    if before == AccountState::NeedsReauthorization
        || account.state != AccountState::NeedsReauthorization
    {
        return Ok(());
    }
    let alert = Alert {
        rule: AlertRule::NeedsReauthorization,
        at: now,
        subject: format!(
            "{} · {}",
            platform_name(account.platform.as_str()),
            account.name
        ),
        detail: account
            .state_reason
            .clone()
            .unwrap_or_else(|| "授权已失效，请重新授权".to_string()),
        conversation_id: None,
    };
    raise(
        db,
        ws,
        &alert,
        Some(&format!("account:{}", account.id.0)),
        now,
    )?;
    Ok(())
}

/// A reply failed for good (the outbox gave up on it).
pub(crate) fn reply_failed(
    db: &mut dyn Db,
    ws: WorkspaceId,
    message: &Message,
    code: &str,
    text: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    if targets_with(db, ws, AlertRule::ReplyFailed)?.is_empty() {
        return Ok(());
    }
    let subject = conversation_subject(db, ws, message.conversation_id)?.unwrap_or_default();
    let alert = Alert {
        rule: AlertRule::ReplyFailed,
        at: now,
        subject,
        detail: imhub_core::alerts::truncate_bytes(&format!("{code}: {text}"), 300),
        conversation_id: Some(message.conversation_id.0),
    };
    raise(
        db,
        ws,
        &alert,
        Some(&format!("conversation:{}", message.conversation_id.0)),
        now,
    )?;
    Ok(())
}

/// A push arrived on a channel: its last push time moves forward and a
/// "silent" alert may be raised again later.
pub(crate) fn note_push(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: ChannelId,
    at: Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO channel_activity (channel_id, workspace_id, last_push_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel_id) DO UPDATE SET last_push_at = excluded.last_push_at, \
           alerted_at = NULL WHERE channel_activity.last_push_at < excluded.last_push_at",
        &[channel.0.into(), ws.0.into(), at.millis().into()],
    )?;
    Ok(())
}

/// Schedules the workspace's periodic silence check when a target has the
/// rule on and none is scheduled.
fn ensure_silence_check(
    db: &mut dyn Db,
    ws: WorkspaceId,
    now: Timestamp,
) -> Result<(), StoreError> {
    if targets_with(db, ws, AlertRule::ChannelSilent)?.is_empty() {
        return Ok(());
    }
    let set = db
        .query_opt(
            "SELECT 1 FROM timers WHERE workspace_id = $1 AND kind = $2",
            &[ws.0.into(), SILENCE_CHECK.into()],
        )?
        .is_some();
    if !set {
        timers::schedule(
            db,
            ws,
            &NewTimer {
                kind: SILENCE_CHECK.to_string(),
                conversation_id: None,
                due_at: now.plus_millis(SILENCE_CHECK_EVERY_MS),
                payload: None,
            },
            now,
        )?;
    }
    Ok(())
}

/// Fires an alert timer (already taken by the timer engine, in its
/// transaction).
pub(crate) fn fire_timer(
    db: &mut dyn Db,
    timer: &crate::Timer,
    now: Timestamp,
) -> Result<(), StoreError> {
    let ws = timer.workspace_id;
    match (timer.kind.as_str(), timer.conversation_id) {
        (BREACH, Some(conversation)) => {
            let Some(subject) = conversation_subject(db, ws, conversation)? else {
                return Ok(());
            };
            let started = timer
                .payload
                .as_ref()
                .and_then(|p| p.get("started_at"))
                .and_then(serde_json::Value::as_i64)
                .map_or(timer.due_at, Timestamp);
            let minutes = (now.millis() - started.millis()).max(0) / 60_000;
            let alert = Alert {
                rule: AlertRule::Breach,
                at: now,
                subject,
                detail: format!("已等待 {minutes} 分钟未回复"),
                conversation_id: Some(conversation.0),
            };
            raise(
                db,
                ws,
                &alert,
                Some(&format!("conversation:{}", conversation.0)),
                now,
            )?;
        }
        (SILENCE_CHECK, _) => {
            let settings = get_settings(db, ws)?;
            let quiet_since = now.millis() - settings.silence_hours.saturating_mul(3_600_000);
            let silent = db.query(
                "SELECT a.channel_id, a.last_push_at, c.name, c.platform FROM channel_activity a \
                 JOIN channels c ON c.id = a.channel_id \
                 WHERE a.workspace_id = $1 AND a.last_push_at < $2 AND a.alerted_at IS NULL \
                 ORDER BY a.channel_id LIMIT 100",
                &[ws.0.into(), quiet_since.into()],
            )?;
            for row in silent {
                let channel = row.int(0)?;
                let hours = (now.millis() - row.int(1)?) / 3_600_000;
                let alert = Alert {
                    rule: AlertRule::ChannelSilent,
                    at: now,
                    subject: format!("{} · {}", platform_name(&row.text(3)?), row.text(2)?),
                    detail: format!("已 {hours} 小时没有收到推送"),
                    conversation_id: None,
                };
                raise(db, ws, &alert, Some(&format!("channel:{channel}")), now)?;
                db.execute(
                    "UPDATE channel_activity SET alerted_at = $1 WHERE channel_id = $2",
                    &[now.millis().into(), channel.into()],
                )?;
            }
            ensure_silence_check(db, ws, now)?;
        }
        _ => {}
    }
    Ok(())
}
