//! Who is calling: bearer API tokens (stored hashed) and agents' login
//! sessions (a cookie), both resolving to a workspace and a role; and what
//! guards them: the login throttle, the bounded password-hashing pool and
//! the same-origin rule for cookie-authenticated writes.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, LazyLock, Mutex, OnceLock},
    time::{Duration, Instant},
};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use imhub_core::{Role, Timestamp};
use imhub_store::Principal;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

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

/// How many argon2 computations run at once in this process. Password
/// hashing is deliberately slow; bounding it keeps a login flood from
/// taking every blocking thread the store's readers also need.
pub const HASHING_THREADS: usize = 2;

/// How long a login waits for a hashing slot before it is refused with 503
/// `busy` (the flood is then answered cheaply instead of queued forever).
pub const HASHING_WAIT: Duration = Duration::from_secs(10);

static HASHING: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(HASHING_THREADS)));

/// Runs a password computation on the bounded hashing pool.
async fn on_hashing_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many logins at once; try again shortly",
        )
    };
    let permit = tokio::time::timeout(HASHING_WAIT, Arc::clone(&HASHING).acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(ApiError::internal)
}

/// Hashes a password on the bounded hashing pool.
pub async fn hash_password_pooled(password: String) -> Result<String, ApiError> {
    on_hashing_pool(move || hash_password(&password)).await?
}

/// A hash of a password nobody knows, with the parameters of real hashes:
/// a login for an unknown email is checked against it, so it costs the same
/// time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_secret("")).unwrap_or_default())
}

/// Checks a password on the bounded hashing pool, against `stored` or,
/// when there is no such user, against a dummy hash (always `false`).
pub async fn verify_password_pooled(
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    on_hashing_pool(move || match stored {
        Some(hash) => verify_password(&password, &hash),
        None => {
            verify_password(&password, dummy_hash());
            false
        }
    })
    .await
}

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts per email (in any workspace) within `window`.
    pub per_email: u32,
    /// Attempts per client address within `window`.
    pub per_address: u32,
    /// The window; a throttled caller is told when it ends (`Retry-After`).
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_email: 10,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// At most this many emails and addresses are tracked; past it, entries
/// whose window ended are swept, and unknown keys are throttled until room
/// is made (one address can fill at most `per_address` entries per window).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// The login throttle: attempts per email and per client address in a
/// fixed window. In memory, per node: with several nodes behind a balancer
/// an attacker gets the limits once per node, which still turns a flood
/// into a trickle; the state is lost on restart.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: LoginLimits,
    seen: Mutex<HashMap<String, Window>>,
}

