//! Who is calling: bearer API tokens (stored hashed) and agents' login
//! sessions (a cookie), both resolving to a workspace and a role.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use imhub_core::{Role, Timestamp};
use imhub_store::Principal;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{AppState, error::ApiError};

/// Name of the session cookie the web inbox uses.
pub const SESSION_COOKIE: &str = "imhub_session";

/// How long a login session lasts.
pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// A new random secret with a readable prefix (`imh_…` for API tokens).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens and session ids are stored only as this hash. They are long
/// random strings, so a fast hash is enough (unlike passwords).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against its stored argon2 hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates an API token and returns it; only its hash is stored, so this is
/// the one time it can be shown. Used by the API and the CLI.
pub async fn issue_api_token(
    store: &dyn imhub_store::Store,
    ws: imhub_core::WorkspaceId,
    name: &str,
    role: Role,
) -> Result<String, imhub_store::StoreError> {
    let token = new_secret("imh_");
    store
        .create_api_token(ws, name, role, &hash_secret(&token))
        .await?;
    Ok(token)
}

/// Least password length accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Adds an agent who can log into the inbox, checking email and password.
/// Used by the API and the CLI.
pub async fn add_user(
    store: &dyn imhub_store::Store,
    ws: imhub_core::WorkspaceId,
    email: &str,
    name: &str,
    role: Role,
    password: &str,
) -> Result<imhub_store::StoredUser, ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::unprocessable(
            "weak_password",
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let email = email.trim();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "not an email address",
        ));
    }
    let password = password.to_string();
    // argon2 is deliberately slow: keep it off the async workers.
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)??;
    Ok(store.create_user(ws, email, name, role, &hash).await?)
}

/// The authenticated caller of an API route.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// Refuses agents where only admins may act (channels, tokens, users).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// The value of one cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let principal = if let Some(token) = bearer {
            state
                .store
                .find_api_token(&hash_secret(token.trim()))
                .await?
        } else if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            state
                .store
                .find_session(&hash_secret(session), Timestamp::now())
                .await?
        } else {
            None
        };
        principal.map(Caller).ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let a = new_secret("imh_");
        assert!(a.starts_with("imh_") && a.len() > 40);
        assert_ne!(a, new_secret("imh_"));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
