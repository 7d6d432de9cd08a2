//! Tencent IM error codes and how imhub treats them: retry, back off, ask the
//! merchant for new credentials, or give up with the platform's own code.

use std::time::Duration;

use imhub_core::DeliveryError;

/// How the delivery engine should react to a Tencent error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: retry with backoff.
    Retryable,
    /// Too frequent: retry after the delay.
    RateLimited(Duration),
    /// Credentials or app configuration (UserSig, key, admin rights).
    Auth,
    /// Refused for good.
    Permanent,
}

/// Default pause after a "too frequent" code that names no delay.
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(1);

/// Classifies a Tencent `ErrorCode` (reference §1.5, §3, §5 and the §8 checklist).
pub fn classify(code: i64) -> ErrorClass {
    match code {
        // Network/internal errors the docs say to retry; 80003 is the
        // before-send callback timing out under a "do not deliver" policy.
        20004 | 20005 | 60008 | 60013 | 60014 | 70169 | 70202 | 70500 | 80003 | 90992 | 90994
        | 90995 | 91000 | 10002 => ErrorClass::Retryable,
        // 70050: too many failed UserSig checks, "retry after 1 minute".
        70050 => ErrorClass::RateLimited(Duration::from_secs(60)),
        60007 | 60011 | 60018 | 60019 | 10023 | 10006 => {
            ErrorClass::RateLimited(RATE_LIMIT_BACKOFF)
        }
        // UserSig problems the client fixes by signing again.
        20002 | 60004 | 60005 | 60006 | 60016 | 60021 | 70001 | 70002 | 70003 | 70005 | 70013
        | 70014 => ErrorClass::Auth,
        // The channel is configured wrong (key, data centre, SDKAppID, an
        // identifier that is no admin): no account can be authorized again to
        // fix it, so the send fails with Tencent's code for the operator.
        70009 | 70016 | 70020 | 60010 | 70403 | 90009 => ErrorClass::Permanent,
        _ => ErrorClass::Permanent,
    }
}

/// A failed REST call, as the typed client reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TencentError {
    /// No answer: connect error, timeout, TLS.
    #[error("transport: {0}")]
    Transport(String),
    /// A non-200 HTTP status (the API itself always answers 200).
    #[error("http status {0}")]
    Status(u16),
    /// A 200 whose body is not the documented JSON.
    #[error("undecodable response: {0}")]
    Decode(String),
    /// The envelope's `ErrorCode`/`ErrorInfo`.
    #[error("tencent error {code}: {info}")]
    Api { code: i64, info: String },
    /// The request could not be built (bad base URL, oversize batch).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl TencentError {
    /// The Tencent code, when the server sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            TencentError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The class the delivery engine branches on.
    pub fn class(&self) -> ErrorClass {
        match self {
            TencentError::Transport(_) | TencentError::Decode(_) => ErrorClass::Retryable,
            TencentError::Status(429) => ErrorClass::RateLimited(RATE_LIMIT_BACKOFF),
            TencentError::Status(s) if *s >= 500 || *s == 408 => ErrorClass::Retryable,
            TencentError::Status(_) | TencentError::Invalid(_) => ErrorClass::Permanent,
            TencentError::Api { code, .. } => classify(*code),
        }
    }
}

impl From<TencentError> for DeliveryError {
    fn from(e: TencentError) -> Self {
        let reason = e.to_string();
        match (e.class(), e) {
            (ErrorClass::Retryable, _) => DeliveryError::Retryable { reason },
            (ErrorClass::RateLimited(retry_after), _) => DeliveryError::RateLimited {
                retry_after,
                reason,
            },
            (ErrorClass::Auth, _) => DeliveryError::AuthExpired { reason },
            (ErrorClass::Permanent, TencentError::Api { code, info }) => DeliveryError::Permanent {
                code: code.to_string(),
                text: info,
            },
            (ErrorClass::Permanent, TencentError::Status(s)) => DeliveryError::Permanent {
                code: format!("http_{s}"),
                text: reason,
            },
            (ErrorClass::Permanent, _) => DeliveryError::Permanent {
                code: "invalid_request".into(),
                text: reason,
            },
        }
    }
}

/// Why a channel configuration was refused when connecting the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("sdkappid must be a positive 32-bit integer")]
    SdkAppId,
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("identifier must be at most 32 bytes")]
    IdentifierTooLong,
    #[error("base_url is not an http(s) URL: {0}")]
    BaseUrl(String),
    #[error("unknown region {0}")]
    Region(String),
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_codes_retry_frequency_codes_back_off_and_sig_codes_need_credentials() {
        for code in [20004, 20005, 90992, 91000, 70500, 60008] {
            assert_eq!(classify(code), ErrorClass::Retryable, "{code}");
        }
        for code in [60007, 60011, 60018, 60019, 10023, 10006] {
            assert!(
                matches!(classify(code), ErrorClass::RateLimited(_)),
                "{code}"
            );
        }
        assert_eq!(
            classify(70050),
            ErrorClass::RateLimited(Duration::from_secs(60))
        );
        for code in [70001, 70013, 70014] {
            assert_eq!(classify(code), ErrorClass::Auth, "{code}");
        }
        for code in [70009, 70020, 60010, 90009] {
            assert_eq!(classify(code), ErrorClass::Permanent, "config error {code}");
        }
        for code in [93000, 90012, 20003, 80001, 20022] {
            assert_eq!(classify(code), ErrorClass::Permanent, "{code}");
        }
    }

    #[test]
    fn permanent_api_errors_keep_tencents_code_and_text() {
        let e = TencentError::Api {
            code: 93000,
            info: "JSON data packet too long".into(),
        };
        assert_eq!(
            DeliveryError::from(e),
            DeliveryError::Permanent {
                code: "93000".into(),
                text: "JSON data packet too long".into()
            }
        );
        assert!(matches!(
            DeliveryError::from(TencentError::Transport("reset".into())),
            DeliveryError::Retryable { .. }
        ));
    }
}
