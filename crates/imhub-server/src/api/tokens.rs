//! API tokens and agent users of a workspace (admin only).

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use imhub_core::{Role, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::ApiJson,
    auth::{Caller, add_user, issue_api_token},
    error::ApiError,
};

/// The `tokens` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tokens", post(create_token))
        .route("/users", post(create_user))
}

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
}

/// The new token, shown this once: only its hash is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub role: Role,
}

/// Creates an API token in the caller's workspace. Admin only (403).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::error::Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    let token = issue_api_token(
        state.store.as_ref(),
        caller.0.workspace_id,
        &req.name,
        req.role,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            role: req.role,
        }),
    ))
}

/// An agent to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    #[serde(default = "agent")]
    pub role: Role,
}

fn agent() -> Role {
    Role::Agent
}

/// The created agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// Creates an agent who can log into the inbox. Admin only. 409 when the
/// email is taken; 422 `weak_password` under 8 characters.
#[utoipa::path(post, path = "/api/v1/users", tag = "tokens", request_body = NewUser,
    responses((status = 201, body = UserInfo), (status = 409, body = crate::error::Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    caller.require_admin()?;
    let user = add_user(
        state.store.as_ref(),
        caller.0.workspace_id,
        &req.email,
        &req.name,
        req.role,
        &req.password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
        }),
    ))
}
