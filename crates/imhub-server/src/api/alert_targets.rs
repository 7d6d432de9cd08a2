//! Alert targets (企业微信 / 飞书 / 钉钉 robots and signed webhooks) with the
//! rules enabled on each, their test button and deliveries, and the
//! workspace's alert settings. Admin only. Every target URL is checked by
//! the guarded client when saved and again at every send.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use imhub_core::{
    Timestamp,
    alerts::{AlertRule, MessageFormat, TargetKind},
};
use imhub_store::alerts::{
    AlertDelivery, AlertResult, AlertSettings, AlertTarget, AlertTargetPatch, NewAlertTarget,
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List, channels::target_refused},
    auth::Caller,
    error::ApiError,
};

/// The alert routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alert-targets", get(list).post(create))
        .route(
            "/alert-targets/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/alert-targets/{id}/test", post(test))
        .route("/alert-targets/{id}/deliveries", get(deliveries))
        .route("/alert-settings", get(read_settings).put(write_settings))
}

/// Longest target name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest URL, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Shortest secret of a generic webhook (as for outgoing webhooks).
const MIN_WEBHOOK_SECRET_CHARS: usize = 16;
/// Longest secret, in characters.
const MAX_SECRET_CHARS: usize = 256;

/// A target to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// `wecom`, `feishu`, `dingtalk` or `webhook`.
    #[schema(example = "wecom")]
    pub kind: String,
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The robot's webhook URL (企业微信 with its `key`, 钉钉 with its
    /// `access_token`) or the merchant's own URL.
    #[schema(max_length = 2048)]
    pub url: String,
    /// 飞书 签名校验 / 钉钉 加签 secret (optional there), a webhook's signing
    /// secret (required, at least 16 characters); none for 企业微信.
    #[schema(max_length = 256)]
    pub secret: Option<String>,
    /// `text` (default) or `markdown` (企业微信, 钉钉).
    pub format: Option<String>,
    /// The rules enabled on the target: `breach`, `new_lead`,
    /// `needs_reauthorization`, `reply_failed`, `channel_silent`.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Defaults to true.
    pub enabled: Option<bool>,
}

/// Changes to a target; absent fields are kept, `"secret": null` removes
/// the secret.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetPatch {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "crate::api::quick_replies::present")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub secret: Option<Option<String>>,
    pub format: Option<String>,
    pub rules: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// What a test send got: the result shown on the target and the robot's
/// own answer as it came.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestOutcome {
    #[serde(flatten)]
    pub result: AlertResult,
    /// The robot's body (JSON when it answered JSON), e.g.
    /// `{"errcode":310000,"errmsg":"sign not match"}`.
    #[schema(value_type = Option<Object>)]
    pub answer: Option<serde_json::Value>,
}

fn parse_kind(kind: &str) -> Result<TargetKind, ApiError> {
    TargetKind::parse(kind).ok_or_else(|| {
        ApiError::unprocessable(
            "unknown_kind",
            format!("unknown alert target kind {kind:?}; known: wecom, feishu, dingtalk, webhook"),
        )
    })
}

fn parse_rules(rules: &[String]) -> Result<Vec<AlertRule>, ApiError> {
    rules
        .iter()
        .map(|r| {
            AlertRule::parse(r).ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_rule",
                    format!(
                        "unknown alert rule {r:?}; known: breach, new_lead, \
                         needs_reauthorization, reply_failed, channel_silent"
                    ),
                )
            })
        })
        .collect()
}

