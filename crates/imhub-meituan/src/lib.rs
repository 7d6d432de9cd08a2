//! imhub's Meituan adapter for the `waimaiopen` gateway (美团外卖 / 美团闪购):
//! signed requests ([`sign`]), AES `msg_content` ([`crypto`]), both response
//! envelopes ([`envelope`]), a typed client usable on its own ([`client`]),
//! push verification ([`push`]), content mapping ([`content`]) and the
//! [`MeituanChannel`] implementing [`imhub_core::Channel`].

#![warn(missing_docs)]

pub mod channel;
pub mod client;
pub mod config;
pub mod content;
pub mod crypto;
pub mod envelope;
pub mod errors;
pub mod im;
pub mod lenient;
pub mod longconn;
#[cfg(test)]
mod props;
pub mod push;
pub mod sign;

pub use channel::{MeituanChannel, SEND_PER_SECOND};
pub use client::MeituanClient;
pub use config::{ConfigError, MeituanConfig, SECRET_FIELDS};
pub use crypto::{AesMode, ContentCipher, CryptoError};
pub use errors::MeituanError;
pub use im::{
    ConnectionToken, ImCallbackMsg, MsgType, PushContent, PushContentReq, PushContentResp,
};
pub use longconn::{LongConnection, LongConnectionError, UndocumentedLongConnection};
pub use push::{PushDecode, PushVerifier};
