//! imhub's configuration, loaded once into this typed struct (from
//! `imhub.toml` and `IMHUB_*` variables by the binary).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Everything `imhub serve` needs. Every field has a default that works with
/// no file at all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// `sqlite://imhub.db` (default) or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// The URL platforms and browsers reach this server at; used to show
    /// webhook URLs and media links. Defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes (webhooks and API).
    pub max_body_bytes: usize,
    /// SQLite commit durability: `full` (survives power loss) or `normal`.
    pub sqlite_durability: String,
    /// A name for this node in outbox leases; defaults to host + process id.
    /// Give each node a stable, distinct name so that after a crash it takes
    /// its entries back at once instead of waiting for their leases to expire.
    pub node_id: Option<String>,
    /// How the delivery engine sends.
    pub delivery: DeliveryConfig,
    /// Serve the web inbox at `/`.
    pub inbox: bool,
    /// Platform API endpoints and operator caps per platform. Operator
    /// configuration only: a tenant's channel config cannot name a base URL.
    pub platforms: PlatformsConfig,
    /// The guarded client used for every URL a tenant chose (custom
    /// outbound, outgoing webhooks, alert robots).
    pub outbound: OutboundConfig,
    /// How long records that are kept only for a while are kept.
    pub retention: RetentionConfig,
    /// Per-workspace limits the operator sets for every tenant.
    pub limits: LimitsConfig,
    /// The key (32 random bytes, base64 or hex) that the channel
    /// credentials, platform tokens and webhook secrets in the database are
    /// encrypted with; also `IMHUB_SECRET_KEY` or `IMHUB_SECRET_KEY_FILE`.
    /// Required on PostgreSQL; on SQLite, when unset, imhub creates
    /// `<database>.key` beside the database file on first start.
    pub secret_key: Option<SecretString>,
    /// A file holding the secret key (instead of `secret_key`).
    pub secret_key_file: Option<std::path::PathBuf>,
    /// The operator token for `/api/v1/operator/...` (provisioning
    /// workspaces), at least 16 characters; also `IMHUB_OPERATOR_TOKEN`.
    /// Never stored in the database. Unset: the operator API answers 401.
    pub operator_token: Option<SecretString>,
    /// A file holding the operator token (instead of `operator_token`);
    /// also `IMHUB_OPERATOR_TOKEN_FILE`.
    pub operator_token_file: Option<std::path::PathBuf>,
}

/// A configured secret: read from the configuration like a string, never
/// shown by `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://imhub.db".into(),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            sqlite_durability: "full".into(),
            node_id: None,
            delivery: DeliveryConfig::default(),
            inbox: true,
            platforms: PlatformsConfig::default(),
            outbound: OutboundConfig::default(),
            retention: RetentionConfig::default(),
            limits: LimitsConfig::default(),
            secret_key: None,
            secret_key_file: None,
            operator_token: None,
            operator_token_file: None,
        }
    }
}

impl Config {
    /// The externally visible base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

/// Settings of the delivery engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Sends in flight at once, across all channels.
    pub concurrency: usize,
    /// How long a leased outbox entry is ours before another node may take it.
    pub lease_secs: u64,
    /// Attempts before a retryable failure becomes permanent.
    pub max_attempts: i64,
    /// First retry delay; doubles each attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// Timeout of one call to a platform.
    pub request_timeout_ms: u64,
    /// Sends per second per app (channel), by platform; the defaults come
    /// from the platform references (Tencent sendmsg: 200/s per app). A
    /// platform missing here is not limited.
    pub app_rate_limits: std::collections::BTreeMap<String, u32>,
    /// Sends per second per account, for every platform; none by default.
    pub account_rate_limit: Option<u32>,
    /// On PostgreSQL, count the rate limits above for all nodes together
    /// in the database (default), so N nodes never send more than one
    /// limit. `false`: each node keeps its own count, and N nodes may send
    /// N times the limit (only for a lone node, or to show why this exists).
    pub shared_rate_limits: bool,
    /// Most sends in flight for one workspace, on all nodes together, while
    /// other workspaces have work; by default half of `concurrency`, so a
    /// workspace whose receiver hangs leaves the other half to everyone
    /// else. A workspace alone with work may use all but an eighth.
    pub workspace_share: Option<u32>,
    /// Most sends in flight for one account, on all nodes together; by
    /// default the workspace share.
    pub account_share: Option<u32>,
}

impl DeliveryConfig {
    /// The shares of send slots the lease enforces.
    pub fn shares(&self) -> imhub_store::LeaseShares {
        let half = u32::try_from(self.concurrency.div_ceil(2)).unwrap_or(u32::MAX);
        let per_workspace = self.workspace_share.unwrap_or(half).max(1);
        imhub_store::LeaseShares {
            per_workspace,
            per_account: self.account_share.unwrap_or(per_workspace).max(1),
            // An eighth of this node's slots stays free while one workspace
            // has all the work, so a newcomer starts at once even if that
            // workspace's receiver hangs.
            reserve: u32::try_from(self.concurrency / 8).unwrap_or(0),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            concurrency: 64,
            lease_secs: 60,
            max_attempts: 12,
            backoff_base_ms: 1_000,
            backoff_max_ms: 15 * 60 * 1_000,
            request_timeout_ms: 10_000,
            app_rate_limits: crate::channels::default_app_rate_limits(),
            account_rate_limit: None,
            shared_rate_limits: true,
            workspace_share: None,
            account_share: None,
        }
    }
}

