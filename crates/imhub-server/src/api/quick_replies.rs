//! The quick-reply library (话术库): shared replies (the workspace's,
//! managed by admins, used by every agent) and personal ones (the session
//! agent's own). Texts carry variables (`{{contact.nickname}}`,
//! `{{contact.platform_id}}`, `{{agent.name}}`, `{{account.name}}`,
//! `{{conversation.platform}}`), checked when saved and filled by
//! `render` for one conversation; the agent then sends the result with the
//! ordinary send route, so reply windows and content checks apply as to
//! any reply.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use imhub_core::{
    Content, ContentKind, ConversationId, QuickReplyId, Role, UserId,
    template::{self, TemplateError, Variable},
};
use imhub_store::{
    NewQuickReply, QuickReply, QuickReplyFilter, QuickReplyPatch, QuickReplyScope, StoreError,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery, List, notes::session_user, page_limit},
    auth::Caller,
    error::ApiError,
};

/// The `quick_replies` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/quick-replies", get(list).post(create))
        .route(
            "/quick-replies/{id}",
            get(fetch).patch(update).delete(remove),
        )
        .route("/quick-replies/{id}/render", post(render))
}

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest folder name, in characters.
pub const MAX_FOLDER_CHARS: usize = 50;
/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Longest text, in characters.
pub const MAX_TEXT_CHARS: usize = 5_000;

/// Schema of a title: not blank, at most [`MAX_TITLE_CHARS`].
fn title_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(crate::api::text::not_blank_pattern()))
        .max_length(Some(MAX_TITLE_CHARS))
        .description(Some("Not blank, at most 100 characters."))
        .build()
}

/// Schema of a new title in a change, where `null` keeps it.
fn title_or_null_schema() -> utoipa::openapi::Object {
    crate::api::text::or_null(title_schema())
}

/// Schema of a shortcut as [`checked_shortcut`] takes it: one word of at
/// most [`MAX_SHORTCUT_CHARS`] after an optional `/`, white space around
/// it trimmed; `null` for none.
fn shortcut_schema() -> utoipa::openapi::Object {
    let not_blank = crate::api::text::not_blank_pattern();
    // `[^C]` → the class body `C` of white space.
    let ws = &not_blank[2..not_blank.len() - 1];
    let max = MAX_SHORTCUT_CHARS;
    crate::api::text::or_null(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!(
                "^[{ws}]*(/[^{ws}]{{1,{max}}}|[^{ws}/][^{ws}]{{0,{}}})[{ws}]*$",
                max - 1
            )))
            .description(Some(
                "One word of at most 32 characters (a leading `/` is dropped), no white space.",
            ))
            .build(),
    )
}

/// 403 `not_permitted`: an agent may use the shared library, not change it.
fn not_permitted() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_permitted",
        "only admins manage the shared quick replies",
    )
}

fn template_error(e: TemplateError) -> ApiError {
    ApiError::unprocessable(e.code(), e.to_string())
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(detail) => {
            ApiError::new(StatusCode::CONFLICT, "shortcut_exists", detail)
        }
        other => other.into(),
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_request", detail)
}

fn checked_len(what: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.chars().count() > max {
        return Err(invalid(format!("{what} has at most {max} characters")));
    }
    Ok(())
}

fn checked_title(title: &str) -> Result<(), ApiError> {
    if crate::api::text::is_blank(title) {
        return Err(invalid("a quick reply needs a title"));
    }
    checked_len("a title", title, MAX_TITLE_CHARS)
}

/// A shortcut as stored: a leading `/` dropped, lowercase; not blank, no
/// white space, at most 32 characters.
fn checked_shortcut(shortcut: &str) -> Result<String, ApiError> {
    let s = shortcut.trim();
    let s = s.strip_prefix('/').unwrap_or(s);
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(invalid("a shortcut is one word without spaces"));
    }
    checked_len("a shortcut", s, MAX_SHORTCUT_CHARS)?;
    Ok(imhub_store::normalize_shortcut(s))
}

fn checked_text(text: &str) -> Result<(), ApiError> {
    checked_len("a text", text, MAX_TEXT_CHARS)?;
    template::validate(text).map_err(template_error)
}

/// The image or card of a reply: one of those kinds, well formed.
fn checked_content(content: &Content) -> Result<(), ApiError> {
    let allowed = [
        ContentKind::Image,
        ContentKind::LeadCard,
        ContentKind::MiniProgramCard,
        ContentKind::GoodsCard,
        ContentKind::OrderCard,
    ];
    if !allowed.contains(&content.kind()) {
        return Err(ApiError::unprocessable(
            "invalid_content",
            format!(
                "a quick reply carries an image or a card, not {}",
                content.kind().as_str()
            ),
        ));
    }
    content.validate()?;
    Ok(())
}

