//! The chat list and one conversation: filters, keyset pages, status, read.

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use imhub_core::{
    AccountId, ChannelId, Conversation, ConversationId, ConversationStatus, Platform, Timestamp,
};
use imhub_store::{ConversationFilter, ListCursor};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery, Page, decode_cursor, encode_cursor, page_limit},
    auth::Caller,
    error::ApiError,
};

/// The `conversations` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations", get(list))
        .route("/conversations/{id}", get(fetch).patch(update))
        .route("/conversations/{id}/read", post(read))
}

/// A chat-list row as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// When the platform stops accepting replies (Douyin: 24 hours after
    /// the customer's last message); absent when there is no such window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_deadline: Option<Timestamp>,
}

/// The chat list's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub account_id: Option<AccountId>,
    pub platform: Option<Platform>,
    pub status: Option<ConversationStatus>,
    /// `true` for unread conversations only.
    pub unread: Option<bool>,
    /// Part of the contact's or group's name.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

async fn views(
    state: &AppState,
    caller: &Caller,
    conversations: Vec<Conversation>,
) -> Result<Vec<ConversationView>, ApiError> {
    let mut windows: HashMap<ChannelId, Option<std::time::Duration>> = HashMap::new();
    let mut out = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let window = match windows.get(&conversation.channel_id) {
            Some(window) => *window,
            None => {
                let channel = state
                    .store
                    .get_channel(caller.0.workspace_id, conversation.channel_id)
                    .await?;
                let window = state
                    .channels
                    .adapter(&channel)
                    .ok()
                    .and_then(|a| a.reply_window());
                windows.insert(conversation.channel_id, window);
                window
            }
        };
        let reply_deadline = crate::outbound::reply_deadline(
            window,
            conversation.kind,
            conversation.last_inbound_at,
        );
        out.push(ConversationView {
            conversation,
            reply_deadline,
        });
    }
    Ok(out)
}

/// The chat list, newest activity first, keyset paginated: pass
/// `next_cursor` back as `cursor`. 400 `invalid_cursor` for a cursor this
/// API did not issue, `invalid_query` for a `limit` outside 1–200.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Page<ConversationView>),
        (status = 400, description = "`invalid_cursor`")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let limit = page_limit(q.limit, imhub_store::MAX_CONVERSATION_PAGE)?;
    let after =
        q.cursor
            .as_deref()
            .map(decode_cursor)
            .transpose()?
            .map(|(last_activity_at, id)| ListCursor {
                last_activity_at,
                id,
            });
    let items = state
        .store
        .list_conversations(
            caller.0.workspace_id,
            ConversationFilter {
                account_id: q.account_id,
                platform: q.platform,
                status: q.status,
                unread_only: q.unread.unwrap_or(false),
                query: q.q,
                after,
                limit,
            },
        )
        .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last())
        .flatten()
        .map(|c| encode_cursor(c.last_activity_at.millis(), c.id.0));
    Ok(Json(Page {
        items: views(&state, &caller, items).await?,
        next_cursor,
    }))
}

/// One conversation; 404 when it is not the caller's.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = i64, Path)), responses((status = 200, body = ConversationView)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> Result<Json<ConversationView>, ApiError> {
    let c = state
        .store
        .get_conversation(caller.0.workspace_id, id)
        .await?;
    Ok(Json(views(&state, &caller, vec![c]).await?.remove(0)))
}

/// What can be changed on a conversation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    pub status: Option<ConversationStatus>,
}

/// Changes a conversation's status (open, pending, resolved).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = i64, Path)), request_body = ConversationPatch,
    responses((status = 200, body = ConversationView)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(patch): ApiJson<ConversationPatch>,
) -> Result<Json<ConversationView>, ApiError> {
    let ws = caller.0.workspace_id;
    let conversation = match patch.status {
        Some(status) => {
            let (c, changes) = state.store.set_conversation_status(ws, id, status).await?;
            state.live.publish(&changes);
            c
        }
        None => state.store.get_conversation(ws, id).await?,
    };
    Ok(Json(
        views(&state, &caller, vec![conversation]).await?.remove(0),
    ))
}

/// Marks a conversation read: unread goes to 0, and platforms with read
/// receipts are told (through the outbox). Idempotent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations",
    params(("id" = i64, Path)), responses((status = 200, body = ConversationView)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> Result<Json<ConversationView>, ApiError> {
    let ws = caller.0.workspace_id;
    let conversation = state.store.get_conversation(ws, id).await?;
    let channel = state.store.get_channel(ws, conversation.channel_id).await?;
    let receipts = state
        .channels
        .adapter(&channel)
        .map(|a| a.supports_read_receipts())
        .unwrap_or(false);
    let (conversation, changes) = state.store.mark_read(ws, id, receipts).await?;
    state.live.publish(&changes);
    if receipts && !changes.is_empty() {
        state.outbox_ready.notify_one();
    }
    Ok(Json(
        views(&state, &caller, vec![conversation]).await?.remove(0),
    ))
}
