//! The records imhub keeps: workspaces, channels, accounts, contacts,
//! conversations and messages, as the API shows them.

use serde::{Deserialize, Serialize};

use crate::{
    AccountId, ChannelId, ContactId, Content, ConversationId, LabelId, MessageId, Timestamp,
    UserId, WorkspaceId,
};

/// A platform imhub talks to; `custom` is the merchant's own system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Douyin,
    Tencent,
    Meituan,
    Custom,
}

impl Platform {
    /// The name used in URLs (`/webhooks/{platform}/...`), JSON and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Douyin => "douyin",
            Platform::Tencent => "tencent",
            Platform::Meituan => "meituan",
            Platform::Custom => "custom",
        }
    }

    /// The inverse of [`Platform::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "douyin" => Platform::Douyin,
            "tencent" => Platform::Tencent,
            "meituan" => Platform::Meituan,
            "custom" => Platform::Custom,
            _ => return None,
        })
    }
}

/// Implements `as_str`/`parse` for a unit enum stored as snake_case text.
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// The snake_case name used in JSON and storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The inverse of `as_str`.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

/// What an API token or agent may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in the workspace, including channels, tokens and users.
    Admin,
    /// Conversations and messages only.
    Agent,
}
text_enum!(Role { Admin => "admin", Agent => "agent" });

/// One merchant.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A connected platform app as the API shows it: never its secrets.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    pub id: ChannelId,
    pub platform: Platform,
    pub name: String,
    /// The non-secret part of the configuration (ids, URLs, regions).
    pub settings: serde_json::Value,
    /// Where the platform must send its pushes for this channel.
    pub webhook_url: String,
    /// Every secret field of the platform's configuration (canonical
    /// names): `true` when a value is stored. Secrets are never returned.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, bool>,
    /// What else to paste into the platform's console besides
    /// `webhook_url` (a Tencent callback URL, the Meituan IM push URL, the
    /// Douyin OAuth redirect URI…), each under a stable `key`.
    #[serde(default)]
    pub platform_values: Vec<PlatformValue>,
    pub created_at: Timestamp,
}

/// One value a merchant pastes into a platform's console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlatformValue {
    /// Stable name of the value: `douyin_oauth_redirect_uri`,
    /// `douyin_webhook_events`, `tencent_callback_url`,
    /// `tencent_callback_commands`, `meituan_im_push_url`.
    pub key: String,
    /// The text to paste.
    pub value: String,
}

/// Whether an account can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Active,
    /// The platform revoked or expired the authorization; sends fail until
    /// the merchant authorizes again.
    NeedsReauthorization,
}
text_enum!(AccountState { Active => "active", NeedsReauthorization => "needs_reauthorization" });

/// A merchant identity inside a channel (Douyin enterprise account, Tencent
/// sender UserID, Meituan store).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub channel_id: ChannelId,
    pub platform: Platform,
    /// The platform's id for this account (open_id, UserID, app_poi_code).
    pub external_id: String,
    pub name: String,
    pub state: AccountState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// An admin disabled the account: replies are refused and nothing is
    /// assigned automatically; its pushes are still recorded.
    #[serde(default)]
    pub disabled: bool,
    pub created_at: Timestamp,
}

/// A customer on a platform.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub channel_id: ChannelId,
    pub external_id: String,
    /// The seed's 匿名 placeholder when the platform never told us a name.
    pub nickname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// Shown when a platform gives no nickname, as the seed's chat list does.
pub const ANONYMOUS_NICKNAME: &str = "匿名";

/// Direct chat with one customer, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}
text_enum!(ConversationKind { Direct => "direct", Group => "group" });

/// Where a conversation stands in the agents' workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    /// Waiting on the customer.
    Pending,
    Resolved,
    /// Out of the way until `snoozed_until`, or until the customer writes.
    Snoozed,
}
text_enum!(ConversationStatus {
    Open => "open",
    Pending => "pending",
    Resolved => "resolved",
    Snoozed => "snoozed",
});

/// Whether an agent takes new conversations now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Online,
    /// 小休: on a break, takes nothing new.
    Away,
    Offline,
}
text_enum!(Availability { Online => "online", Away => "away", Offline => "offline" });

