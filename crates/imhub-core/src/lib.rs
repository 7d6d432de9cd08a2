//! imhub's domain: the words of ARCHITECTURE.md as types, the unified message
//! content, the [`Channel`] trait every platform adapter implements, and the
//! error classification the delivery engine branches on. No I/O lives here.

pub mod alerts;
pub mod assignment;
pub mod automation;
pub mod channel;
pub mod content;
pub mod hours;
pub mod ids;
pub mod leads;
pub mod mentions;
pub mod model;
pub mod template;
pub mod time;
pub mod turns;

pub use channel::{
    AccountRef, Channel, ContactInfo, DeliveryError, InboundEvent, InboundMessage, Outbound,
    OutboundTarget, Peer, Push, PushError, PushOutcome, PushReply, Refusal, SendReceipt,
};
pub use content::{Content, ContentKind};
pub use ids::{
    AccountId, ChannelId, ContactId, ConversationId, LabelId, MessageId, QuickReplyId, UserId,
    WebhookId, WorkspaceId,
};
pub use model::{
    Account, AccountState, Availability, ChannelInfo, Contact, Conversation, ConversationKind,
    ConversationStatus, Direction, Message, MessageStatus, Platform, PlatformValue, Role,
    SenderKind, Workspace,
};
pub use time::Timestamp;
