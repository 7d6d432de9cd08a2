//! Reply-time KPIs: the workspace's counting window and target, the 等待回复
//! queue (customers waiting for a human reply, longest wait first), and the
//! reports (3-minute reply rate per day, response-time distribution, per
//! agent and per account tables, CSV exports). Turns are counted by the
//! store on write (`imhub_store::turns`); these routes only read the daily
//! rows (and, for the CSV exports, the `turns` table) — never messages.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use imhub_core::{
    AccountId, Timestamp, UserId,
    turns::{self, BUCKET_UPPER_MS, BUCKETS},
};
use imhub_store::turns::{KpiCounts, KpiSettings, MAX_WAITING, ReportRange};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiQuery, conversations::ConversationView},
    auth::Caller,
    error::ApiError,
};

/// The `reports` and `waiting` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/waiting", get(waiting))
        .route("/reports/settings", get(settings).put(set_settings))
        .route("/reports/summary", get(summary))
        .route("/reports/distribution", get(distribution))
        .route("/reports/agents", get(agents))
        .route("/reports/accounts", get(accounts))
        .route("/reports/turns.csv", get(turns_csv))
        .route("/reports/conversations.csv", get(conversations_csv))
}

/// Longest report range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;

/// The counting window and thresholds (defaults until set: 08:00–23:00
/// Asia/Shanghai, target 180 s, warning 120 s). Every role may read them:
/// the inbox colours waiting chats by them.
#[utoipa::path(get, path = "/api/v1/reports/settings", tag = "reports",
    responses((status = 200, body = KpiSettings)))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KpiSettings>, ApiError> {
    Ok(Json(
        state.store.get_kpi_settings(caller.0.workspace_id).await?,
    ))
}

/// Replaces the counting window and thresholds. Admin only. 422
/// `invalid_window` (an unknown time zone, a time that is not HH:MM, an end
/// not after the start), `invalid_target` (target outside 1–86400 s, warning
/// outside 0–target). Turns already counted keep their waits; new ones use
/// the new window. Idempotent.
#[utoipa::path(put, path = "/api/v1/reports/settings", tag = "reports",
    request_body = KpiSettings,
    responses((status = 200, body = KpiSettings),
        (status = 422, description = "`invalid_window`, `invalid_target`")))]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<KpiSettings>,
) -> Result<Json<KpiSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .set_kpi_settings(caller.0.workspace_id, body)
            .await?,
    ))
}

/// The waiting queue's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitingParams {
    /// Only this account's conversations (404 when not the caller's).
    pub account_id: Option<AccountId>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A conversation waiting for a human reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitingItem {
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// When the customer's turn started.
    pub waiting_since: Timestamp,
    /// Counted wait so far (inside the counting window), at `now`.
    pub waited_ms: i64,
    /// Past the warning threshold.
    pub warning: bool,
    /// Past the target: the turn will miss the reply rate.
    pub breach: bool,
}

/// The waiting queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitingQueue {
    pub items: Vec<WaitingItem>,
    /// The time the waits were counted at.
    pub now: Timestamp,
    /// Whether the counting window is open now: a live countdown adds the
    /// time since `now` to `waited_ms` only while it is.
    pub counting_now: bool,
    pub warning_seconds: i64,
    pub target_seconds: i64,
}

/// The 等待回复 queue: open and pending conversations whose customer waits
/// for a human reply (an automatic reply does not end the wait), longest
/// counted wait first, with warning and breach flags from the settings.
/// Every role. A turn opening or closing emits `conversation.updated`, so
/// the inbox refreshes the queue live. 404 `not_found` for another
/// workspace's account; 400 `invalid_query` for a limit outside 1–200.
#[utoipa::path(get, path = "/api/v1/waiting", tag = "reports", params(WaitingParams),
    responses((status = 200, body = WaitingQueue),
        (status = 400, description = "`invalid_query`"),
        (status = 404, description = "`not_found`")))]
