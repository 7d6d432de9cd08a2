//! OAuth (reference §2): the app-level client_token, the web QR authorization
//! (authorize URL → code → access_token/refresh_token), refreshing the
//! access_token, renewing the refresh_token, the [`TokenStore`] imhub keeps
//! them in, and the [`TokenManager`] that refreshes before expiry.

use std::{collections::HashMap, sync::Arc};

use imhub_core::Timestamp;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{
    client::{Auth, Body, DouyinClient, Secret, UserAuth},
    envelope::{de_i64, de_string},
    errors::{DouyinError, ErrorClass, REFRESH_EXPIRED_CODE, RENEWAL_EXCEEDED_CODE},
};

/// The browser page that shows the QR code (§2.3).
pub const AUTHORIZE_PATH: &str = "/platform/oauth/connect/";
/// App-level token endpoint.
pub const CLIENT_TOKEN_PATH: &str = "/oauth/client_token/";
/// Idempotent app-level token endpoint (same token inside its 2 h window).
pub const STABLE_CLIENT_TOKEN_PATH: &str = "/oauth/stable_client_token/";
/// Code → user tokens (form-encoded).
pub const ACCESS_TOKEN_PATH: &str = "/oauth/access_token/";
/// refresh_token → new access_token (form-encoded).
pub const REFRESH_TOKEN_PATH: &str = "/oauth/refresh_token/";
/// refresh_token → new refresh_token (form-encoded, at most 5 times).
pub const RENEW_REFRESH_TOKEN_PATH: &str = "/oauth/renew_refresh_token/";

/// access_token lifetime documented by the platform: 15 days.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 24 * 3600;
/// refresh_token lifetime: 30 days.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// client_token lifetime: 2 hours.
pub const CLIENT_TOKEN_TTL_SECS: i64 = 7200;
/// refresh_token renewals allowed before the user must scan again.
pub const MAX_REFRESH_RENEWALS: u32 = 5;

/// The scopes imhub asks for: private and group messages, recall, lead cards.
pub const IM_SCOPES: &[&str] = &[
    "im.direct_message",
    "im.group_message",
    "im.recall_message",
    "im.message_card",
];

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

/// Builds the URL of the QR authorization page a merchant opens (§2.3).
#[derive(Debug, Clone, Default)]
pub struct AuthorizeUrlBuilder {
    scopes: Vec<String>,
    optional_scopes: Vec<(String, bool)>,
    redirect_uri: String,
    state: Option<String>,
}

impl AuthorizeUrlBuilder {
    /// A builder for this redirect URI (https, no query: the platform refuses others).
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        AuthorizeUrlBuilder {
            redirect_uri: redirect_uri.into(),
            ..Default::default()
        }
    }

    /// Adds a required scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds several required scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds an optional scope, pre-ticked or not.
    pub fn optional_scope(mut self, scope: impl Into<String>, ticked: bool) -> Self {
        self.optional_scopes.push((scope.into(), ticked));
        self
    }

    /// The opaque state echoed back on the redirect (CSRF protection).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// The page URL on `client`'s host.
    pub fn build(&self, client: &DouyinClient) -> Result<String, DouyinError> {
        let redirect = url::Url::parse(&self.redirect_uri)
            .map_err(|e| DouyinError::InvalidRequest(format!("redirect_uri: {e}")))?;
        if redirect.scheme() != "https" {
            return Err(DouyinError::InvalidRequest(
                "redirect_uri must be https".into(),
            ));
        }
        if redirect.query().is_some() {
            return Err(DouyinError::InvalidRequest(
                "redirect_uri must not carry query parameters".into(),
            ));
        }
        if self.scopes.is_empty() {
            return Err(DouyinError::InvalidRequest("at least one scope".into()));
        }
        let mut params: Vec<(&str, String)> = vec![
            ("client_key", client.client_key.clone()),
            ("response_type", "code".into()),
            ("scope", self.scopes.join(",")),
        ];
        if !self.optional_scopes.is_empty() {
            let v: Vec<String> = self
                .optional_scopes
                .iter()
                .map(|(s, t)| format!("{s},{}", u8::from(*t)))
                .collect();
            params.push(("optionalScope", v.join(",")));
        }
        params.push(("redirect_uri", self.redirect_uri.clone()));
        if let Some(s) = &self.state {
            params.push(("state", s.clone()));
        }
        let url =
            url::Url::parse_with_params(&format!("{}{AUTHORIZE_PATH}", client.base_url), &params)
                .map_err(|e| DouyinError::InvalidRequest(format!("base_url: {e}")))?;
        Ok(url.into())
    }
}

