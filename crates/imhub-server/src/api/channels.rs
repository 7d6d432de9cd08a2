//! Connecting platform apps. Secrets are write-only: accepted here, never
//! returned or logged.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use imhub_core::{AccountId, ChannelId, ChannelInfo, Platform, PlatformValue, Timestamp};
use imhub_store::StoredChannel;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    channels::{canonical_config, public_settings, secrets_set},
    error::ApiError,
    outbound_http::GuardError,
};

/// The `channels` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/health", get(health))
        .route(
            "/channels/{id}",
            get(fetch).patch(update).delete(disconnect),
        )
}

/// A channel to connect (no `Debug`: the config holds secrets).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub platform: Platform,
    #[schema(schema_with = crate::api::text::name_schema)]
    pub name: String,
    /// The platform's settings and secrets, an object whose fields depend
    /// on `platform` (see the README's channel settings; for `custom`:
    /// `secret`, `outbound_url`, `max_text_chars`). The platform's adapter
    /// checks it: 422 `invalid_channel_config` when it refuses,
    /// `target_not_allowed` for an `outbound_url` imhub does not call.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// The API's view of a stored channel: secrets removed, webhook URL added.
pub fn info(state: &AppState, channel: StoredChannel) -> ChannelInfo {
    let platform_values = platform_values(state, &channel);
    ChannelInfo {
        id: channel.id,
        platform: channel.platform,
        name: channel.name,
        settings: public_settings(channel.platform, &channel.config),
        webhook_url: format!(
            "{}/webhooks/{}/{}",
            state.config.public_url(),
            channel.platform.as_str(),
            channel.id
        ),
        secrets: secrets_set(channel.platform, &channel.config),
        platform_values,
        created_at: channel.created_at,
    }
}

/// The Douyin webhook events imhub reads, to switch on in the Douyin console.
const DOUYIN_EVENTS: &str = "im_receive_msg, im_send_msg, im_enter_direct_msg, \
    im_group_receive_msg, im_group_send_msg, im_recall_msg, authorize, unauthorize";

/// The Tencent IM callbacks imhub reads, to switch on in the IM console.
const TENCENT_CALLBACKS: &str = "C2C.CallbackAfterSendMsg, Group.CallbackAfterSendMsg, \
    C2C.CallbackAfterMsgWithDraw, C2C.CallbackAfterMsgReport";

/// What the merchant pastes into the platform's console besides the
/// webhook URL (shared/reference: douyin.md §1 and §7, tencent-im.md §6,
/// meituan.md §8).
pub fn platform_values(state: &AppState, channel: &StoredChannel) -> Vec<PlatformValue> {
    let public = state.config.public_url();
    let webhook = format!(
        "{public}/webhooks/{}/{}",
        channel.platform.as_str(),
        channel.id
    );
    let value = |key: &str, value: String| PlatformValue {
        key: key.to_string(),
        value,
    };
    match channel.platform {
        // The QR authorization returns to this redirect URI, which must be
        // registered in the Douyin console; the events must be switched on.
        Platform::Douyin => vec![
            value(
                "douyin_oauth_redirect_uri",
                format!("{public}{}", crate::api::douyin::CALLBACK_PATH),
            ),
            value("douyin_webhook_events", DOUYIN_EVENTS.to_string()),
        ],
        // The callback URL as typed in the console: Tencent appends
        // `SdkAppid`, `CallbackCommand`, `contenttype`, `ClientIP`,
        // `OptPlatform` (and `Sign`, `RequestTime` once a callback Token is
        // set there, the same Token as this channel's `callback_token`).
        Platform::Tencent => vec![
            value("tencent_callback_url", webhook),
            value("tencent_callback_commands", TENCENT_CALLBACKS.to_string()),
        ],
        // The IM push URL (IM消息推送); pushes are signed over exactly the
        // registered URL, so a configured `push_url` is the one to paste.
        Platform::Meituan => vec![value(
            "meituan_im_push_url",
            channel
                .config
                .get("push_url")
                .and_then(|v| v.as_str())
                .map_or(webhook, str::to_string),
        )],
        Platform::Custom => Vec::new(),
    }
}

