//! Errors of the Meituan client and their classification into
//! [`DeliveryError`] for the delivery engine (reference §4).

use std::time::Duration;

use imhub_core::DeliveryError;
use serde::{Deserialize, Serialize};

use crate::{crypto::CryptoError, lenient};

/// 700 系统错误: a transient failure on Meituan's side; retry.
pub const CODE_SYSTEM_ERROR: i64 = 700;
/// 701 缺少参数: a required parameter is missing.
pub const CODE_MISSING_PARAM: i64 = 701;
/// 702 app_id不存在: the app id is unknown.
pub const CODE_UNKNOWN_APP: i64 = 702;
/// 703 签名验证错误: the signature does not match (wrong secret or URL).
pub const CODE_BAD_SIGNATURE: i64 = 703;
/// 704 没有权限操作这条数据: no permission on this record.
pub const CODE_NO_DATA_PERMISSION: i64 = 704;
/// 705 参数格式错误: a parameter has the wrong format.
pub const CODE_BAD_PARAM: i64 = 705;
/// 708 没有权限访问该接口: the app may not call this API.
pub const CODE_NO_API_PERMISSION: i64 = 708;
/// 711 接口调用过于频繁，触发流控: rate limited; back off and retry.
pub const CODE_RATE_LIMITED: i64 = 711;
/// 803 不存在此门店: the store (`app_poi_code`) does not exist.
pub const CODE_UNKNOWN_STORE: i64 = 803;
/// 806 不存在此订单: the order does not exist.
pub const CODE_UNKNOWN_ORDER: i64 = 806;
/// 808 操作失败(状态已变更): the record's state changed.
pub const CODE_STATE_CHANGED: i64 = 808;
/// 4001 用户token已过期: the per-store `access_token` expired.
pub const CODE_TOKEN_EXPIRED: i64 = 4001;

/// How long to wait after a 711 before trying again. Meituan documents no
/// number (reference §4, §14.8); one second is imhub's own choice.
pub const RATE_LIMITED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One `{code, msg}` item of an `error` object or an `error_list`
/// (Go `ErrorList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    /// Meituan's numeric error code (parsed leniently: number or text).
    #[serde(default, deserialize_with = "lenient::i64_or_zero")]
    pub code: i64,
    /// Meituan's error text.
    #[serde(default)]
    pub msg: String,
}

/// The Go client's name for [`ErrorItem`].
pub type ErrorList = ErrorItem;

/// Why a call to Meituan failed.
#[derive(Debug, thiserror::Error)]
pub enum MeituanError {
    /// The request never got an HTTP answer (connect error, timeout).
    #[error("transport: {0}")]
    Transport(String),
    /// An HTTP status other than 200 with a body that is not an envelope.
    /// The body itself is never kept: it is not ours to show a tenant.
    #[error("HTTP {status}")]
    HttpStatus {
        /// The HTTP status.
        status: u16,
    },
    /// The answer was not one of the two envelopes of reference §3.
    #[error("unexpected answer: {0}")]
    BadResponse(String),
    /// The gateway refused the request (`error` of the classic envelope, or
    /// `result_code` 4).
    #[error("meituan error {code}: {}", short_msg(msg))]
    Api {
        /// Meituan's error code (703 signature, 711 flow control, …).
        code: i64,
        /// Meituan's error text.
        msg: String,
    },
    /// A batch call failed for every item (`result_code` 3).
    #[error("meituan refused every item (codes {})", codes(errors))]
    AllFailed {
        /// The `error_list`.
        errors: Vec<ErrorItem>,
    },
    /// `msg_content` could not be encrypted or decrypted.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// We were asked to build a request Meituan cannot accept.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl MeituanError {
    /// The Meituan error code that decides what to do, when there is one
    /// (the first item of an `error_list`).
    pub fn code(&self) -> Option<i64> {
        match self {
            MeituanError::Api { code, .. } => Some(*code),
            MeituanError::AllFailed { errors } => errors.first().map(|e| e.code),
            _ => None,
        }
    }

