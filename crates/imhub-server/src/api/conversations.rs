//! The chat list and one conversation: filters, keyset pages, status, read.

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use imhub_core::{
    AccountId, ChannelId, Conversation, ConversationId, ConversationStatus, LabelId, Platform,
    Timestamp, UserId,
};
use imhub_store::{ConversationCounts, ConversationFilter, ListCursor, ListView, StatusChange};
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
        .route("/conversations/counts", get(counts))
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

/// Whose conversations the chat list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Everyone's (the default).
    #[default]
    All,
    /// Assigned to the caller (a session user).
    Mine,
    /// Assigned to nobody.
    Unassigned,
    /// Where a note mentioned the caller (a session user).
    Mentions,
}

/// The chat list's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub account_id: Option<AccountId>,
    pub platform: Option<Platform>,
    /// One status; without it the list shows open and pending
    /// conversations (resolved ones and sleeping snoozed ones leave it).
    pub status: Option<ConversationStatus>,
    /// `all` (default), `mine`, `unassigned` or `mentions`; `mine` and
    /// `mentions` need a session user (403 `needs_user`).
    pub view: Option<View>,
    /// Assigned to this agent.
    #[param(value_type = Option<i64>)]
    pub assignee_id: Option<UserId>,
    /// Label ids, comma-separated or the parameter repeated: conversations
    /// carrying any of them.
    #[param(pattern = "^[0-9]+(,[0-9]+)*$")]
    pub label_id: Option<String>,
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

/// The API's rows for these conversations (with their reply deadlines).
pub(crate) async fn views(
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
                // A disconnected channel's conversations stay readable (the
                // console, C); nothing can be sent, so no deadline.
                let channel = state
                    .channels
                    .find(conversation.channel_id)
                    .await?
                    .filter(|c| {
                        c.workspace_id == caller.0.workspace_id && c.disconnected_at.is_none()
                    });
                let window = channel
                    .and_then(|channel| state.channels.adapter(&channel).ok())
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

/// The chat list's query: `label_id` may be repeated, which a struct
/// cannot take, so its values are gathered into one comma list first.
pub struct ListParams(pub ListQuery);

impl axum::extract::FromRequestParts<AppState> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default().to_string();
        let (labels, rest): (Vec<&str>, Vec<&str>) = query
            .split('&')
            .filter(|p| !p.is_empty())
            .partition(|p| p.split('=').next() == Some("label_id"));
        if labels.len() > 1 {
            let values: Vec<String> = labels
                .iter()
                .map(|p| p.split_once('=').map(|(_, v)| v).unwrap_or_default())
                .map(|v| v.replace("%2C", ",").replace("%2c", ","))
                .collect();
            let mut joined = rest.join("&");
            if !joined.is_empty() {
                joined.push('&');
            }
            joined.push_str(&format!("label_id={}", values.join(",")));
            let uri: axum::http::Uri = format!("{}?{joined}", parts.uri.path())
                .parse()
                .map_err(|_| ApiError::bad_request("invalid_query", "unreadable query"))?;
            parts.uri = uri;
        }
        let ApiQuery(q) = ApiQuery::<ListQuery>::from_request_parts(parts, state).await?;
        Ok(ListParams(q))
    }
}

/// The label ids of a `label_id` parameter.
fn label_ids(text: Option<&str>) -> Result<Vec<LabelId>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|id| {
            id.trim().parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    "label_id takes label ids, comma-separated or repeated",
                )
            })
        })
        .collect()
}

/// The caller's session user, for views about "me".
fn me(caller: &Caller) -> Result<UserId, ApiError> {
    caller.0.user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "needs_user",
            "this view is about a signed-in agent; an API token has none",
        )
    })
}

/// The chat list, newest activity first, keyset paginated: pass
/// `next_cursor` back as `cursor`. Without `status`, open and pending
/// conversations only. 400 `invalid_cursor` for a cursor this API did not
/// issue, `invalid_query` for a `limit` outside 1–200 or a bad `label_id`;
/// 403 `needs_user` for `view=mine` or `view=mentions` with an API token.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Page<ConversationView>),
        (status = 400, description = "`invalid_cursor`"),
        (status = 403, description = "`needs_user`")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ListParams(q): ListParams,
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
                view: match q.view.unwrap_or_default() {
                    View::All => ListView::All,
                    View::Mine => ListView::Mine(me(&caller)?),
                    View::Unassigned => ListView::Unassigned,
                    View::Mentions => ListView::Mentions(me(&caller)?),
                },
                assignee_id: q.assignee_id,
                label_ids: label_ids(q.label_id.as_deref())?,
                open_only: true,
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
    /// With `"status": "snoozed"` (which it implies when alone): when the
    /// conversation comes back by itself, RFC 3339 or Unix milliseconds;
    /// in the future, at most a year ahead.
    pub snoozed_until: Option<Timestamp>,
}

/// Changes a conversation's status: open, pending (waiting on the
/// customer), resolved (leaves the default list; frees the assignee for
/// the queue) or snoozed until `snoozed_until` (comes back by itself then,
/// or when the customer writes). Each change leaves an activity line and a
/// `conversation.status_changed` event; the same status again changes
/// nothing. 422 `snooze_in_past`; `invalid_request` for a snooze without a
/// time, a time with another status, or more than a year ahead.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = i64, Path)), request_body = ConversationPatch,
    responses((status = 200, body = ConversationView),
        (status = 422, description = "`snooze_in_past`, `invalid_request`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(patch): ApiJson<ConversationPatch>,
) -> Result<Json<ConversationView>, ApiError> {
    let ws = caller.0.workspace_id;
    let status = match (patch.status, patch.snoozed_until) {
        (None, Some(_)) => Some(ConversationStatus::Snoozed),
        (status, _) => status,
    };
    let conversation = match status {
        Some(status) => {
            let change = StatusChange {
                status,
                snoozed_until: patch.snoozed_until,
            };
            let (c, changes) = state
                .store
                .change_status(ws, id, change, caller.0.user_id, Timestamp::now())
                .await?;
            state.live.publish(&changes);
            c
        }
        None => state.store.get_conversation(ws, id).await?,
    };
    Ok(Json(
        views(&state, &caller, vec![conversation]).await?.remove(0),
    ))
}

/// The chat list's live counts: open and pending conversations assigned
/// to the caller (`mine`), to nobody (`unassigned`), in all (`all`), and
/// the caller's unread mentions (`mentions`). An API token has no `mine`
/// or `mentions` (0).
#[utoipa::path(get, path = "/api/v1/conversations/counts", tag = "conversations",
    responses((status = 200, body = ConversationCounts)))]
pub async fn counts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ConversationCounts>, ApiError> {
    Ok(Json(
        state
            .store
            .conversation_counts(caller.0.workspace_id, caller.0.user_id)
            .await?,
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
    // A disconnected channel's conversation is still marked read here,
    // without telling the platform (the console, C).
    let receipts = state
        .channels
        .find(conversation.channel_id)
        .await?
        .filter(|c| c.workspace_id == ws && c.disconnected_at.is_none())
        .and_then(|channel| state.channels.adapter(&channel).ok())
        .is_some_and(|a| a.supports_read_receipts());
    let (conversation, changes) = state.store.mark_read(ws, id, receipts).await?;
    state.live.publish(&changes);
    if receipts && !changes.is_empty() {
        state.outbox_ready.notify_one();
    }
    Ok(Json(
        views(&state, &caller, vec![conversation]).await?.remove(0),
    ))
}