fn parse_format(format: &str) -> Result<MessageFormat, ApiError> {
    MessageFormat::parse(format).ok_or_else(|| {
        ApiError::unprocessable("invalid_request", "format must be text or markdown")
    })
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("name must have 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

/// Checks a target's secret for its kind.
fn check_secret(kind: TargetKind, secret: Option<&str>) -> Result<(), ApiError> {
    let bad = |detail: &str| {
        Err(ApiError::unprocessable(
            "invalid_request",
            detail.to_string(),
        ))
    };
    match (kind, secret) {
        (_, Some(s)) if s.chars().count() > MAX_SECRET_CHARS => {
            bad("secret must have at most 256 characters")
        }
        (TargetKind::Wecom, Some(_)) => {
            bad("企业微信 group robots have no signing secret: the key is part of the webhook URL")
        }
        (TargetKind::Webhook, None) => bad("a webhook target needs a signing secret"),
        (TargetKind::Webhook, Some(s)) if s.chars().count() < MIN_WEBHOOK_SECRET_CHARS => {
            bad("a webhook secret must have at least 16 characters")
        }
        (_, Some(s)) if s.trim().is_empty() => bad("secret must not be blank"),
        _ => Ok(()),
    }
}

/// Checks the URL with the guarded client (as every send does again).
async fn check_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    if url.len() > MAX_URL_BYTES {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "url must have at most 2048 bytes",
        ));
    }
    let checked = state
        .outbound_http
        .check_url(url)
        .await
        .map_err(target_refused)?;
    Ok(checked.to_string())
}

/// The workspace's alert targets, oldest first; secrets are never shown
/// (`secret_set` says whether one is stored) and URL query values are
/// hidden. Admin only.
#[utoipa::path(get, path = "/api/v1/alert-targets", tag = "alerts",
    responses((status = 200, body = List<AlertTarget>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<AlertTarget>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(List {
        items: state
            .store
            .list_alert_targets(caller.0.workspace_id)
            .await?,
    }))
}

/// Adds an alert target. Admin only. 422 `unknown_kind` for a kind other
/// than wecom, feishu, dingtalk, webhook; 422 `unknown_rule`; 422
/// `target_not_allowed` for a URL the guarded client refuses (it is, or
/// resolves to, an address imhub does not call); 422 `invalid_request`
/// (URL not http(s), blank or long name, a secret for 企业微信, a webhook
/// without a secret of 16+ characters, unknown format); 422
/// `too_many_alert_targets` past 20.
#[utoipa::path(post, path = "/api/v1/alert-targets", tag = "alerts", request_body = NewTarget,
    responses((status = 201, body = AlertTarget),
        (status = 422, description = "`unknown_kind`, `unknown_rule`, `target_not_allowed`, \
            `invalid_request`, `too_many_alert_targets`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewTarget>,
) -> Result<(StatusCode, Json<AlertTarget>), ApiError> {
    caller.require_admin()?;
    let kind = parse_kind(&req.kind)?;
    let rules = parse_rules(&req.rules)?;
    let format = req
        .format
        .as_deref()
        .map(parse_format)
        .transpose()?
        .unwrap_or_default();
    let name = check_name(&req.name)?;
    check_secret(kind, req.secret.as_deref())?;
    let url = check_url(&state, &req.url).await?;
    let target = state
        .store
        .create_alert_target(
            caller.0.workspace_id,
            NewAlertTarget {
                kind,
                name,
                url,
                secret: req.secret,
                format,
                rules,
                enabled: req.enabled.unwrap_or(true),
            },
            Timestamp::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(target)))
}

/// One alert target with its last result (the robot's own `code` and
/// `message`, e.g. 钉钉 310000, 飞书 19021). Admin only. 404 for another
/// workspace's target.
#[utoipa::path(get, path = "/api/v1/alert-targets/{id}", tag = "alerts",
    params(("id" = i64, Path)), responses((status = 200, body = AlertTarget)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertTarget>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .get_alert_target(caller.0.workspace_id, id)
            .await?,
    ))
}