pub async fn waiting(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WaitingParams>,
) -> Result<Json<WaitingQueue>, ApiError> {
    let ws = caller.0.workspace_id;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_WAITING).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be 1 to 200",
        ));
    }
    if let Some(account) = q.account_id {
        state.store.get_account(ws, account).await?;
    }
    let now = Timestamp::now();
    let queue = state
        .store
        .waiting_conversations(ws, q.account_id, limit, now)
        .await?;
    let (warning_ms, target_ms) = (queue.settings.warning_ms(), queue.settings.target_ms());
    let waits: Vec<_> = queue
        .items
        .iter()
        .map(|w| (w.waiting_since, w.waited_ms))
        .collect();
    let views = crate::api::conversations::views(
        &state,
        &caller,
        queue.items.into_iter().map(|w| w.conversation).collect(),
    )
    .await?;
    let items = views
        .into_iter()
        .zip(waits)
        .map(|(conversation, (waiting_since, waited_ms))| WaitingItem {
            conversation,
            waiting_since,
            waited_ms,
            warning: waited_ms >= warning_ms,
            breach: waited_ms > target_ms,
        })
        .collect();
    Ok(Json(WaitingQueue {
        items,
        now,
        counting_now: queue.counting_now,
        warning_seconds: queue.settings.warning_seconds,
        target_seconds: queue.settings.target_seconds,
    }))
}

/// A report's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` in the workspace's counting zone; 6 days
    /// before `to` by default.
    #[param(schema_with = crate::api::text::date_schema)]
    pub from: Option<String>,
    /// Last day (inclusive), `YYYY-MM-DD`; today by default.
    #[param(schema_with = crate::api::text::date_schema)]
    pub to: Option<String>,
    /// Only this account (404 when not the caller's).
    pub account_id: Option<AccountId>,
}

/// The days and zone a report covers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportScope {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub target_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
}

/// Checks the range (422 `invalid_range`, 404 for a foreign account) and
/// returns it with the settings.
async fn range(
    state: &AppState,
    caller: &Caller,
    q: &RangeParams,
) -> Result<(ReportRange, KpiSettings, ReportScope), ApiError> {
    let ws = caller.0.workspace_id;
    let settings = state.store.get_kpi_settings(ws).await?;
    let window = settings.window()?;
    let day = |text: &Option<String>, what: &str| -> Result<Option<i64>, ApiError> {
        text.as_deref()
            .map(|t| {
                turns::parse_day(t).ok_or_else(|| {
                    ApiError::unprocessable(
                        "invalid_range",
                        format!("{what} must be a date YYYY-MM-DD, not {t:?}"),
                    )
                })
            })
            .transpose()
    };
    let to = day(&q.to, "to")?.unwrap_or_else(|| window.local_day(Timestamp::now()));
    let from = day(&q.from, "from")?.unwrap_or(to - 6);
    if from > to {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from must not be after to",
        ));
    }
    if to - from + 1 > MAX_RANGE_DAYS {
        return Err(ApiError::unprocessable(
            "invalid_range",
            format!("a report covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    if let Some(account) = q.account_id {
        state.store.get_account(ws, account).await?;
    }
    let scope = ReportScope {
        from: turns::day_text(from),
        to: turns::day_text(to),
        time_zone: settings.time_zone.clone(),
        target_seconds: settings.target_seconds,
        account_id: q.account_id,
    };
    Ok((
        ReportRange {
            from_day: from,
            to_day: to,
            account_id: q.account_id,
        },
        settings,
        scope,
    ))
}

/// One day's (or a range's) account totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayLine {
    /// `YYYY-MM-DD` (absent on the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Customer turns that started that day.
    pub turns: i64,
    /// Of them, answered by a human (so far).
    pub answered: i64,
    /// Answered within the target.
    pub within_target: i64,
    /// `within_target / turns` (the 3-minute reply rate); absent without turns.
    pub rate: Option<f64>,
    /// Still without a human reply at the end of that day (for today: now).
    pub unanswered: i64,
    /// Answered only automatically by the end of that day.
    pub auto_only: i64,
}

fn rate(within: i64, turns: i64) -> Option<f64> {
    (turns > 0).then(|| within as f64 / turns as f64)
}

fn day_line(date: Option<String>, c: &KpiCounts) -> DayLine {
    DayLine {
        date,
        turns: c.turns,
        answered: c.answered,
        within_target: c.within_target,
        rate: rate(c.within_target, c.turns),
        unanswered: c.unanswered,
        auto_only: c.auto_only,
    }
}

fn add(total: &mut KpiCounts, c: &KpiCounts) {
    total.turns += c.turns;
    total.answered += c.answered;
    total.within_target += c.within_target;
    total.unanswered += c.unanswered;
    total.auto_only += c.auto_only;
    if total.histogram.len() < BUCKETS {
        total.histogram.resize(BUCKETS, 0);
    }
    for (t, n) in total.histogram.iter_mut().zip(&c.histogram) {
        *t += n;
    }
}

/// The reply rate per day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    #[serde(flatten)]
    pub scope: ReportScope,
    /// Every day of the range, oldest first (days without turns at zero).
    pub days: Vec<DayLine>,
    pub total: DayLine,
}

