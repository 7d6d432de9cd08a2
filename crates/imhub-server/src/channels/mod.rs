//! Turning a stored channel into its platform adapter, and what the rest of
//! the server needs to know about each platform's configuration.

pub mod custom;
#[cfg(test)]
mod custom_props;
pub mod douyin_tokens;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use imhub_core::{Channel, ChannelId, Platform, WorkspaceId};
use imhub_store::{Store, StoredChannel};

use crate::{
    config::PlatformsConfig,
    outbound_http::{GuardError, GuardedClient},
};

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
    /// Timeout of one call to a receiver (`delivery.request_timeout_ms`),
    /// within the guard's cap.
    request_timeout: Duration,
    /// For URLs a tenant chose (the custom channel's `outbound_url`).
    guarded: GuardedClient,
    /// The operator's platform endpoints, injected into every adapter.
    platforms: PlatformsConfig,
    store: Arc<dyn Store>,
    /// Adapters by channel, with the `updated_at` of the configuration
    /// they were built from: a changed configuration builds a new one.
    adapters: RwLock<HashMap<ChannelId, CachedAdapter>>,
    /// Stored channels by id, with when they were read. An admin may change
    /// a channel's configuration or disconnect it (on any node), so an
    /// entry is read again after [`CHANNEL_CACHE_TTL`]; within it, every
    /// push and send skips the database.
    channels: RwLock<HashMap<ChannelId, (std::time::Instant, StoredChannel)>>,
}

/// An adapter with the `updated_at` of the configuration it was built from.
type CachedAdapter = (imhub_core::Timestamp, Arc<dyn Channel>);

/// How long a node trusts its cached copy of a channel: after a change on
/// another node, its pushes and sends use the new settings (or see the
/// channel disconnected) within this time. The node that made the change
/// forgets its copy at once.
pub const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(5);

impl ChannelRegistry {
    /// A registry whose custom channels call through the guarded client
    /// (each call within `request_timeout`), and whose platform API base
    /// URLs come from the operator's `platforms`.
    pub fn new(
        request_timeout: Duration,
        guarded: GuardedClient,
        platforms: PlatformsConfig,
        store: Arc<dyn Store>,
    ) -> Self {
        ChannelRegistry {
            request_timeout,
            guarded,
            platforms,
            store,
            adapters: RwLock::new(HashMap::new()),
            channels: RwLock::new(HashMap::new()),
        }
    }

    /// A stored channel by id, from the cache or the store; `None` when no
    /// channel has this id. A disconnected channel is returned with its
    /// `disconnected_at`: callers refuse it.
    pub async fn find(
        &self,
        id: ChannelId,
    ) -> Result<Option<StoredChannel>, imhub_store::StoreError> {
        if let Some(channel) = self.channels.read().ok().and_then(|m| {
            m.get(&id)
                .filter(|(read, _)| read.elapsed() < CHANNEL_CACHE_TTL)
                .map(|(_, c)| c.clone())
        }) {
            return Ok(Some(channel));
        }
        let found = self.store.find_channel(id).await?;
        if let Ok(mut map) = self.channels.write() {
            match &found {
                Some(channel) => {
                    map.insert(id, (std::time::Instant::now(), channel.clone()));
                }
                None => {
                    map.remove(&id);
                }
            }
        }
        Ok(found)
    }

    /// Drops this node's copies of a channel and its adapter, after an
    /// admin changed or disconnected it here.
    pub fn forget(&self, id: ChannelId) {
        if let Ok(mut map) = self.channels.write() {
            map.remove(&id);
        }
        if let Ok(mut map) = self.adapters.write() {
            map.remove(&id);
        }
    }