impl LoginThrottle {
    /// A throttle with other limits (tests, operators).
    pub fn new(limits: LoginLimits) -> Self {
        LoginThrottle {
            limits,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for this email and address, or refuses it with the
    /// time until the caller may try again. Every attempt counts (not only
    /// failures), so parallel guesses cannot slip past before they fail.
    pub fn attempt(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_TRACKED {
            let window = self.limits.window;
            seen.retain(|_, w| now.duration_since(w.started) < window);
        }
        let mut keys = vec![(
            format!("e:{}", email.trim().to_lowercase()),
            self.limits.per_email,
        )];
        if let Some(ip) = address {
            keys.push((format!("a:{}", canonical(ip)), self.limits.per_address));
        }
        let mut wait = Duration::ZERO;
        for (key, limit) in &keys {
            match seen.get(key) {
                Some(w)
                    if now.duration_since(w.started) < self.limits.window
                        && w.attempts >= *limit =>
                {
                    wait = wait.max(self.limits.window - now.duration_since(w.started));
                }
                Some(_) => {}
                None if seen.len() >= MAX_TRACKED => wait = wait.max(Duration::from_secs(60)),
                None => {}
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for (key, _) in keys {
            let w = seen.entry(key).or_insert(Window {
                started: now,
                attempts: 0,
            });
            if now.duration_since(w.started) >= self.limits.window {
                *w = Window {
                    started: now,
                    attempts: 0,
                };
            }
            w.attempts += 1;
        }
        Ok(())
    }

    /// A successful login clears its email's count (not its address's: one
    /// right password must not buy an address a fresh set of guesses).
    pub fn succeeded(&self, email: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(&format!("e:{}", email.trim().to_lowercase()));
    }
}

/// An IPv6 client is throttled by its /64 (one host usually holds the whole
/// prefix); an IPv4-mapped address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Per-server credential state: the login throttle and when each API token
/// was last recorded as used (so `last_used_at` costs a write per token per
/// minute, not one per request).
#[derive(Debug, Default)]
pub struct Credentials {
    pub throttle: LoginThrottle,
    touched: Mutex<HashMap<String, Instant>>,
}

impl Credentials {
    /// State with other login limits.
    pub fn new(limits: LoginLimits) -> Self {
        Credentials {
            throttle: LoginThrottle::new(limits),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// True when this token's use should be written now (once a minute).
    fn should_touch(&self, token_hash: &str) -> bool {
        let now = Instant::now();
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.len() >= MAX_TRACKED {
            touched.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
        }
        match touched.get(token_hash) {
            Some(at) if now.duration_since(*at) < TOUCH_EVERY => false,
            _ => {
                touched.insert(token_hash.to_string(), now);
                true
            }
        }
    }
}

/// How precisely a token's `last_used_at` is kept.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

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
    check_new_password(password)?;
    if !crate::api::text::is_email(email) {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "not an email address: one @ with text around it, no white space, at most 254 characters",
        ));
    }
    let hash = hash_password_pooled(password.to_string()).await?;
    Ok(store.create_user(ws, email, name, role, &hash).await?)
}

/// Checks a new password's strength (the same rule as [`add_user`]).
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::unprocessable(
            "weak_password",
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The authenticated caller of an API route.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// Whether a request's `Origin` (or, without one, `Sec-Fetch-Site`) shows it
/// comes from the inbox's own origin: the configured `public_url` or the
/// `Host` the request was sent to.
///
/// - `Origin` present: it must equal `public_url`'s origin, or name the
///   same host and port as the `Host` header; `Origin: null` never passes.
/// - no `Origin`, `Sec-Fetch-Site` present: `same-origin` and `none` (the
///   user typed it) pass; `same-site` and `cross-site` do not.
/// - neither: `None` — the caller decides. Every current browser sends
///   `Origin` on POST/PUT/PATCH/DELETE, so a cookie request with neither
///   is not a browser's cross-site request, but we still refuse it for
///   cookie-authenticated writes (old browsers omitted `Origin`; scripts
///   should use bearer tokens).
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Option<bool> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = value("origin") {
        let Some(origin) = origin_of(origin) else {
            // `null` (sandboxed frames, file: pages) and garbage.
            return Some(false);
        };
        if public_url.and_then(origin_of).is_some_and(|p| p == origin) {
            return Some(true);
        }
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let host = value("host").map(|h| h.trim().to_ascii_lowercase());
        return Some(host.is_some_and(|h| !h.is_empty() && h == authority));
    }
    value("sec-fetch-site").map(|site| matches!(site.trim(), "same-origin" | "none"))
}

/// `scheme://host[:port]` of a URL, lowercased, without a default port.
fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = match (scheme, authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host,
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

/// The 403 for a cookie-authenticated write from another origin.
pub fn cross_origin() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "a request with the session cookie must come from the inbox's own origin",
    )
}

/// True for methods that change something (the ones the same-origin rule
/// guards).
fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

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
            let hash = hash_secret(token.trim());
            let principal = state.store.find_api_token(&hash).await?;
            if principal.is_some() && state.credentials.should_touch(&hash) {
                // Best effort: a failed write of the last use is no reason
                // to refuse the request.
                if let Err(e) = state.store.touch_api_token(&hash, Timestamp::now()).await {
                    tracing::warn!(error = %e, "cannot record an API token's use");
                }
            }
            principal
        } else if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            let principal = state
                .store
                .find_session(&hash_secret(session), Timestamp::now())
                .await?;
            // Only a live session is held to the same-origin rule: a stale
            // cookie gets the same 401 as none.
            if principal.is_some()
                && unsafe_method(&parts.method)
                && same_origin(&parts.headers, state.config.public_url.as_deref()) != Some(true)
            {
                return Err(cross_origin());
            }
            principal
        } else {
            None
        };
        let principal = principal.ok_or_else(ApiError::unauthorized)?;
        // A suspended workspace's routes (its API and its inbox) refuse
        // everyone until the operator resumes it.
        if principal.suspended {
            return Err(workspace_suspended());
        }
        Ok(Caller(principal))
    }
}

