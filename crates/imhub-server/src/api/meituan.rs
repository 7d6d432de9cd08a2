//! Meituan routes under `/api/v1/meituan/...`: a channel's IM connection
//! status (getConnectionToken's `userCount`), the order a conversation is
//! about, and the `userCount` gauges in Prometheus' text format.
//!
//! The status check is a plain function ([`check_status`]) shared with the
//! `imhub meituan` command line, so the API and the operator see the same.

use std::{fmt::Write, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use imhub_core::{ChannelId, ConversationId, DeliveryError, Platform, Timestamp, WorkspaceId};
use imhub_meituan::{ConnectionToken, MeituanChannel, MeituanConfig, channel::reply_order_id};
use imhub_store::{Store, StoreError, StoredChannel};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::{AppState, api::ApiPath, auth::Caller, error::ApiError};

/// The Meituan routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/meituan/channels/{id}/status", get(channel_status))
        .route("/meituan/conversations/{id}/order", get(conversation_order))
        .route("/meituan/metrics", get(metrics))
}

/// The channel-state key under which the last status check is kept.
pub const STATUS_STATE_KEY: &str = "meituan.connection_status";

/// How old a kept status may be before a scrape of [`metrics`] checks again.
pub const METRICS_MAX_STATUS_AGE: Duration = Duration::from_secs(60);

/// What the long connection can do today: its protocol is undocumented
/// (see `imhub_meituan::longconn`), so nothing recovers failed pushes yet.
pub const LONG_CONNECTION_NOT_IMPLEMENTED: &str = "not_implemented";

/// A Meituan channel's IM connection as Meituan reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelStatus {
    pub channel_id: ChannelId,
    /// The Meituan app id of the channel.
    pub app_id: String,
    /// `userCount`: customers whose messages Meituan failed to push to
    /// imhub in the last 30 minutes.
    pub user_count: i64,
    /// `user_count` is not zero: messages are being lost and the push URL,
    /// signature settings or imhub's availability need a look.
    pub failing: bool,
    /// The state of the long connection that would recover such messages:
    /// `not_implemented` (its protocol is undocumented).
    pub long_connection: String,
    /// When Meituan was asked.
    pub checked_at: Timestamp,
}

impl ChannelStatus {
    /// The status shown for a token Meituan just issued.
    pub fn from_token(
        channel_id: ChannelId,
        app_id: &str,
        token: &ConnectionToken,
        at: Timestamp,
    ) -> Self {
        ChannelStatus {
            channel_id,
            app_id: app_id.trim().to_string(),
            user_count: token.user_count,
            failing: token.user_count > 0,
            long_connection: LONG_CONNECTION_NOT_IMPLEMENTED.to_string(),
            checked_at: at,
        }
    }
}

/// Why a channel's status could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The channel belongs to another platform.
    #[error("channel {0} is not a meituan channel")]
    NotMeituan(ChannelId),
    /// The stored configuration no longer makes an adapter.
    #[error("invalid meituan channel configuration: {0}")]
    Config(String),
    /// Meituan refused or could not be reached.
    #[error("meituan getConnectionToken failed: {0}")]
    Platform(DeliveryError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StatusError> for ApiError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::NotMeituan(_) => ApiError::not_found("meituan channel"),
            StatusError::Config(detail) => {
                ApiError::unprocessable("invalid_channel_config", detail)
            }
            StatusError::Platform(DeliveryError::RateLimited { .. })
            | StatusError::Platform(DeliveryError::Retryable { .. }) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "platform_unavailable",
                e.to_string(),
            ),
            StatusError::Platform(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "platform_refused", e.to_string())
            }
            StatusError::Store(s) => s.into(),
        }
    }
}

/// The Meituan adapter of a stored channel, built fresh (no I/O): the
/// registry hands out `dyn Channel`, which cannot reach getConnectionToken.
pub fn meituan_adapter(channel: &StoredChannel) -> Result<MeituanChannel, StatusError> {
    if channel.platform != Platform::Meituan {
        return Err(StatusError::NotMeituan(channel.id));
    }
    let config: MeituanConfig = serde_json::from_value(channel.config.clone())
        .map_err(|e| StatusError::Config(e.to_string()))?;
    MeituanChannel::new(config).map_err(|e| StatusError::Config(e.to_string()))
}