/// An app-level client_token and when it expires (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientToken {
    pub access_token: Secret,
    pub expires_at: i64,
}

impl ClientToken {
    /// Whether it still has more than `margin_secs` to live.
    pub fn fresh(&self, now_ms: i64, margin_secs: i64) -> bool {
        self.expires_at - margin_secs * 1000 > now_ms
    }
}

/// An account's user tokens as stored by imhub (times in Unix ms).
/// `Debug` shows no token values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTokens {
    /// The authorized enterprise account.
    pub open_id: String,
    pub access_token: Secret,
    pub access_expires_at: i64,
    pub refresh_token: Secret,
    pub refresh_expires_at: i64,
    /// Scopes as returned; IM scopes are not echoed by the platform (§1).
    #[serde(default)]
    pub scope: String,
    /// How many times the refresh_token was renewed (at most 5).
    #[serde(default)]
    pub renewals: u32,
}

impl UserTokens {
    /// The credentials user-level calls need.
    pub fn user_auth(&self) -> UserAuth {
        UserAuth {
            open_id: self.open_id.clone(),
            access_token: self.access_token.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct OAuthEnvelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ClientTokenData {
    access_token: Secret,
    #[serde(default, deserialize_with = "de_i64")]
    expires_in: i64,
}

#[derive(Deserialize)]
struct AccessTokenData {
    access_token: Secret,
    #[serde(default, deserialize_with = "de_i64")]
    expires_in: i64,
    #[serde(default, deserialize_with = "de_string")]
    open_id: String,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "de_i64")]
    refresh_expires_in: i64,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct RenewData {
    refresh_token: Secret,
    #[serde(default, deserialize_with = "de_i64")]
    expires_in: i64,
}

/// A refreshed access_token (the refresh_token's expiry does not move, §2.5).
#[derive(Debug, Clone)]
pub struct RefreshedAccessToken {
    pub open_id: String,
    pub access_token: Secret,
    pub expires_in: i64,
    /// Present when the platform returned one (normally the same value).
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
}

/// A renewed refresh_token (the old one is invalid from now on, §2.6).
#[derive(Debug, Clone)]
pub struct RenewedRefreshToken {
    pub refresh_token: Secret,
    pub expires_in: i64,
}

impl DouyinClient {
    /// `POST /oauth/client_token/` — a 2-hour app-level token. Do not call it
    /// often: more than 500 calls in 5 minutes answers 10020.
    pub async fn client_token(&self) -> Result<ClientToken, DouyinError> {
        self.client_token_at(CLIENT_TOKEN_PATH).await
    }

    /// `POST /oauth/stable_client_token/` — same as `client_token` but repeated
    /// calls inside the 2 h window return the same token.
    pub async fn stable_client_token(&self) -> Result<ClientToken, DouyinError> {
        self.client_token_at(STABLE_CLIENT_TOKEN_PATH).await
    }

    async fn client_token_at(&self, path: &str) -> Result<ClientToken, DouyinError> {
        let body = serde_json::json!({
            "client_key": self.client_key,
            "client_secret": self.client_secret.expose(),
            "grant_type": "client_credential",
        });
        let now = now_ms();
        let r: OAuthEnvelope<ClientTokenData> = self
            .call(Method::POST, path, Auth::None, &[], Body::Json(body))
            .await?;
        let ttl = if r.data.expires_in > 0 {
            r.data.expires_in
        } else {
            CLIENT_TOKEN_TTL_SECS
        };
        Ok(ClientToken {
            access_token: r.data.access_token,
            expires_at: now + ttl * 1000,
        })
    }

    /// `POST /oauth/access_token/` (form-encoded) — exchanges a single-use,
    /// 10-minute authorization code for the account's tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<UserTokens, DouyinError> {
        let now = now_ms();
        let form = vec![
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ];
        let r: OAuthEnvelope<AccessTokenData> = self
            .call(
                Method::POST,
                ACCESS_TOKEN_PATH,
                Auth::None,
                &[],
                Body::Form(form),
            )
            .await?;
        let d = r.data;
        let refresh_token = d.refresh_token.ok_or_else(|| DouyinError::Decode {
            status: 200,
            message: "access_token answer without refresh_token".into(),
        })?;
        if d.open_id.is_empty() {
            return Err(DouyinError::Decode {
                status: 200,
                message: "access_token answer without open_id".into(),
            });
        }
        let expires_in = if d.expires_in > 0 {
            d.expires_in
        } else {
            ACCESS_TOKEN_TTL_SECS
        };
        let refresh_in = if d.refresh_expires_in > 0 {
            d.refresh_expires_in
        } else {
            REFRESH_TOKEN_TTL_SECS
        };
        Ok(UserTokens {
            open_id: d.open_id,
            access_token: d.access_token,
            access_expires_at: now + expires_in * 1000,
            refresh_token,
            refresh_expires_at: now + refresh_in * 1000,
            scope: d.scope.unwrap_or_default(),
            renewals: 0,
        })
    }

    /// `POST /oauth/refresh_token/` (form-encoded) — a new 15-day access_token.
    /// 10010 means the refresh_token expired: the user must authorize again.
    pub async fn refresh_access_token(
        &self,
        refresh_token: &Secret,
    ) -> Result<RefreshedAccessToken, DouyinError> {
        let form = vec![
            ("client_key", self.client_key.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let r: OAuthEnvelope<AccessTokenData> = self
            .call(
                Method::POST,
                REFRESH_TOKEN_PATH,
                Auth::None,
                &[],
                Body::Form(form),
            )
            .await?;
        Ok(RefreshedAccessToken {
            open_id: r.data.open_id,
            access_token: r.data.access_token,
            expires_in: r.data.expires_in,
            refresh_token: r.data.refresh_token.filter(|t| !t.is_empty()),
            scope: r.data.scope,
        })
    }

    /// `POST /oauth/renew_refresh_token/` (form-encoded) — a new 30-day
    /// refresh_token; needs the app's `renew_refresh_token` permission
    /// (10004 otherwise) and works at most 5 times (10020 after).
    pub async fn renew_refresh_token(
        &self,
        refresh_token: &Secret,
    ) -> Result<RenewedRefreshToken, DouyinError> {
        let form = vec![
            ("client_key", self.client_key.as_str()),
            ("refresh_token", refresh_token.expose()),
        ];
        let r: OAuthEnvelope<RenewData> = self
            .call(
                Method::POST,
                RENEW_REFRESH_TOKEN_PATH,
                Auth::None,
                &[],
                Body::Form(form),
            )
            .await?;
        Ok(RenewedRefreshToken {
            refresh_token: r.data.refresh_token,
            expires_in: r.data.expires_in,
        })
    }
}

/// Why a [`TokenStore`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenStoreError(pub String);

/// Where an app's tokens live between calls. imhub-server implements it on
/// its database; [`MemoryTokenStore`] serves tests and SDK users.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The tokens of one authorized account, if any.
    async fn load(&self, open_id: &str) -> Result<Option<UserTokens>, TokenStoreError>;

    /// Stores (replaces) an account's tokens after authorization or refresh.
    async fn save(&self, tokens: &UserTokens) -> Result<(), TokenStoreError>;

    /// Called once the account can no longer be refreshed, so the caller can
    /// mark it as needing a new authorization. Default: nothing.
    async fn mark_reauthorization_required(
        &self,
        open_id: &str,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        let _ = (open_id, reason);
        Ok(())
    }

    /// A shared client_token for this app, so several nodes do not each fetch
    /// one (the platform keeps only the latest two valid). Default: none.
    async fn load_client_token(
        &self,
        client_key: &str,
    ) -> Result<Option<ClientToken>, TokenStoreError> {
        let _ = client_key;
        Ok(None)
    }

    /// Shares a freshly fetched client_token. Default: nothing.
    async fn save_client_token(
        &self,
        client_key: &str,
        token: &ClientToken,
    ) -> Result<(), TokenStoreError> {
        let _ = (client_key, token);
        Ok(())
    }
}

/// An in-memory [`TokenStore`] for tests and single-process SDK use.
#[derive(Debug, Default, Clone)]
pub struct MemoryTokenStore {
    inner: Arc<std::sync::Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    users: HashMap<String, UserTokens>,
    clients: HashMap<String, ClientToken>,
    reauth: HashMap<String, String>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding this lock cannot leave the maps half-written
        // (every operation is a single insert), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reason an account was marked as needing re-authorization, if it was.
    pub fn reauthorization_reason(&self, open_id: &str) -> Option<String> {
        self.lock().reauth.get(open_id).cloned()
    }

    /// The stored tokens, synchronously (for tests).
    pub fn get(&self, open_id: &str) -> Option<UserTokens> {
        self.lock().users.get(open_id).cloned()
    }

    /// Stores tokens synchronously (for tests).
    pub fn put(&self, tokens: UserTokens) {
        self.lock().users.insert(tokens.open_id.clone(), tokens);
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, open_id: &str) -> Result<Option<UserTokens>, TokenStoreError> {
        Ok(self.get(open_id))
    }

    async fn save(&self, tokens: &UserTokens) -> Result<(), TokenStoreError> {
        let mut g = self.lock();
        g.reauth.remove(&tokens.open_id);
        g.users.insert(tokens.open_id.clone(), tokens.clone());
        Ok(())
    }

    async fn mark_reauthorization_required(
        &self,
        open_id: &str,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        self.lock()
            .reauth
            .insert(open_id.to_string(), reason.to_string());
        Ok(())
    }

    async fn load_client_token(
        &self,
        client_key: &str,
    ) -> Result<Option<ClientToken>, TokenStoreError> {
        Ok(self.lock().clients.get(client_key).cloned())
    }

    async fn save_client_token(
        &self,
        client_key: &str,
        token: &ClientToken,
    ) -> Result<(), TokenStoreError> {
        self.lock()
            .clients
            .insert(client_key.to_string(), token.clone());
        Ok(())
    }
}

impl From<TokenStoreError> for DouyinError {
    fn from(e: TokenStoreError) -> Self {
        DouyinError::TokenStore(e.0)
    }
}

/// When the [`TokenManager`] acts ahead of expiry.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Refresh the access_token when it has less than this left (default 1 day,
    /// i.e. on day 14 of 15).
    pub access_margin_secs: i64,
    /// Renew the refresh_token when it has less than this left (default 3 days).
    pub refresh_margin_secs: i64,
    /// Whether the app holds the `renew_refresh_token` permission.
    pub renew_refresh_token: bool,
    /// Fetch a new client_token when it has less than this left (default 5 min).
    pub client_token_margin_secs: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            access_margin_secs: 24 * 3600,
            refresh_margin_secs: 3 * 24 * 3600,
            renew_refresh_token: true,
            client_token_margin_secs: 300,
        }
    }
}

