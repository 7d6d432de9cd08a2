//! Agents' login for the web inbox: a session cookie; signing out (here or
//! everywhere) and changing one's own password.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Json, Router,
    extract::{ConnectInfo, FromRequestParts, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{post, put},
};
use imhub_core::{Role, Timestamp, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::ApiJson,
    auth::{
        Caller, SESSION_COOKIE, SESSION_TTL_MS, check_new_password, cookie, cross_origin,
        hash_password_pooled, hash_secret, new_secret, same_origin, verify_password_pooled,
    },
    error::ApiError,
};

/// The `session` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/session", post(login).get(current).delete(logout))
        .route("/session/logout-everywhere", post(logout_everywhere))
        .route("/session/password", put(change_password))
        .route("/session/profile", axum::routing::patch(update_profile))
}

/// Email and password of an agent, and optionally the workspace.
///
/// Emails are unique per workspace, not across the server. Without
/// `workspace_id` the password is checked against every user with this
/// email (at most 8, oldest first) and the one whose password matches is
/// signed in; when none or several match, the login fails like any other.
/// So an agent of two workspaces with two passwords needs nothing more, and
/// one with the same password in both names the workspace.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
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
    /// The user's avatar (an upload's URL); `null` when none is set or the
    /// caller is an API token.
    pub avatar_url: Option<String>,
    /// The inbox language the user chose; `null` follows the browser.
    pub language: Option<Language>,
}

/// A language of the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// The stored (BCP 47) tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }

    /// The language of a stored tag; `None` for anything else.
    pub fn parse(tag: &str) -> Option<Language> {
        match tag {
            "zh-CN" => Some(Language::ZhCn),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// The session's view of a user (or of an API token, without one).
fn session_info(
    state: &AppState,
    (workspace_id, role, user_id): (WorkspaceId, Role, Option<UserId>),
    user: Option<imhub_store::StoredUser>,
) -> SessionInfo {
    SessionInfo {
        user_id,
        workspace_id,
        role,
        email: user.as_ref().map(|u| u.email.clone()),
        name: user.as_ref().map(|u| u.name.clone()),
        avatar_url: user
            .as_ref()
            .and_then(|u| u.avatar_key.as_ref())
            .map(|key| format!("{}/media/{key}", state.config.public_url())),
        language: user
            .as_ref()
            .and_then(|u| u.language.as_deref())
            .and_then(Language::parse),
    }
}

/// The address of the connection a request came on, for the login
/// throttle; `None` when the server runs without connection info (a
/// router used directly in a test).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "email or password is wrong",
    )
}

/// 429 `too_many_attempts` with `Retry-After` in whole seconds.
fn too_many_attempts(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        [(header::RETRY_AFTER, secs.max(1).to_string())],
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many login attempts; try again later",
        ),
    )
        .into_response()
}

/// The session cookie's attributes: `Secure` when the inbox is served over
/// https (`public_url`), so the cookie never travels in clear.
fn cookie_attributes(state: &AppState) -> &'static str {
    let https = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"));
    if https {
        "Path=/; HttpOnly; SameSite=Lax; Secure"
    } else {
        "Path=/; HttpOnly; SameSite=Lax"
    }
}

/// A `Set-Cookie` value that removes the session cookie.
fn clear_cookie(state: &AppState) -> String {
    format!("{SESSION_COOKIE}=; {}; Max-Age=0", cookie_attributes(state))
}

/// Logs an agent in and sets the `imhub_session` cookie (HttpOnly,
/// SameSite=Lax, `Secure` under an https `public_url`, 30 days).
///
/// 401 `invalid_credentials` for an unknown email, a wrong password or a
/// disabled user — the same text and, because an unknown email is checked
/// against a dummy hash, the same time. 429 `too_many_attempts` (with
/// `Retry-After`) after 10 attempts per email or 50 per client address in
/// 15 minutes (counted in memory on each node). 403 `cross_origin` when a
/// browser says the form is on another site (login CSRF). 503 `busy` when
/// the password-hashing pool stays full.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = Login,
    security(()),
    responses((status = 200, body = SessionInfo),
        (status = 401, description = "`invalid_credentials`", body = crate::error::Problem),
        (status = 403, description = "`cross_origin`", body = crate::error::Problem),
        (status = 429, description = "`too_many_attempts`", body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    ApiJson(login): ApiJson<Login>,
) -> Result<Response, ApiError> {
    if same_origin(&headers, state.config.public_url.as_deref()) == Some(false) {
        return Err(cross_origin());
    }
    if let Err(wait) = state.credentials.throttle.attempt(&login.email, address) {
        return Ok(too_many_attempts(wait));
    }
    let candidates = state
        .store
        .find_login_users(&login.email, login.workspace_id)
        .await?;
    // Every candidate's hash is checked, disabled users' too, and at least
    // one hash always is: how long a login takes does not tell whether the
    // email exists or the user is disabled. The checks run side by side so
    // a second workspace with the same email barely changes it either.
    let checks = if candidates.is_empty() {
        vec![verify_password_pooled(login.password.clone(), None)]
    } else {
        candidates
            .iter()
            .map(|u| verify_password_pooled(login.password.clone(), Some(u.password_hash.clone())))
            .collect()
    };
    let results = futures_util::future::join_all(checks).await;
    let mut matched = Vec::new();
    for (user, ok) in candidates.into_iter().zip(results) {
        if ok? && user.disabled_at.is_none() {
            matched.push(user);
        }
    }
    let user = match <[_; 1]>::try_from(matched) {
        Ok([user]) => user,
        Err(_) => return Err(invalid_credentials()),
    };
    state.credentials.throttle.succeeded(&login.email);
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
        "{SESSION_COOKIE}={session}; {}; Max-Age={}",
        cookie_attributes(&state),
        SESSION_TTL_MS / 1000
    );
    let who = (user.workspace_id, user.role, Some(user.id));
    let info = session_info(&state, who, Some(user));
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
    let who = (principal.workspace_id, principal.role, principal.user_id);
    Ok(Json(session_info(&state, who, user)))
}

