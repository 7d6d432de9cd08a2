//! Kept pushes (admin only): the pushes imhub acknowledged but could not
//! process (an account it does not know, an event type its adapter does not
//! read), with the reason, so an admin can fix the cause and replay them.
//! Replaying verifies and parses the stored request again and records its
//! events without storing the push twice (see [`crate::ingest::replay`]).

use std::collections::HashMap;

use axum::{Json, Router, extract::State, routing::post};
use imhub_core::{ChannelId, Platform, Timestamp};
use imhub_store::RawEvent;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery, Page, decode_cursor, encode_cursor, page_limit},
    auth::Caller,
    error::ApiError,
};

/// The `kept-pushes` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/kept-pushes", axum::routing::get(list))
        .route("/kept-pushes/replay", post(replay_all))
        .route("/kept-pushes/{id}/replay", post(replay))
}

/// Most kept pushes one `POST /kept-pushes/replay` replays; `more` says
/// whether some were left for the next call.
pub const MAX_REPLAY: usize = 1000;

/// A kept push as listed: never its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeptPush {
    pub id: i64,
    pub channel_id: ChannelId,
    pub platform: Platform,
    /// Why it was kept: a stable code, a colon, a human explanation
    /// (`unknown_account: …`, `unknown_event_type: …`).
    pub reason: Option<String>,
    pub received_at: Timestamp,
    /// The platform's name of the event when the body tells it (Douyin's
    /// `event`, Tencent's `CallbackCommand`, the custom push's `kind`,
    /// `im_message` for a Meituan IM push); `null` otherwise.
    pub event_type: Option<String>,
}

/// The platform's name of a kept push's event, read from its request.
pub fn event_type(platform: Platform, raw: &RawEvent) -> Option<String> {
    let json = || serde_json::from_slice::<serde_json::Value>(&raw.body).ok();
    let field = |v: serde_json::Value, key: &str| v.get(key)?.as_str().map(str::to_string);
    match platform {
        Platform::Douyin => field(json()?, "event"),
        Platform::Custom => field(json()?, "kind"),
        Platform::Tencent => json()
            .and_then(|v| field(v, "CallbackCommand"))
            .or_else(|| {
                let query = raw.request.as_ref()?.get("query")?.as_str()?;
                reqwest::Url::parse(&format!("http://push.invalid/?{query}"))
                    .ok()?
                    .query_pairs()
                    .find(|(k, _)| k == "CallbackCommand")
                    .map(|(_, v)| v.into_owned())
            }),
        // A form body: the IM push carries `push_content`.
        Platform::Meituan => raw
            .body
            .split(|&b| b == b'&')
            .any(|pair| pair.starts_with(b"push_content="))
            .then(|| "im_message".to_string()),
    }
}

/// The kept-push list's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeptQuery {
    /// Only this channel's (404 when it is not a connected channel of the workspace).
    #[param(value_type = Option<i64>)]
    pub channel_id: Option<ChannelId>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub cursor: Option<String>,
}

/// The workspace's kept pushes (connected channels only), oldest first,
/// with the reason each was kept; never the body. Admin only. 404 for a
/// `channel_id` that is not a connected channel of the workspace; 400
/// `invalid_cursor` for a cursor this API did not issue.
#[utoipa::path(get, path = "/api/v1/kept-pushes", tag = "kept-pushes", params(KeptQuery),
    responses((status = 200, body = Page<KeptPush>),
        (status = 400, description = "`invalid_cursor`"),
        (status = 404, description = "`not_found`: the channel is not a connected channel of the workspace")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<KeptQuery>,
) -> Result<Json<Page<KeptPush>>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    let limit = page_limit(query.limit, imhub_store::kept_pushes::MAX_PAGE)?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(|(id, _)| id);
    if let Some(channel) = query.channel_id {
        state.store.get_channel(ws, channel).await?;
    }
    let platforms: HashMap<ChannelId, Platform> = state
        .store
        .list_channels(ws)
        .await?
        .into_iter()
        .map(|c| (c.id, c.platform))
        .collect();
    let mut raws = state
        .store
        .list_kept_pushes(ws, query.channel_id, after, limit + 1)
        .await?;
    let more = raws.len() > limit as usize;
    raws.truncate(limit as usize);
    let next_cursor = more
        .then(|| raws.last().map(|r| encode_cursor(r.id, 0)))
        .flatten();
    let items = raws
        .iter()
        .filter_map(|raw| {
            let platform = *platforms.get(&raw.channel_id)?;
            Some(KeptPush {
                id: raw.id,
                channel_id: raw.channel_id,
                platform,
                reason: raw.reason.clone(),
                received_at: raw.received_at,
                event_type: event_type(platform, raw),
            })
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

/// How replaying a kept push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// Its events are recorded now; it is no longer kept.
    Processed,
    /// It still cannot be processed (`reason` says why); it stays kept.
    StillKept,
}

/// The result of replaying one kept push.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    pub id: i64,
    pub outcome: ReplayOutcome,
    /// Why it is still kept; `null` once processed.
    pub reason: Option<String>,
}

