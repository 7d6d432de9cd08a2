//! The chat detail and the agent's replies: stored as `queued` with an
//! outbox entry (202), then delivered by the delivery engine.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use imhub_core::{Content, ConversationId, Message, MessageId};
use imhub_store::{MessageCursor, NewOutbound};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    api::{ApiPath, ApiQuery, Page, body_error, decode_cursor, encode_cursor, parse_json},
    auth::Caller,
    error::ApiError,
};

/// The `messages` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/messages", get(list).post(send))
        .route("/messages/{id}", get(fetch))
        .route("/messages/{id}/recall", post(recall))
        .route("/messages/{id}/retry", post(retry))
}

/// The chat detail's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The `next_cursor` of the previous page: older messages.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub before: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `true` to include internal entries (agents' notes, activity lines),
    /// as the inbox does; without it they are left out, so integrations
    /// never see them.
    pub internal: Option<bool>,
}

/// A conversation's messages, newest first; notes and activity lines only
/// with `internal=true`. 400 `invalid_cursor` for a cursor this API did not
/// issue, `invalid_query` for a `limit` outside 1–200.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = i64, Path), ListQuery), responses((status = 200, body = Page<Message>),
        (status = 400, description = "`invalid_cursor`")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Message>>, ApiError> {
    let limit = crate::api::page_limit(q.limit, imhub_store::MAX_MESSAGE_PAGE)?;
    let before = q
        .before
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(|(created_at, id)| MessageCursor { created_at, id });
    let items = state
        .store
        .list_timeline(
            caller.0.workspace_id,
            id,
            before,
            limit,
            q.internal.unwrap_or(false),
        )
        .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last())
        .flatten()
        .map(|m| encode_cursor(m.created_at.millis(), m.id.0));
    Ok(Json(Page { items, next_cursor }))
}

/// A reply to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub content: Content,
}

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Queues a reply and answers 202 with the message (`queued`); it turns
/// `sent` or `failed` later (see live events). With an `Idempotency-Key`
/// header, a repeated request returns the first answer and sends nothing
/// twice; the same key with another body is 409. Refused with 422 before
/// anything is queued: `content_not_supported`, `message_too_long`,
/// `reply_window_closed`, `account_needs_reauthorization`, `invalid_content`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = i64, Path),
        ("idempotency-key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^[\\x21-\\x7e]+$",
            description = "Repeating a request with the same key returns the first answer")),
    request_body = NewMessage,
    responses((status = 202, body = Message),
        (status = 400, description = "`invalid_idempotency_key`"),
        (status = 409, description = "`idempotency_key_reused`: the key came with another body"),
        (status = 422, description = "Refused before anything is queued: `content_not_supported`, \
            `message_too_long`, `reply_window_closed`, `account_needs_reauthorization`, \
            `invalid_content`, `channel_cannot_send`, `channel_unavailable`, `invalid_target`, \
            `recipient_unknown`, `target_not_allowed`, `account_disabled`, `channel_disconnected`")))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    crate::api::require_json(&headers)?;
    let body = body.map_err(body_error)?;
    let req: NewMessage = parse_json(&body)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            // Visible ASCII only, as the spec's pattern says: no spaces or
            // tabs inside either (`to_str` would let those through).
            let key = v
                .to_str()
                .ok()
                .filter(|k| k.bytes().all(|b| (0x21..=0x7e).contains(&b)))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        "the key must be visible ASCII without spaces",
                    )
                })?;
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    format!("the key must have 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                ));
            }
            Some(key.to_string())
        }
    };
    let ws = caller.0.workspace_id;
    // The operator's messages-per-day quota: 429 until the next UTC day.
    crate::api::operator::check_send_quota(&state, ws).await?;
    crate::outbound::check_reply(&state, ws, id, &req.content).await?;
    let enqueued = state
        .store
        .enqueue_message(
            ws,
            NewOutbound {
                conversation_id: id,
                content: req.content,
                idempotency_key: key,
                // The same key on another conversation is another request.
                request_hash: hex::encode(
                    Sha256::new()
                        .chain_update(id.0.to_be_bytes())
                        .chain_update(&body)
                        .finalize(),
                ),
                author_id: caller.0.user_id,
            },
        )
        .await
        .map_err(|e| match e {
            imhub_store::StoreError::Conflict(detail) => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused", detail)
            }
            other => other.into(),
        })?;
    if !enqueued.replayed {
        state.live.publish(&enqueued.changes);
        state.outbox_ready.notify_one();
    }
    Ok((StatusCode::ACCEPTED, Json(enqueued.message)))
}

/// The query of [`fetch`].
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    /// `true` to fetch an internal entry (a note, an activity line) too.
    pub internal: Option<bool>,
}

/// One message; 404 when it is not the caller's, and for a note or an
/// activity line unless `internal=true` (a webhook's `note.created` names
/// a note an integration must ask for explicitly).
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = i64, Path), FetchQuery), responses((status = 200, body = Message)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(q): ApiQuery<FetchQuery>,
) -> Result<Json<Message>, ApiError> {
    let message = state.store.get_message(caller.0.workspace_id, id).await?;
    if message.direction.is_internal() && !q.internal.unwrap_or(false) {
        return Err(ApiError::not_found("message"));
    }
    Ok(Json(message))
}

/// Asks the platform to recall a sent message (202); it turns `recalled`
/// when the platform agrees. 409 `invalid_state` unless it was sent.
#[utoipa::path(post, path = "/api/v1/messages/{id}/recall", tag = "messages",
    params(("id" = i64, Path)), responses((status = 202, body = Message),
        (status = 409, description = "`invalid_state`: the message was not sent")))]
pub async fn recall(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let message = state
        .store
        .request_recall(caller.0.workspace_id, id)
        .await?;
    state.outbox_ready.notify_one();
    Ok((StatusCode::ACCEPTED, Json(message)))
}

/// Sends a failed message again, for real (202, back to `queued`).
/// 409 `invalid_state` unless it failed; 422 `account_disabled` or
/// `channel_disconnected` when it cannot go out any more.
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry", tag = "messages",
    params(("id" = i64, Path)), responses((status = 202, body = Message),
        (status = 409, description = "`invalid_state`: the message did not fail"),
        (status = 422, description = "`account_disabled`, `channel_disconnected`")))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let ws = caller.0.workspace_id;
    let message = state.store.get_message(ws, id).await?;
    let conversation = state
        .store
        .get_conversation(ws, message.conversation_id)
        .await?;
    let account = state.store.get_account(ws, conversation.account_id).await?;
    crate::outbound::check_sendable(&state, &account).await?;
    let (message, changes) = state.store.retry_message(caller.0.workspace_id, id).await?;
    state.live.publish(&changes);
    state.outbox_ready.notify_one();
    Ok((StatusCode::ACCEPTED, Json(message)))
}