/// Keeps an app's tokens fresh on top of a [`TokenStore`]: refreshes before
/// expiry, renews the refresh_token, reports "authorize again" as
/// [`DouyinError::ReauthorizationRequired`] and marks the account in the store.
pub struct TokenManager {
    client: DouyinClient,
    store: Arc<dyn TokenStore>,
    policy: RefreshPolicy,
    /// Serializes refreshes so two sends do not renew the same refresh_token
    /// twice (the second would find it invalidated).
    refresh_lock: Mutex<()>,
    client_token: Mutex<Option<ClientToken>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("client", &self.client)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager for `client`'s app over `store`.
    pub fn new(client: DouyinClient, store: Arc<dyn TokenStore>, policy: RefreshPolicy) -> Self {
        TokenManager {
            client,
            store,
            policy,
            refresh_lock: Mutex::new(()),
            client_token: Mutex::new(None),
        }
    }

    /// The client this manager uses.
    pub fn client(&self) -> &DouyinClient {
        &self.client
    }

    /// Finishes the QR flow: exchanges the code and stores the tokens.
    pub async fn authorize(&self, code: &str) -> Result<UserTokens, DouyinError> {
        let tokens = self.client.exchange_code(code).await?;
        self.store.save(&tokens).await?;
        Ok(tokens)
    }