    /// Checks a configuration by building an adapter from it; used when a
    /// channel is connected, so a bad configuration is refused before it is
    /// stored.
    /// A tenant's configuration may not name a platform API base URL: that
    /// is the operator's (`[platforms.*] base_url`).
    pub fn check(&self, platform: Platform, config: &serde_json::Value) -> Result<(), ConfigError> {
        if platform != Platform::Custom && config.get("base_url").is_some() {
            return Err(invalid(
                platform,
                format!(
                    "base_url is not a channel setting: the operator sets it \
                     ([platforms.{0}] base_url in imhub.toml, IMHUB_PLATFORMS__{1}__BASE_URL)",
                    platform.as_str(),
                    platform.as_str().to_uppercase()
                ),
            ));
        }
        if platform == Platform::Douyin
            && let Some(secs) = config.get("request_timeout_secs").and_then(|v| v.as_u64())
            && Duration::from_secs(secs) > self.guarded.timeout(None)
        {
            return Err(invalid(
                platform,
                format!(
                    "request_timeout_secs may be at most {} (the operator's outbound.max_timeout_ms)",
                    self.guarded.timeout(None).as_secs()
                ),
            ));
        }
        self.build(platform, config, None).map(|_| ())
    }

    /// Checks the URLs a configuration names that imhub will call (the
    /// custom channel's `outbound_url`) against the guard, when the channel
    /// is saved.
    pub async fn check_targets(
        &self,
        platform: Platform,
        config: &serde_json::Value,
    ) -> Result<(), GuardError> {
        if platform != Platform::Custom {
            return Ok(());
        }
        match config.get("outbound_url").and_then(|v| v.as_str()) {
            Some(url) => self.guarded.check_url(url).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// [`operator_channel`] with this registry's operator settings.
    pub fn operator_channel(&self, channel: StoredChannel) -> StoredChannel {
        operator_channel(&self.platforms, channel)
    }

    /// A stored platform configuration with the operator's endpoint in
    /// place of whatever it held: a `base_url` stored before it became
    /// operator configuration is ignored.
    pub fn platform_config<T: serde::de::DeserializeOwned>(
        &self,
        platform: Platform,
        config: &serde_json::Value,
    ) -> Result<T, ConfigError> {
        operator_config(&self.platforms, platform, config)
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
            Platform::Custom => Ok(Arc::new(
                custom::CustomChannel::new(config, self.guarded.clone())?
                    .with_timeout(self.request_timeout),
            )),
            Platform::Meituan => {
                let config: imhub_meituan::MeituanConfig =
                    self.platform_config(platform, config)?;
                Ok(Arc::new(
                    imhub_meituan::MeituanChannel::new(config)
                        .map_err(|e| invalid(platform, e))?
                        .with_max_response_bytes(self.guarded.max_response_bytes()),
                ))
            }
            Platform::Tencent => {
                let config: imhub_tencent::TencentConfig =
                    self.platform_config(platform, config)?;
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
                    imhub_tencent::TencentChannel::new(config)
                        .map_err(|e| invalid(platform, e))?
                        .with_max_callback_window(self.platforms.tencent.max_callback_window_secs)
                        .with_max_response_bytes(self.guarded.max_response_bytes()),
                ))
            }
            Platform::Douyin => {
                let mut config: imhub_douyin::DouyinConfig =
                    self.platform_config(platform, config)?;
                // The operator's cap holds for configurations stored before it.
                let cap = self.guarded.timeout(None).as_secs().max(1);
                config.request_timeout_secs = config.request_timeout_secs.map(|s| s.min(cap));
                let tokens: Arc<dyn imhub_douyin::TokenStore> = match stored {
                    Some((workspace, channel)) => Arc::new(douyin_tokens::StoredTokens {
                        store: Arc::clone(&self.store),
                        workspace,
                        channel,
                    }),
                    None => Arc::new(imhub_douyin::MemoryTokenStore::default()),
                };
                let limits = imhub_douyin::ChannelLimits {
                    max_request_timeout: self.guarded.timeout(None),
                    max_response_bytes: self.guarded.max_response_bytes(),
                };
                Ok(Arc::new(
                    imhub_douyin::DouyinChannel::with_limits(config, tokens, limits)
                        .map_err(|e| invalid(platform, e))?,
                ))
            }
        }
    }

    /// The adapter of a stored channel, built once and then reused.
    pub fn adapter(&self, channel: &StoredChannel) -> Result<Arc<dyn Channel>, ConfigError> {
        if let Some(adapter) = self.adapters.read().ok().and_then(|map| {
            map.get(&channel.id)
                .filter(|(built_from, _)| *built_from == channel.updated_at)
                .map(|(_, adapter)| Arc::clone(adapter))
        }) {
            return Ok(adapter);
        }
        let adapter = self.build(
            channel.platform,
            &channel.config,
            Some((channel.workspace_id, channel.id)),
        )?;
        if let Ok(mut map) = self.adapters.write() {
            map.insert(channel.id, (channel.updated_at, Arc::clone(&adapter)));
        }
        Ok(adapter)
    }
}

