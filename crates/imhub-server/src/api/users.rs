//! The agents of a workspace (admin only): list, disable, delete, reset a
//! password. Each of the last three ends the user's sessions at once.
//! Creating a user is [`super::tokens::create_user`]; changing one's own
//! password and signing out everywhere are in [`super::session`].

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, put},
};
use imhub_core::{Role, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List, tokens::create_user},
    auth::{Caller, check_new_password, hash_password_pooled},
    error::ApiError,
};

/// The `users` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create_user))
        .route("/users/{id}", axum::routing::patch(update).delete(remove))
        .route("/users/{id}/password", put(reset_password))
}

/// An agent as listed: never the password hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub disabled: bool,
    /// The agent's avatar (an upload's URL); `null` when none is set.
    pub avatar_url: Option<String>,
}

impl UserView {
    /// The listed view of a stored user, with its avatar's URL under
    /// `public_url`.
    pub fn of(public_url: &str, u: imhub_store::StoredUser) -> Self {
        UserView {
            avatar_url: u
                .avatar_key
                .as_ref()
                .map(|key| format!("{public_url}/media/{key}")),
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            created_at: u.created_at,
            disabled: u.disabled_at.is_some(),
        }
    }
}

/// The workspace's agents, oldest first. Admin only.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = List<UserView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<UserView>>, ApiError> {
    caller.require_admin()?;
    let items = state
        .store
        .list_users(caller.0.workspace_id)
        .await?
        .into_iter()
        .map(|u| UserView::of(&state.config.public_url(), u))
        .collect();
    Ok(Json(List { items }))
}

/// What to change about an agent; absent (or `null`) fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// `true` disables the user: their sessions end and they cannot log in
    /// until enabled again with `false`.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new role, effective on the user's next request.
    #[serde(default)]
    pub role: Option<Role>,
    /// A new display name; not blank.
    #[serde(default)]
    #[schema(schema_with = crate::api::channels::name_or_null_schema)]
    pub name: Option<String>,
}

/// The admin's own user cannot be disabled or deleted through the API, so
/// a workspace cannot lock out its last admin by accident.
fn not_self(caller: &Caller, id: UserId, code: &'static str) -> Result<(), ApiError> {
    if caller.0.user_id == Some(id) {
        Err(ApiError::unprocessable(
            code,
            "this is your own user; another admin must do this",
        ))
    } else {
        Ok(())
    }
}

/// Changes an agent's role, name, or whether they are disabled (200 with
/// the agent), all in one transaction. Disabling ends every session of
/// theirs at once and returns their conversations to the queue; a new role
/// holds from their next request. Admin only. 404 for a user of another
/// workspace; 422 `cannot_disable_self`, `cannot_demote_self` (one's own
/// user: another admin must do it), `last_admin` (the workspace would be
/// left without an enabled admin), `invalid_request` (a blank name).
/// Idempotent.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path)), request_body = UserChange,
    responses((status = 200, body = UserView),
        (status = 422, description = "`cannot_disable_self`, `cannot_demote_self`, `last_admin`, \
            `invalid_request`", body = crate::error::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_admin()?;
    if change.disabled == Some(true) {
        not_self(&caller, id, "cannot_disable_self")?;
    }
    if change.role == Some(Role::Agent) {
        not_self(&caller, id, "cannot_demote_self")?;
    }
    if change
        .name
        .as_deref()
        .is_some_and(crate::api::text::is_blank)
    {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "name must not be empty",
        ));
    }
    let (user, changes) = state
        .store
        .update_user(
            caller.0.workspace_id,
            id,
            imhub_store::UserUpdate {
                disabled: change.disabled,
                role: change.role,
                name: change.name.as_deref().map(|n| n.trim().to_string()),
            },
        )
        .await?;
    state.live.publish(&changes);
    Ok(Json(UserView::of(&state.config.public_url(), user)))
}

/// Deletes an agent and ends their sessions (204). Admin only. 404 for a
/// user of another workspace or none; 422 `cannot_delete_self`,
/// `last_admin` (the workspace's last enabled admin).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path)),
    responses((status = 204),
        (status = 422, description = "`cannot_delete_self`, `last_admin`", body = crate::error::Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    not_self(&caller, id, "cannot_delete_self")?;
    let changes = state.store.delete_user(caller.0.workspace_id, id).await?;
    state.live.publish(&changes);
    Ok(StatusCode::NO_CONTENT)
}

/// A password an admin sets for an agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    #[schema(schema_with = crate::api::text::password_schema)]
    pub password: String,
}

/// Sets an agent's password (204) and ends all of their sessions. Admin
/// only. 404 for a user of another workspace; 422 `weak_password`.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users",
    params(("id" = i64, Path)), request_body = PasswordReset,
    responses((status = 204),
        (status = 422, description = "`weak_password`", body = crate::error::Problem)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    check_new_password(&reset.password)?;
    // Look the user up first so another workspace's id costs no hashing.
    state.store.get_user(caller.0.workspace_id, id).await?;
    let hash = hash_password_pooled(reset.password).await?;
    state
        .store
        .set_user_password(caller.0.workspace_id, id, &hash, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