/// Reads a field that may be absent (`None`), null (`Some(None)`) or set.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Who may change a reply: an admin any shared one (403 `not_permitted`
/// for agents), its owner a personal one (others never see it: 404).
fn may_change(caller: &Caller, reply: &QuickReply) -> Result<(), ApiError> {
    if reply.scope == QuickReplyScope::Shared && caller.0.role != Role::Admin {
        return Err(not_permitted());
    }
    Ok(())
}

/// The library's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Part of the title, shortcut or text, any case (the composer's `/`
    /// picker): exact shortcuts first, then shortcut and title prefixes,
    /// then other matches.
    pub q: Option<String>,
    /// Only this folder (`""` is the top level).
    pub folder: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The shared replies and the caller's own (an API token sees the shared
/// ones), by folder and title, or ranked by `q`.
#[utoipa::path(get, path = "/api/v1/quick-replies", tag = "quick_replies", params(ListQuery),
    responses((status = 200, body = List<QuickReply>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<List<QuickReply>>, ApiError> {
    let limit = page_limit(q.limit, imhub_store::MAX_QUICK_REPLY_PAGE)?;
    let items = state
        .store
        .list_quick_replies(
            caller.0.workspace_id,
            caller.0.user_id,
            QuickReplyFilter {
                query: q.q,
                folder: q.folder,
                limit,
            },
        )
        .await?;
    Ok(Json(List { items }))
}

/// A quick reply to save.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuickReplyBody {
    /// `personal` (the default: the caller's own) or `shared`.
    #[serde(default)]
    pub scope: Option<QuickReplyScope>,
    #[serde(default)]
    #[schema(max_length = 50)]
    pub folder: Option<String>,
    #[schema(schema_with = title_schema)]
    pub title: String,
    /// Typed after `/` to pick the reply; unique in its library.
    #[schema(schema_with = shortcut_schema)]
    pub shortcut: Option<String>,
    /// The text with `{{variables}}`; may be empty when `content` is set.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub text: String,
    /// An image or a card (`image`, `lead_card`, `mini_program_card`,
    /// `goods_card`, `order_card`).
    pub content: Option<Content>,
}

/// Saves a quick reply (201): `personal` needs an agent's session (403
/// `needs_user` for an API token), `shared` an admin (403 `not_permitted`
/// for agents). Refused with 409 `shortcut_exists` when the shortcut is
/// taken in that library, 422 `unknown_variable` (the variable named in
/// `detail`), `invalid_template` (a `{{` never closed), `invalid_content`
/// (content not an image or card, or malformed), `invalid_request`
/// (blank title, no text and no content, lengths).
#[utoipa::path(post, path = "/api/v1/quick-replies", tag = "quick_replies",
    request_body = NewQuickReplyBody,
    responses((status = 201, body = QuickReply),
        (status = 403, description = "`needs_user`, `not_permitted`"),
        (status = 409, description = "`shortcut_exists`"),
        (status = 422, description = "`unknown_variable`, `invalid_template`, `invalid_content`, \
            `invalid_request`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewQuickReplyBody>,
) -> Result<(StatusCode, Json<QuickReply>), ApiError> {
    let owner = match body.scope.unwrap_or(QuickReplyScope::Personal) {
        QuickReplyScope::Personal => Some(session_user(&caller)?),
        QuickReplyScope::Shared if caller.0.role == Role::Admin => None,
        QuickReplyScope::Shared => return Err(not_permitted()),
    };
    checked_title(&body.title)?;
    let folder = body.folder.unwrap_or_default();
    checked_len("a folder", &folder, MAX_FOLDER_CHARS)?;
    let shortcut = body.shortcut.as_deref().map(checked_shortcut).transpose()?;
    checked_text(&body.text)?;
    if let Some(content) = &body.content {
        checked_content(content)?;
    }
    if crate::api::text::is_blank(&body.text) && body.content.is_none() {
        return Err(invalid("a quick reply needs a text or a content"));
    }
    let reply = state
        .store
        .create_quick_reply(
            caller.0.workspace_id,
            NewQuickReply {
                owner,
                folder,
                title: body.title,
                shortcut,
                text: body.text,
                content: body.content,
            },
        )
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(reply)))
}

/// One quick reply: a shared one, or the caller's own (another agent's
/// personal reply is a 404).
#[utoipa::path(get, path = "/api/v1/quick-replies/{id}", tag = "quick_replies",
    params(("id" = i64, Path)), responses((status = 200, body = QuickReply)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<QuickReplyId>,
) -> Result<Json<QuickReply>, ApiError> {
    Ok(Json(
        state
            .store
            .get_quick_reply(caller.0.workspace_id, id, caller.0.user_id)
            .await?,
    ))
}

/// What a change of a quick reply sets; `shortcut` and `content` may be
/// null to clear them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickReplyPatchBody {
    #[schema(max_length = 50)]
    pub folder: Option<String>,
    #[schema(schema_with = title_or_null_schema)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = shortcut_schema)]
    pub shortcut: Option<Option<String>>,
    #[schema(max_length = 5000)]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Content>)]
    pub content: Option<Option<Content>>,
}

