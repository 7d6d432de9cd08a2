//! Turning a stored channel into its platform adapter, and what the rest of
//! the server needs to know about each platform's configuration.

pub mod custom;
pub mod douyin_tokens;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use imhub_core::{Channel, ChannelId, Platform, WorkspaceId};
use imhub_store::{Store, StoredChannel};

/// Why a channel's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {platform} channel configuration: {reason}")]
    Invalid {
        platform: &'static str,
        reason: String,
    },
}

/// Builds adapters from stored configuration and keeps one per channel.
pub struct ChannelRegistry {
    http: reqwest::Client,
    store: Arc<dyn Store>,
    adapters: RwLock<HashMap<ChannelId, Arc<dyn Channel>>>,
    /// Stored channels by id. A channel's configuration does not change
    /// once connected, so every push and send after the first skips the
    /// database.
    channels: RwLock<HashMap<ChannelId, StoredChannel>>,
}

impl ChannelRegistry {
    /// A registry whose adapters share one HTTP client.
    pub fn new(http: reqwest::Client, store: Arc<dyn Store>) -> Self {
        ChannelRegistry {
            http,
            store,
            adapters: RwLock::new(HashMap::new()),
            channels: RwLock::new(HashMap::new()),
        }
    }

    /// A stored channel by id, from the cache or the store; `None` when no
    /// channel has this id.
    pub async fn find(
        &self,
        id: ChannelId,
    ) -> Result<Option<StoredChannel>, imhub_store::StoreError> {
        if let Some(channel) = self.channels.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(Some(channel));
        }
        let found = self.store.find_channel(id).await?;
        if let (Some(channel), Ok(mut map)) = (&found, self.channels.write()) {
            map.insert(id, channel.clone());
        }
        Ok(found)
    }

    /// Checks a configuration by building an adapter from it; used when a
    /// channel is connected, so a bad configuration is refused before it is
    /// stored.
    pub fn check(&self, platform: Platform, config: &serde_json::Value) -> Result<(), ConfigError> {
        self.build(platform, config, None).map(|_| ())
    }

    /// Builds an adapter. `stored` names the channel whose state (tokens)
    /// the adapter keeps; without it the adapter keeps them in memory.
    fn build(
        &self,
        platform: Platform,
        config: &serde_json::Value,
        stored: Option<(WorkspaceId, ChannelId)>,
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
            Platform::Tencent => {
                let config: imhub_tencent::TencentConfig =
                    serde_json::from_value(config.clone()).map_err(|e| invalid(platform, e))?;
                // Without the callback token Tencent's callbacks carry no
                // signature, and anyone who knows the (public) SDKAppID could
                // forge customer messages.
                if config.callback_token.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        platform,
                        "callback_token is required: enable callback authentication \
                         (回调鉴权) in the Tencent IM console and enter its token",
                    ));
                }
                Ok(Arc::new(
                    imhub_tencent::TencentChannel::new(config).map_err(|e| invalid(platform, e))?,
                ))
            }
            Platform::Douyin => {
                let config: imhub_douyin::DouyinConfig =
                    serde_json::from_value(config.clone()).map_err(|e| invalid(platform, e))?;
                let tokens: Arc<dyn imhub_douyin::TokenStore> = match stored {
                    Some((workspace, channel)) => Arc::new(douyin_tokens::StoredTokens {
                        store: Arc::clone(&self.store),
                        workspace,
                        channel,
                    }),
                    None => Arc::new(imhub_douyin::MemoryTokenStore::default()),
                };
                Ok(Arc::new(
                    imhub_douyin::DouyinChannel::new(config, tokens)
                        .map_err(|e| invalid(platform, e))?,
                ))
            }
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
        let adapter = self.build(
            channel.platform,
            &channel.config,
            Some((channel.workspace_id, channel.id)),
        )?;
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
        Platform::Douyin => imhub_douyin::SECRET_FIELDS,
        Platform::Tencent => imhub_tencent::SECRET_FIELDS,
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

/// Each platform's documented send limit per app, per second. Douyin and
/// Meituan publish none; their adapters' conservative defaults are used.
pub fn default_app_rate_limits() -> std::collections::BTreeMap<String, u32> {
    [
        ("tencent", imhub_tencent::SENDMSG_RATE_PER_SEC),
        ("douyin", imhub_douyin::config::DEFAULT_SEND_PER_SECOND),
        ("meituan", imhub_meituan::SEND_PER_SECOND),
    ]
    .into_iter()
    .map(|(platform, limit)| (platform.to_string(), limit))
    .collect()
}
