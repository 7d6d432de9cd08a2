//! API tokens of a workspace (admin only): create (optionally expiring),
//! list, revoke. Also the creation of agent users (routed in `users`).

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, post},
};
use imhub_core::{Role, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, List},
    auth::{Caller, add_user, hash_secret, new_secret},
    error::ApiError,
};

/// The `tokens` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tokens", post(create_token).get(list_tokens))
        .route("/tokens/{id}", delete(revoke_token))
}

/// The longest lifetime a token can be given (ten years): beyond it,
/// leave the expiry out.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// A token to create. At most one of `expires_in_secs` and `expires_at`;
/// without either the token lasts until revoked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(schema_with = crate::api::text::token_name_schema)]
    pub name: String,
    pub role: Role,
    /// Lifetime from now, 1 s to ten years.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 315360000)]
    pub expires_in_secs: Option<u64>,
    /// Moment of expiry (RFC 3339), in the future, within ten years.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// The new token, shown this once: only its hash is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// Absent when the token does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// When it was last used, to about a minute; absent when never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

impl From<imhub_store::ApiTokenInfo> for TokenInfo {
    fn from(t: imhub_store::ApiTokenInfo) -> Self {
        TokenInfo {
            id: t.id,
            name: t.name,
            role: t.role,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// When a new token expires, from the request's two ways of saying it.
fn expiry(req: &NewToken, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    let bad = |detail: &str| ApiError::unprocessable("invalid_expiry", detail.to_string());
    let max_ms = (MAX_TOKEN_LIFETIME_SECS * 1000) as i64;
    match (req.expires_in_secs, req.expires_at) {
        (Some(_), Some(_)) => Err(bad("give expires_in_secs or expires_at, not both")),
        (Some(secs), None) if secs == 0 || secs > MAX_TOKEN_LIFETIME_SECS => {
            Err(bad("expires_in_secs must be between 1 and 315360000"))
        }
        (Some(secs), None) => Ok(Some(now.plus_millis(secs as i64 * 1000))),
        (None, Some(at)) if at <= now => Err(bad("expires_at is not in the future")),
        (None, Some(at)) if at.millis() - now.millis() > max_ms => {
            Err(bad("expires_at is more than ten years away"))
        }
        (None, at) => Ok(at),
    }
}

/// Creates an API token in the caller's workspace (201), optionally
/// expiring: after `expires_at` it gets 401. Admin only.
/// 422 `invalid_expiry` for an expiry in the past, both fields, or past
/// ten years; 422 `invalid_name` for an empty or over-long name.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken),
        (status = 422, description = "`invalid_expiry`, `invalid_name`", body = crate::error::Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    // The length is the name's as sent, as the spec declares it.
    let name = req.name.trim();
    if name.is_empty() || req.name.chars().count() > crate::api::text::MAX_TOKEN_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "a token needs a name of 1 to 200 characters",
        ));
    }
    let expires_at = expiry(&req, Timestamp::now())?;
    let token = new_secret("imh_");
    let info = state
        .store
        .create_api_token_expiring(
            caller.0.workspace_id,
            name,
            req.role,
            &hash_secret(&token),
            expires_at,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: info.id,
            token,
            role: info.role,
            expires_at: info.expires_at,
        }),
    ))
}

/// The workspace's API tokens, oldest first, expired ones included (so an
/// admin sees them to revoke). Never the secret or its hash. Admin only.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = List<TokenInfo>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<TokenInfo>>, ApiError> {
    caller.require_admin()?;
    let items = state
        .store
        .list_api_tokens(caller.0.workspace_id)
        .await?
        .into_iter()
        .map(TokenInfo::from)
        .collect();
    Ok(Json(List { items }))
}

/// Revokes a token at once (204): its next call gets 401. 404 for a token
/// of another workspace or none. Admin only; an admin token may revoke
/// itself.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path)), responses((status = 204)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state
        .store
        .revoke_api_token(caller.0.workspace_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agent to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(schema_with = crate::api::text::email_schema)]
    pub email: String,
    pub name: String,
    /// The first password; left out (or `null`), imhub generates one and
    /// returns it once as `initial_password`.
    #[serde(default)]
    #[schema(schema_with = password_or_null_schema)]
    pub password: Option<String>,
    #[serde(default = "agent")]
    pub role: Role,
}

/// [`crate::api::text::password_schema`], also taking `null` (generate one).
fn password_or_null_schema() -> utoipa::openapi::Object {
    crate::api::text::or_null(crate::api::text::password_schema())
}

/// Characters of a generated first password (URL-safe base64 of random
/// bytes: about 96 bits).
const INITIAL_PASSWORD_CHARS: usize = 16;

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
    /// The generated first password, shown this once (only its hash is
    /// stored); absent when the request gave the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
}

/// Creates an agent who can log into the inbox. Admin only. Without a
/// `password` one is generated and returned once as `initial_password`.
/// 409 when the email is taken in this workspace (another workspace's
/// users do not count, and nothing tells whether one exists); 422
/// `weak_password` under 8 characters, `invalid_email` for anything but
/// one `@` with text around it and no white space (at most 254 characters).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserInfo),
        (status = 409, description = "`conflict`", body = crate::error::Problem),
        (status = 422, description = "`weak_password`, `invalid_email`", body = crate::error::Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    caller.require_admin()?;
    let generated = req.password.is_none().then(|| {
        new_secret("")
            .chars()
            .take(INITIAL_PASSWORD_CHARS)
            .collect::<String>()
    });
    let password = req
        .password
        .as_deref()
        .or(generated.as_deref())
        .unwrap_or_default();
    let user = add_user(
        state.store.as_ref(),
        caller.0.workspace_id,
        &req.email,
        &req.name,
        req.role,
        password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            initial_password: generated,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(expires_in_secs: Option<u64>, expires_at: Option<Timestamp>) -> NewToken {
        NewToken {
            name: "t".into(),
            role: Role::Agent,
            expires_in_secs,
            expires_at,
        }
    }

    #[test]
    fn token_expiry_is_in_the_future_and_given_one_way() {
        let now = Timestamp(1_700_000_000_000);
        assert_eq!(expiry(&req(None, None), now).unwrap(), None);
        assert_eq!(
            expiry(&req(Some(60), None), now).unwrap(),
            Some(Timestamp(1_700_000_060_000))
        );
        let later = Timestamp(1_700_000_100_000);
        assert_eq!(expiry(&req(None, Some(later)), now).unwrap(), Some(later));
        for bad in [
            req(Some(0), None),
            req(Some(MAX_TOKEN_LIFETIME_SECS + 1), None),
            req(None, Some(now)),
            req(None, Some(Timestamp(1))),
            req(None, Some(Timestamp(i64::MAX))),
            req(Some(60), Some(later)),
        ] {
            assert_eq!(expiry(&bad, now).unwrap_err().code, "invalid_expiry");
        }
    }
}
