//! Private notes in a conversation's timeline and the `@` mentions they
//! carry: written by agents, never sent to a platform, never a
//! `message.created` (live event and webhook `note.created`, and
//! `mention.created` for each agent mentioned).

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use imhub_core::{ConversationId, Message, MessageId, UserId, mentions::MAX_NOTE_CHARS};
use imhub_store::{Mention, MessageCursor, NewNote};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{Object, ObjectBuilder, schema::Type};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery, Page, decode_cursor, encode_cursor, page_limit},
    auth::Caller,
    error::ApiError,
};

/// The `notes` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/notes", post(create))
        .route("/mentions", get(mentions))
        .route("/mentions/read", post(read_mentions))
}

/// The agent behind a session; an API token has none: 403 `needs_user`.
pub fn session_user(caller: &Caller) -> Result<UserId, ApiError> {
    caller.0.user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "needs_user",
            "this needs an agent's session; an API token is no agent",
        )
    })
}

/// Schema of a note's text: not blank, at most [`MAX_NOTE_CHARS`].
fn note_text_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::api::text::not_blank_pattern()))
        .max_length(Some(MAX_NOTE_CHARS))
        .description(Some(
            "Not blank, at most 10,000 characters; `@name` mentions an agent of the workspace \
             (the longest name that follows the `@`).",
        ))
        .build()
}

/// A note to write.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNoteBody {
    #[schema(schema_with = note_text_schema)]
    pub text: String,
}

/// Writes a private note in the conversation's timeline (201, direction
/// `note`, the session's agent as author; an API token writes one without
/// author). Nothing is queued for the platform, unread and the chat list's
/// preview stay as they are. Each agent named with `@name` (an enabled
/// agent of the workspace, longest name first; writing your own name
/// mentions nobody) gets a mention and a `mention.created` live event.
/// Refused with 422: `note_too_long` over 10,000 characters,
/// `invalid_request` for blank text. Not idempotent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "notes",
    params(("id" = i64, Path)), request_body = NewNoteBody,
    responses((status = 201, body = Message),
        (status = 422, description = "`note_too_long`, `invalid_request`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(body): ApiJson<NewNoteBody>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    if crate::api::text::is_blank(&body.text) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "a note needs text",
        ));
    }
    if body.text.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::unprocessable(
            "note_too_long",
            format!("a note has at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let written = state
        .store
        .create_note(
            caller.0.workspace_id,
            NewNote {
                conversation_id: id,
                author_id: caller.0.user_id,
                text: body.text,
            },
        )
        .await?;
    state.live.publish(&written.changes);
    Ok((StatusCode::CREATED, Json(written.message)))
}

/// The mentions list's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MentionsQuery {
    /// `true` for unread mentions only.
    pub unread: Option<bool>,
    /// The `next_cursor` of the previous page: older mentions.
    #[param(schema_with = crate::api::text::cursor_schema)]
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The caller's mentions, newest first, with the conversation, the note
/// and a one-line snippet of it: the 提及我的 view. Needs an agent's
/// session: 403 `needs_user` for an API token. 400 `invalid_cursor`.
#[utoipa::path(get, path = "/api/v1/mentions", tag = "notes", params(MentionsQuery),
    responses((status = 200, body = Page<Mention>),
        (status = 400, description = "`invalid_cursor`"),
        (status = 403, description = "`needs_user`: an API token is no agent")))]
pub async fn mentions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MentionsQuery>,
) -> Result<Json<Page<Mention>>, ApiError> {
    let user = session_user(&caller)?;
    let limit = page_limit(q.limit, imhub_store::MAX_MENTION_PAGE)?;
    let before = q
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(|(created_at, id)| MessageCursor { created_at, id });
    let items = state
        .store
        .list_mentions(
            caller.0.workspace_id,
            user,
            q.unread.unwrap_or(false),
            before,
            limit,
        )
        .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last())
        .flatten()
        .map(|m| encode_cursor(m.created_at.millis(), m.message_id.0));
    Ok(Json(Page { items, next_cursor }))
}

/// Which mentions to mark read.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMentions {
    /// The notes whose mentions of the caller are read; absent or null for all.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub message_ids: Option<Vec<MessageId>>,
}

/// How many mentions turned read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MentionsRead {
    pub read: u64,
}

/// Most notes one read request names.
pub const MAX_READ_IDS: usize = 200;

/// Marks the caller's mentions read: those of the notes named, or all.
/// Idempotent (already read ones count 0). Needs an agent's session: 403
/// `needs_user` for an API token; 422 `invalid_request` for more than 200 ids.
#[utoipa::path(post, path = "/api/v1/mentions/read", tag = "notes", request_body = ReadMentions,
    responses((status = 200, body = MentionsRead),
        (status = 403, description = "`needs_user`: an API token is no agent")))]
pub async fn read_mentions(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ReadMentions>,
) -> Result<Json<MentionsRead>, ApiError> {
    let user = session_user(&caller)?;
    if body
        .message_ids
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_READ_IDS)
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("at most {MAX_READ_IDS} message ids at once"),
        ));
    }
    let read = state
        .store
        .mark_mentions_read(caller.0.workspace_id, user, body.message_ids)
        .await?;
    Ok(Json(MentionsRead { read }))
}