/// Per-platform operator settings (`[platforms.douyin]`, …).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformsConfig {
    pub douyin: PlatformEndpoint,
    pub tencent: TencentOperatorConfig,
    pub meituan: PlatformEndpoint,
}

/// Where a platform's API is reached; `None` means the platform's own
/// production URL. The sandbox, the tests and the demo set it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformEndpoint {
    pub base_url: Option<String>,
}

/// Tencent IM operator settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TencentOperatorConfig {
    /// API base URL; `None` means the region's production domain.
    pub base_url: Option<String>,
    /// Longest replay window a channel's `callback_window_secs` may ask
    /// for (default 60, at most 300).
    pub max_callback_window_secs: u64,
}

impl Default for TencentOperatorConfig {
    fn default() -> Self {
        TencentOperatorConfig {
            base_url: None,
            max_callback_window_secs: 60,
        }
    }
}

/// Settings of the guarded outbound client (`[outbound]`), operator only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// CIDRs that are allowed although private or loopback (on-premise
    /// receivers, the tests, the sandbox, the demo). Empty by default.
    pub allow_cidrs: Vec<String>,
    /// Cap on the connect timeout of any outbound request.
    pub connect_timeout_ms: u64,
    /// Cap on the total time of any outbound request; a channel's own
    /// timeout setting cannot exceed it.
    pub max_timeout_ms: u64,
    /// Most response bytes read from a receiver or platform.
    pub max_response_bytes: usize,
    /// Outgoing-webhook subscriptions a workspace may have.
    pub max_webhooks_per_workspace: usize,
    /// Outgoing-webhook deliveries in flight at once; each runs on its own,
    /// so a slow target holds only its own slot.
    pub webhook_concurrency: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_cidrs: Vec::new(),
            connect_timeout_ms: 5_000,
            max_timeout_ms: 30_000,
            max_response_bytes: 64 * 1024,
            max_webhooks_per_workspace: 20,
            webhook_concurrency: 32,
        }
    }
}

/// Retention (`[retention]`): ages after which records are pruned by a
/// background job (one node at a time on PostgreSQL). `0` keeps forever.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw push bodies and headers; the row and its status stay.
    pub raw_body_days: u64,
    /// Outgoing-webhook delivery records that ended.
    pub webhook_delivery_days: u64,
    /// Idempotency keys of API sends.
    pub idempotency_key_hours: u64,
    /// Douyin QR-authorization states (they expire after minutes).
    pub oauth_state_hours: u64,
    /// How often the job runs.
    pub interval_secs: u64,
    /// Records pruned per kind and transaction, so ingest never waits long.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_body_days: 30,
            webhook_delivery_days: 30,
            idempotency_key_hours: 48,
            oauth_state_hours: 24,
            interval_secs: 3600,
            batch: 1000,
        }
    }
}

impl RetentionConfig {
    /// The store's policy for these settings.
    pub fn policy(&self) -> imhub_store::RetentionPolicy {
        let ms = |n: u64, unit: i64| {
            (n > 0).then(|| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(unit))
        };
        const HOUR: i64 = 3_600_000;
        imhub_store::RetentionPolicy {
            raw_bodies_ms: ms(self.raw_body_days, 24 * HOUR),
            webhook_deliveries_ms: ms(self.webhook_delivery_days, 24 * HOUR),
            idempotency_keys_ms: ms(self.idempotency_key_hours, HOUR),
            oauth_states_ms: ms(self.oauth_state_hours, HOUR),
        }
    }
}

/// Per-workspace limits (`[limits]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Bytes of uploaded media a workspace may store; `0` for no limit.
    pub media_bytes_per_workspace: u64,
    /// Channels a workspace may connect; `0` (default) for no limit.
    pub channels_per_workspace: u64,
    /// Users (admins and agents) a workspace may have; `0` (default) for
    /// no limit.
    pub agents_per_workspace: u64,
    /// Messages a workspace may send per UTC day (API, inbox and automatic
    /// replies); `0` (default) for no limit. Inbound is never refused.
    pub messages_per_day_per_workspace: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            media_bytes_per_workspace: 1024 * 1024 * 1024,
            channels_per_workspace: 0,
            agents_per_workspace: 0,
            messages_per_day_per_workspace: 0,
        }
    }
}

impl LimitsConfig {
    /// The operator's default quotas, for workspaces without their own.
    pub fn quota_defaults(&self) -> imhub_store::operator::QuotaDefaults {
        imhub_store::operator::QuotaDefaults {
            channels: self.channels_per_workspace,
            agents: self.agents_per_workspace,
            messages_per_day: self.messages_per_day_per_workspace,
            media_bytes: self.media_bytes_per_workspace,
        }
    }
}
