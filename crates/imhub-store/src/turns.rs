//! Reply-time KPIs kept on write: every message that matters to a turn (a
//! customer's message, a human reply, an automatic reply) applies
//! [`imhub_core::turns::step`] in the transaction that writes it, moving the
//! conversation's open turn, recording the closed turn in `turns` and
//! adding [`imhub_core::turns::daily_effect`] to the daily rows
//! (`kpi_daily`, agent 0 the account's row). Reports read the daily rows
//! only (never messages); the CSV exports read `turns`.
//!
//! Order: turns follow the order in which messages are recorded, each at
//! its own time (a push's `sent_at`, an agent's send time); a reply dated
//! before its turn waited nothing. Only direct conversations have turns
//! (a fan group's chatter is not a customer waiting for us).

use std::collections::BTreeMap;

use imhub_core::{
    AccountId, Conversation, ConversationId, MessageId, Timestamp, UserId, WorkspaceId,
    hours::{DEFAULT_TIME_ZONE, Span, WorkingHours},
    turns::{self, BUCKETS, DayDelta, TurnState, Writer},
};
use serde::{Deserialize, Serialize};

use crate::{StoreError, db::Db, rows};

/// A workspace's counting window and reply-time thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiSettings {
    /// IANA zone the window and the report days are in.
    #[schema(example = "Asia/Shanghai")]
    pub time_zone: String,
    /// Start of the daily counting window, `HH:MM`.
    #[schema(example = "08:00")]
    pub window_start: String,
    /// End of the window, `HH:MM` (`24:00` allowed), after the start.
    #[schema(example = "23:00")]
    pub window_end: String,
    /// The reply-time target in seconds (a turn answered within it counts
    /// for the reply rate), 1 to 86,400.
    #[schema(example = 180, minimum = 1, maximum = 86400)]
    pub target_seconds: i64,
    /// After how many counted seconds a waiting chat shows the warning
    /// colour; 0 to the target.
    #[schema(example = 120, minimum = 0, maximum = 86400)]
    pub warning_seconds: i64,
}

impl Default for KpiSettings {
    fn default() -> Self {
        KpiSettings {
            time_zone: DEFAULT_TIME_ZONE.to_string(),
            window_start: "08:00".into(),
            window_end: "23:00".into(),
            target_seconds: 180,
            warning_seconds: 120,
        }
    }
}

impl KpiSettings {
    /// The counting window, checked (refusal `invalid_window`).
    pub fn window(&self) -> Result<WorkingHours, StoreError> {
        let bad = |e: imhub_core::hours::HoursError| StoreError::Refused {
            code: "invalid_window",
            detail: e.to_string(),
        };
        let span = Span::parse(&self.window_start, &self.window_end).map_err(bad)?;
        WorkingHours::daily(&self.time_zone, span).map_err(bad)
    }

    /// The target in milliseconds.
    pub fn target_ms(&self) -> i64 {
        self.target_seconds.saturating_mul(1000)
    }

    /// The warning threshold in milliseconds.
    pub fn warning_ms(&self) -> i64 {
        self.warning_seconds.saturating_mul(1000)
    }

    fn check(&self) -> Result<WorkingHours, StoreError> {
        let window = self.window()?;
        if !(1..=86_400).contains(&self.target_seconds) {
            return Err(StoreError::Refused {
                code: "invalid_target",
                detail: "target_seconds must be 1 to 86400".into(),
            });
        }
        if !(0..=self.target_seconds).contains(&self.warning_seconds) {
            return Err(StoreError::Refused {
                code: "invalid_target",
                detail: "warning_seconds must be 0 to target_seconds".into(),
            });
        }
        Ok(window)
    }
}

pub(crate) fn get_settings(db: &mut dyn Db, ws: WorkspaceId) -> Result<KpiSettings, StoreError> {
    let row = db.query_opt(
        "SELECT time_zone, window_start, window_end, target_ms, warning_ms FROM kpi_settings \
         WHERE workspace_id = $1",
        &[ws.0.into()],
    )?;
    Ok(match row {
        None => KpiSettings::default(),
        Some(r) => KpiSettings {
            time_zone: r.text(0)?,
            window_start: r.text(1)?,
            window_end: r.text(2)?,
            target_seconds: r.int(3)? / 1000,
            warning_seconds: r.int(4)? / 1000,
        },
    })
}

