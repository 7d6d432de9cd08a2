//! The IM long connection: an extension point, deliberately not implemented.
//!
//! `wm/IM/getConnectionToken` returns a `connectionToken` and an `appKey`
//! "for establishing the long connection", over which Meituan presumably
//! delivers IM messages (in particular those whose HTTP push failed, which
//! `userCount` counts). The WebSocket URL, handshake, heartbeat and frame
//! format are documented nowhere we could read (reference §9, §14.2), so
//! imhub does not guess them: a wrong guess would look like a working
//! connection that silently receives nothing. An implementation plugs in
//! here once the protocol is known, turning each frame into the same
//! [`crate::im::PushContent`] the HTTP push carries.

use crate::im::ConnectionToken;

/// Why the long connection could not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LongConnectionError {
    /// No implementation of the (undocumented) protocol is available.
    #[error("the meituan IM long-connection protocol is undocumented and not implemented")]
    Undocumented,
    /// An implementation's own failure.
    #[error("long connection failed: {0}")]
    Failed(String),
}

/// The extension point for Meituan's IM long connection.
#[async_trait::async_trait]
pub trait LongConnection: Send + Sync {
    /// Connects with a fresh token and hands every received `push_content`
    /// (as JSON text, `msg_content` still encrypted) to `deliver`, until the
    /// connection ends.
    async fn run(
        &self,
        token: &ConnectionToken,
        deliver: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), LongConnectionError>;
}

/// The stand-in used until the protocol is known: refuses to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct UndocumentedLongConnection;

#[async_trait::async_trait]
impl LongConnection for UndocumentedLongConnection {
    async fn run(
        &self,
        _token: &ConnectionToken,
        _deliver: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), LongConnectionError> {
        Err(LongConnectionError::Undocumented)
    }
}
