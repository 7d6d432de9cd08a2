//! The ingest engine: verify and parse a push with the channel's adapter,
//! commit it (raw event, contact, conversation, message) through the store's
//! group commit, and only then answer the platform and publish live events.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use imhub_core::{Platform, Push, PushError};
use imhub_store::{PushRecord, StoredChannel};

use crate::{
    AppState,
    channels::{ConfigError, creates_unknown_accounts},
    error::ApiError,
    metrics::Metrics,
};

/// Verifies, records and answers one push.
pub async fn accept(
    state: &AppState,
    channel: &StoredChannel,
    push: Push,
) -> Result<Response, ApiError> {
    let adapter = state.channels.adapter(channel).map_err(config_error)?;
    let outcome = adapter.parse_push(&push).map_err(|e| {
        Metrics::inc(&state.metrics.pushes_rejected);
        tracing::info!(channel = %channel.id, error = %e, "push refused");
        push_error(e)
    })?;
    if outcome.events.is_empty() && outcome.event_key.is_none() {
        // A handshake or probe (e.g. a URL verification): nothing to store.
        return Ok(reply(outcome.reply));
    }
    let recorded = state
        .store
        .record_push(
            channel.workspace_id,
            PushRecord {
                channel_id: channel.id,
                event_key: outcome.event_key.clone(),
                body: push.body,
                received_at: push.received_at,
                events: outcome.events,
                request: Some(serde_json::json!({
                    "method": push.method,
                    "path": push.path,
                    "query": push.query,
                    "headers": push.headers,
                })),
                create_unknown_accounts: creates_unknown_accounts(channel.platform),
            },
        )
        .await?;
    state.live.publish(&recorded.changes);
    if recorded.outbox_queued {
        // An automatic reply was queued with the push: send it now.
        state.outbox_ready.notify_one();
    }
    if recorded.duplicate {
        Metrics::inc(&state.metrics.pushes_duplicate);
    } else {
        Metrics::inc(&state.metrics.pushes_accepted);
    }
    if let Some(reason) = recorded.unprocessable.first() {
        Metrics::inc(&state.metrics.pushes_unprocessable);
        tracing::warn!(channel = %channel.id, %reason, "push kept raw: it could not be processed");
        // The merchant's own system gets a clear error; platforms get the
        // answer they expect (the push is kept and can be replayed).
        if channel.platform == Platform::Custom {
            return Err(ApiError::unprocessable(reason_code(reason), reason.clone()));
        }
    }
    Ok(reply(outcome.reply))
}

fn reply(reply: imhub_core::PushReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = (status, reply.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    response
}

fn push_error(e: PushError) -> ApiError {
    let status = match e {
        PushError::BadSignature | PushError::Stale => StatusCode::UNAUTHORIZED,
        PushError::Malformed(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn config_error(e: ConfigError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "channel_unavailable",
        e.to_string(),
    )
}

/// The stable code at the front of an unprocessable reason (`code: detail`).
fn reason_code(reason: &str) -> &'static str {
    match reason.split(':').next().unwrap_or_default() {
        "unknown_account" => "unknown_account",
        "unknown_event_type" => "unknown_event_type",
        _ => "unprocessable_event",
    }
}

/// What replaying one kept push gave.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replayed {
    pub raw_event_id: i64,
    /// `processed`, or `unprocessable` with the reasons.
    pub status: &'static str,
    pub reasons: Vec<String>,
}

/// Verifies and parses kept, unprocessable pushes again and records their
/// events (`imhub events replay`), for after the cause was fixed: an account
/// created, an adapter that learned a new event type. Pushes whose signature
/// carries a time window may be refused as stale.
pub async fn replay(
    state: &AppState,
    ws: imhub_core::WorkspaceId,
    limit: u32,
) -> Result<Vec<Replayed>, ApiError> {
    let mut results = Vec::new();
    for raw in state
        .store
        .list_raw_events(ws, "unprocessable", limit)
        .await?
    {
        match replay_one(state, ws, raw).await {
            // A disconnected channel's kept pushes cannot be replayed.
            Err(e) if e.status == StatusCode::NOT_FOUND => continue,
            other => results.push(other?),
        }
    }
    Ok(results)
}

/// Verifies, parses and records one kept push again (see [`replay`]).
pub async fn replay_one(
    state: &AppState,
    ws: imhub_core::WorkspaceId,
    raw: imhub_store::RawEvent,
) -> Result<Replayed, ApiError> {
    let channel = state.store.get_channel(ws, raw.channel_id).await?;
    let adapter = state.channels.adapter(&channel).map_err(config_error)?;
    let request = raw.request.clone().unwrap_or_default();
    let text = |key: &str| {
        request
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let push = Push {
        method: text("method").unwrap_or_else(|| "POST".into()),
        path: text("path").unwrap_or_default(),
        query: text("query"),
        headers: serde_json::from_value(request.get("headers").cloned().unwrap_or_default())
            .unwrap_or_default(),
        body: raw.body.clone(),
        received_at: raw.received_at,
    };
    let reasons = match adapter.parse_push(&push) {
        Ok(outcome) => {
            let recorded = state
                .store
                .replay_raw_event(
                    ws,
                    raw.id,
                    outcome.events,
                    creates_unknown_accounts(channel.platform),
                )
                .await?;
            state.live.publish(&recorded.changes);
            recorded.unprocessable
        }
        Err(e) => vec![format!("{}: {e}", e.code())],
    };
    Ok(Replayed {
        raw_event_id: raw.id,
        status: if reasons.is_empty() {
            "processed"
        } else {
            "unprocessable"
        },
        reasons,
    })
}