/// Connects a channel. Admin only. 422 `invalid_channel_config` when the
/// adapter refuses the configuration (a platform channel naming `base_url`,
/// which is the operator's, included); 422 `target_not_allowed` when the
/// custom channel's `outbound_url` is or resolves to an address imhub does
/// not call (loopback, private, link-local, metadata…). Nothing is stored
/// then.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = NewChannel,
    responses((status = 201, body = ChannelInfo),
        (status = 422, description = "`invalid_channel_config` (the platform's adapter refused `config`), \
            `target_not_allowed` (`outbound_url` is an address imhub does not call), \
            `invalid_request` (a blank name)")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewChannel>,
) -> Result<(StatusCode, Json<ChannelInfo>), ApiError> {
    caller.require_admin()?;
    if crate::api::text::is_blank(&req.name) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "name must not be empty",
        ));
    }
    state
        .channels
        .check(req.platform, &req.config)
        .map_err(|e| ApiError::unprocessable("invalid_channel_config", e.to_string()))?;
    state
        .channels
        .check_targets(req.platform, &req.config)
        .await
        .map_err(target_refused)?;
    let channel = state
        .store
        .create_channel(
            caller.0.workspace_id,
            req.platform,
            req.name.trim(),
            &req.config,
        )
        .await?;
    tracing::info!(channel = %channel.id, platform = channel.platform.as_str(), "channel connected");
    Ok((StatusCode::CREATED, Json(info(&state, channel))))
}

/// The workspace's channels.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = List<ChannelInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<ChannelInfo>>, ApiError> {
    let channels = state.store.list_channels(caller.0.workspace_id).await?;
    Ok(Json(List {
        items: channels.into_iter().map(|c| info(&state, c)).collect(),
    }))
}

/// One channel; 404 when it is not the caller's.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = i64, Path)), responses((status = 200, body = ChannelInfo)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Json<ChannelInfo>, ApiError> {
    let channel = state.store.get_channel(caller.0.workspace_id, id).await?;
    Ok(Json(info(&state, channel)))
}

/// A URL the guard refused when it was saved, as the API's 422.
pub fn target_refused(e: GuardError) -> ApiError {
    let code = match e {
        GuardError::NotAllowed(_) => "target_not_allowed",
        _ => "invalid_request",
    };
    ApiError::unprocessable(code, e.to_string())
}

/// What to change about a channel; absent fields keep their value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// A new name; not blank. `null` keeps it.
    #[serde(default)]
    #[schema(schema_with = name_or_null_schema)]
    pub name: Option<String>,
    /// A partial configuration merged into the stored one: each field
    /// given replaces the stored value, `null` removes an optional field,
    /// and a field left out is kept — so a secret is kept unless it is
    /// sent. The result is checked by the platform's adapter as at
    /// connection time. `null` keeps the whole configuration.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// [`crate::api::text::name_schema`], also taking `null` (which keeps the name).
pub fn name_or_null_schema() -> utoipa::openapi::Object {
    crate::api::text::or_null(crate::api::text::name_schema())
}

