//! Full-text search of message text across the workspace (or inside one
//! conversation), for the inbox's search box and its jump to a message.

use axum::{Json, Router, extract::State, routing::get};
use imhub_core::{AccountId, ConversationId, Direction, MessageId, Platform, Timestamp};
use imhub_store::{
    MessageCursor,
    search::{MAX_PAGE, MAX_QUERY_CHARS, SCAN_WINDOW, SearchQuery},
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiQuery, decode_cursor, encode_cursor, page_limit},
    auth::Caller,
    error::ApiError,
};

/// The `search` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

/// The search's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The text to find, anywhere in a message (substring, any case): 1 to
    /// 100 characters after trimming. One or two characters are searched
    /// in the newest 10,000 messages per page only (see `partial`).
    #[param(
        required = true,
        max_length = 100,
        pattern = "[^\t-\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]"
    )]
    pub q: Option<String>,
    /// Only messages of this account's conversations.
    pub account_id: Option<AccountId>,
    /// Only messages of this platform's conversations.
    pub platform: Option<Platform>,
    /// Messages created at or after this time: RFC 3339 or Unix milliseconds.
    #[param(schema_with = crate::api::text::time_param_schema)]
    pub from: Option<String>,
    /// Messages created before this time: RFC 3339 or Unix milliseconds.
    #[param(schema_with = crate::api::text::time_param_schema)]
    pub to: Option<String>,
    /// Search inside this conversation only (404 when it is not the caller's).
    pub conversation_id: Option<ConversationId>,
    /// `true` to include private notes (the inbox passes it); activity
    /// lines are never found.
    pub internal: Option<bool>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub cursor: Option<String>,
    /// 1 to 100; 50 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One message found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// The contact's or group's name, as the chat list shows it.
    pub conversation_title: String,
    pub account_id: AccountId,
    pub platform: Platform,
    pub direction: Direction,
    pub created_at: Timestamp,
    /// The text around the first match, HTML-escaped, each match wrapped in
    /// `<mark>`…`</mark>`: safe to insert as HTML.
    pub snippet: String,
    /// Pass as `before` to `GET /api/v1/conversations/{id}/messages` to load
    /// the page that starts with this message (the jump to it).
    pub messages_cursor: String,
}

/// A page of results, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub items: Vec<SearchResult>,
    /// The cursor of the next page (absent at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// `true` when a one- or two-character query stopped scanning at its
    /// bound (the newest 10,000 messages below the cursor) before reaching
    /// the oldest message: older matches may exist, and `next_cursor`
    /// searches on from there.
    pub partial: bool,
}

/// A time given as RFC 3339 or Unix milliseconds; anything else is a 400.
fn parse_time(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .map(Timestamp)
        .or_else(|| Timestamp::parse_rfc3339(value))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be an RFC 3339 time or Unix milliseconds"),
            )
        })
}

/// Messages of the caller's workspace containing `q` (Chinese or not, any
/// case), newest first, with a highlighted snippet, keyset paginated: pass
/// `next_cursor` back as `cursor`. Filters by account, platform, date range
/// and conversation. Queries of three or more characters use the trigram
/// index; one or two characters scan the newest 10,000 messages (of the
/// workspace, or of the conversation) per page and say `partial` when they
/// stopped there. Notes only with `internal=true`; activity lines never.
/// Read-only.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults),
        (status = 400, description = "`invalid_cursor`; `invalid_query` (a bad time or limit)"),
        (status = 404, description = "`not_found`: `conversation_id` is not a conversation of the caller's workspace"),
        (status = 422, description = "`query_too_short` (empty query), `query_too_long` (over 100 characters)")))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let limit = page_limit(p.limit, MAX_PAGE)?;
    let before = p
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(|(created_at, id)| MessageCursor { created_at, id });
    let from = p
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = p.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    let page = state
        .store
        .search_messages(
            caller.0.workspace_id,
            SearchQuery {
                text: p.q.unwrap_or_default(),
                account_id: p.account_id,
                platform: p.platform,
                conversation_id: p.conversation_id,
                from,
                to,
                internal: p.internal.unwrap_or(false),
                before,
                limit,
            },
        )
        .await?;
    let items = page
        .hits
        .into_iter()
        .map(|h| SearchResult {
            // Older than (created_at, id + 1) starts with the message itself.
            messages_cursor: encode_cursor(h.created_at.millis(), h.message_id.0.saturating_add(1)),
            message_id: h.message_id,
            conversation_id: h.conversation_id,
            conversation_title: h.conversation_title,
            account_id: h.account_id,
            platform: h.platform,
            direction: h.direction,
            created_at: h.created_at,
            snippet: h.snippet,
        })
        .collect();
    Ok(Json(SearchResults {
        items,
        next_cursor: page.next.map(|c| encode_cursor(c.created_at, c.id)),
        partial: page.partial,
    }))
}

// The spec's numbers above are these constants; keep them in step.
const _: () = assert!(MAX_QUERY_CHARS == 100 && SCAN_WINDOW == 10_000 && MAX_PAGE == 100);
