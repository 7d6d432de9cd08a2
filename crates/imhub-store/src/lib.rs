//! imhub's storage: the [`Store`] trait and its one implementation,
//! [`SqlStore`], over SQLite (embedded, the default) or PostgreSQL (several
//! nodes). Every query and rule is written once against a small synchronous
//! [`db::Db`] interface that both backends implement; writes go through one
//! writer that commits many callers in one transaction (group commit).

pub mod bench;
mod channels;
mod conversations;
pub mod db;
mod engine;
mod error;
pub mod events;
pub mod group_members;
mod ingest;
mod media;
mod messages;
pub mod migrations;
mod outbox;
pub mod postgres;
mod retention;
mod rows;
pub mod secrets;
mod sql_store;
pub mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod workspaces;

pub use conversations::MAX_PAGE as MAX_CONVERSATION_PAGE;
pub use error::StoreError;
pub use events::{WebhookDelivery, WebhookJob, WebhookOutcome, WebhookSubscription};
pub use messages::MAX_PAGE as MAX_MESSAGE_PAGE;
pub use outbox::LeaseShares;
pub use retention::{Pruned, RetentionPolicy};
pub use secrets::{KeyRing, Resealed, SecretKey};
pub use sql_store::{SqlStore, StoreOptions};
pub use sqlite::Durability;
pub use store::*;