/// The stored configuration with a partial change merged in (JSON merge
/// patch, RFC 7396, one level deep; aliases of a field replace it).
pub fn merge_config(
    platform: Platform,
    stored: &serde_json::Value,
    change: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut merged = canonical_config(platform, stored.as_object().cloned().unwrap_or_default());
    for (key, value) in canonical_config(platform, change) {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    serde_json::Value::Object(merged)
}

/// Changes a channel's name and/or configuration (200 with the channel).
/// Admin only. The configuration is partial: secrets not sent are kept.
/// The merged configuration is checked as at connection: 422
/// `invalid_channel_config` when the adapter refuses it (`base_url`
/// included), `target_not_allowed` for an `outbound_url` imhub does not
/// call, `invalid_request` for a blank name or a `config` that is not an
/// object; nothing is changed then. 404 for another workspace's or a
/// disconnected channel. Pushes and sends use the new settings at once on
/// this node and within seconds on the others.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = i64, Path)), request_body = ChannelChange,
    responses((status = 200, body = ChannelInfo),
        (status = 422, description = "`invalid_channel_config` (the platform's adapter refused the merged `config`), \
            `target_not_allowed` (`outbound_url` is an address imhub does not call), \
            `invalid_request` (a blank name, a `config` that is not an object)")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(req): ApiJson<ChannelChange>,
) -> Result<Json<ChannelInfo>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    if req.name.as_deref().is_some_and(crate::api::text::is_blank) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "name must not be empty",
        ));
    }
    let channel = state.store.get_channel(ws, id).await?;
    let config = match req.config {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(change)) => {
            let merged = merge_config(channel.platform, &channel.config, change);
            state
                .channels
                .check(channel.platform, &merged)
                .map_err(|e| ApiError::unprocessable("invalid_channel_config", e.to_string()))?;
            state
                .channels
                .check_targets(channel.platform, &merged)
                .await
                .map_err(target_refused)?;
            Some(merged)
        }
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "config must be an object of the fields to change",
            ));
        }
    };
    let name = req.name.as_deref().map(str::trim);
    let updated = state
        .store
        .update_channel(ws, id, name, config.as_ref())
        .await?;
    state.channels.forget(id);
    tracing::info!(channel = %id, "channel settings changed");
    Ok(Json(info(&state, updated)))
}

/// Disconnects a channel (204). Admin only. The channel is kept as the
/// history of its conversations, which stay readable, but leaves every
/// list; its webhook URL answers 404 `unknown_channel` like an unknown
/// channel's; replies still queued through it fail for good with
/// `channel_disconnected`, and new replies are refused 422
/// `channel_disconnected`. 404 for another workspace's channel or one
/// disconnected already.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = i64, Path)), responses((status = 204)))]
pub async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let changes = state
        .store
        .disconnect_channel(caller.0.workspace_id, id, Timestamp::now())
        .await?;
    state.channels.forget(id);
    state.live.publish(&changes);
    tracing::info!(channel = %id, failed = changes.len(), "channel disconnected");
    Ok(StatusCode::NO_CONTENT)
}

/// A reply that failed for good on the channel, with the platform's code
/// and text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SendErrorView {
    pub code: String,
    pub text: String,
    pub at: Timestamp,
}

/// A Douyin account's authorization, as the health page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DouyinAccountHealth {
    pub account_id: AccountId,
    pub name: String,
    /// When the stored authorization (its refresh token) runs out: after
    /// it the account must be authorized again by QR. `null` when imhub
    /// holds no token for it.
    pub token_expires_at: Option<Timestamp>,
    pub needs_reauthorization: bool,
}

/// One connected channel's health.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelHealthView {
    pub channel_id: ChannelId,
    pub platform: Platform,
    pub name: String,
    /// The newest push received (to a few seconds); `null` when none yet.
    pub last_push_at: Option<Timestamp>,
    /// Pushes received since 00:00 UTC today (replays of one push count once).
    #[schema(minimum = 0)]
    pub pushes_today: i64,
    /// The newest reply that failed for good; `null` when none did.
    pub last_send_error: Option<SendErrorView>,
    /// No push for `silent_after_secs` (counted from the connection when
    /// the channel never had one).
    pub silent: bool,
    /// The workspace's silence threshold (the alert settings' hours).
    #[schema(minimum = 0)]
    pub silent_after_secs: i64,
    /// The channel's accounts when it is a Douyin channel; empty otherwise.
    pub douyin_accounts: Vec<DouyinAccountHealth>,
}

/// The milliseconds of a UTC day.
const DAY_MS: i64 = 86_400_000;