/// Replays one kept push (200): its stored request is verified and parsed
/// again and its events recorded, as if it had just arrived (nothing is
/// stored twice). Admin only. 404 for another workspace's push, one that
/// is not kept (processed already), or one of a disconnected channel.
/// Pushes whose signature carries a time window (Tencent, Meituan) may be
/// refused as stale by then and stay kept.
#[utoipa::path(post, path = "/api/v1/kept-pushes/{id}/replay", tag = "kept-pushes",
    params(("id" = i64, Path)),
    responses((status = 200, body = ReplayResult),
        (status = 503, description = "`channel_unavailable`: the channel's configuration cannot be used")))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReplayResult>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    let raw = state.store.get_kept_push(ws, id).await?;
    let replayed = crate::ingest::replay_one(&state, ws, raw).await?;
    if replayed.status == "processed" {
        state.outbox_ready.notify_one();
    }
    Ok(Json(ReplayResult {
        id,
        outcome: if replayed.status == "processed" {
            ReplayOutcome::Processed
        } else {
            ReplayOutcome::StillKept
        },
        reason: replayed.reasons.first().cloned(),
    }))
}

/// Which kept pushes to replay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayAll {
    /// Only this channel's; absent (or `null`): every connected channel's.
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
}

/// What replaying the kept pushes gave.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayCounts {
    /// Recorded now, no longer kept.
    #[schema(minimum = 0)]
    pub processed: u64,
    /// Still not processable; they stay kept with their reason.
    #[schema(minimum = 0)]
    pub still_kept: u64,
    /// Some were left for another call (at most 1000 are replayed per call).
    pub more: bool,
}

/// Replays every kept push, or one channel's, oldest first (200 with the
/// counts; see `POST /api/v1/kept-pushes/{id}/replay`). Admin only. At
/// most 1000 per call: `more` says to call again. 404 for a `channel_id`
/// that is not a connected channel of the workspace.
#[utoipa::path(post, path = "/api/v1/kept-pushes/replay", tag = "kept-pushes",
    request_body = ReplayAll,
    responses((status = 200, body = ReplayCounts),
        (status = 404, description = "`not_found`: the channel is not a connected channel of the workspace")))]
pub async fn replay_all(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReplayAll>,
) -> Result<Json<ReplayCounts>, ApiError> {
    caller.require_admin()?;
    let ws = caller.0.workspace_id;
    if let Some(channel) = req.channel_id {
        state.store.get_channel(ws, channel).await?;
    }
    let mut counts = ReplayCounts {
        processed: 0,
        still_kept: 0,
        more: false,
    };
    let mut after = None;
    let mut done = 0;
    'pages: loop {
        let page = state
            .store
            .list_kept_pushes(
                ws,
                req.channel_id,
                after,
                imhub_store::kept_pushes::MAX_PAGE,
            )
            .await?;
        if page.is_empty() {
            break;
        }
        for raw in page {
            if done == MAX_REPLAY {
                counts.more = true;
                break 'pages;
            }
            done += 1;
            after = Some(raw.id);
            match crate::ingest::replay_one(&state, ws, raw).await {
                Ok(r) if r.status == "processed" => counts.processed += 1,
                Ok(_) => counts.still_kept += 1,
                // A channel whose configuration cannot be used now, or one
                // disconnected meanwhile: its pushes stay kept.
                Err(e) if matches!(e.code, "channel_unavailable" | "not_found") => {
                    counts.still_kept += 1
                }
                Err(e) => return Err(e),
            }
        }
    }
    if counts.processed > 0 {
        state.outbox_ready.notify_one();
    }
    Ok(Json(counts))
}
