//! The contract between imhub and a platform adapter: how a push becomes
//! inbound events, how an outbound message is sent, and how failures are
//! classified so the delivery engine can branch on them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Content, ConversationKind, Direction, MessageId, Platform, Timestamp};

/// What every platform adapter implements. One value per connected channel,
/// built from the channel's stored configuration.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// The platform this adapter speaks to.
    fn platform(&self) -> Platform;

    /// Refuses, before anything is queued, content this platform cannot carry
    /// (unsupported kind, too long, reply window closed). The default accepts
    /// everything that passes [`Content::validate`].
    fn check_outbound(&self, target: &OutboundTarget, content: &Content) -> Result<(), Refusal> {
        let _ = target;
        content.validate()
    }

    /// How long after the customer's last message the platform accepts a
    /// reply (Douyin: 24 hours); `None` when there is no such window.
    fn reply_window(&self) -> Option<Duration> {
        None
    }

    /// Whether [`Channel::mark_read`] tells the platform anything, so read
    /// receipts are queued only where they mean something.
    fn supports_read_receipts(&self) -> bool {
        false
    }

    /// Sends one message; the receipt carries the platform's message id.
    async fn send(&self, outbound: &Outbound) -> Result<SendReceipt, DeliveryError>;

    /// Recalls a message that was sent; platforms without recall refuse.
    async fn recall(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        let _ = (target, platform_message_id);
        Err(DeliveryError::Unsupported {
            reason: format!("{} cannot recall messages", self.platform().as_str()),
        })
    }

    /// Tells the platform the merchant read the conversation up to a message.
    /// Platforms without read receipts accept and do nothing.
    async fn mark_read(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        let _ = (target, platform_message_id);
        Ok(())
    }

    /// Verifies a push (signature first, before anything is parsed) and turns
    /// it into inbound events plus the exact reply the platform expects.
    fn parse_push(&self, push: &Push) -> Result<PushOutcome, PushError>;
}

/// Who a message goes to, as the adapter needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboundTarget {
    pub kind: ConversationKind,
    /// The account's platform id (sender).
    pub account_external_id: String,
    /// The contact's or group's platform id.
    pub peer_external_id: String,
    /// Platform context kept from the latest inbound message (for example
    /// Douyin's `msg_id`/`conversation_id` that a reply must quote).
    pub reply_context: Option<serde_json::Value>,
    /// When the customer last wrote, for reply-window rules.
    pub last_inbound_at: Option<Timestamp>,
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub message_id: MessageId,
    pub target: OutboundTarget,
    pub content: Content,
}

impl Outbound {
    /// A client-side message id derived from ours, for platforms that accept
    /// one and use it to drop doubles.
    pub fn client_message_id(&self) -> String {
        format!("imhub-{}", self.message_id.0)
    }
}

/// What the platform answered to a send.
#[derive(Debug, Clone, Default)]
pub struct SendReceipt {
    pub platform_message_id: Option<String>,
}

/// Why a message was not sent, classified for the delivery engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// A transient failure (timeout, 5xx, the platform's "busy" codes): retry with backoff.
    #[error("transient failure: {reason}")]
    Retryable { reason: String },
    /// The platform asked us to slow down; retry after the delay.
    #[error("rate limited, retry after {retry_after:?}: {reason}")]
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// The account's credentials expired or were revoked; it needs the merchant.
    #[error("authorization expired: {reason}")]
    AuthExpired { reason: String },
    /// The platform refused for good, with its own code and text.
    #[error("platform refused ({code}): {text}")]
    Permanent { code: String, text: String },
    /// This platform cannot do what was asked.
    #[error("not supported: {reason}")]
    Unsupported { reason: String },
}

/// A refusal before queueing: content the channel cannot carry. Shown as 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    /// Stable snake_case code, such as `content_not_supported`.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    /// A refusal with a stable code and a human explanation.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// The usual refusal for a content kind a platform cannot carry.
    pub fn unsupported(platform: Platform, content: &Content) -> Self {
        Refusal::new(
            "content_not_supported",
            format!(
                "{} cannot carry {} messages",
                platform.as_str(),
                content.kind().as_str()
            ),
        )
    }
}

impl From<Refusal> for DeliveryError {
    /// A refusal found at send time (content checked again by the adapter)
    /// fails the message for good, with the refusal's code.
    fn from(r: Refusal) -> Self {
        if r.code == "content_not_supported" {
            DeliveryError::Unsupported { reason: r.message }
        } else {
            DeliveryError::Permanent {
                code: r.code.to_string(),
                text: r.message,
            }
        }
    }
}

/// An HTTP push from a platform, as received.
#[derive(Debug, Clone)]
pub struct Push {
    pub method: String,
    /// The path as the server saw it.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Timestamp,
}

impl Push {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A verified push: its events and the answer the platform expects.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The push's own id (Douyin `Msg-Id`, custom `event_id`), deduplicated.
    pub event_key: Option<String>,
    pub events: Vec<InboundEvent>,
    pub reply: PushReply,
}

