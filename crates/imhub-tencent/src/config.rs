//! The JSON a merchant posts as a Tencent channel's `config`.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    callback::DEFAULT_CALLBACK_WINDOW_SECS, client::Region, errors::ConfigError,
    usersig::MAX_IDENTIFIER_BYTES,
};

/// Config keys that hold secrets (stripped from API responses and logs).
pub const SECRET_FIELDS: &[&str] = &["key", "secret_key", "callback_token"];

/// Default pre-check on the `MsgBody` size: the stricter 8 KB of the 2020
/// docs and the error-code page, so nothing we queue can hit 93000.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// The limit current docs give the server (12 KB).
pub const SERVER_MAX_MESSAGE_BYTES: usize = 12 * 1024;

/// One Tencent IM app connected to imhub. `Debug` hides the key and token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TencentConfig {
    /// The SDKAppID (a number; a decimal string is accepted too).
    #[serde(deserialize_with = "u64_or_string")]
    pub sdkappid: u64,
    /// The app's secret key (密钥), used as the raw bytes of the string.
    #[serde(alias = "secret_key")]
    pub key: String,
    /// An App admin UserID (App 管理员); every REST call is made as it.
    #[serde(alias = "admin_identifier")]
    pub identifier: String,
    /// The callback authentication Token; when set, `Sign` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_token: Option<String>,
    /// The data centre the app was created in (default China).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Overrides the region's URL (the sandbox: `http://127.0.0.1:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Largest `MsgBody` we queue, in bytes of compact JSON.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: usize,
    /// The merchant's own UserIDs: callbacks from them are outbound messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merchant_accounts: Vec<String>,
    /// The account group conversations belong to (default: the first
    /// merchant account, else the admin identifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_account: Option<String>,
    /// Anti-replay window for callbacks' `RequestTime`, in seconds; the
    /// operator's `max_callback_window_secs` caps it when the adapter is built.
    #[serde(default = "default_window")]
    pub callback_window_secs: u64,
    /// `MsgLifeTime` for our sends in seconds; absent = Tencent's 7 days.
    /// Above 604800 it is sent as 604800 (Tencent keeps longer values 7
    /// days, reference §3.1); negative and non-integer values are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_life_time: Option<u32>,
    /// Whether Tencent's `C2C.CallbackAfterSendMsg` fires for the messages
    /// imhub itself sends (`ForbidCallbackControl` otherwise). Off by default:
    /// imhub stores its own sends already, and an echo racing the `sendmsg`
    /// answer would be stored as a second copy of the message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub echo_own_sends: bool,
}

impl std::fmt::Debug for TencentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentConfig")
            .field("sdkappid", &self.sdkappid)
            .field("key", &"***")
            .field("identifier", &self.identifier)
            .field(
                "callback_token",
                &self.callback_token.as_ref().map(|_| "***"),
            )
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn default_window() -> u64 {
    DEFAULT_CALLBACK_WINDOW_SECS
}

fn u64_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(u64),
        S(String),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("sdkappid must be an integer")),
    }
}

impl TencentConfig {
    /// A config with defaults for everything optional.
    pub fn new(sdkappid: u64, key: &str, identifier: &str) -> Self {
        TencentConfig {
            sdkappid,
            key: key.into(),
            identifier: identifier.into(),
            callback_token: None,
            region: None,
            base_url: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            merchant_accounts: Vec::new(),
            default_account: None,
            callback_window_secs: DEFAULT_CALLBACK_WINDOW_SECS,
            msg_life_time: None,
            echo_own_sends: false,
        }
    }

    /// The REST base URL: `base_url`, else the region's, else China's.
    pub fn effective_base_url(&self) -> String {
        match &self.base_url {
            Some(u) if !u.trim().is_empty() => u.trim().to_string(),
            _ => self.region.unwrap_or(Region::China).base_url(),
        }
    }

    /// Checks what can be checked without I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sdkappid == 0 || self.sdkappid > u64::from(u32::MAX) {
            return Err(ConfigError::SdkAppId);
        }
        if self.key.trim().is_empty() {
            return Err(ConfigError::Empty("key"));
        }
        if self.identifier.is_empty() {
            return Err(ConfigError::Empty("identifier"));
        }
        if self.identifier.len() > MAX_IDENTIFIER_BYTES {
            return Err(ConfigError::IdentifierTooLong);
        }
        if self.max_message_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max_message_bytes must be positive".into(),
            ));
        }
        let url = self.effective_base_url();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::BaseUrl(url));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_accepts_string_sdkappid_and_aliases_and_defaults_to_8k() {
        let c: TencentConfig = serde_json::from_value(serde_json::json!({
            "sdkappid": "1400000000", "secret_key": "k", "admin_identifier": "admin",
            "region": "singapore"
        }))
        .unwrap();
        assert_eq!(c.sdkappid, 1_400_000_000);
        assert_eq!(c.max_message_bytes, 8192);
        assert_eq!(c.effective_base_url(), "https://adminapisgp.im.qcloud.com");
        assert!(c.validate().is_ok());
        let bad = TencentConfig::new(1 << 33, "k", "admin");
        assert_eq!(bad.validate(), Err(ConfigError::SdkAppId));
    }

    #[test]
    fn long_msg_life_time_is_accepted_and_negative_or_fractional_refused() {
        let base = serde_json::json!({"sdkappid": 1400000000, "key": "k", "identifier": "admin"});
        let with = |v: serde_json::Value| {
            let mut b = base.clone();
            b["msg_life_time"] = v;
            serde_json::from_value::<TencentConfig>(b)
        };
        let long = with(serde_json::json!(2_592_000)).unwrap();
        assert!(long.validate().is_ok(), "30 days is accepted");
        assert_eq!(
            crate::client::clamp_life_time(long.msg_life_time),
            Some(604_800),
            "and sent as the 7 days Tencent keeps"
        );
        assert_eq!(crate::client::clamp_life_time(Some(0)), Some(0));
        assert!(with(serde_json::json!(-1)).is_err());
        assert!(with(serde_json::json!(1.5)).is_err());
        assert!(with(serde_json::json!("604800")).is_err());
    }
}
