//! Connecting platform apps. Secrets are write-only: accepted here, never
//! returned or logged.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use imhub_core::{ChannelId, ChannelInfo, Platform};
use imhub_store::StoredChannel;
use serde::Deserialize;

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::Caller,
    channels::public_settings,
    error::ApiError,
    outbound_http::GuardError,
};

/// The `channels` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", get(fetch))
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
        created_at: channel.created_at,
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