/// The reply rate against the target for each day of the range (turns by
/// the local day they started), with the range's total. Every role. 422
/// `invalid_range` (not a date, from after to, over 366 days); 404
/// `not_found` for another workspace's account.
#[utoipa::path(get, path = "/api/v1/reports/summary", tag = "reports", params(RangeParams),
    responses((status = 200, body = Summary),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Json<Summary>, ApiError> {
    let (range, _, scope) = range(&state, &caller, &q).await?;
    let rows = state.store.kpi_days(caller.0.workspace_id, range).await?;
    let mut by_day = rows.into_iter().peekable();
    let mut days = Vec::new();
    let mut total = KpiCounts::default();
    for day in range.from_day..=range.to_day {
        let counts = match by_day.peek() {
            Some(r) if r.day == day => by_day.next().map(|r| r.counts).unwrap_or_default(),
            _ => KpiCounts::default(),
        };
        add(&mut total, &counts);
        days.push(day_line(Some(turns::day_text(day)), &counts));
    }
    Ok(Json(Summary {
        scope,
        days,
        total: day_line(None, &total),
    }))
}

/// One bucket of the response-time distribution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Waits above this many milliseconds ...
    pub above_ms: i64,
    /// ... and at most this many (absent on the open-ended last bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_ms: Option<i64>,
    pub count: i64,
}

/// The response-time distribution of the range's answered turns.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Distribution {
    #[serde(flatten)]
    pub scope: ReportScope,
    pub buckets: Vec<Bucket>,
    /// Answered turns counted.
    pub answered: i64,
    /// Nearest-rank median and p90 at bucket precision: the upper edge of
    /// the bucket holding it (the last bucket: its lower edge, 8 hours).
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

fn buckets(histogram: &[i64]) -> Vec<Bucket> {
    (0..BUCKETS)
        .map(|b| Bucket {
            above_ms: if b == 0 { 0 } else { BUCKET_UPPER_MS[b - 1] },
            up_to_ms: BUCKET_UPPER_MS.get(b).copied(),
            count: histogram.get(b).copied().unwrap_or(0),
        })
        .collect()
}