/// One chat-list row: account × (contact or group), with its unread count and
/// last message kept up to date as messages are written.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel_id: ChannelId,
    pub account_id: AccountId,
    pub platform: Platform,
    pub kind: ConversationKind,
    /// The contact of a direct conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// The platform's id of the peer (contact's or group's).
    pub peer_external_id: String,
    /// Contact nickname or group name (匿名 when unknown).
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    pub status: ConversationStatus,
    pub unread_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<MessageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    pub last_activity_at: Timestamp,
    /// When the customer last wrote: the start of a platform's reply window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Timestamp>,
    /// What the platform's latest push said the conversation is about, as
    /// replies must quote it (Meituan: `{"order_id": ...}`; Douyin: the
    /// message and conversation ids a reply answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_context: Option<serde_json::Value>,
    pub created_at: Timestamp,
    /// The agent who owns the conversation; at most one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<UserId>,
    /// When a snoozed conversation comes back by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<Timestamp>,
    /// Since when it waits, unassigned, in its account's auto-assignment
    /// queue (longest-waiting first gets the next free agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Timestamp>,
    /// The workspace labels on the conversation.
    #[serde(default)]
    pub labels: Vec<LabelId>,
    /// When the customer's open turn started, while they wait for a human
    /// reply (the 等待回复 queue's "已等 2:40" counts from it, inside the
    /// KPI counting window); absent once a human answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_open_since: Option<Timestamp>,
}

/// Whether a message came from the customer, went to them, or is an agents' note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
    /// A private note by an agent: in the timeline, never delivered.
    Note,
    /// A line the system writes in the timeline ("小李 把会话分配给 小王"),
    /// never delivered.
    Activity,
}
text_enum!(Direction { In => "in", Out => "out", Note => "note", Activity => "activity" });

impl Direction {
    /// Notes and activity lines: shown to agents, never to customers, never
    /// delivered, never a `message.created`.
    pub fn is_internal(self) -> bool {
        matches!(self, Direction::Note | Direction::Activity)
    }
}

/// Who wrote an outbound message imhub sent, so automatic replies are
/// shown and counted apart from human ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// An agent signed in to the inbox.
    Agent,
    /// An automation rule.
    Automation,
    /// An API token (the merchant's own system).
    Api,
}
text_enum!(SenderKind { Agent => "agent", Automation => "automation", Api => "api" });

/// Where a message is in its life. Moves only forward:
/// queued → sending → sent → delivered → read, or failed, or recalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Recalled,
}
text_enum!(MessageStatus {
    Queued => "queued",
    Sending => "sending",
    Sent => "sent",
    Delivered => "delivered",
    Read => "read",
    Failed => "failed",
    Recalled => "recalled",
});

impl MessageStatus {
    /// Whether a message may move from `self` to `next`. Retrying a failed
    /// message is the one way back, and it is an explicit act
    /// ([`MessageStatus::can_retry`]), not a transition.
    pub fn can_become(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match (self, next) {
            (Failed | Recalled, _) => false,
            (_, Recalled) => matches!(self, Sent | Delivered | Read),
            (_, Failed) => matches!(self, Queued | Sending),
            _ => next.rank() > self.rank(),
        }
    }

    /// Only a message that failed for good can be sent again.
    pub fn can_retry(self) -> bool {
        self == MessageStatus::Failed
    }

    fn rank(self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sending => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Delivered => 3,
            MessageStatus::Read => 4,
            MessageStatus::Failed | MessageStatus::Recalled => 5,
        }
    }
}

/// One message in a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    pub content: Content,
    pub status: MessageStatus,
    /// The platform's id once it has one (inbound always; outbound once sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_message_id: Option<String>,
    /// The group member who wrote an inbound group message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// The platform's own error code when the message failed for good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_text: Option<String>,
    /// The agent who wrote an outbound reply or a note (absent for
    /// customers, automation and API tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<UserId>,
    /// That agent's name as it is now (joined on read; absent once the
    /// agent was deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Who wrote an outbound message imhub sent: `agent` (a session user),
    /// `api` (an API token) or `automation` (a rule, see `rule_id`; the
    /// inbox shows it as 自动回复). Absent for inbound messages and for
    /// those the merchant wrote in the platform's own app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_kind: Option<SenderKind>,
    /// The automation rule that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<crate::automation::RuleId>,
    /// When it was written (inbound: the platform's time).
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;

    #[test]
    fn status_moves_only_forward() {
        assert!(Queued.can_become(Sending));
        assert!(Queued.can_become(Sent));
        assert!(Sent.can_become(Read));
        assert!(!Sent.can_become(Queued));
        assert!(!Read.can_become(Delivered));
        assert!(Sent.can_become(Recalled));
        assert!(!Queued.can_become(Recalled));
        assert!(!Sent.can_become(Failed));
        assert!(!Failed.can_become(Sent));
        assert!(!Recalled.can_become(Read));
        assert!(Failed.can_retry() && !Sent.can_retry());
    }
}
