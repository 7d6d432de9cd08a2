//! Who answers a conversation: assigning, unassigning and taking
//! conversations, and each account's auto-assignment settings.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use imhub_core::{AccountId, ConversationId, Timestamp, UserId};
use imhub_store::{AccountAssignment, Actor};
use serde::{Deserialize, Deserializer};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, conversations::ConversationView},
    auth::Caller,
    error::ApiError,
};

/// The `assignment` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations/{id}/assignment", put(assign))
        .route("/conversations/{id}/assignment/take", post(take))
        .route(
            "/accounts/{id}/assignment",
            get(account_settings).put(set_account_settings),
        )
}

/// A field that must be present but may be `null`.
fn required_nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Whom to assign the conversation to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentChange {
    /// An enabled agent of the workspace, or `null` to unassign.
    #[serde(deserialize_with = "required_nullable")]
    #[schema(value_type = Option<i64>, required = true)]
    pub assignee_id: Option<UserId>,
}

fn actor(caller: &Caller) -> Actor {
    Actor {
        user_id: caller.0.user_id,
        role: caller.0.role,
    }
}

/// The caller's session user, which "me" needs.
fn me(caller: &Caller) -> Result<UserId, ApiError> {
    caller.0.user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "needs_user",
            "taking a conversation needs a signed-in agent; an API token has none",
        )
    })
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    id: ConversationId,
    assignee: Option<UserId>,
) -> Result<Json<ConversationView>, ApiError> {
    let (conversation, changes) = state
        .store
        .assign_conversation(
            caller.0.workspace_id,
            id,
            assignee,
            actor(caller),
            Timestamp::now(),
        )
        .await?;
    state.live.publish(&changes);
    let mut views = crate::api::conversations::views(state, caller, vec![conversation]).await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("no view of the conversation"))
}

/// Assigns the conversation to an agent, or unassigns it with
/// `{"assignee_id": null}`; 200 with the conversation. Admins assign
/// anyone; agents may take a conversation that is free or already theirs
/// and give up their own (else a 403, `forbidden`; `needs_user` for an
/// agent's API token). Each change leaves an activity line ("小李 把会话分配给
/// 小王") and a `conversation.assigned` event; the same assignee again
/// changes nothing. A conversation given up goes back to the queue of an
/// auto-assigning account, and the queue moves when someone has room.
/// 422 `unknown_agent` (not an agent of this workspace), `agent_disabled`.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/assignment", tag = "assignment",
    params(("id" = i64, Path)), request_body = AssignmentChange,
    responses((status = 200, body = ConversationView),
        (status = 403, description = "`forbidden`, `needs_user`"),
        (status = 422, description = "`unknown_agent`, `agent_disabled`")))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(change): ApiJson<AssignmentChange>,
) -> Result<Json<ConversationView>, ApiError> {
    answer(&state, &caller, id, change.assignee_id).await
}

/// Assigns the conversation to the caller ("我来接待"); 200 with the
/// conversation. Needs a session user (403 `needs_user`); an agent may take
/// a conversation that is free or already theirs (a 403, `forbidden`, when
/// it is someone else's), an admin any. Idempotent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assignment/take", tag = "assignment",
    params(("id" = i64, Path)),
    responses((status = 200, body = ConversationView),
        (status = 403, description = "`forbidden`, `needs_user`"),
        (status = 422, description = "`agent_disabled`")))]
pub async fn take(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> Result<Json<ConversationView>, ApiError> {
    let me = me(&caller)?;
    answer(&state, &caller, id, Some(me)).await
}

/// An account's auto-assignment settings (off with no agents until set).
/// Admin only.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/assignment", tag = "assignment",
    params(("id" = i64, Path)),
    responses((status = 200, body = AccountAssignment)))]
pub async fn account_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Json<AccountAssignment>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .store
            .get_account_assignment(caller.0.workspace_id, id)
            .await?,
    ))
}

/// Replaces an account's auto-assignment settings. Admin only. With
/// `auto_assign`, a new conversation of the account, or an unassigned one
/// the customer writes in, goes round-robin to the account's agents
/// (`agent_ids`; empty: every agent) who are online and below capacity, a
/// returning customer to their last agent when available; when nobody is,
/// it waits in the queue and goes to the first agent with room. Turning it
/// on lets the queue move at once; turning it off empties the account's
/// queue. 422 `unknown_agent`, `agent_disabled` for an agent id. Idempotent.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/assignment", tag = "assignment",
    params(("id" = i64, Path)), request_body = AccountAssignment,
    responses((status = 200, body = AccountAssignment),
        (status = 422, description = "`unknown_agent`, `agent_disabled`")))]
pub async fn set_account_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(settings): ApiJson<AccountAssignment>,
) -> Result<Json<AccountAssignment>, ApiError> {
    caller.require_admin()?;
    let (settings, changes) = state
        .store
        .set_account_assignment(caller.0.workspace_id, id, settings, Timestamp::now())
        .await?;
    state.live.publish(&changes);
    Ok(Json(settings))
}
