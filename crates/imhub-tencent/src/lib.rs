//! imhub's Tencent Cloud IM adapter: UserSig, a typed REST client usable on
//! its own, third-party callbacks, content mapping and the `Channel` impl.
//! Facts follow `shared/reference/tencent-im.md`.

pub mod account;
pub mod c2c;
pub mod callback;
pub mod channel;
pub mod client;
pub mod config;
pub mod elements;
pub mod errors;
pub mod group;
pub mod history;
pub mod mapping;
#[cfg(test)]
mod props;
pub mod usersig;

pub use channel::{TencentChannel, group_message_id, msg_random_for, msg_seq_for};
pub use client::{
    ACCOUNT_BULK_RATE_PER_SEC, REST_RATE_PER_SEC, Region, SENDMSG_RATE_PER_SEC, TencentClient,
};
pub use config::{
    DEFAULT_MAX_MESSAGE_BYTES, SECRET_FIELDS, SERVER_MAX_MESSAGE_BYTES, TencentConfig,
};
pub use errors::{ConfigError, ErrorClass, TencentError, classify};
pub use group::GROUP_SEND_RATE_PER_GROUP;
pub use history::{HistoryCursor, HistoryPage, roam_events};
pub use usersig::{gen_usersig, verify_usersig};