/// The response-time distribution (counted waits of the turns a human
/// answered, in fixed buckets) over the range. Every role. 422
/// `invalid_range`; 404 `not_found` for another workspace's account.
#[utoipa::path(get, path = "/api/v1/reports/distribution", tag = "reports", params(RangeParams),
    responses((status = 200, body = Distribution),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn distribution(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Json<Distribution>, ApiError> {
    let (range, _, scope) = range(&state, &caller, &q).await?;
    let mut total = KpiCounts::default();
    for row in state.store.kpi_days(caller.0.workspace_id, range).await? {
        add(&mut total, &row.counts);
    }
    total.histogram.resize(BUCKETS, 0);
    Ok(Json(Distribution {
        scope,
        buckets: buckets(&total.histogram),
        answered: total.histogram.iter().sum(),
        median_ms: turns::histogram_quantile(&total.histogram, 0.5),
        p90_ms: turns::histogram_quantile(&total.histogram, 0.9),
    }))
}

/// One agent's line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentLine {
    pub agent_id: UserId,
    pub name: Option<String>,
    /// Turns this agent answered (by the day they started).
    pub turns: i64,
    pub within_target: i64,
    pub rate: Option<f64>,
    /// Bucket-precision median and p90 (see the distribution).
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    /// Answered only after the day they started on had ended.
    pub carried_over: i64,
    /// Answered after an automatic reply had come first.
    pub auto_first: i64,
}

/// The per-agent table.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentTable {
    #[serde(flatten)]
    pub scope: ReportScope,
    pub items: Vec<AgentLine>,
}

/// Per agent over the range (the agents who answered turns; the merchant's
/// own app and API tokens count for accounts only). Every role. 422
/// `invalid_range`; 404 `not_found` for another workspace's account.
#[utoipa::path(get, path = "/api/v1/reports/agents", tag = "reports", params(RangeParams),
    responses((status = 200, body = AgentTable),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Json<AgentTable>, ApiError> {
    let (range, _, scope) = range(&state, &caller, &q).await?;
    let groups = state
        .store
        .kpi_groups(caller.0.workspace_id, range, true)
        .await?;
    let items = groups
        .into_iter()
        .map(|g| AgentLine {
            agent_id: UserId(g.id),
            name: g.name,
            turns: g.counts.turns,
            within_target: g.counts.within_target,
            rate: rate(g.counts.within_target, g.counts.turns),
            median_ms: turns::histogram_quantile(&g.counts.histogram, 0.5),
            p90_ms: turns::histogram_quantile(&g.counts.histogram, 0.9),
            carried_over: g.counts.unanswered,
            auto_first: g.counts.auto_only,
        })
        .collect();
    Ok(Json(AgentTable { scope, items }))
}

/// One account's line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountLine {
    pub account_id: AccountId,
    pub name: Option<String>,
    #[serde(flatten)]
    pub figures: DayLine,
    /// Bucket-precision median and p90 of the answered turns.
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// The per-account table.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountTable {
    #[serde(flatten)]
    pub scope: ReportScope,
    pub items: Vec<AccountLine>,
}