/// Whether a channel is silent at `now`: no push for `after_ms` since the
/// last one, or since it was connected when it never had one.
pub fn is_silent(
    last_push_at: Option<Timestamp>,
    connected_at: Timestamp,
    after_ms: i64,
    now: Timestamp,
) -> bool {
    now.millis() - last_push_at.unwrap_or(connected_at).millis() > after_ms
}

/// Every connected channel's health, from what imhub recorded: the last
/// push, today's pushes, the last reply that failed for good (the
/// platform's code and text), whether it went silent, and for Douyin the
/// accounts' token expiry and re-authorization flags. No platform is
/// called (a Meituan channel's live connection status is `GET
/// /api/v1/meituan/channels/{id}/status`). Admin only.
#[utoipa::path(get, path = "/api/v1/channels/health", tag = "channels",
    responses((status = 200, body = List<ChannelHealthView>)))]
pub async fn health(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<ChannelHealthView>>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    let now = Timestamp::now();
    let today = Timestamp(now.millis() - now.millis().rem_euclid(DAY_MS));
    let silent_after_secs = state
        .store
        .get_alert_settings(ws)
        .await?
        .silence_hours
        .saturating_mul(3600);
    let mut items = Vec::new();
    for channel in state.store.channel_health(ws, today).await? {
        let mut douyin_accounts = Vec::new();
        if channel.platform == Platform::Douyin {
            for account in &channel.accounts {
                let tokens = state
                    .store
                    .get_channel_state(
                        channel.channel_id,
                        &format!("douyin.user_tokens.{}", account.external_id),
                    )
                    .await?
                    .and_then(|text| serde_json::from_str::<imhub_douyin::UserTokens>(&text).ok());
                douyin_accounts.push(DouyinAccountHealth {
                    account_id: account.id,
                    name: account.name.clone(),
                    token_expires_at: tokens.map(|t| Timestamp(t.refresh_expires_at)),
                    needs_reauthorization: account.state
                        == imhub_core::AccountState::NeedsReauthorization,
                });
            }
        }
        items.push(ChannelHealthView {
            silent: is_silent(
                channel.last_push_at,
                channel.created_at,
                silent_after_secs.saturating_mul(1000),
                now,
            ),
            channel_id: channel.channel_id,
            platform: channel.platform,
            name: channel.name,
            last_push_at: channel.last_push_at,
            pushes_today: channel.pushes_since,
            last_send_error: channel.last_send_error.map(|e| SendErrorView {
                code: e.code,
                text: e.text,
                at: e.at,
            }),
            silent_after_secs,
            douyin_accounts,
        });
    }
    Ok(Json(List { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_config_keeps_what_it_does_not_name() {
        let stored = serde_json::json!({"sdkappid": 1, "secret_key": "k", "identifier": "admin",
            "callback_token": "t"});
        let merged = merge_config(
            Platform::Tencent,
            &stored,
            serde_json::json!({"key": "k2", "callback_token": null, "region": "sgp"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert_eq!(
            merged,
            serde_json::json!({"sdkappid": 1, "key": "k2", "identifier": "admin", "region": "sgp"})
        );
        let kept = merge_config(
            Platform::Custom,
            &serde_json::json!({"secret": "s", "outbound_url": "https://a.example"}),
            serde_json::json!({"outbound_url": "https://b.example"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert_eq!(kept["secret"], "s");
        assert_eq!(kept["outbound_url"], "https://b.example");
    }

    #[test]
    fn a_channel_is_silent_after_the_threshold_since_its_last_push() {
        let hour = 3_600_000;
        let now = Timestamp(100 * hour);
        assert!(!is_silent(
            Some(Timestamp(99 * hour)),
            Timestamp(0),
            24 * hour,
            now
        ));
        assert!(is_silent(
            Some(Timestamp(70 * hour)),
            Timestamp(0),
            24 * hour,
            now
        ));
        assert!(!is_silent(None, Timestamp(90 * hour), 24 * hour, now));
        assert!(is_silent(None, Timestamp(10 * hour), 24 * hour, now));
    }
}