pub(crate) fn set_settings(
    db: &mut dyn Db,
    ws: WorkspaceId,
    settings: KpiSettings,
) -> Result<KpiSettings, StoreError> {
    settings.check()?;
    db.execute(
        "INSERT INTO kpi_settings (workspace_id, time_zone, window_start, window_end, target_ms, \
           warning_ms) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (workspace_id) DO UPDATE SET time_zone = excluded.time_zone, \
           window_start = excluded.window_start, window_end = excluded.window_end, \
           target_ms = excluded.target_ms, warning_ms = excluded.warning_ms",
        &[
            ws.0.into(),
            settings.time_zone.clone().into(),
            settings.window_start.clone().into(),
            settings.window_end.clone().into(),
            settings.target_ms().into(),
            settings.warning_ms().into(),
        ],
    )?;
    Ok(settings)
}

/// The window and target turns are counted with; a stored window that no
/// longer parses (a zone removed from the database) falls back to the
/// default rather than refusing the message.
fn counting(db: &mut dyn Db, ws: WorkspaceId) -> Result<(WorkingHours, i64), StoreError> {
    let settings = get_settings(db, ws)?;
    let window = match settings.window() {
        Ok(w) => w,
        Err(_) => KpiSettings::default().window()?,
    };
    Ok((window, settings.target_ms()))
}

/// Applies one recorded message to its conversation's turn, in the
/// message's transaction: `agent` is the human who wrote a reply (`None`
/// for the merchant's own app or an API token). Call it once per newly
/// inserted message (a deduplicated replay never reaches it); the closed
/// turn is also unique by `message`, so nothing is counted twice.
pub(crate) fn on_message(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    writer: Writer,
    at: Timestamp,
    agent: Option<UserId>,
    message: MessageId,
) -> Result<(), StoreError> {
    let Some(row) = db.query_opt(
        "SELECT account_id, kind, turn_open_since, turn_auto_at FROM conversations \
         WHERE id = $1 AND workspace_id = $2",
        &[conversation.0.into(), ws.0.into()],
    )?
    else {
        return Ok(());
    };
    if row.text(1)? != "direct" {
        return Ok(());
    }
    let account = AccountId(row.int(0)?);
    let before = TurnState {
        open_since: row.opt_int(2)?.map(Timestamp),
        auto_replied_at: row.opt_int(3)?.map(Timestamp),
    };
    if before.open_since.is_none() && writer != Writer::Customer {
        // Nothing waits: no settings to read, nothing to change.
        return Ok(());
    }
    let (window, target_ms) = counting(db, ws)?;
    let step = turns::step(before, writer, at, &window, target_ms);
    if step.state != before {
        db.execute(
            "UPDATE conversations SET turn_open_since = $1, turn_auto_at = $2 WHERE id = $3",
            &[
                step.state.open_since.map(|t| t.millis()).into(),
                step.state.auto_replied_at.map(|t| t.millis()).into(),
                conversation.0.into(),
            ],
        )?;
    }
    // Alerts (K3): a customer waiting past the breach threshold.
    if let (true, Some(since)) = (step.opened, step.state.open_since) {
        crate::alerts::turn_opened(db, ws, conversation, since, Some(&window), Timestamp::now())?;
    }
    if step.closed.is_some() {
        crate::alerts::turn_closed(db, ws, conversation)?;
    }
    let Some(effect) = turns::daily_effect(before, &step, agent.is_some(), &window) else {
        return Ok(());
    };
    if let Some(closed) = step.closed {
        let inserted = db.execute(
            "INSERT INTO turns (workspace_id, conversation_id, account_id, agent_id, message_id, \
               day, started_at, answered_at, wait_ms, within_target, auto_wait_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (message_id) DO NOTHING",
            &[
                ws.0.into(),
                conversation.0.into(),
                account.0.into(),
                agent.map(|a| a.0).into(),
                message.0.into(),
                effect.day.into(),
                closed.started_at.millis().into(),
                closed.answered_at.millis().into(),
                closed.wait_ms.into(),
                i64::from(closed.within_target).into(),
                closed.auto_wait_ms.into(),
            ],
        )?;
        if inserted == 0 {
            return Ok(());
        }
    }
    // The account's row and the workspace's (account 0), and the agent's
    // per account and in all.
    add_daily(db, ws, effect.day, account.0, 0, &effect.account)?;
    add_daily(db, ws, effect.day, 0, 0, &effect.account)?;
    if let (Some(delta), Some(agent)) = (effect.agent, agent) {
        add_daily(db, ws, effect.day, account.0, agent.0, &delta)?;
        add_daily(db, ws, effect.day, 0, agent.0, &delta)?;
    }
    Ok(())
}