/// The 403 of every workspace route while the operator has the workspace
/// suspended (or is still resuming it).
pub fn workspace_suspended() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "workspace_suspended",
        "this workspace is suspended by the server's operator",
    )
}

/// The operator, authenticated by the operator token of the server's
/// configuration (`operator_token`, `IMHUB_OPERATOR_TOKEN`, or a file):
/// only for `/api/v1/operator/...`. Workspace tokens and session cookies
/// are never the operator (401), and the operator token is never valid on
/// workspace routes (it is stored nowhere, so it matches no token hash).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

/// Least length of a configured operator token (it guards every workspace).
pub const MIN_OPERATOR_TOKEN_CHARS: usize = 16;

/// Equal in constant time: both sides are hashed first, so the comparison
/// runs over 32 bytes whatever was sent.
fn same_secret(sent: &str, configured: &str) -> bool {
    let (a, b) = (
        Sha256::digest(sent.as_bytes()),
        Sha256::digest(configured.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(configured) = state.config.operator_token.as_ref().map(|t| t.0.as_str()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "no operator token is configured",
            ));
        };
        let sent = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match sent {
            Some(token) if !configured.is_empty() && same_secret(token, configured) => Ok(Operator),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the operator token is required (a workspace's token or session is not it)",
            )),
        }
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_accepts_the_host_or_public_url_and_refuses_others() {
        let public = Some("https://inbox.example.com/");
        let ok = [
            headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[
                ("origin", "https://inbox.example.com"),
                ("host", "10.0.0.5"),
            ]),
            headers(&[("origin", "https://INBOX.example.com:443"), ("host", "x")]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "none")]),
        ];
        for h in ok {
            assert_eq!(same_origin(&h, public), Some(true), "{h:?}");
        }
        let refused = [
            headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[
                ("origin", "http://127.0.0.1:9999"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]),
            headers(&[("origin", "https://inbox.example.com.evil.example")]),
            headers(&[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ];
        for h in refused {
            assert_eq!(same_origin(&h, public), Some(false), "{h:?}");
        }
        assert_eq!(same_origin(&headers(&[("host", "x")]), public), None);
    }

    #[test]
    fn login_throttle_counts_per_email_and_per_address() {
        let t = LoginThrottle::new(LoginLimits {
            per_email: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            t.attempt("Ann@shop.cn", Some(a)).unwrap();
        }
        let wait = t.attempt("ann@shop.cn", Some(b)).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        t.attempt("bob@shop.cn", Some(a)).unwrap();
        t.attempt("cy@shop.cn", Some(a)).unwrap();
        assert!(t.attempt("dee@shop.cn", Some(a)).is_err(), "address limit");
        t.attempt("dee@shop.cn", Some(b)).unwrap();
        t.succeeded("ANN@shop.cn");
        t.attempt("ann@shop.cn", Some(b)).unwrap();
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(canonical(one), canonical(two));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(canonical(mapped), "192.0.2.7");
    }

    #[test]
    fn operator_tokens_compare_whole() {
        assert!(same_secret("operator-secret-0123", "operator-secret-0123"));
        assert!(!same_secret("operator-secret-012", "operator-secret-0123"));
        assert!(!same_secret("", "operator-secret-0123"));
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let a = new_secret("imh_");
        assert!(a.starts_with("imh_") && a.len() > 40);
        assert_ne!(a, new_secret("imh_"));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
