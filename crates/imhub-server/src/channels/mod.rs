//! Turning a stored channel into its platform adapter, and what the rest of
//! the server needs to know about each platform's configuration.

pub mod custom;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use imhub_core::{Channel, ChannelId, Platform};
use imhub_store::StoredChannel;

/// Why a channel's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {platform} channel configuration: {reason}")]
    Invalid {
        platform: &'static str,
        reason: String,
    },
    #[error("the {0} platform is not available in this build yet")]
    PlatformUnavailable(&'static str),
}

/// Builds adapters from stored configuration and keeps one per channel.
pub struct ChannelRegistry {
    http: reqwest::Client,
    adapters: RwLock<HashMap<ChannelId, Arc<dyn Channel>>>,
}

impl ChannelRegistry {
    /// A registry whose adapters share one HTTP client.
    pub fn new(http: reqwest::Client) -> Self {
        ChannelRegistry {
            http,
            adapters: RwLock::new(HashMap::new()),
        }
    }

    /// Builds an adapter, checking the configuration; used when a channel is
    /// connected, so a bad configuration is refused before it is stored.
    pub fn build(
        &self,
        platform: Platform,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Channel>, ConfigError> {
        match platform {
            Platform::Custom => Ok(Arc::new(custom::CustomChannel::new(
                config,
                self.http.clone(),
            )?)),
            Platform::Meituan => {
                let config: imhub_meituan::MeituanConfig =
                    serde_json::from_value(config.clone()).map_err(|e| invalid(platform, e))?;
                Ok(Arc::new(
                    imhub_meituan::MeituanChannel::new(config).map_err(|e| invalid(platform, e))?,
                ))
            }
            other => Err(ConfigError::PlatformUnavailable(other.as_str())),
        }
    }

    /// The adapter of a stored channel, built once and then reused.
    pub fn adapter(&self, channel: &StoredChannel) -> Result<Arc<dyn Channel>, ConfigError> {
        if let Some(adapter) = self
            .adapters
            .read()
            .ok()
            .and_then(|map| map.get(&channel.id).cloned())
        {
            return Ok(adapter);
        }
        let adapter = self.build(channel.platform, &channel.config)?;
        if let Ok(mut map) = self.adapters.write() {
            map.insert(channel.id, Arc::clone(&adapter));
        }
        Ok(adapter)
    }
}

fn invalid(platform: Platform, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        platform: platform.as_str(),
        reason: e.to_string(),
    }
}

/// Configuration keys that are secrets: never returned by the API or logged.
pub fn secret_fields(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Custom => custom::SECRET_FIELDS,
        Platform::Douyin => &["client_secret"],
        Platform::Tencent => &["secret_key", "key", "callback_token"],
        Platform::Meituan => imhub_meituan::SECRET_FIELDS,
    }
}

/// The configuration with its secrets removed, for API responses.
pub fn public_settings(platform: Platform, config: &serde_json::Value) -> serde_json::Value {
    let mut settings = config.clone();
    if let Some(map) = settings.as_object_mut() {
        for field in secret_fields(platform) {
            map.remove(*field);
        }
    }
    settings
}

/// Whether pushes naming an account imhub does not know create it. Platform
/// pushes do (a store or sender the merchant just connected); the custom
/// channel refuses, so a typo in a merchant's integration shows up at once.
pub fn creates_unknown_accounts(platform: Platform) -> bool {
    platform != Platform::Custom
}