/// Adds a delta to one daily row (created on first use).
pub(crate) fn add_daily(
    db: &mut dyn Db,
    ws: WorkspaceId,
    day: i64,
    account: i64,
    agent: i64,
    d: &DayDelta,
) -> Result<(), StoreError> {
    // The bucket column comes from a fixed index, never from input.
    let bucket = d.bucket.map(|b| b.min(BUCKETS - 1));
    let (bucket_col, bucket_val, bucket_set) = match bucket {
        Some(b) => (
            format!(", b{b}"),
            ", $10",
            format!(", b{b} = kpi_daily.b{b} + excluded.b{b}"),
        ),
        None => (String::new(), "", String::new()),
    };
    let mut add = vec![
        d.turns,
        d.answered,
        d.within_target,
        d.unanswered,
        d.auto_only,
    ];
    if bucket.is_some() {
        add.push(1);
    }
    // Every push of a workspace adds to the same few rows: the writer adds
    // them up and writes each once, at the end of its transaction.
    db.add_to_row(
        &format!(
            "INSERT INTO kpi_daily (workspace_id, day, account_id, agent_id, turns, answered, \
               within_target, unanswered, auto_only{bucket_col}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9{bucket_val}) \
             ON CONFLICT (workspace_id, account_id, agent_id, day) DO UPDATE SET \
               turns = kpi_daily.turns + excluded.turns, \
               answered = kpi_daily.answered + excluded.answered, \
               within_target = kpi_daily.within_target + excluded.within_target, \
               unanswered = kpi_daily.unanswered + excluded.unanswered, \
               auto_only = kpi_daily.auto_only + excluded.auto_only{bucket_set}"
        ),
        &[ws.0.into(), day.into(), account.into(), agent.into()],
        &add,
    )
}

// Reading: the waiting queue and the reports.

/// A conversation whose customer waits for a human reply.
#[derive(Debug, Clone)]
pub struct WaitingConversation {
    pub conversation: Conversation,
    /// When the open turn started.
    pub waiting_since: Timestamp,
    /// Counted wait so far (inside the window) at the time asked.
    pub waited_ms: i64,
}

/// The waiting queue with the settings its flags are judged by.
#[derive(Debug, Clone)]
pub struct WaitingQueue {
    pub items: Vec<WaitingConversation>,
    pub settings: KpiSettings,
    /// Whether the counting window is open at the time asked (a live
    /// countdown only ticks while it is).
    pub counting_now: bool,
}

/// Largest waiting page.
pub const MAX_WAITING: u32 = 200;

pub(crate) fn waiting(
    db: &mut dyn Db,
    ws: WorkspaceId,
    account: Option<AccountId>,
    limit: u32,
    now: Timestamp,
) -> Result<WaitingQueue, StoreError> {
    let settings = get_settings(db, ws)?;
    let window = match settings.window() {
        Ok(w) => w,
        Err(_) => KpiSettings::default().window()?,
    };
    let limit = i64::from(limit.clamp(1, MAX_WAITING));
    // The counted wait grows with the time waited, so the earliest start
    // is the longest wait (ties: the older conversation first).
    let mut params: Vec<crate::db::Value> = vec![ws.0.into(), limit.into()];
    let mut filter = String::new();
    if let Some(a) = account {
        params.push(a.0.into());
        filter = " AND account_id = $3".into();
    }
    let rows = db.query(
        &format!(
            "SELECT {} FROM conversations WHERE workspace_id = $1 \
             AND turn_open_since IS NOT NULL AND status IN ('open', 'pending'){filter} \
             ORDER BY turn_open_since, id LIMIT $2",
            rows::CONVERSATION_COLUMNS
        ),
        &params,
    )?;
    let mut page = rows
        .iter()
        .map(rows::conversation)
        .collect::<Result<Vec<_>, _>>()?;
    crate::conversations::fill_labels(db, &mut page)?;
    let items = page
        .into_iter()
        .filter_map(|c| {
            let since = c.turn_open_since?;
            Some(WaitingConversation {
                waited_ms: window.open_millis_between(since, now),
                waiting_since: since,
                conversation: c,
            })
        })
        .collect();
    Ok(WaitingQueue {
        items,
        counting_now: window.is_open(now),
        settings,
    })
}