/// Per account over the range (accounts with turns). Every role. 422
/// `invalid_range`; 404 `not_found` for another workspace's account.
#[utoipa::path(get, path = "/api/v1/reports/accounts", tag = "reports", params(RangeParams),
    responses((status = 200, body = AccountTable),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn accounts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Json<AccountTable>, ApiError> {
    let (range, _, scope) = range(&state, &caller, &q).await?;
    let groups = state
        .store
        .kpi_groups(caller.0.workspace_id, range, false)
        .await?;
    let items = groups
        .into_iter()
        .map(|g| AccountLine {
            account_id: AccountId(g.id),
            name: g.name,
            median_ms: turns::histogram_quantile(&g.counts.histogram, 0.5),
            p90_ms: turns::histogram_quantile(&g.counts.histogram, 0.9),
            figures: day_line(None, &g.counts),
        })
        .collect();
    Ok(Json(AccountTable { scope, items }))
}

/// One CSV cell: always quoted, quotes doubled, and a cell a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
/// prefixed with `'` so it stays text.
pub fn csv_cell(text: &str) -> String {
    let guarded = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// UTF-8 with a byte-order mark (so Excel shows Chinese), CRLF lines.
fn csv_response(name: String, rows: Vec<Vec<String>>) -> Response {
    let mut body = String::from("\u{feff}");
    for row in rows {
        body.push_str(&row.join(","));
        body.push_str("\r\n");
    }
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One row per turn of the range (closed turns, then the open ones), at
/// most 100,000: conversation, account, agent, local start and answer
/// times, counted wait, within target, wait until the first automatic
/// reply. Admin only. UTF-8 with a BOM; cells quoted against formula
/// injection. 422 `invalid_range`; 404 `not_found` for another workspace's
/// account.
#[utoipa::path(get, path = "/api/v1/reports/turns.csv", tag = "reports", params(RangeParams),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn turns_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let (range, settings, scope) = range(&state, &caller, &q).await?;
    let tz = settings.time_zone.clone();
    let records = state
        .store
        .list_turns(caller.0.workspace_id, range, Timestamp::now())
        .await?;
    let mut rows = vec![
        [
            "day",
            "conversation_id",
            "conversation",
            "account_id",
            "account",
            "agent_id",
            "agent",
            "started_at",
            "answered_at",
            "wait_seconds",
            "within_target",
            "auto_reply_seconds",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    let secs = |ms: i64| format!("{:.1}", ms as f64 / 1000.0);
    for t in records {
        rows.push(vec![
            turns::day_text(t.day),
            t.conversation_id.0.to_string(),
            csv_cell(&t.conversation_title),
            t.account_id.0.to_string(),
            csv_cell(&t.account_name),
            opt(t.agent_id.map(|a| a.0)),
            csv_cell(&t.agent_name.unwrap_or_default()),
            turns::local_text(t.started_at, &tz),
            opt(t.answered_at.map(|a| turns::local_text(a, &tz))),
            secs(t.wait_ms),
            opt(t.within_target.map(|w| if w { "yes" } else { "no" })),
            opt(t.auto_wait_ms.map(secs)),
        ]);
    }
    Ok(csv_response(
        format!("turns-{}-{}.csv", scope.from, scope.to),
        rows,
    ))
}

/// One row per conversation with turns in the range: turns, answered,
/// within target, exact median / p90 / longest wait, whether a turn is
/// still open. Admin only. UTF-8 with a BOM; cells quoted against formula
/// injection. 422 `invalid_range`; 404 `not_found` for another workspace's
/// account.
#[utoipa::path(get, path = "/api/v1/reports/conversations.csv", tag = "reports",
    params(RangeParams),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_range`")))]
pub async fn conversations_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let (range, _, scope) = range(&state, &caller, &q).await?;
    let lines = state
        .store
        .conversation_turns(caller.0.workspace_id, range, Timestamp::now())
        .await?;
    let mut rows = vec![
        [
            "conversation_id",
            "conversation",
            "account_id",
            "account",
            "turns",
            "answered",
            "within_target",
            "rate",
            "median_wait_seconds",
            "p90_wait_seconds",
            "max_wait_seconds",
            "waiting",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    let secs = |ms: i64| format!("{:.1}", ms as f64 / 1000.0);
    for c in lines {
        rows.push(vec![
            c.conversation_id.0.to_string(),
            csv_cell(&c.conversation_title),
            c.account_id.0.to_string(),
            csv_cell(&c.account_name),
            c.turns.to_string(),
            c.answered.to_string(),
            c.within_target.to_string(),
            opt(rate(c.within_target, c.turns).map(|r| format!("{r:.4}"))),
            opt(c.median_ms.map(secs)),
            opt(c.p90_ms.map(secs)),
            opt(c.max_wait_ms.map(secs)),
            if c.waiting { "yes" } else { "no" }.to_string(),
        ]);
    }
    Ok(csv_response(
        format!("conversations-{}-{}.csv", scope.from, scope.to),
        rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_run_as_formulas() {
        assert_eq!(csv_cell("王小明"), "\"王小明\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+86 138"), "\"'+86 138\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("a,b\nc"), "\"a,b\nc\"");
    }
}