    /// Credentials for `open_id`, refreshed first when close to expiry.
    pub async fn user_auth(&self, open_id: &str) -> Result<UserAuth, DouyinError> {
        let tokens = self.load(open_id).await?;
        let now = now_ms();
        let access_due = tokens.access_expires_at - self.policy.access_margin_secs * 1000 <= now;
        let renew_due = self.policy.renew_refresh_token
            && tokens.renewals < MAX_REFRESH_RENEWALS
            && tokens.refresh_expires_at - self.policy.refresh_margin_secs * 1000 <= now;
        if !access_due && !renew_due {
            return Ok(tokens.user_auth());
        }
        let _guard = self.refresh_lock.lock().await;
        // Another task may have refreshed while we waited for the lock.
        let mut tokens = self.load(open_id).await?;
        let now = now_ms();
        if self.policy.renew_refresh_token
            && tokens.renewals < MAX_REFRESH_RENEWALS
            && tokens.refresh_expires_at - self.policy.refresh_margin_secs * 1000 <= now
            && tokens.refresh_expires_at > now
        {
            tokens = self.renew(tokens).await?;
        }
        if tokens.access_expires_at - self.policy.access_margin_secs * 1000 <= now {
            tokens = self.refresh(tokens).await?;
        }
        Ok(tokens.user_auth())
    }