/// Which days (local days since 1970-01-01, inclusive) and account a
/// report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    pub from_day: i64,
    pub to_day: i64,
    pub account_id: Option<AccountId>,
}

/// The counters of one daily row (or of a sum of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiCounts {
    pub turns: i64,
    pub answered: i64,
    pub within_target: i64,
    pub unanswered: i64,
    pub auto_only: i64,
    /// Waits per bucket of [`imhub_core::turns::BUCKET_UPPER_MS`].
    pub histogram: Vec<i64>,
}

/// One day of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiDay {
    pub day: i64,
    pub counts: KpiCounts,
}

/// One account's or agent's line of a report table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiGroup {
    pub id: i64,
    pub name: Option<String>,
    pub counts: KpiCounts,
}

fn sums() -> String {
    let mut s = String::from(
        "CAST(SUM(turns) AS BIGINT), CAST(SUM(answered) AS BIGINT), \
         CAST(SUM(within_target) AS BIGINT), CAST(SUM(unanswered) AS BIGINT), \
         CAST(SUM(auto_only) AS BIGINT)",
    );
    for b in 0..BUCKETS {
        s.push_str(&format!(", CAST(SUM(b{b}) AS BIGINT)"));
    }
    s
}

fn counts(row: &crate::db::Row, first: usize) -> Result<KpiCounts, StoreError> {
    let int = |i: usize| -> Result<i64, StoreError> { Ok(row.opt_int(first + i)?.unwrap_or(0)) };
    let mut histogram = Vec::with_capacity(BUCKETS);
    for b in 0..BUCKETS {
        histogram.push(int(5 + b)?);
    }
    Ok(KpiCounts {
        turns: int(0)?,
        answered: int(1)?,
        within_target: int(2)?,
        unanswered: int(3)?,
        auto_only: int(4)?,
        histogram,
    })
}

/// The workspace, the days, and the account the rows are of (0: all).
fn range_params(ws: WorkspaceId, range: ReportRange) -> Vec<crate::db::Value> {
    vec![
        ws.0.into(),
        range.from_day.into(),
        range.to_day.into(),
        range.account_id.map_or(0, |a| a.0).into(),
    ]
}

/// Per-day account totals over the range (days without turns left out).
pub(crate) fn report_days(
    db: &mut dyn Db,
    ws: WorkspaceId,
    range: ReportRange,
) -> Result<Vec<KpiDay>, StoreError> {
    // One row per day: the account's, or the workspace's (account 0).
    db.query(
        &format!(
            "SELECT day, {} FROM kpi_daily WHERE workspace_id = $1 AND account_id = $4 \
             AND agent_id = 0 AND day >= $2 AND day <= $3 GROUP BY day ORDER BY day",
            sums()
        ),
        &range_params(ws, range),
    )?
    .iter()
    .map(|r| {
        Ok(KpiDay {
            day: r.int(0)?,
            counts: counts(r, 1)?,
        })
    })
    .collect()
}