/// The exact HTTP answer a platform expects to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl PushReply {
    /// A 200 answer with a JSON body.
    pub fn json(body: &serde_json::Value) -> Self {
        PushReply {
            status: 200,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }
}

/// Why a push was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("signature does not match")]
    BadSignature,
    #[error("push is outside the accepted time window")]
    Stale,
    #[error("malformed push: {0}")]
    Malformed(String),
}

impl PushError {
    /// Stable code for the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            PushError::BadSignature => "bad_signature",
            PushError::Stale => "stale_push",
            PushError::Malformed(_) => "malformed_push",
        }
    }
}

/// The account a push is about, by its platform id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRef {
    pub external_id: String,
    pub name: Option<String>,
}

/// What a platform told us about a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactInfo {
    pub external_id: String,
    pub nickname: Option<String>,
    pub avatar: Option<String>,
}

/// The other side of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Peer {
    Direct(ContactInfo),
    Group {
        group_id: String,
        name: Option<String>,
        /// The member who wrote, for inbound group messages.
        sender: Option<ContactInfo>,
    },
}

impl Peer {
    /// Direct or group.
    pub fn kind(&self) -> ConversationKind {
        match self {
            Peer::Direct(_) => ConversationKind::Direct,
            Peer::Group { .. } => ConversationKind::Group,
        }
    }

    /// The platform id that names the conversation's other side.
    pub fn external_id(&self) -> &str {
        match self {
            Peer::Direct(c) => &c.external_id,
            Peer::Group { group_id, .. } => group_id,
        }
    }
}

/// One message a push carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub account: AccountRef,
    pub peer: Peer,
    /// `Out` when the merchant wrote from the platform's own app.
    pub direction: Direction,
    pub platform_message_id: String,
    pub content: Content,
    pub sent_at: Timestamp,
    /// Context a reply must quote, kept on the conversation.
    pub reply_context: Option<serde_json::Value>,
}

/// Where a group join request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinRequestStatus {
    Pending,
    Approved,
    Rejected,
}

impl JoinRequestStatus {
    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinRequestStatus::Pending => "pending",
            JoinRequestStatus::Approved => "approved",
            JoinRequestStatus::Rejected => "rejected",
        }
    }

    /// Reads the stored spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(JoinRequestStatus::Pending),
            "approved" => Some(JoinRequestStatus::Approved),
            "rejected" => Some(JoinRequestStatus::Rejected),
            _ => None,
        }
    }
}

/// Something a push told us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboundEvent {
    Message(InboundMessage),
    /// A message was recalled on the platform.
    Recalled {
        account: AccountRef,
        peer: Peer,
        platform_message_id: String,
    },
    /// The customer read our messages up to a time (Tencent
    /// `C2C.CallbackAfterMsgReport`): our outbound messages in that
    /// conversation created up to `up_to` become `read`. Nothing is created
    /// for an account or conversation imhub does not know.
    Read {
        account: AccountRef,
        peer: Peer,
        up_to: Timestamp,
    },
    /// A customer opened the chat (Douyin `im_enter_direct_msg`).
    ChatOpened {
        account: AccountRef,
        contact: ContactInfo,
        at: Timestamp,
        reply_context: Option<serde_json::Value>,
        /// How the customer came, when the platform says (Douyin:
        /// `scene_type`, `object_id`, `ad_info`): kept as the source of a
        /// lead the conversation later gives.
        #[serde(default)]
        entry: Option<serde_json::Value>,
    },
    /// The platform revoked (or restored) an account's authorization.
    AccountAuthorization {
        account: AccountRef,
        authorized: bool,
        reason: Option<String>,
    },
    /// Someone asked to join a group, or the request was decided (Douyin
    /// `enter_group_audit_change`). The join-request list follows it; a
    /// decided request is not reopened by a late or replayed push.
    GroupJoinRequest {
        /// The group's owner.
        account: AccountRef,
        group_id: String,
        /// The platform's id of the request (Douyin `apply_id`).
        request_id: String,
        /// Who asked, as far as the push tells.
        applicant: Option<ContactInfo>,
        status: JoinRequestStatus,
        at: Timestamp,
    },
    /// A member joined or left a group (Douyin `group_fans_event`). Group
    /// membership follows it; an older push does not undo a newer one.
    GroupMembership {
        /// The group's owner.
        account: AccountRef,
        group_id: String,
        member: ContactInfo,
        joined: bool,
        at: Timestamp,
    },
    /// Verified but not understood: kept raw with the reason, replayable.
    Unprocessable {
        reason: String,
    },
}

impl InboundEvent {
    /// Keeps the times this event claims within sense (see
    /// [`Timestamp::clamp_pushed`]); the store calls it before recording.
    pub fn clamp_times(&mut self, received: Timestamp) {
        match self {
            InboundEvent::Message(m) => m.sent_at = m.sent_at.clamp_pushed(received),
            InboundEvent::ChatOpened { at, .. }
            | InboundEvent::GroupJoinRequest { at, .. }
            | InboundEvent::GroupMembership { at, .. } => *at = at.clamp_pushed(received),
            _ => {}
        }
    }
}
