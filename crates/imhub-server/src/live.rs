//! Live events: small notices (ids and what changed) published after each
//! commit to the inboxes connected over Server-Sent Events. A subscriber
//! that falls behind is dropped rather than slowing the server; the inbox
//! reconnects and reloads.

use imhub_core::{ConversationId, MessageId, UserId, WorkspaceId};
use imhub_store::Change;
use serde::Serialize;
use tokio::sync::broadcast;

/// One live event, as sent to SSE clients: what changed, by id; the inbox
/// fetches what it shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    /// `message.created`, `message.updated`, `conversation.updated`,
    /// `conversation.assigned`, `conversation.status_changed`,
    /// `conversation.labels_changed`, `note.created`, `mention.created`,
    /// `agent.availability_changed`, `automation.fired` (a rule with a
    /// webhook action fired in the conversation), `lead.created` or
    /// `lead.updated` (with `lead_id`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// The agent mentioned, assigned, or whose availability changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The new status or availability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// The lead created or changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<imhub_core::leads::LeadId>,
}

impl From<&Change> for LiveEvent {
    fn from(change: &Change) -> Self {
        let (user_id, state) = match *change {
            Change::ConversationAssigned { assignee_id, .. } => (assignee_id, None),
            Change::ConversationStatusChanged { status, .. } => (None, Some(status.as_str())),
            Change::Mentioned { user_id, .. } => (Some(user_id), None),
            Change::AvailabilityChanged {
                user_id,
                availability,
                ..
            } => (Some(user_id), Some(availability.as_str())),
            _ => (None, None),
        };
        LiveEvent {
            workspace_id: change.workspace_id(),
            kind: change.event_type(),
            conversation_id: change.conversation_id(),
            message_id: change.message_id(),
            user_id,
            state,
            lead_id: change.lead_id(),
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
