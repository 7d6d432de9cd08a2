//! imhub's storage: the [`Store`] trait and its one implementation,
//! [`SqlStore`], over SQLite (embedded, the default) or PostgreSQL (several
//! nodes). Every query and rule is written once against a small synchronous
//! [`db::Db`] interface that both backends implement; writes go through one
//! writer that commits many callers in one transaction (group commit).

pub mod alerts;
pub mod assignment;
pub mod automation;
pub mod bench;
mod channels;
mod contacts;
mod conversations;
pub mod db;
mod engine;
mod error;
pub mod events;
pub mod group_members;
mod ingest;
pub mod kept_pushes;
mod labels;
pub mod leads;
mod media;
mod messages;
pub mod migrations;
mod notes;
pub mod operator;
mod outbox;
pub mod postgres;
mod quick_replies;
pub mod rate_slots;
mod retention;
mod rows;
pub mod search;
pub mod secrets;
mod sql_store;
pub mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timers;
pub mod turns;
mod workspaces;

pub use assignment::{
    AccountAssignment, Actor, AgentInfo, ConversationCounts, StatusChange, TeamSettings,
};
pub use channels::{CHANNEL_DISCONNECTED, ChannelHealth, SendFailure};
pub use contacts::{
    ContactConversation, ContactDetails, MAX_CONTACT_NOTES_CHARS, MAX_PANEL_CONVERSATIONS,
};
pub use conversations::MAX_PAGE as MAX_CONVERSATION_PAGE;
pub use error::StoreError;
pub use events::{WebhookDelivery, WebhookJob, WebhookOutcome, WebhookSubscription};
pub use labels::{Label, MAX_BULK_CONVERSATIONS, MAX_LABELS_PER_ITEM};
pub use messages::MAX_PAGE as MAX_MESSAGE_PAGE;
pub use notes::{MAX_MENTION_PAGE, Mention, NewNote, NoteWritten};
pub use outbox::LeaseShares;
pub use quick_replies::{
    MAX_QUICK_REPLY_PAGE, NewQuickReply, QuickReply, QuickReplyFilter, QuickReplyPatch,
    QuickReplyScope, normalize_shortcut,
};
pub use rate_slots::RateClaim;
pub use retention::{Pruned, RetentionPolicy};
pub use secrets::{KeyRing, Resealed, SecretKey};
pub use sql_store::{SqlStore, StoreOptions};
pub use sqlite::Durability;
pub use store::*;
pub use timers::{NewTimer, Timer};
pub use workspaces::{AVATAR_TYPES, ProfileUpdate, UserUpdate};