/// What a user changes about themselves; absent fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// A new display name; not blank. `null` keeps it.
    #[serde(default)]
    #[schema(schema_with = crate::api::channels::name_or_null_schema)]
    pub name: Option<String>,
    /// The `key` of an image uploaded to this workspace (`POST
    /// /api/v1/media`: PNG, JPEG, GIF or WebP) to show as the avatar;
    /// `null` removes the avatar.
    #[serde(default, deserialize_with = "crate::api::quick_replies::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub avatar_media_id: Option<Option<String>>,
    /// The inbox language; `null` follows the browser again.
    #[serde(default, deserialize_with = "crate::api::quick_replies::present")]
    #[schema(value_type = Option<Language>)]
    pub language: Option<Option<Language>>,
}

/// Changes the caller's own name, avatar and language (200 with the
/// session). 403 `not_a_user` for an API token; 422 `invalid_avatar` when
/// `avatar_media_id` is not an image uploaded to this workspace,
/// `invalid_request` for a blank name.
#[utoipa::path(patch, path = "/api/v1/session/profile", tag = "session",
    request_body = ProfileChange,
    responses((status = 200, body = SessionInfo),
        (status = 403, description = "`not_a_user`: an API token is no user", body = crate::error::Problem),
        (status = 422, description = "`invalid_avatar`, `invalid_request`", body = crate::error::Problem)))]
pub async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(change): ApiJson<ProfileChange>,
) -> Result<Json<SessionInfo>, ApiError> {
    let id = own_user(&caller)?;
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
    let user = state
        .store
        .update_profile(
            caller.0.workspace_id,
            id,
            imhub_store::ProfileUpdate {
                name: change.name.as_deref().map(|n| n.trim().to_string()),
                avatar_key: change.avatar_media_id,
                language: change.language.map(|l| l.map(|l| l.as_str().to_string())),
            },
        )
        .await?;
    let who = (caller.0.workspace_id, caller.0.role, caller.0.user_id);
    Ok(Json(session_info(&state, who, Some(user))))
}

/// Ends the session and clears the cookie (204). 401 `unauthorized`
/// without a valid session cookie or bearer token (the stale cookie is
/// cleared all the same); a bearer token ends nothing. Ending one's own
/// session cannot hurt anyone, so it is the one cookie write not held to
/// the same-origin rule.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let clear = clear_cookie(&state);
    match caller {
        Ok(_) => {}
        Err(e) if e.code == "cross_origin" => {}
        Err(e) => return Ok(([(header::SET_COOKIE, clear)], e).into_response()),
    }
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&hash_secret(session)).await?;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// The user behind a session; API tokens have none: 403 `not_a_user`
/// (the caller is known but is no user, whatever the request says).
fn own_user(caller: &Caller) -> Result<UserId, ApiError> {
    caller.0.user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_user",
            "an API token is not a user; log in as one",
        )
    })
}

/// Signs the caller out on every device: ends all of their sessions,
/// this one included, and clears the cookie (204). 403 `not_a_user` for an
/// API token.
#[utoipa::path(post, path = "/api/v1/session/logout-everywhere", tag = "session",
    responses((status = 204),
        (status = 403, description = "`not_a_user`: an API token is no user", body = crate::error::Problem)))]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let user = own_user(&caller)?;
    state
        .store
        .end_user_sessions(caller.0.workspace_id, user)
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie(&state))],
    )
        .into_response())
}

/// A new password for oneself, with the current one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    #[schema(schema_with = crate::api::text::password_schema)]
    pub new_password: String,
}

/// Changes the caller's own password (204). Every other session of theirs
/// ends; this one stays. 403 `wrong_password` when `current_password` is
/// wrong (throttled like a login: 429 `too_many_attempts`), 422
/// `weak_password` under 8 characters, 403 `not_a_user` for an API token.
#[utoipa::path(put, path = "/api/v1/session/password", tag = "session",
    request_body = PasswordChange,
    responses((status = 204),
        (status = 403, description = "`wrong_password`, `cross_origin`, `not_a_user`", body = crate::error::Problem),
        (status = 422, description = "`weak_password`", body = crate::error::Problem),
        (status = 429, description = "`too_many_attempts`", body = crate::error::Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let id = own_user(&caller)?;
    check_new_password(&change.new_password)?;
    let user = state.store.get_user(caller.0.workspace_id, id).await?;
    if let Err(wait) = state.credentials.throttle.attempt(&user.email, address) {
        return Ok(too_many_attempts(wait));
    }
    if !verify_password_pooled(change.current_password, Some(user.password_hash)).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is wrong",
        ));
    }
    let hash = hash_password_pooled(change.new_password).await?;
    let keep = cookie(&headers, SESSION_COOKIE).map(hash_secret);
    state
        .store
        .set_user_password(caller.0.workspace_id, id, &hash, keep.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
