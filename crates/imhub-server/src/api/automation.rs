//! Automation rules (welcome on entering the chat, keyword and expression
//! replies, off-hours answers, escalation) and the workspace's automation
//! settings (business hours, the daily reply cap, human takeover). Admins
//! write them; every agent may read them, test them and see their counts.
//! The rules run in the store, in the transaction that records a push
//! (see `imhub_store::automation`), so nothing here sends anything.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use imhub_core::{
    Timestamp,
    automation::{AutomationSettings, RuleId},
};
use imhub_store::automation::{RuleBody, RuleStats, RuleTest, RuleTestOutcome, StoredRule};
use serde::Deserialize;

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    error::ApiError,
};

/// The `automation` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/automation/rules", get(list).post(create))
        .route("/automation/rules/order", put(reorder))
        .route("/automation/rules/test", post(test))
        .route(
            "/automation/rules/{id}",
            get(fetch).put(update).delete(remove),
        )
        .route("/automation/rules/{id}/stats", get(stats))
        .route("/automation/settings", get(settings).put(set_settings))
}

/// The workspace's rules in the order they are evaluated (the first firing
/// rule with a reply answers; later ones run their other actions). Every
/// role may read them.
#[utoipa::path(get, path = "/api/v1/automation/rules", tag = "automation",
    responses((status = 200, body = List<StoredRule>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<StoredRule>>, ApiError> {
    Ok(Json(List {
        items: state.store.list_rules(caller.0.workspace_id).await?,
    }))
}

/// Saves a rule, last in the order (201). Admin only. Refused with 422 and
/// the reason: `invalid_pattern` (the expression does not compile or is
/// too large), `pattern_too_long` (over 500 characters),
/// `invalid_keywords`, `no_actions`, `invalid_reply` (not exactly one of
/// text, content, quick reply; or content that cannot be sent),
/// `reply_too_long_for_douyin` (over 300 characters where Douyin is in
/// scope), `invalid_minutes` (escalation outside 1–10080), `several_replies`,
/// `unknown_variable` / `invalid_template` (the reply's variables),
/// `unknown_quick_reply` (not a shared quick reply of the workspace),
/// `unknown_label`, `unknown_agent`, `invalid_request` (name, scope
/// account, snooze, more than 200 rules).
#[utoipa::path(post, path = "/api/v1/automation/rules", tag = "automation",
    request_body = RuleBody,
    responses((status = 201, body = StoredRule),
        (status = 422, description = "`invalid_pattern`, `pattern_too_long`, `invalid_keywords`, \
            `no_actions`, `invalid_reply`, `reply_too_long_for_douyin`, `invalid_minutes`, \
            `several_replies`, `unknown_variable`, `invalid_template`, `unknown_quick_reply`, \
            `unknown_label`, `unknown_agent`, `invalid_request`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<(StatusCode, Json<StoredRule>), ApiError> {
    caller.require_admin()?;
    let rule = state
        .store
        .create_rule(caller.0.workspace_id, body, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// One rule; 404 `not_found` for another workspace's.
#[utoipa::path(get, path = "/api/v1/automation/rules/{id}", tag = "automation",
    params(("id" = i64, Path)),
    responses((status = 200, body = StoredRule), (status = 404, description = "`not_found`")))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RuleId>,
) -> Result<Json<StoredRule>, ApiError> {
    Ok(Json(state.store.get_rule(caller.0.workspace_id, id).await?))
}

/// Replaces a rule (enabling or disabling it included); its place in the
/// order stays. Admin only. 404 `not_found` for another workspace's rule;
/// the refusals of creating one. Idempotent.
#[utoipa::path(put, path = "/api/v1/automation/rules/{id}", tag = "automation",
    params(("id" = i64, Path)), request_body = RuleBody,
    responses((status = 200, body = StoredRule), (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_pattern`, `pattern_too_long`, `invalid_keywords`, \
            `no_actions`, `invalid_reply`, `reply_too_long_for_douyin`, `invalid_minutes`, \
            `several_replies`, `unknown_variable`, `invalid_template`, `unknown_quick_reply`, \
            `unknown_label`, `unknown_agent`, `invalid_request`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RuleId>,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<Json<StoredRule>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .update_rule(caller.0.workspace_id, id, body, Timestamp::now())
            .await?,
    ))
}

/// Deletes a rule with its counters (204); its pending escalations fire
/// nothing. Admin only. 404 `not_found` for another workspace's rule.
#[utoipa::path(delete, path = "/api/v1/automation/rules/{id}", tag = "automation",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "`not_found`")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RuleId>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state.store.delete_rule(caller.0.workspace_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The new order of the rules.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleOrder {
    /// Every rule of the workspace, each once, first evaluated first.
    #[schema(value_type = Vec<i64>)]
    pub rule_ids: Vec<RuleId>,
}

/// Puts the rules in a new order (200 with them, in that order). Admin
/// only. 422 `invalid_request` unless `rule_ids` lists every rule of the
/// workspace exactly once. Idempotent.
#[utoipa::path(put, path = "/api/v1/automation/rules/order", tag = "automation",
    request_body = RuleOrder,
    responses((status = 200, body = List<StoredRule>),
        (status = 422, description = "`invalid_request`")))]
pub async fn reorder(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RuleOrder>,
) -> Result<Json<List<StoredRule>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(List {
        items: state
            .store
            .reorder_rules(caller.0.workspace_id, body.rule_ids)
            .await?,
    }))
}

/// A dry run: given a sample message text (or `entered_chat`), platform,
/// account and time, which enabled rules would fire in a fresh
/// conversation and what they would send, variables filled. Stores and
/// sends nothing. 404 `not_found` for another workspace's account; 422
/// `invalid_hours` when the stored hours are unusable, `unknown_quick_reply`
/// for a reply deleted since the rule was saved.
#[utoipa::path(post, path = "/api/v1/automation/rules/test", tag = "automation",
    request_body = RuleTest,
    responses((status = 200, body = RuleTestOutcome), (status = 404, description = "`not_found`"),
        (status = 422, description = "`invalid_hours`, `unknown_quick_reply`, \
            `reply_too_long_for_douyin`, `unknown_variable`, `invalid_request`")))]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(sample): ApiJson<RuleTest>,
) -> Result<Json<RuleTestOutcome>, ApiError> {
    if sample
        .text
        .as_ref()
        .is_some_and(|t| t.chars().count() > 10_000)
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "the sample text has at most 10000 characters",
        ));
    }
    Ok(Json(
        state
            .store
            .test_rules(caller.0.workspace_id, sample)
            .await?,
    ))
}

/// A rule's fired / sent / failed counts for the last 7 days (UTC days;
/// counted when they happen, not by reading messages) and its latest
/// failures with the platform's code and text. 404 `not_found` for another
/// workspace's rule.
#[utoipa::path(get, path = "/api/v1/automation/rules/{id}/stats", tag = "automation",
    params(("id" = i64, Path)),
    responses((status = 200, body = RuleStats), (status = 404, description = "`not_found`")))]
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RuleId>,
) -> Result<Json<RuleStats>, ApiError> {
    Ok(Json(
        state
            .store
            .rule_stats(caller.0.workspace_id, id, Timestamp::now())
            .await?,
    ))
}

/// The workspace's automation settings (defaults until set: Asia/Shanghai,
/// 09:00–18:00 every day, 5 automatic replies per conversation a day, 30
/// minutes of human takeover). Every role may read them.
#[utoipa::path(get, path = "/api/v1/automation/settings", tag = "automation",
    responses((status = 200, body = AutomationSettings)))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AutomationSettings>, ApiError> {
    Ok(Json(
        state
            .store
            .get_automation_settings(caller.0.workspace_id)
            .await?,
    ))
}

/// Replaces the automation settings. Admin only. 422 `invalid_hours` with
/// the reason (an unknown time zone, a time that is not HH:MM, a span that
/// does not end after it starts, overlapping spans, a date that is not
/// YYYY-MM-DD, not 7 weekdays, a cap or pause out of range). Idempotent.
#[utoipa::path(put, path = "/api/v1/automation/settings", tag = "automation",
    request_body = AutomationSettings,
    responses((status = 200, body = AutomationSettings),
        (status = 422, description = "`invalid_hours`")))]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(settings): ApiJson<AutomationSettings>,
) -> Result<Json<AutomationSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .set_automation_settings(caller.0.workspace_id, settings)
            .await?,
    ))
}
