//! Newtype ids, so a conversation id can never be passed where a message id
//! is expected. All are 64-bit integers assigned by the store.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id!(
    /// One merchant (tenant); every other record belongs to exactly one.
    WorkspaceId
);
id!(
    /// One connected platform app.
    ChannelId
);
id!(
    /// A merchant identity inside a channel.
    AccountId
);
id!(
    /// A customer on a platform.
    ContactId
);
id!(
    /// Account × (contact or group).
    ConversationId
);
id!(
    /// One message in a conversation.
    MessageId
);
id!(
    /// An agent who logs into the web inbox.
    UserId
);
id!(
    /// A merchant's subscription to imhub's outgoing webhooks.
    WebhookId
);
id!(
    /// A workspace label put on conversations and contacts.
    LabelId
);
id!(
    /// A saved answer (话术) in the quick-reply library.
    QuickReplyId
);
