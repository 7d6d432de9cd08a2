//! Errors of the Douyin client and adapter, with the platform's own code,
//! description and logid preserved, and a classification the channel uses to
//! decide between retrying, refreshing the token and giving up.

use std::fmt;

/// What a Douyin call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DouyinError {
    /// The platform answered with a non-zero code in one of its envelopes.
    #[error("{0}")]
    Api(ApiError),
    /// The request never got a complete answer (connect, timeout, reset).
    #[error("transport failure: {message}")]
    Transport {
        /// What went wrong, without the request's tokens.
        message: String,
        /// Whether the request timed out (safe to retry).
        timeout: bool,
    },
    /// The platform answered something that is not one of its envelopes.
    #[error("cannot decode the answer (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
    /// The account's authorization is gone for good (refresh_token expired,
    /// renewals exhausted, revoked): the merchant must scan the QR code again.
    #[error("account {open_id} must authorize again: {reason}")]
    ReauthorizationRequired { open_id: String, reason: String },
    /// No tokens were ever stored for this account.
    #[error("no tokens stored for account {open_id}")]
    NotAuthorized { open_id: String },
    /// The caller's token store failed.
    #[error("token store: {0}")]
    TokenStore(String),
    /// The request is invalid before it is sent (bad page size, empty id).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl From<ApiError> for DouyinError {
    fn from(e: ApiError) -> Self {
        DouyinError::Api(e)
    }
}

impl From<reqwest::Error> for DouyinError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display includes the URL, which may carry open_id but never
        // a token: tokens travel in headers or bodies only.
        DouyinError::Transport {
            message: e.to_string(),
            timeout: e.is_timeout(),
        }
    }
}

/// A non-zero code from any of the three envelopes (§3 of the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `err_no`, `extra.error_code` or `data.error_code`, whichever was non-zero.
    pub code: i64,
    /// `extra.sub_error_code` when present and non-zero.
    pub sub_code: Option<i64>,
    /// `description` / `sub_description` / `err_msg`, as the platform wrote it.
    pub description: String,
    /// `extra.logid` or `log_id`, for support tickets.
    pub logid: Option<String>,
    /// The HTTP status of the answer.
    pub http_status: u16,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "douyin error {}", self.code)?;
        if let Some(sub) = self.sub_code {
            write!(f, "/{sub}")?;
        }
        write!(f, ": {}", self.description)?;
        if let Some(logid) = &self.logid {
            write!(f, " (logid {logid})")?;
        }
        Ok(())
    }
}

/// How a platform code should be handled (reference §10, "Recommended classification").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The access_token is invalid or expired: refresh it and retry once.
    TokenExpired,
    /// The refresh_token is expired or renewals are exhausted: re-authorize.
    ReauthorizationRequired,
    /// Too frequent or quota exhausted: back off.
    RateLimited,
    /// Platform busy or network trouble on its side: retry with backoff.
    Retryable,
    /// The user or app lacks a scope or ability: an operator must act.
    Permission,
    /// Anything else: fail with the platform's code and text.
    Permanent,
}

/// access_token invalid/expired or not matching open_id: refresh then retry once.
pub const TOKEN_EXPIRED_CODES: &[i64] = &[
    10008, 2_190_002, 2_190_008, 28_001_008, 28_001_015, 2_190_015,
];
/// Too frequent / quota used up (28003070 seen on the send flow), and
/// 28001052, the risk control whose documented advice is "请稍后再试" and
/// "控制访问频率" (D-status): a back-off, not a refusal.
pub const RATE_LIMIT_CODES: &[i64] = &[
    28_003_017,
    28_003_018,
    28_003_070,
    2_190_001,
    RISK_CONTROL_CODE,
];
/// 28001052 获取平台能力存在异常风险,请稍后再试 (D-status).
pub const RISK_CONTROL_CODE: i64 = 28_001_052;
/// System busy / network error on the platform's side.
pub const RETRYABLE_CODES: &[i64] = &[10001, 2_100_004, 28_001_005, 28_001_006];
/// Missing user authorization, scope or ability.
pub const PERMISSION_CODES: &[i64] = &[
    10004, 2_100_007, 2_190_003, 2_190_004, 28_001_012, 28_001_014, 28_001_018, 28_001_042,
];
/// `refresh_token` expired (10010). 10020 means "renewals exceeded" on
/// `/oauth/renew_refresh_token/` but "called too often" on the client_token
/// endpoint, so it is classified by the caller that knows which one it hit.
pub const REFRESH_EXPIRED_CODE: i64 = 10010;
/// Renewal count exceeded on `/oauth/renew_refresh_token/`, or client_token over-calling.
pub const RENEWAL_EXCEEDED_CODE: i64 = 10020;

