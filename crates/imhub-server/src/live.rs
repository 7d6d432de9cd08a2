//! Live events: small notices (ids and what changed) published after each
//! commit to the inboxes connected over Server-Sent Events. A subscriber
//! that falls behind is dropped rather than slowing the server; the inbox
//! reconnects and reloads.

use imhub_core::{ConversationId, MessageId, WorkspaceId};
use imhub_store::Change;
use serde::Serialize;
use tokio::sync::broadcast;

/// One live event, as sent to SSE clients.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// `message.created`, `message.updated` or `conversation.updated`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub conversation_id: ConversationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
}

impl From<&Change> for LiveEvent {
    fn from(change: &Change) -> Self {
        match *change {
            Change::MessageCreated {
                workspace_id,
                conversation_id,
                message_id,
            } => LiveEvent {
                workspace_id,
                kind: "message.created",
                conversation_id,
                message_id: Some(message_id),
            },
            Change::MessageUpdated {
                workspace_id,
                conversation_id,
                message_id,
            } => LiveEvent {
                workspace_id,
                kind: "message.updated",
                conversation_id,
                message_id: Some(message_id),
            },
            Change::ConversationUpdated {
                workspace_id,
                conversation_id,
            } => LiveEvent {
                workspace_id,
                kind: "conversation.updated",
                conversation_id,
                message_id: None,
            },
        }
    }
}

/// The fan-out point for live events on this node.
#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<LiveEvent>,
    /// Set when the store reports every node's committed changes (LISTEN/
    /// NOTIFY): those, this node's included, arrive through
    /// [`LiveHub::publish_committed`], and local publishing is skipped so
    /// nothing is sent twice.
    from_store: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveHub {
    /// A hub whose subscribers may fall this many events behind.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        LiveHub {
            tx,
            from_store: Default::default(),
        }
    }

    /// Publishes changes this node committed.
    pub fn publish(&self, changes: &[Change]) {
        if self.from_store.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.send(changes);
    }

    /// Publishes changes any node committed, as the store reports them.
    pub fn publish_committed(&self, changes: &[Change]) {
        self.send(changes);
    }

    /// From now on, live events come from the store's change feed.
    pub fn use_store_feed(&self) {
        self.from_store
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn send(&self, changes: &[Change]) {
        for change in changes {
            // No subscribers is fine: nobody is watching.
            let _ = self.tx.send(LiveEvent::from(change));
        }
    }

    /// A new subscription to every workspace's events (filter by workspace).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}