    /// Refreshes after the platform called `stale` expired, unless another
    /// task already replaced it; used for the "refresh then retry once" rule.
    pub async fn refresh_after_rejection(
        &self,
        open_id: &str,
        stale: &Secret,
    ) -> Result<UserAuth, DouyinError> {
        let _guard = self.refresh_lock.lock().await;
        let tokens = self.load(open_id).await?;
        if &tokens.access_token != stale {
            return Ok(tokens.user_auth());
        }
        Ok(self.refresh(tokens).await?.user_auth())
    }

    /// A valid client_token, cached here and shared through the store.
    pub async fn client_token(&self) -> Result<Secret, DouyinError> {
        let margin = self.policy.client_token_margin_secs;
        let mut cached = self.client_token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.fresh(now_ms(), margin)) {
            return Ok(t.access_token.clone());
        }
        if let Some(t) = self
            .store
            .load_client_token(&self.client.client_key)
            .await?
            .filter(|t| t.fresh(now_ms(), margin))
        {
            let token = t.access_token.clone();
            *cached = Some(t);
            return Ok(token);
        }
        let t = self.client.client_token().await?;
        self.store
            .save_client_token(&self.client.client_key, &t)
            .await?;
        let token = t.access_token.clone();
        *cached = Some(t);
        Ok(token)
    }

    /// Forgets the cached client_token after the platform rejected it.
    pub async fn drop_client_token(&self) {
        *self.client_token.lock().await = None;
    }

    async fn load(&self, open_id: &str) -> Result<UserTokens, DouyinError> {
        self.store
            .load(open_id)
            .await?
            .ok_or_else(|| DouyinError::NotAuthorized {
                open_id: open_id.to_string(),
            })
    }

    async fn reauth(&self, open_id: &str, reason: String) -> DouyinError {
        if let Err(e) = self
            .store
            .mark_reauthorization_required(open_id, &reason)
            .await
        {
            tracing::warn!(open_id, error = %e, "cannot mark account for re-authorization");
        }
        DouyinError::ReauthorizationRequired {
            open_id: open_id.to_string(),
            reason,
        }
    }

    async fn refresh(&self, mut tokens: UserTokens) -> Result<UserTokens, DouyinError> {
        let now = now_ms();
        if tokens.refresh_expires_at <= now {
            return Err(self
                .reauth(&tokens.open_id, "refresh_token expired".into())
                .await);
        }
        match self
            .client
            .refresh_access_token(&tokens.refresh_token)
            .await
        {
            Ok(r) => {
                let ttl = if r.expires_in > 0 {
                    r.expires_in
                } else {
                    ACCESS_TOKEN_TTL_SECS
                };
                tokens.access_token = r.access_token;
                tokens.access_expires_at = now + ttl * 1000;
                if let Some(rt) = r.refresh_token {
                    tokens.refresh_token = rt;
                }
                self.store.save(&tokens).await?;
                tracing::info!(open_id = %tokens.open_id, "douyin access_token refreshed");
                Ok(tokens)
            }
            Err(DouyinError::Api(e))
                if matches!(
                    e.class(),
                    ErrorClass::ReauthorizationRequired | ErrorClass::TokenExpired
                ) || e.code == 10002 =>
            {
                Err(self.reauth(&tokens.open_id, e.to_string()).await)
            }
            Err(e) => Err(e),
        }
    }

    async fn renew(&self, mut tokens: UserTokens) -> Result<UserTokens, DouyinError> {
        match self.client.renew_refresh_token(&tokens.refresh_token).await {
            Ok(r) => {
                let ttl = if r.expires_in > 0 {
                    r.expires_in
                } else {
                    REFRESH_TOKEN_TTL_SECS
                };
                tokens.refresh_token = r.refresh_token;
                tokens.refresh_expires_at = now_ms() + ttl * 1000;
                tokens.renewals += 1;
                self.store.save(&tokens).await?;
                tracing::info!(open_id = %tokens.open_id, renewals = tokens.renewals, "douyin refresh_token renewed");
                Ok(tokens)
            }
            Err(DouyinError::Api(e)) if e.code == RENEWAL_EXCEEDED_CODE => {
                // Renewals used up: the current refresh_token still works until it
                // expires; remember that renewing is pointless from now on.
                tokens.renewals = MAX_REFRESH_RENEWALS;
                self.store.save(&tokens).await?;
                Ok(tokens)
            }
            Err(DouyinError::Api(e)) if e.code == REFRESH_EXPIRED_CODE => {
                Err(self.reauth(&tokens.open_id, e.to_string()).await)
            }
            Err(DouyinError::Api(e)) => {
                // No renew permission (10004) or another refusal: keep going with
                // the current refresh_token, which is still valid.
                tracing::warn!(open_id = %tokens.open_id, error = %e, "douyin refresh_token renewal refused");
                Ok(tokens)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_key_scopes_redirect_and_state() {
        let client = DouyinClient::new("awx123", "s");
        let url = AuthorizeUrlBuilder::new("https://imhub.example/douyin/callback")
            .scopes(IM_SCOPES.iter().copied())
            .optional_scope("user_info", true)
            .state("st-1")
            .build(&client)
            .unwrap();
        let u = url::Url::parse(&url).unwrap();
        assert_eq!(u.path(), "/platform/oauth/connect/");
        let q: HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["client_key"], "awx123");
        assert_eq!(q["response_type"], "code");
        assert_eq!(
            q["scope"],
            "im.direct_message,im.group_message,im.recall_message,im.message_card"
        );
        assert_eq!(q["optionalScope"], "user_info,1");
        assert_eq!(q["redirect_uri"], "https://imhub.example/douyin/callback");
        assert_eq!(q["state"], "st-1");
    }

    #[test]
    fn authorize_url_refuses_plain_http_and_query_in_redirect() {
        let client = DouyinClient::new("k", "s");
        assert!(
            AuthorizeUrlBuilder::new("http://a.example/cb")
                .scope("im.direct_message")
                .build(&client)
                .is_err()
        );
        assert!(
            AuthorizeUrlBuilder::new("https://a.example/cb?x=1")
                .scope("im.direct_message")
                .build(&client)
                .is_err()
        );
    }

    #[test]
    fn user_tokens_debug_redacts_tokens() {
        let t = UserTokens {
            open_id: "ou".into(),
            access_token: "act.topsecret".into(),
            access_expires_at: 0,
            refresh_token: "rft.alsosecret".into(),
            refresh_expires_at: 0,
            scope: String::new(),
            renewals: 0,
        };
        let s = format!("{t:?}");
        assert!(!s.contains("topsecret") && !s.contains("alsosecret"), "{s}");
    }
}
