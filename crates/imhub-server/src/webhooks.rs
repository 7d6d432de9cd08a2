//! `/webhooks/{platform}/{channel_id}`: where platforms push. The handler
//! only finds the channel and hands the raw request to the ingest engine.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, Method, Uri},
    response::Response,
    routing::get,
};
use imhub_core::{ChannelId, Platform, Push, Timestamp};

use crate::{AppState, api::body_error, error::ApiError, ingest};

/// The webhook route; GET is there for platforms' URL probes and handshakes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/webhooks/{platform}/{channel_id}",
        get(receive).post(receive),
    )
}

/// Receives one push. 404 `unknown_channel` when the platform and channel do
/// not match a connected channel (a disconnected one answers the same); 413 when the body is over the limit; the
/// rest is the ingest engine's (401 bad signature, 400 malformed, the
/// platform's expected reply after the commit).
async fn receive(
    State(state): State<AppState>,
    Path((platform, channel_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let unknown = || {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_channel",
            "no channel of this platform has this id",
        )
    };
    let platform = Platform::parse(&platform).ok_or_else(unknown)?;
    let id: ChannelId = channel_id.parse().map_err(|_| unknown())?;
    let channel = state
        .channels
        .find(id)
        .await?
        .filter(|c| c.platform == platform && c.disconnected_at.is_none())
        .ok_or_else(unknown)?;
    let push = Push {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
        received_at: Timestamp::now(),
    };
    ingest::accept(&state, &channel, push).await
}