    /// Classifies for the delivery engine: 700 and transport failures retry,
    /// 711 backs off, 4001 needs a new token, everything else is permanent
    /// with Meituan's own code and text.
    pub fn classify(&self) -> DeliveryError {
        match self {
            MeituanError::Transport(reason) => DeliveryError::Retryable {
                reason: reason.clone(),
            },
            MeituanError::HttpStatus { status } => match status {
                429 => DeliveryError::RateLimited {
                    retry_after: RATE_LIMITED_RETRY_AFTER,
                    reason: "HTTP 429".into(),
                },
                500..=599 => DeliveryError::Retryable {
                    reason: format!("HTTP {status}"),
                },
                _ => DeliveryError::Permanent {
                    code: format!("http_{status}"),
                    text: format!("meituan answered HTTP {status}"),
                },
            },
            MeituanError::BadResponse(reason) => DeliveryError::Retryable {
                reason: reason.clone(),
            },
            MeituanError::Api { code, msg } => classify_code(*code, msg),
            MeituanError::AllFailed { errors } => match errors.first() {
                Some(e) => classify_code(e.code, &e.msg),
                None => DeliveryError::Permanent {
                    code: "result_code_3".into(),
                    text: "all items failed without an error_list".into(),
                },
            },
            MeituanError::Crypto(e) => DeliveryError::Permanent {
                code: "crypto".into(),
                text: e.to_string(),
            },
            MeituanError::InvalidRequest(reason) => DeliveryError::Unsupported {
                reason: reason.clone(),
            },
        }
    }
}

/// Meituan's `msg` for a code, shortened to 200 characters without control
/// characters: its own short text is worth showing, but an odd answer must
/// not flood a log line, an API error or a stored error text.
pub fn short_msg(msg: &str) -> String {
    msg.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn codes(errors: &[ErrorItem]) -> String {
    let list: Vec<String> = errors.iter().take(10).map(|e| e.code.to_string()).collect();
    if list.is_empty() {
        "none given".into()
    } else {
        list.join(", ")
    }
}

/// Maps one Meituan error code (reference §4's suggested mapping).
pub fn classify_code(code: i64, msg: &str) -> DeliveryError {
    let msg = short_msg(msg);
    match code {
        CODE_SYSTEM_ERROR => DeliveryError::Retryable {
            reason: format!("{code}: {msg}"),
        },
        CODE_RATE_LIMITED => DeliveryError::RateLimited {
            retry_after: RATE_LIMITED_RETRY_AFTER,
            reason: format!("{code}: {msg}"),
        },
        CODE_TOKEN_EXPIRED => DeliveryError::AuthExpired {
            reason: format!("{code}: {msg}"),
        },
        _ => DeliveryError::Permanent {
            code: code.to_string(),
            text: msg,
        },
    }
}

impl From<reqwest::Error> for MeituanError {
    /// Our own words for the failure: reqwest's message names the URL, whose
    /// query carries `access_token` and `sig`, so none of it is kept.
    fn from(e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "the answer could not be read"
        } else if e.is_redirect() {
            "redirected"
        } else {
            "request failed"
        };
        MeituanError::Transport(kind.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_error_is_permanent_with_meituan_code() {
        let e = MeituanError::Api {
            code: 703,
            msg: "签名验证错误".into(),
        };
        assert_eq!(
            e.classify(),
            DeliveryError::Permanent {
                code: "703".into(),
                text: "签名验证错误".into()
            }
        );
    }

    #[test]
    fn flow_control_is_rate_limited_and_system_error_retries() {
        assert!(matches!(
            classify_code(711, "接口调用过于频繁"),
            DeliveryError::RateLimited { .. }
        ));
        assert!(matches!(
            classify_code(700, "系统错误"),
            DeliveryError::Retryable { .. }
        ));
        assert!(matches!(
            classify_code(4001, "token过期"),
            DeliveryError::AuthExpired { .. }
        ));
        let all = MeituanError::AllFailed {
            errors: vec![ErrorItem {
                code: 711,
                msg: "流控".into(),
            }],
        };
        assert!(matches!(all.classify(), DeliveryError::RateLimited { .. }));
        assert_eq!(all.code(), Some(711));
    }

    #[test]
    fn transport_failures_and_5xx_retry() {
        assert!(matches!(
            MeituanError::Transport("timeout".into()).classify(),
            DeliveryError::Retryable { .. }
        ));
        assert!(matches!(
            MeituanError::HttpStatus { status: 502 }.classify(),
            DeliveryError::Retryable { .. }
        ));
    }
}