/// Asks Meituan for a connection token and returns the status with the
/// token itself (for the operator's command line). The status is kept in
/// the channel state for [`metrics`]; a non-zero `userCount` is logged as a
/// warning (by the client, inside this channel's span).
pub async fn check_connection(
    store: &dyn Store,
    channel: &StoredChannel,
) -> Result<(ChannelStatus, ConnectionToken), StatusError> {
    let adapter = meituan_adapter(channel)?;
    let span = tracing::info_span!("meituan_status", channel = %channel.id);
    let token = adapter
        .connection_token()
        .instrument(span)
        .await
        .map_err(StatusError::Platform)?;
    let status = ChannelStatus::from_token(
        channel.id,
        &adapter.config().app_id,
        &token,
        Timestamp::now(),
    );
    let kept = serde_json::to_string(&status).map_err(|e| StatusError::Config(e.to_string()))?;
    store
        .put_channel_state(channel.id, STATUS_STATE_KEY, &kept)
        .await?;
    Ok((status, token))
}

/// [`check_connection`] without the token.
pub async fn check_status(
    store: &dyn Store,
    channel: &StoredChannel,
) -> Result<ChannelStatus, StatusError> {
    check_connection(store, channel).await.map(|(s, _)| s)
}

/// The status kept by the last check, if any (unreadable text counts as none).
pub async fn kept_status(
    store: &dyn Store,
    channel: ChannelId,
) -> Result<Option<ChannelStatus>, StoreError> {
    Ok(store
        .get_channel_state(channel, STATUS_STATE_KEY)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// A Meituan channel's IM connection status: calls getConnectionToken now
/// and shows `userCount` (customers whose messages failed to reach imhub in
/// the last 30 minutes); a non-zero count is also logged as a warning. The
/// token itself is not shown (`imhub meituan connection-token` prints it).
/// Failures: 404 `not_found` when the channel is not the caller's or not a
/// Meituan channel; 422 `invalid_channel_config`; 502 `platform_unavailable`
/// (timeout, rate limit 711) or `platform_refused` (Meituan's code in the
/// detail, e.g. 703 signature). Safe to repeat: each call only asks again.
#[utoipa::path(get, path = "/api/v1/meituan/channels/{id}/status", tag = "meituan",
    params(("id" = i64, Path)),
    responses((status = 200, body = ChannelStatus), (status = 404, body = crate::error::Problem),
        (status = 422, description = "`invalid_channel_config`", body = crate::error::Problem),
        (status = 502, description = "`platform_unavailable`, `platform_refused`",
            body = crate::error::Problem)))]
pub async fn channel_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Json<ChannelStatus>, ApiError> {
    let channel = state
        .channels
        .operator_channel(state.store.get_channel(caller.0.workspace_id, id).await?);
    Ok(Json(check_status(state.store.as_ref(), &channel).await?))
}

/// The order a Meituan conversation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConversationOrder {
    pub conversation_id: ConversationId,
    /// Meituan's order id as text (17+ digits do not fit a JSON number
    /// safely); absent until a message names an order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// The order a Meituan conversation is about: the `order_id` of the newest
/// customer message that named one (replies then name it to Meituan too).
/// Failures: 404 `not_found` when the conversation is not the caller's or
/// not a Meituan conversation. Read-only.
#[utoipa::path(get, path = "/api/v1/meituan/conversations/{id}/order", tag = "meituan",
    params(("id" = i64, Path)),
    responses((status = 200, body = ConversationOrder), (status = 404, body = crate::error::Problem)))]
