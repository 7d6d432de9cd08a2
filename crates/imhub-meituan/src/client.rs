//! The typed client of the `waimaiopen` gateway's IM API, usable on its own
//! as a Rust SDK (Go `mtwmapi` counterpart: `AccessAPI`, `MsgSend`,
//! `GetConnectionToken`, `MsgRead`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::form_urlencoded;

use crate::{
    crypto::{AesMode, ContentCipher},
    envelope::{self, ApiSuccess},
    errors::MeituanError,
    im::{ConnectionToken, PushContentReq, PushContentResp},
    sign::{self, Params},
};

/// The production gateway (reference §1).
pub const DEFAULT_BASE_URL: &str = "https://waimaiopen.meituan.com/api/v1/";
/// 商家发送IM消息.
pub const PATH_MSG_SEND: &str = "ecommerce/IM/msgSend";
/// 获取长连接的token.
pub const PATH_GET_CONNECTION_TOKEN: &str = "wm/IM/getConnectionToken";
/// 设置消息已读.
pub const PATH_MSG_READ: &str = "wm/IM/msgRead";
/// 查询会话最新已读时间戳 (parameters on `waimaiopen` undocumented, [L]).
pub const PATH_USER_READ_TIME: &str = "wm/IM/userReadTime";

/// How long one call may take before it counts as a transient failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of an answer read by default; a longer answer fails the call,
/// so a broken or hostile endpoint cannot fill our memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The current Unix time in seconds, the unit of `timestamp` and `cts`.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A signed client for one Meituan app.
#[derive(Clone)]
pub struct MeituanClient {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: String,
    access_token: Option<String>,
    cipher: ContentCipher,
    max_response_bytes: usize,
}