/// Changes a quick reply: a shared one as an admin (403 `not_permitted`
/// for agents), one's own personal one. Refused as at creation: 409
/// `shortcut_exists`, 422 `unknown_variable`, `invalid_template`,
/// `invalid_content`, `invalid_request`.
#[utoipa::path(patch, path = "/api/v1/quick-replies/{id}", tag = "quick_replies",
    params(("id" = i64, Path)), request_body = QuickReplyPatchBody,
    responses((status = 200, body = QuickReply),
        (status = 403, description = "`not_permitted`"),
        (status = 409, description = "`shortcut_exists`"),
        (status = 422, description = "`unknown_variable`, `invalid_template`, `invalid_content`, \
            `invalid_request`")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<QuickReplyId>,
    ApiJson(body): ApiJson<QuickReplyPatchBody>,
) -> Result<Json<QuickReply>, ApiError> {
    let ws = caller.0.workspace_id;
    let before = state
        .store
        .get_quick_reply(ws, id, caller.0.user_id)
        .await?;
    may_change(&caller, &before)?;
    if let Some(title) = &body.title {
        checked_title(title)?;
    }
    if let Some(folder) = &body.folder {
        checked_len("a folder", folder, MAX_FOLDER_CHARS)?;
    }
    let shortcut = match &body.shortcut {
        Some(Some(s)) => Some(Some(checked_shortcut(s)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(text) = &body.text {
        checked_text(text)?;
    }
    if let Some(Some(content)) = &body.content {
        checked_content(content)?;
    }
    let text_after = body.text.as_deref().unwrap_or(&before.text);
    let content_after = match &body.content {
        Some(c) => c.is_some(),
        None => before.content.is_some(),
    };
    if crate::api::text::is_blank(text_after) && !content_after {
        return Err(invalid("a quick reply needs a text or a content"));
    }
    let reply = state
        .store
        .update_quick_reply(
            ws,
            id,
            caller.0.user_id,
            QuickReplyPatch {
                folder: body.folder,
                title: body.title,
                shortcut,
                text: body.text,
                content: body.content,
            },
        )
        .await
        .map_err(store_error)?;
    Ok(Json(reply))
}

/// Deletes a quick reply (204): a shared one as an admin (403
/// `not_permitted` for agents), one's own personal one.
#[utoipa::path(delete, path = "/api/v1/quick-replies/{id}", tag = "quick_replies",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, description = "`not_permitted`")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<QuickReplyId>,
) -> Result<StatusCode, ApiError> {
    let ws = caller.0.workspace_id;
    let before = state
        .store
        .get_quick_reply(ws, id, caller.0.user_id)
        .await?;
    may_change(&caller, &before)?;
    state
        .store
        .delete_quick_reply(ws, id, caller.0.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The conversation to fill a reply's variables for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    pub conversation_id: ConversationId,
}

/// A quick reply filled for one conversation, for the composer to insert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// Fills a quick reply's variables for a conversation and the calling
/// agent (`{{agent.name}}` is empty for an API token) and returns the text
/// and content to insert into the composer; nothing is sent: the agent
/// edits and sends it with `POST /conversations/{id}/messages`. A
/// conversation or reply that is not the caller's is a 404 `not_found`;
/// 422 `unknown_variable` / `invalid_template` for a text saved before a
/// variable was retired. Read-only.
#[utoipa::path(post, path = "/api/v1/quick-replies/{id}/render", tag = "quick_replies",
    params(("id" = i64, Path)), request_body = RenderRequest,
    responses((status = 200, body = Rendered),
        (status = 422, description = "`unknown_variable`, `invalid_template`")))]
pub async fn render(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<QuickReplyId>,
    ApiJson(body): ApiJson<RenderRequest>,
) -> Result<Json<Rendered>, ApiError> {
    let ws = caller.0.workspace_id;
    let reply = state
        .store
        .get_quick_reply(ws, id, caller.0.user_id)
        .await?;
    let conversation = state
        .store
        .get_conversation(ws, body.conversation_id)
        .await?;
    let account = state.store.get_account(ws, conversation.account_id).await?;
    let agent = match caller.0.user_id {
        Some(user) => agent_name(&state, ws, user).await?,
        None => String::new(),
    };
    let text = template::render(&reply.text, |v| match v {
        Variable::ContactNickname => conversation.title.clone(),
        Variable::ContactPlatformId => conversation.peer_external_id.clone(),
        Variable::AgentName => agent.clone(),
        Variable::AccountName => account.name.clone(),
        Variable::ConversationPlatform => conversation.platform.as_str().to_string(),
    })
    .map_err(template_error)?;
    Ok(Json(Rendered {
        text,
        content: reply.content,
    }))
}

async fn agent_name(
    state: &AppState,
    ws: imhub_core::WorkspaceId,
    user: UserId,
) -> Result<String, ApiError> {
    Ok(state.store.get_user(ws, user).await?.name)
}
