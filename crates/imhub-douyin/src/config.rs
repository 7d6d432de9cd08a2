//! The channel configuration a merchant posts when connecting a Douyin app,
//! and the platform's documented limits the delivery engine reads.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{client::DEFAULT_BASE_URL, errors::ConfigError};

/// Config keys that are secrets: the API strips them from responses and logs.
pub const SECRET_FIELDS: &[&str] = &["client_secret", "webhook_secret"];

/// The reply credential (`msg_id`) expires 24 hours after the customer's message.
pub const REPLY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Douyin publishes no per-app QPS for IM send; this is our conservative default
/// (overridable with `send_per_second`), surfaced so the delivery engine can pace.
pub const DEFAULT_SEND_PER_SECOND: u32 = 10;
/// client_token calls allowed per 5 minutes before error 10020.
pub const CLIENT_TOKEN_CALLS_PER_5_MIN: u32 = 500;
/// Active-DM reach (场景四): one send per authorized user per day of up to 3 messages.
pub const ACTIVE_DM_MESSAGES_PER_DAY: u32 = 3;
/// The platform drops a webhook connection after 5 seconds and retries 3 times.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// A Douyin 网站应用 connected as an imhub channel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DouyinConfig {
    /// The app's client_key.
    pub client_key: String,
    /// The app's client_secret (OAuth and, by default, webhook signatures).
    pub client_secret: String,
    /// A separate webhook signing secret (mini-app "webhook 验签秘钥");
    /// `None` signs with `client_secret`, as website apps do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// API host override, e.g. the sandbox's `http://127.0.0.1:PORT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Whether the app holds the `renew_refresh_token` permission.
    #[serde(default = "default_true")]
    pub renew_refresh_token: bool,
    /// Sends per second the delivery engine should not exceed for this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_per_second: Option<u32>,
    /// HTTP timeout per request, in seconds (default 10); capped by the
    /// operator's limit (see [`crate::ChannelLimits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// The mini-program appid guide cards carry when their content names
    /// none: the platform requires `applet_card.app_id` on every card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applet_app_id: Option<String>,
}

fn default_true() -> bool {
    true
}

impl fmt::Debug for DouyinConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinConfig")
            .field("client_key", &self.client_key)
            .field("client_secret", &"***")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("base_url", &self.base_url)
            .field("renew_refresh_token", &self.renew_refresh_token)
            .field("send_per_second", &self.send_per_second)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("applet_app_id", &self.applet_app_id)
            .finish()
    }
}

impl DouyinConfig {
    /// A configuration with defaults for everything but the credentials.
    pub fn new(client_key: impl Into<String>, client_secret: impl Into<String>) -> Self {
        DouyinConfig {
            client_key: client_key.into(),
            client_secret: client_secret.into(),
            webhook_secret: None,
            base_url: None,
            renew_refresh_token: true,
            send_per_second: None,
            request_timeout_secs: None,
            applet_app_id: None,
        }
    }

    /// Checks the fields without any I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_key.trim().is_empty() {
            return Err(ConfigError::Missing("client_key"));
        }
        if self.client_secret.is_empty() {
            return Err(ConfigError::Missing("client_secret"));
        }
        if self.webhook_secret.as_deref() == Some("") {
            return Err(ConfigError::Missing("webhook_secret"));
        }
        let base = self.base_url();
        match url::Url::parse(base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(ConfigError::BadBaseUrl(base.to_string())),
        }
        if self.request_timeout_secs == Some(0) {
            return Err(ConfigError::Invalid(
                "request_timeout_secs must be positive".into(),
            ));
        }
        if self.send_per_second == Some(0) {
            return Err(ConfigError::Invalid(
                "send_per_second must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The API host in use.
    pub fn base_url(&self) -> &str {
        self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL)
    }

    /// The secret webhook signatures are checked with.
    pub fn webhook_secret(&self) -> &str {
        self.webhook_secret
            .as_deref()
            .unwrap_or(&self.client_secret)
    }

    /// The send pace for this app.
    pub fn send_per_second(&self) -> u32 {
        self.send_per_second.unwrap_or(DEFAULT_SEND_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_the_merchant_json_with_defaults() {
        let c: DouyinConfig =
            serde_json::from_str(r#"{"client_key":"awx","client_secret":"sec"}"#).unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.base_url(), "https://open.douyin.com");
        assert_eq!(c.webhook_secret(), "sec");
        assert!(c.renew_refresh_token);
        assert!(!format!("{c:?}").contains("sec\""));
    }

    #[test]
    fn config_without_secret_or_with_bad_url_is_refused() {
        assert_eq!(
            DouyinConfig::new("k", "").validate(),
            Err(ConfigError::Missing("client_secret"))
        );
        let mut c = DouyinConfig::new("k", "s");
        c.base_url = Some("ftp://x".into());
        assert!(c.validate().is_err());
    }
}