/// Per-account (`agents` false) or per-agent totals over the range, with
/// names; agents' lines sum their rows over the filtered accounts.
pub(crate) fn report_groups(
    db: &mut dyn Db,
    ws: WorkspaceId,
    range: ReportRange,
    agents: bool,
) -> Result<Vec<KpiGroup>, StoreError> {
    let mut params = range_params(ws, range);
    // Agents: their rows of the account (or of all, account 0), by the
    // primary key. Accounts: the account rows (agent 0), by the index on
    // (workspace, agent, account, day).
    let sql = if agents {
        "SELECT agent_id, {sums} FROM kpi_daily WHERE workspace_id = $1 AND account_id = $4 \
         AND agent_id > 0 AND day >= $2 AND day <= $3 GROUP BY agent_id ORDER BY agent_id"
    } else if range.account_id.is_some() {
        "SELECT account_id, {sums} FROM kpi_daily WHERE workspace_id = $1 AND agent_id = 0 \
         AND account_id = $4 AND day >= $2 AND day <= $3 GROUP BY account_id ORDER BY account_id"
    } else {
        params.pop();
        "SELECT account_id, {sums} FROM kpi_daily WHERE workspace_id = $1 AND agent_id = 0 \
         AND account_id > 0 AND day >= $2 AND day <= $3 GROUP BY account_id ORDER BY account_id"
    };
    let rows = db.query(&sql.replace("{sums}", &sums()), &params)?;
    let mut groups = rows
        .iter()
        .map(|r| {
            Ok(KpiGroup {
                id: r.int(0)?,
                name: None,
                counts: counts(r, 1)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let names = if agents {
        "SELECT id, name FROM users WHERE workspace_id = $1"
    } else {
        "SELECT id, name FROM accounts WHERE workspace_id = $1"
    };
    let names: BTreeMap<i64, String> = db
        .query(names, &[ws.0.into()])?
        .iter()
        .map(|r| Ok((r.int(0)?, r.text(1)?)))
        .collect::<Result<_, StoreError>>()?;
    for g in &mut groups {
        g.name = names.get(&g.id).cloned();
    }
    Ok(groups)
}

/// One turn as the CSV export lists it (open ones have no answer yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRecord {
    pub conversation_id: ConversationId,
    pub conversation_title: String,
    pub account_id: AccountId,
    pub account_name: String,
    pub agent_id: Option<UserId>,
    pub agent_name: Option<String>,
    pub day: i64,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    /// Counted wait; for an open turn, counted so far.
    pub wait_ms: i64,
    pub within_target: Option<bool>,
    pub auto_wait_ms: Option<i64>,
}

/// Largest CSV export, in rows.
pub const MAX_EXPORT_ROWS: usize = 100_000;

/// Closed turns started in the range (oldest first), then the open turns
/// that started in it; at most [`MAX_EXPORT_ROWS`].
pub(crate) fn list_turns(
    db: &mut dyn Db,
    ws: WorkspaceId,
    range: ReportRange,
    now: Timestamp,
) -> Result<Vec<TurnRecord>, StoreError> {
    let mut params = range_params(ws, range);
    if range.account_id.is_none() {
        params.pop();
    }
    let filter = if range.account_id.is_some() {
        " AND t.account_id = $4"
    } else {
        ""
    };
    params.push((MAX_EXPORT_ROWS as i64).into());
    let limit = if range.account_id.is_some() {
        "$5"
    } else {
        "$4"
    };
    let mut out = Vec::new();
    for r in db.query(
        &format!(
            "SELECT t.conversation_id, c.title, t.account_id, a.name, t.agent_id, u.name, t.day, \
               t.started_at, t.answered_at, t.wait_ms, t.within_target, t.auto_wait_ms \
             FROM turns t JOIN conversations c ON c.id = t.conversation_id \
             JOIN accounts a ON a.id = t.account_id LEFT JOIN users u ON u.id = t.agent_id \
             WHERE t.workspace_id = $1 AND t.day >= $2 AND t.day <= $3{filter} \
             ORDER BY t.day, t.id LIMIT {limit}"
        ),
        &params,
    )? {
        out.push(TurnRecord {
            conversation_id: ConversationId(r.int(0)?),
            conversation_title: r
                .opt_text(1)?
                .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
            account_id: AccountId(r.int(2)?),
            account_name: r.text(3)?,
            agent_id: r.opt_int(4)?.map(UserId),
            agent_name: r.opt_text(5)?,
            day: r.int(6)?,
            started_at: Timestamp(r.int(7)?),
            answered_at: Some(Timestamp(r.int(8)?)),
            wait_ms: r.int(9)?,
            within_target: Some(r.int(10)? != 0),
            auto_wait_ms: r.opt_int(11)?,
        });
    }
    for open in open_turns(db, ws, range, now)? {
        if out.len() >= MAX_EXPORT_ROWS {
            break;
        }
        out.push(open);
    }
    Ok(out)
}

/// The open turns (any conversation status) that started in the range.
fn open_turns(
    db: &mut dyn Db,
    ws: WorkspaceId,
    range: ReportRange,
    now: Timestamp,
) -> Result<Vec<TurnRecord>, StoreError> {
    let (window, _) = counting(db, ws)?;
    let mut params: Vec<crate::db::Value> = vec![ws.0.into()];
    let mut filter = "";
    if let Some(a) = range.account_id {
        params.push(a.0.into());
        filter = " AND c.account_id = $2";
    }
    let mut out = Vec::new();
    for r in db.query(
        &format!(
            "SELECT c.id, c.title, c.account_id, a.name, c.turn_open_since, c.turn_auto_at \
             FROM conversations c JOIN accounts a ON a.id = c.account_id \
             WHERE c.workspace_id = $1 AND c.turn_open_since IS NOT NULL{filter} \
             ORDER BY c.turn_open_since, c.id"
        ),
        &params,
    )? {
        let started = Timestamp(r.int(4)?);
        let day = window.local_day(started);
        if day < range.from_day || day > range.to_day {
            continue;
        }
        let auto = r.opt_int(5)?.map(Timestamp);
        out.push(TurnRecord {
            conversation_id: ConversationId(r.int(0)?),
            conversation_title: r
                .opt_text(1)?
                .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
            account_id: AccountId(r.int(2)?),
            account_name: r.text(3)?,
            agent_id: None,
            agent_name: None,
            day,
            started_at: started,
            answered_at: None,
            wait_ms: window.open_millis_between(started, now),
            within_target: None,
            auto_wait_ms: auto.map(|a| window.open_millis_between(started, a.max(started))),
        });
    }
    Ok(out)
}

/// One conversation's turns over a range, for the per-conversation CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTurns {
    pub conversation_id: ConversationId,
    pub conversation_title: String,
    pub account_id: AccountId,
    pub account_name: String,
    /// Turns started in the range (open ones included).
    pub turns: i64,
    pub answered: i64,
    pub within_target: i64,
    /// Exact nearest-rank median and p90 of the answered turns' waits.
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    pub max_wait_ms: Option<i64>,
    /// Whether a turn of the range is still open.
    pub waiting: bool,
}

/// Per-conversation figures from the range's turns (oldest conversation
/// first).
pub(crate) fn conversation_turns(
    db: &mut dyn Db,
    ws: WorkspaceId,
    range: ReportRange,
    now: Timestamp,
) -> Result<Vec<ConversationTurns>, StoreError> {
    let mut by: BTreeMap<i64, (ConversationTurns, Vec<i64>)> = BTreeMap::new();
    for t in list_turns(db, ws, range, now)? {
        let (entry, waits) = by.entry(t.conversation_id.0).or_insert_with(|| {
            (
                ConversationTurns {
                    conversation_id: t.conversation_id,
                    conversation_title: t.conversation_title.clone(),
                    account_id: t.account_id,
                    account_name: t.account_name.clone(),
                    turns: 0,
                    answered: 0,
                    within_target: 0,
                    median_ms: None,
                    p90_ms: None,
                    max_wait_ms: None,
                    waiting: false,
                },
                Vec::new(),
            )
        });
        entry.turns += 1;
        match t.answered_at {
            Some(_) => {
                entry.answered += 1;
                entry.within_target += i64::from(t.within_target == Some(true));
                waits.push(t.wait_ms);
            }
            None => entry.waiting = true,
        }
    }
    Ok(by
        .into_values()
        .map(|(mut c, mut waits)| {
            c.median_ms = turns::quantile(&mut waits, 0.5);
            c.p90_ms = turns::quantile(&mut waits, 0.9);
            c.max_wait_ms = waits.iter().max().copied();
            c
        })
        .collect())
}
