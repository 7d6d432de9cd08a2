//! The channel configuration a merchant posts when connecting a Meituan app.

use serde::{Deserialize, Serialize};

use crate::{crypto::AesMode, push::PushDecode};

/// Config keys that hold secrets: the API strips them from responses and logs.
pub const SECRET_FIELDS: &[&str] = &["app_secret", "access_token"];

/// One Meituan open-platform app (`waimaiopen`), as the merchant configures it.
#[derive(Clone, Serialize, Deserialize)]
pub struct MeituanConfig {
    /// The app id issued by Meituan (numeric text).
    pub app_id: String,
    /// The app secret: signs every call and push, and its first 16
    /// characters key the `msg_content` AES cipher.
    pub app_secret: String,
    /// The IM push URL exactly as registered in the Meituan console (scheme,
    /// host, path). Pushes are signed over this URL, which behind a reverse
    /// proxy differs from what imhub's server sees, so it is configured.
    /// When absent, each push is checked against the URL it was received at
    /// (see [`crate::push::request_url`]): right whenever the console holds
    /// imhub's own webhook URL, which is only known once the channel exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
    /// Overrides the gateway (`https://waimaiopen.meituan.com/api/v1/`), for
    /// example to point at the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// A b2c (retail) app: its stores cannot send voice (msg_type 3 / 13).
    #[serde(default)]
    pub b2c: bool,
    /// The per-store `access_token` of 闪购 ISV-style apps, sent as a signed
    /// system parameter when set (reference §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The AES mode of `msg_content`; sources differ (reference §7), CBC with
    /// IV = key by default. Input is decrypted with either mode.
    #[serde(default)]
    pub aes_mode: AesMode,
    /// The second URL-decoding of push fields (reference §8): `auto` (the
    /// default: decode again every value containing `%`), `always`, `never`.
    #[serde(default)]
    pub push_decode: PushDecode,
}

impl std::fmt::Debug for MeituanConfig {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeituanConfig")
            .field("app_id", &self.app_id)
            .field("push_url", &self.push_url)
            .field("base_url", &self.base_url)
            .field("b2c", &self.b2c)
            .field("aes_mode", &self.aes_mode)
            .field("push_decode", &self.push_decode)
            .finish_non_exhaustive()
    }
}

/// Why a configuration cannot make a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `app_id` is not numeric.
    #[error("app_id must be Meituan's numeric app id")]
    AppId,
    /// `app_secret` is too short to key AES-128.
    #[error("app_secret must be at least 16 ASCII characters (its first 16 key AES-128)")]
    AppSecret,
    /// `push_url` is not an absolute http(s) URL.
    #[error("push_url must be an absolute http(s) URL: {0}")]
    PushUrl(String),
    /// `base_url` is not an absolute http(s) URL.
    #[error("base_url must be an absolute http(s) URL: {0}")]
    BaseUrl(String),
    /// The HTTP client could not be built (TLS backend).
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

impl MeituanConfig {
    /// Checks the fields without any I/O; returns the numeric app id.
    pub fn validate(&self) -> Result<i64, ConfigError> {
        let app_id = self
            .app_id
            .trim()
            .parse::<i64>()
            .map_err(|_| ConfigError::AppId)?;
        if self.app_secret.get(..16).is_none_or(|p| !p.is_ascii()) {
            return Err(ConfigError::AppSecret);
        }
        if let Some(push_url) = &self.push_url {
            check_url(push_url).map_err(ConfigError::PushUrl)?;
        }
        if let Some(base) = &self.base_url {
            check_url(base).map_err(ConfigError::BaseUrl)?;
        }
        Ok(app_id)
    }
}

fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(text.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MeituanConfig {
        serde_json::from_value(serde_json::json!({
            "app_id": "4321",
            "app_secret": "0123456789abcdef0123",
            "push_url": "https://hub.example.com/webhooks/meituan/7"
        }))
        .unwrap()
    }

    #[test]
    fn minimal_config_deserialises_with_defaults() {
        let c = config();
        assert_eq!(c.validate(), Ok(4321));
        assert!(!c.b2c);
        assert_eq!(c.aes_mode, AesMode::Cbc);
        assert_eq!(c.push_decode, PushDecode::Auto);
        let mut without_push_url = c.clone();
        without_push_url.push_url = None;
        assert_eq!(without_push_url.validate(), Ok(4321));
    }

    #[test]
    fn bad_ids_secrets_and_urls_are_refused() {
        let mut c = config();
        c.app_id = "abc".into();
        assert_eq!(c.validate(), Err(ConfigError::AppId));
        let mut c = config();
        c.app_secret = "short".into();
        assert_eq!(c.validate(), Err(ConfigError::AppSecret));
        let mut c = config();
        c.push_url = Some("/webhooks/meituan/7".into());
        assert!(matches!(c.validate(), Err(ConfigError::PushUrl(_))));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = config();
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        assert!(SECRET_FIELDS.contains(&"app_secret"));
    }
}