impl std::fmt::Debug for MeituanClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeituanClient")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl MeituanClient {
    /// A client for `app_id`/`app_secret` against `base_url` (default: the
    /// production gateway). No I/O happens here.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        base_url: Option<&str>,
        aes_mode: AesMode,
    ) -> Result<Self, MeituanError> {
        let app_secret = app_secret.into();
        let cipher = ContentCipher::from_secret(&app_secret, aes_mode)?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| MeituanError::InvalidRequest(format!("HTTP client: {e}")))?;
        let mut base_url = base_url.unwrap_or(DEFAULT_BASE_URL).trim().to_string();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Ok(MeituanClient {
            http,
            base_url,
            app_id: app_id.into(),
            app_secret,
            access_token: None,
            cipher,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Reads at most `bytes` of any answer (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]); a longer one fails the call.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes.max(1);
        self
    }

    /// Adds the per-store `access_token` system parameter (闪购 ISV apps, §11).
    pub fn with_access_token(mut self, token: Option<String>) -> Self {
        self.access_token = token.filter(|t| !t.is_empty());
        self
    }

    /// The app id this client signs for.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The `msg_content` cipher keyed with this app's secret.
    pub fn cipher(&self) -> &ContentCipher {
        &self.cipher
    }

    /// The full URL of an API path, with exactly one `/` between `api/v1`
    /// and the path (S1 writes `/wm/IM/msgRead` with a leading slash).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path.trim_start_matches('/'))
    }

    /// Calls an API path now (Go `AccessAPI`), see [`MeituanClient::access_api_at`].
    pub async fn access_api(&self, path: &str, params: Params) -> Result<ApiSuccess, MeituanError> {
        self.access_api_at(path, params, unix_now()).await
    }

    /// Calls an API path with an explicit `timestamp` (Unix seconds): POST,
    /// system parameters (`app_id`, `timestamp`, `access_token`, `sig`) in the
    /// query string and application parameters in the form body, as the
    /// official SDK does (S4). Empty parameters are dropped before signing
    /// and sending. Either envelope is accepted.
    pub async fn access_api_at(
        &self,
        path: &str,
        mut params: Params,
        timestamp: i64,
    ) -> Result<ApiSuccess, MeituanError> {
        let url = self.url(path);
        sign::drop_empty(&mut params);
        let mut system = Params::new();
        system.insert("app_id".into(), self.app_id.clone());
        system.insert("timestamp".into(), timestamp.to_string());
        if let Some(token) = &self.access_token {
            system.insert("access_token".into(), token.clone());
        }
        for name in system.keys() {
            if params.contains_key(name) {
                return Err(MeituanError::InvalidRequest(format!(
                    "{name} is a system parameter"
                )));
            }
        }
        let mut all = params.clone();
        all.extend(system.clone());
        let sig = sign::sign(&url, &all, &self.app_secret);

        // Built before the request: the serializer must not live across an await.
        let (query, body) = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &system {
                query.append_pair(k, v);
            }
            query.append_pair(sign::SIG_PARAM, &sig);
            let mut body = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                body.append_pair(k, v);
            }
            (query.finish(), body.finish())
        };
        let response = self
            .http
            .post(format!("{url}?{query}"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = read_capped(response, self.max_response_bytes).await?;
        match envelope::parse(&bytes) {
            Ok(ok) if status == 200 => Ok(ok),
            Err(e @ (MeituanError::Api { .. } | MeituanError::AllFailed { .. })) => Err(e),
            _ if status != 200 => Err(MeituanError::HttpStatus { status }),
            other => other,
        }
    }

    /// 商家发送IM消息 (Go `MsgSend`): sends an already serialised
    /// `push_content`, signed as that exact string.
    pub async fn msg_send(&self, push_content: &str) -> Result<PushContentResp, MeituanError> {
        let mut params = Params::new();
        params.insert("push_content".into(), push_content.to_string());
        let ok = self.access_api(PATH_MSG_SEND, params).await?;
        if ok.is_partial() {
            tracing::warn!(errors = ?ok.failed, msg = ?ok.partial_msg, "meituan msgSend partly failed");
        }
        Ok(PushContentResp {
            result_code: ok.result_code.unwrap_or(1),
            error_list: ok.failed,
        })
    }

    /// Serialises a [`PushContentReq`] to compact JSON once and sends it.
    /// `msg_content` must already be encrypted (see [`MeituanClient::cipher`]).
    pub async fn send_push_content(
        &self,
        req: &PushContentReq,
    ) -> Result<PushContentResp, MeituanError> {
        let text = serde_json::to_string(req)
            .map_err(|e| MeituanError::InvalidRequest(format!("push_content: {e}")))?;
        self.msg_send(&text).await
    }

    /// 获取长连接的token (Go `GetConnectionToken`). Logs a warning when
    /// `userCount` says messages to us failed in the last 30 minutes.
    pub async fn get_connection_token(&self) -> Result<ConnectionToken, MeituanError> {
        let ok = self
            .access_api(PATH_GET_CONNECTION_TOKEN, Params::new())
            .await?;
        // Neither the data (it holds the token) nor serde's message (it can
        // quote a value) goes into the error.
        let token: ConnectionToken = serde_json::from_value(ok.data.clone()).map_err(|_| {
            MeituanError::BadResponse("getConnectionToken data lacks its documented fields".into())
        })?;
        if token.user_count > 0 {
            tracing::warn!(
                app_id = %self.app_id,
                user_count = token.user_count,
                "meituan reports IM messages to {} user(s) failed in the last 30 minutes",
                token.user_count
            );
        }
        Ok(token)
    }

    /// 设置消息已读 (Go `MsgRead`): marks a customer's message read by the store.
    pub async fn msg_read(
        &self,
        app_poi_code: &str,
        msg_id: i64,
        open_user_id: i64,
    ) -> Result<(), MeituanError> {
        let mut params = Params::new();
        params.insert("app_poi_code".into(), app_poi_code.to_string());
        params.insert("msg_id".into(), msg_id.to_string());
        params.insert("open_user_id".into(), open_user_id.to_string());
        self.access_api(PATH_MSG_READ, params).await.map(|_| ())
    }

    /// 查询会话最新已读时间戳: the customer's last read time in milliseconds.
    /// Its parameters on `waimaiopen` are undocumented (reference §10, [L]);
    /// we send `app_poi_code` and `open_user_id` and read `last_read_time`
    /// as the newer gateway names it. `None` when Meituan names no time.
    pub async fn user_read_time(
        &self,
        app_poi_code: &str,
        open_user_id: i64,
    ) -> Result<Option<i64>, MeituanError> {
        let mut params = Params::new();
        params.insert("app_poi_code".into(), app_poi_code.to_string());
        params.insert("open_user_id".into(), open_user_id.to_string());
        let ok = self.access_api(PATH_USER_READ_TIME, params).await?;
        let time = ok
            .data
            .get("last_read_time")
            .map(crate::lenient::value_to_i64)
            .transpose()
            .map_err(|_| MeituanError::BadResponse("last_read_time is not an integer".into()))?
            .flatten();
        Ok(time)
    }
}

/// Reads an answer's body, failing once it exceeds `cap` bytes (checked
/// against `Content-Length` first, then while streaming).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, MeituanError> {
    let too_large = || MeituanError::BadResponse(format!("the answer is larger than {cap} bytes"));
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joins_with_exactly_one_slash() {
        let c = MeituanClient::new(
            "1",
            "0123456789abcdef0",
            Some("http://x/api/v1"),
            AesMode::Cbc,
        )
        .unwrap();
        assert_eq!(c.url("/wm/IM/msgRead"), "http://x/api/v1/wm/IM/msgRead");
        assert_eq!(c.url("wm/IM/msgRead"), "http://x/api/v1/wm/IM/msgRead");
        let d = MeituanClient::new("1", "0123456789abcdef0", None, AesMode::Cbc).unwrap();
        assert_eq!(
            d.url(PATH_MSG_SEND),
            "https://waimaiopen.meituan.com/api/v1/ecommerce/IM/msgSend"
        );
    }
}