impl ApiError {
    /// Classifies the code for the delivery engine and the token logic.
    pub fn class(&self) -> ErrorClass {
        let codes = [Some(self.code), self.sub_code];
        let has = |set: &[i64]| codes.iter().flatten().any(|c| set.contains(c));
        if has(&[REFRESH_EXPIRED_CODE]) {
            ErrorClass::ReauthorizationRequired
        } else if has(TOKEN_EXPIRED_CODES) {
            ErrorClass::TokenExpired
        } else if has(RATE_LIMIT_CODES) || has(&[RENEWAL_EXCEEDED_CODE]) {
            ErrorClass::RateLimited
        } else if has(RETRYABLE_CODES) || self.http_status >= 500 {
            ErrorClass::Retryable
        } else if has(PERMISSION_CODES) {
            ErrorClass::Permission
        } else {
            ErrorClass::Permanent
        }
    }
}

impl DouyinError {
    /// The classification of this error, when it carries a platform code.
    pub fn class(&self) -> ErrorClass {
        match self {
            DouyinError::Api(e) => e.class(),
            DouyinError::Transport { .. } => ErrorClass::Retryable,
            DouyinError::Decode { status, .. } if *status >= 500 => ErrorClass::Retryable,
            DouyinError::Decode { .. } => ErrorClass::Permanent,
            DouyinError::ReauthorizationRequired { .. } | DouyinError::NotAuthorized { .. } => {
                ErrorClass::ReauthorizationRequired
            }
            DouyinError::TokenStore(_) => ErrorClass::Retryable,
            DouyinError::InvalidRequest(_) => ErrorClass::Permanent,
        }
    }

    /// The platform code, if the platform answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            DouyinError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Why a [`crate::DouyinConfig`] cannot make a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must not be empty")]
    Missing(&'static str),
    #[error("base_url is not a valid http(s) URL: {0}")]
    BadBaseUrl(String),
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> ApiError {
        ApiError {
            code,
            sub_code: None,
            description: String::new(),
            logid: None,
            http_status: 200,
        }
    }

    #[test]
    fn platform_codes_are_classified_as_the_reference_recommends() {
        assert_eq!(api(28_001_008).class(), ErrorClass::TokenExpired);
        assert_eq!(api(2_190_008).class(), ErrorClass::TokenExpired);
        assert_eq!(api(10010).class(), ErrorClass::ReauthorizationRequired);
        assert_eq!(api(28_003_018).class(), ErrorClass::RateLimited);
        assert_eq!(api(28_003_070).class(), ErrorClass::RateLimited);
        assert_eq!(api(28_001_052).class(), ErrorClass::RateLimited);
        // Its neighbours keep their own meaning.
        assert_eq!(api(28_001_047).class(), ErrorClass::Permanent);
        assert_eq!(api(28_001_056).class(), ErrorClass::Permanent);
        assert_eq!(api(28_001_005).class(), ErrorClass::Retryable);
        assert_eq!(api(28_001_012).class(), ErrorClass::Permission);
        assert_eq!(api(28_001_007).class(), ErrorClass::Permanent);
    }

    #[test]
    fn api_error_display_names_code_description_and_logid() {
        let e = ApiError {
            code: 28_001_007,
            sub_code: None,
            description: "参数不合法".into(),
            logid: Some("2022".into()),
            http_status: 200,
        };
        assert_eq!(
            e.to_string(),
            "douyin error 28001007: 参数不合法 (logid 2022)"
        );
    }
}
