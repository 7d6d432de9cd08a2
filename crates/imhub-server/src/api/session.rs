//! Agents' login for the web inbox: a session cookie.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use imhub_core::{Role, Timestamp, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::ApiJson,
    auth::{
        Caller, SESSION_COOKIE, SESSION_TTL_MS, cookie, hash_secret, new_secret, verify_password,
    },
    error::ApiError,
};

/// The `session` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/session", post(login).get(current).delete(logout))
}

/// Email and password of an agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// The logged-in agent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub user_id: Option<UserId>,
    pub workspace_id: WorkspaceId,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Logs an agent in and sets the `imhub_session` cookie (HttpOnly,
/// SameSite=Lax, 30 days). 401 `invalid_credentials` for an unknown email or
/// a wrong password (the two are not told apart).
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = Login,
    responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(login): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "email or password is wrong",
        )
    };
    let user = state
        .store
        .find_user_by_email(&login.email)
        .await?
        .ok_or_else(invalid)?;
    let hash = user.password_hash.clone();
    let password = login.password;
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(invalid());
    }
    let session = new_secret("");
    state
        .store
        .create_session(
            &user,
            &hash_secret(&session),
            Timestamp::now().plus_millis(SESSION_TTL_MS),
        )
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_TTL_MS / 1000
    );
    let info = SessionInfo {
        user_id: Some(user.id),
        workspace_id: user.workspace_id,
        role: user.role,
        email: Some(user.email),
        name: Some(user.name),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(info)).into_response())
}

/// Who is logged in (or which token is used). 401 when nobody.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::Problem)))]
pub async fn current(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<SessionInfo>, ApiError> {
    let user = match principal.user_id {
        Some(id) => Some(state.store.get_user(principal.workspace_id, id).await?),
        None => None,
    };
    Ok(Json(SessionInfo {
        user_id: principal.user_id,
        workspace_id: principal.workspace_id,
        role: principal.role,
        email: user.as_ref().map(|u| u.email.clone()),
        name: user.map(|u| u.name),
    }))
}

/// Ends the session and clears the cookie. Always 204.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&hash_secret(session)).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