/// A stored channel whose configuration carries the operator's endpoint
/// (`platforms.<platform>.base_url`, or none: the platform's production
/// URL) in place of any `base_url` it held. For code that builds a
/// platform's concrete adapter from a stored channel outside the registry
/// (the platform tool routes, the command line).
pub fn operator_channel(platforms: &PlatformsConfig, mut channel: StoredChannel) -> StoredChannel {
    let base_url = match channel.platform {
        Platform::Douyin => platforms.douyin.base_url.clone(),
        Platform::Tencent => platforms.tencent.base_url.clone(),
        Platform::Meituan => platforms.meituan.base_url.clone(),
        Platform::Custom => return channel,
    };
    if let Some(map) = channel.config.as_object_mut() {
        map.remove("base_url");
        if let Some(url) = base_url {
            map.insert("base_url".into(), serde_json::Value::String(url));
        }
    }
    channel
}

/// A stored platform configuration read with the operator's endpoint
/// (`platforms.<platform>.base_url`) in place of any `base_url` it holds.
/// For code that builds a platform's concrete adapter outside the registry
/// (the platform tool routes, the command line).
pub fn operator_config<T: serde::de::DeserializeOwned>(
    platforms: &PlatformsConfig,
    platform: Platform,
    config: &serde_json::Value,
) -> Result<T, ConfigError> {
    let mut config = config.clone();
    let base_url = match platform {
        Platform::Douyin => platforms.douyin.base_url.clone(),
        Platform::Tencent => platforms.tencent.base_url.clone(),
        Platform::Meituan => platforms.meituan.base_url.clone(),
        Platform::Custom => None,
    };
    if platform != Platform::Custom
        && let Some(map) = config.as_object_mut()
    {
        map.remove("base_url");
        if let Some(url) = base_url {
            map.insert("base_url".into(), serde_json::Value::String(url));
        }
    }
    serde_json::from_value(config).map_err(|e| invalid(platform, e))
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

/// Other names a platform's configuration accepts for a field (serde
/// aliases), as `(alias, canonical)`: a partial change naming either
/// replaces the stored value under both.
pub fn config_aliases(platform: Platform) -> &'static [(&'static str, &'static str)] {
    match platform {
        Platform::Tencent => &[("secret_key", "key"), ("admin_identifier", "identifier")],
        _ => &[],
    }
}

/// A configuration object with every aliased field under its canonical name.
pub fn canonical_config(
    platform: Platform,
    mut config: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    for (alias, canonical) in config_aliases(platform) {
        if let Some(value) = config.remove(*alias) {
            config.insert((*canonical).to_string(), value);
        }
    }
    config
}

/// Whether each secret field (canonical names) of a stored configuration
/// holds a value, for the API's write-only display.
pub fn secrets_set(
    platform: Platform,
    config: &serde_json::Value,
) -> std::collections::BTreeMap<String, bool> {
    let canonical = canonical_config(platform, config.as_object().cloned().unwrap_or_default());
    secret_fields(platform)
        .iter()
        .filter(|f| {
            !config_aliases(platform)
                .iter()
                .any(|(alias, _)| alias == *f)
        })
        .map(|f| {
            let set = canonical
                .get(*f)
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
            ((*f).to_string(), set)
        })
        .collect()
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
