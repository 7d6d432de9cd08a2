//! The HTTP core of the typed client: base URL, the `access-token` header,
//! the `open_id` query parameter and envelope decoding. The calls themselves
//! live next to their concept (`messages.rs`, `groups.rs`, `cards.rs`, ...).

use std::{fmt, time::Duration};

use reqwest::Method;
use serde::{Serialize, de::DeserializeOwned};

use crate::{envelope, errors::DouyinError};

/// The production API host (reference §1).
pub const DEFAULT_BASE_URL: &str = "https://open.douyin.com";

/// A bearer secret (access_token, refresh_token, client_token, client_secret)
/// whose `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the documented prefix (`act.`, `rft.`, `clt.`) only: enough to
        // tell token kinds apart in a log, useless to an attacker.
        let prefix: String = self.0.chars().take_while(|c| *c != '.').take(4).collect();
        if self.0.contains('.') && prefix.len() <= 4 {
            write!(f, "\"{prefix}.***\"")
        } else {
            f.write_str("\"***\"")
        }
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Credentials of an authorized enterprise account for user-level calls:
/// the `access-token` header plus the `open_id` query parameter (§2.1).
#[derive(Debug, Clone)]
pub struct UserAuth {
    /// The authorized B account's open_id.
    pub open_id: String,
    /// Its current `act.` access_token.
    pub access_token: Secret,
}

impl UserAuth {
    /// Credentials for one account.
    pub fn new(open_id: impl Into<String>, access_token: impl Into<Secret>) -> Self {
        UserAuth {
            open_id: open_id.into(),
            access_token: access_token.into(),
        }
    }
}

/// The token a call authenticates with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// No token (the OAuth endpoints themselves).
    None,
    /// A user access_token plus `open_id` query.
    User(&'a UserAuth),
    /// An app-level `clt.` client_token, no `open_id`.
    App(&'a Secret),
}

/// What a request carries.
pub(crate) enum Body<'a> {
    Empty,
    /// `Content-Type: application/json` with no body at all: calls whose
    /// parameters travel in the query but whose documentation still asks
    /// for the JSON content type (template delete, reference §6.2).
    EmptyJson,
    Json(serde_json::Value),
    Form(Vec<(&'a str, &'a str)>),
    Multipart {
        boundary: String,
        bytes: Vec<u8>,
    },
}

/// A Douyin Open Platform client for one app (client_key + client_secret).
/// Usable on its own as an SDK; cheap to clone.
#[derive(Clone)]
pub struct DouyinClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) client_key: String,
    pub(crate) client_secret: Secret,
    /// Most bytes of an answer that are read; a longer one is a decode error.
    pub(crate) max_response_bytes: usize,
}

/// Default cap on the bytes of one platform answer: every documented answer
/// is a small JSON document.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

impl fmt::Debug for DouyinClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinClient")
            .field("base_url", &self.base_url)
            .field("client_key", &self.client_key)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

impl DouyinClient {
    /// A client for the production host with a 10-second request timeout.
    pub fn new(client_key: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        DouyinClient {
            http,
            base_url: DEFAULT_BASE_URL.to_string(),
            client_key: client_key.into(),
            client_secret: client_secret.into(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Caps the bytes read from one answer (default 64 KiB); a longer
    /// answer fails as a decode error instead of filling memory.
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Points the client at another host (the sandbox), without a trailing slash.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self
    }

    /// Uses a caller-built HTTP client (timeouts, proxies).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The app's client_key.
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The host this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request and decodes the answer through the envelope check.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<T, DouyinError> {
        let url = format!("{}{}", self.base_url, path);
        let mut req = self.http.request(method, &url);
        let mut q: Vec<(&str, &str)> = Vec::with_capacity(query.len() + 1);
        match auth {
            Auth::None => {}
            Auth::User(u) => {
                q.push(("open_id", u.open_id.as_str()));
                req = req.header("access-token", u.access_token.expose());
            }
            Auth::App(t) => {
                req = req.header("access-token", t.expose());
            }
        }
        q.extend_from_slice(query);
        if !q.is_empty() {
            req = req.query(&q);
        }
        req = match body {
            Body::Empty => req,
            Body::EmptyJson => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(Vec::new()),
            Body::Json(v) => req.json(&v),
            Body::Form(fields) => req.form(&fields),
            Body::Multipart { boundary, bytes } => req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(bytes),
        };
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = read_capped(resp, self.max_response_bytes).await?;
        let out = envelope::decode(status, &bytes);
        if let Err(e) = &out {
            tracing::debug!(path, status, error = %e, "douyin call failed");
        }
        out
    }

    /// A POST with the app's client_token, `Content-Type: application/json`
    /// and an empty body.
    pub(crate) async fn post_app_empty_json<T: DeserializeOwned>(
        &self,
        path: &str,
        client_token: &Secret,
        query: &[(&str, &str)],
    ) -> Result<T, DouyinError> {
        self.call(
            Method::POST,
            path,
            Auth::App(client_token),
            query,
            Body::EmptyJson,
        )
        .await
    }

    /// A JSON POST with user credentials.
    pub(crate) async fn post_user<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        auth: &UserAuth,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, DouyinError> {
        let v = serde_json::to_value(body)
            .map_err(|e| DouyinError::InvalidRequest(format!("cannot encode body: {e}")))?;
        self.call(Method::POST, path, Auth::User(auth), query, Body::Json(v))
            .await
    }

    /// A GET with user credentials.
    pub(crate) async fn get_user<T: DeserializeOwned>(
        &self,
        path: &str,
        auth: &UserAuth,
        query: &[(&str, &str)],
    ) -> Result<T, DouyinError> {
        self.call(Method::GET, path, Auth::User(auth), query, Body::Empty)
            .await
    }

    /// A JSON POST with the app's client_token.
    pub(crate) async fn post_app<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        client_token: &Secret,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, DouyinError> {
        let body = match body {
            Some(b) => Body::Json(
                serde_json::to_value(b)
                    .map_err(|e| DouyinError::InvalidRequest(format!("cannot encode body: {e}")))?,
            ),
            None => Body::Empty,
        };
        self.call(Method::POST, path, Auth::App(client_token), query, body)
            .await
    }
}

/// Reads an answer's body, refusing more than `max` bytes (by the declared
/// length first, then while reading, for answers without one).
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, DouyinError> {
    let status = resp.status().as_u16();
    let too_large = || DouyinError::Decode {
        status,
        message: format!("answer larger than {max} bytes"),
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len().saturating_add(chunk.len()) > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secret::new("act.1d1021d2aee3d41fee2d2add43456badMFZnrhFhfWotu3Ecuiuka27L56lr");
        let shown = format!("{s:?}");
        assert_eq!(shown, "\"act.***\"");
        let auth = UserAuth::new("ou_1", "act.secretvalue");
        assert!(!format!("{auth:?}").contains("secretvalue"));
        let client = DouyinClient::new("ck", "very-secret");
        assert!(!format!("{client:?}").contains("very-secret"));
    }
}
