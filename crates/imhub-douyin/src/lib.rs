//! imhub's Douyin adapter and a Douyin Open Platform SDK usable on its own:
//! a typed client for OAuth, private and group messages, fan groups, cards
//! and image upload ([`DouyinClient`]); webhook verification and parsing
//! ([`webhook`]); and [`DouyinChannel`], imhub's `Channel` for one Douyin app.

pub mod auth;
pub mod cards;
pub mod channel;
pub mod client;
pub mod config;
pub mod content;
pub mod envelope;
pub mod errors;
pub mod groups;
pub mod image;
pub mod messages;
pub mod webhook;

pub use auth::{
    AuthorizeUrlBuilder, ClientToken, MemoryTokenStore, RefreshPolicy, TokenManager, TokenStore,
    TokenStoreError, UserTokens,
};
pub use channel::{ChannelLimits, DouyinChannel, ReplyContext, delivery_error};
pub use client::{DEFAULT_BASE_URL, DouyinClient, Secret, UserAuth};
pub use config::{DouyinConfig, SECRET_FIELDS};
pub use errors::{ApiError, ConfigError, DouyinError, ErrorClass};
pub use messages::{MessageContent, Scene, SendMessageRequest};