/// Changes an alert target; absent fields are kept, `"secret": null`
/// removes the secret. Admin only. 404 for another workspace's target;
/// 422 as for creation.
#[utoipa::path(patch, path = "/api/v1/alert-targets/{id}", tag = "alerts",
    params(("id" = i64, Path)), request_body = TargetPatch,
    responses((status = 200, body = AlertTarget),
        (status = 422, description = "`unknown_rule`, `target_not_allowed`, `invalid_request`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TargetPatch>,
) -> Result<Json<AlertTarget>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    let current = state.store.get_alert_target(ws, id).await?;
    let rules = req.rules.as_deref().map(parse_rules).transpose()?;
    let format = req.format.as_deref().map(parse_format).transpose()?;
    let name = req.name.as_deref().map(check_name).transpose()?;
    if let Some(secret) = &req.secret {
        match secret {
            Some(s) => check_secret(current.kind, Some(s))?,
            None if current.kind == TargetKind::Webhook => {
                check_secret(current.kind, None)?;
            }
            None => {}
        }
    }
    let url = match &req.url {
        Some(url) => Some(check_url(&state, url).await?),
        None => None,
    };
    let target = state
        .store
        .update_alert_target(
            ws,
            id,
            AlertTargetPatch {
                name,
                url,
                secret: req.secret,
                format,
                rules,
                enabled: req.enabled,
            },
            Timestamp::now(),
        )
        .await?;
    Ok(Json(target))
}

/// Deletes an alert target with its pending and past deliveries. Admin
/// only. 404 for another workspace's target.
#[utoipa::path(delete, path = "/api/v1/alert-targets/{id}", tag = "alerts",
    params(("id" = i64, Path)), responses((status = 204)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state
        .store
        .delete_alert_target(caller.0.workspace_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test alert to the target now (through the guarded client) and
/// returns the robot's own answer; the result is shown on the target.
/// Admin only. 200 whatever the robot said (`ok` false with its `code` and
/// `message`, or our `error` when it could not be reached); 404 for
/// another workspace's target. Not idempotent: each call sends.
#[utoipa::path(post, path = "/api/v1/alert-targets/{id}/test", tag = "alerts",
    params(("id" = i64, Path)), responses((status = 200, body = TestOutcome)))]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TestOutcome>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    let mut job = state.store.alert_target_job(ws, id).await?;
    let now = Timestamp::now();
    job.alerts = vec![imhub_core::alerts::test_alert(now)];
    let sent = crate::alerts::send(&state.outbound_http, &job, now).await;
    state
        .store
        .record_alert_result(ws, id, sent.result.clone())
        .await?;
    Ok(Json(TestOutcome {
        result: sent.result,
        answer: sent.answer,
    }))
}

/// A target's newest deliveries (alerts listed, attempts, the robot's
/// code and our error). Admin only. 404 for another workspace's target.
#[utoipa::path(get, path = "/api/v1/alert-targets/{id}/deliveries", tag = "alerts",
    params(("id" = i64, Path)), responses((status = 200, body = List<AlertDelivery>)))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<List<AlertDelivery>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(List {
        items: state
            .store
            .list_alert_deliveries(caller.0.workspace_id, id, 100)
            .await?,
    }))
}

/// The workspace's alert settings: breach threshold, throttle, digest
/// window, silence hours (defaults until set). Admin only.
#[utoipa::path(get, path = "/api/v1/alert-settings", tag = "alerts",
    responses((status = 200, body = AlertSettings)))]
pub async fn read_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AlertSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .get_alert_settings(caller.0.workspace_id)
            .await?,
    ))
}

/// Replaces the alert settings. Admin only. 422 `invalid_request` for a
/// value out of its range (detail names it). Idempotent.
#[utoipa::path(put, path = "/api/v1/alert-settings", tag = "alerts",
    request_body = AlertSettings,
    responses((status = 200, body = AlertSettings),
        (status = 422, description = "`invalid_request`")))]
pub async fn write_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AlertSettings>,
) -> Result<Json<AlertSettings>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .set_alert_settings(caller.0.workspace_id, req)
            .await?,
    ))
}