pub async fn conversation_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> Result<Json<ConversationOrder>, ApiError> {
    let ws = caller.0.workspace_id;
    let conversation = state.store.get_conversation(ws, id).await?;
    if conversation.platform != Platform::Meituan {
        return Err(ApiError::not_found("meituan conversation"));
    }
    let (_, target) = state.store.outbound_target(ws, id).await?;
    Ok(Json(ConversationOrder {
        conversation_id: id,
        order_id: reply_order_id(target.reply_context.as_ref()).map(|o| o.to_string()),
    }))
}

/// The `userCount` of every Meituan channel of the caller's workspace as a
/// Prometheus gauge, `imhub_meituan_failed_users{channel_id,app_id}`, plus
/// `imhub_meituan_status_up` (1 when the last check succeeded). A status
/// older than [`METRICS_MAX_STATUS_AGE`] is checked again during the scrape;
/// a failed check keeps the last known count. Needs a bearer token (scrape
/// with one); never fails because Meituan does.
#[utoipa::path(get, path = "/api/v1/meituan/metrics", tag = "meituan",
    responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let text = render_metrics(
        state.store.as_ref(),
        &state.config.platforms,
        caller.0.workspace_id,
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// One channel's line of the gauges.
struct Sample {
    channel: ChannelId,
    app_id: String,
    user_count: Option<i64>,
    up: bool,
}

async fn render_metrics(
    store: &dyn Store,
    platforms: &crate::config::PlatformsConfig,
    ws: WorkspaceId,
) -> Result<String, StoreError> {
    let now = Timestamp::now();
    let max_age = METRICS_MAX_STATUS_AGE.as_millis() as i64;
    let mut samples = Vec::new();
    for channel in store.list_channels(ws).await? {
        if channel.platform != Platform::Meituan {
            continue;
        }
        let channel = crate::channels::operator_channel(platforms, channel);
        let kept = kept_status(store, channel.id).await?;
        let fresh = kept
            .as_ref()
            .is_some_and(|s| now.millis() - s.checked_at.millis() <= max_age);
        let (status, up) = if fresh {
            (kept, true)
        } else {
            match check_status(store, &channel).await {
                Ok(s) => (Some(s), true),
                Err(e) => {
                    tracing::warn!(channel = %channel.id, error = %e, "meituan status check failed");
                    (kept, false)
                }
            }
        };
        samples.push(Sample {
            channel: channel.id,
            app_id: channel
                .config
                .get("app_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            user_count: status.map(|s| s.user_count),
            up,
        });
    }
    Ok(exposition(&samples))
}

fn exposition(samples: &[Sample]) -> String {
    let mut out = String::new();
    let label = |s: &Sample| {
        let app: String = s
            .app_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        format!("{{channel_id=\"{}\",app_id=\"{app}\"}}", s.channel)
    };
    let _ = writeln!(
        out,
        "# HELP imhub_meituan_failed_users Customers whose IM messages Meituan failed to push in the last 30 minutes (getConnectionToken userCount).\n# TYPE imhub_meituan_failed_users gauge"
    );
    for s in samples {
        if let Some(n) = s.user_count {
            let _ = writeln!(out, "imhub_meituan_failed_users{} {n}", label(s));
        }
    }
    let _ = writeln!(
        out,
        "# HELP imhub_meituan_status_up Whether the last getConnectionToken check succeeded.\n# TYPE imhub_meituan_status_up gauge"
    );
    for s in samples {
        let _ = writeln!(
            out,
            "imhub_meituan_status_up{} {}",
            label(s),
            u8::from(s.up)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_shows_known_counts_and_whether_checks_work() {
        let text = exposition(&[
            Sample {
                channel: ChannelId(3),
                app_id: "4321".into(),
                user_count: Some(2),
                up: true,
            },
            Sample {
                channel: ChannelId(4),
                app_id: "bad\"id".into(),
                user_count: None,
                up: false,
            },
        ]);
        assert!(text.contains("imhub_meituan_failed_users{channel_id=\"3\",app_id=\"4321\"} 2\n"));
        assert!(!text.contains("imhub_meituan_failed_users{channel_id=\"4\""));
        assert!(text.contains("imhub_meituan_status_up{channel_id=\"4\",app_id=\"badid\"} 0\n"));
    }
}
