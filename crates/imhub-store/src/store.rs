//! The one storage interface the server uses, with the inputs and outputs
//! of its use cases. Every method that touches merchant data takes the
//! caller's [`WorkspaceId`] first, so a forgotten scope does not compile.

use imhub_core::{
    Account, AccountId, AccountState, Availability, ChannelId, Content, Conversation,
    ConversationId, ConversationStatus, InboundEvent, Message, MessageId, OutboundTarget, Platform,
    Role, Timestamp, UserId, WebhookId, Workspace, WorkspaceId,
};

use crate::StoreError;

/// Who is calling, as found from a token or a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub role: Role,
    /// Set for an agent's login session; API tokens have none.
    pub user_id: Option<UserId>,
    /// The workspace is suspended (or still being resumed): its routes
    /// answer 403 `workspace_suspended`.
    pub suspended: bool,
}

/// A channel with its full configuration, secrets included: for adapters
/// only, never for API responses (its `Debug` hides the configuration).
#[derive(Clone)]
pub struct StoredChannel {
    pub id: ChannelId,
    pub workspace_id: WorkspaceId,
    pub platform: Platform,
    pub name: String,
    pub config: serde_json::Value,
    pub created_at: Timestamp,
    /// When the configuration last changed (`created_at` until then): a
    /// node whose cached adapter is older builds a new one.
    pub updated_at: Timestamp,
    /// Set once an admin disconnected the channel: its pushes are refused
    /// like an unknown channel's and nothing is sent through it; its
    /// conversations stay readable.
    pub disconnected_at: Option<Timestamp>,
}

impl std::fmt::Debug for StoredChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredChannel")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("platform", &self.platform)
            .field("name", &self.name)
            .field("config", &"<hidden>")
            .field("disconnected_at", &self.disconnected_at)
            .finish()
    }
}

/// An agent as stored, with the password hash for login checks.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: Timestamp,
    /// Set while an admin has disabled the user: no login, no session.
    pub disabled_at: Option<Timestamp>,
    /// The key of the upload shown as the user's avatar.
    pub avatar_key: Option<String>,
    /// The inbox language the user chose (`zh-CN`, `en`); `None` follows
    /// the browser.
    pub language: Option<String>,
}

/// An API token as listed to admins: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// After this the token is refused; `None` never expires.
    pub expires_at: Option<Timestamp>,
    /// When the token was last seen, to about a minute.
    pub last_used_at: Option<Timestamp>,
}

/// Where a chat-list page starts: after this (last activity, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub last_activity_at: i64,
    pub id: i64,
}

/// The chat list's filters.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub account_id: Option<AccountId>,
    pub platform: Option<Platform>,
    pub status: Option<ConversationStatus>,
    pub unread_only: bool,
    /// Case-insensitive substring of the contact's or group's name.
    pub query: Option<String>,
    pub after: Option<ListCursor>,
    pub limit: u32,
    /// Whose conversations: everyone's, the caller's, unassigned ones, or
    /// those mentioning the caller.
    pub view: ListView,
    /// Assigned to this agent.
    pub assignee_id: Option<UserId>,
    /// Carrying any of these labels.
    pub label_ids: Vec<imhub_core::LabelId>,
    /// Without a `status`: open and pending only (the inbox's default view,
    /// which resolved and sleeping snoozed conversations leave). `false`
    /// lists every status.
    pub open_only: bool,
}

/// The chat list's views.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListView {
    #[default]
    All,
    /// Assigned to this agent.
    Mine(UserId),
    /// Assigned to nobody.
    Unassigned,
    /// Where a note mentioned this agent.
    Mentions(UserId),
}

/// Where a chat-detail page starts: older than this (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCursor {
    pub created_at: i64,
    pub id: i64,
}

/// A verified push to be recorded in one transaction.
#[derive(Debug, Clone)]
pub struct PushRecord {
    pub channel_id: ChannelId,
    /// The push's own id; a second push with the same key is a duplicate.
    pub event_key: Option<String>,
    pub body: Vec<u8>,
    pub received_at: Timestamp,
    pub events: Vec<InboundEvent>,
    /// Method, path, query and headers of the push, kept so it can be
    /// verified and parsed again by `imhub events replay`.
    pub request: Option<serde_json::Value>,
    /// Whether an account the store does not know yet is created on the fly
    /// (platform pushes) or makes the push unprocessable (custom channel).
    pub create_unknown_accounts: bool,
}

/// What changed, for live events after the commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    MessageCreated {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    MessageUpdated {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    ConversationUpdated {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
    },
    /// The conversation's assignee changed (`None`: back to the queue);
    /// `by` is the agent who did it, `None` for the system.
    ConversationAssigned {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        assignee_id: Option<UserId>,
        by: Option<UserId>,
    },
    /// The conversation's status changed (a customer reopening it included).
    ConversationStatusChanged {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        status: ConversationStatus,
    },
    /// Labels were put on or taken off the conversation.
    ConversationLabelsChanged {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
    },
    /// An agent wrote a private note (never a `message.created`).
    NoteCreated {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// A note mentioned an agent with `@name`.
    Mentioned {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
    },
    /// An agent became online, away or offline.
    AvailabilityChanged {
        workspace_id: WorkspaceId,
        user_id: UserId,
        availability: Availability,
    },
    /// An automation rule with an `emit_webhook` action fired.
    AutomationFired {
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        rule_id: imhub_core::automation::RuleId,
    },
    /// A lead was captured (a lead card, a phone or WeChat id in a
    /// customer message).
    LeadCreated {
        workspace_id: WorkspaceId,
        lead_id: imhub_core::leads::LeadId,
    },
    /// A lead changed: captured data, an agent's edit, stage or owner, a
    /// merge.
    LeadUpdated {
        workspace_id: WorkspaceId,
        lead_id: imhub_core::leads::LeadId,
    },
}

/// The outcome of recording a push.
#[derive(Debug, Clone, Default)]
pub struct PushRecorded {
    /// The push's event key was seen before; nothing was written.
    pub duplicate: bool,
    pub changes: Vec<Change>,
    /// Reasons for events that were kept raw instead of processed.
    pub unprocessable: Vec<String>,
    /// An automatic reply entered the outbox: the delivery engine should
    /// look now rather than at its next poll.
    pub outbox_queued: bool,
}

/// A raw push kept because it could not be processed.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub id: i64,
    pub channel_id: ChannelId,
    pub event_key: Option<String>,
    pub body: Vec<u8>,
    pub status: String,
    pub reason: Option<String>,
    pub received_at: Timestamp,
    pub request: Option<serde_json::Value>,
}

/// An agent's reply, to be stored as queued with its outbox entry.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub conversation_id: ConversationId,
    pub content: Content,
    /// The caller's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// A hash of the request body: the same key with another body is a conflict.
    pub request_hash: String,
    /// The agent who wrote the reply (a session user); `None` for API
    /// tokens and automation.
    pub author_id: Option<UserId>,
}

/// The stored reply; `replayed` when an earlier request with the same
/// idempotency key already created it.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub message: Message,
    pub replayed: bool,
    pub changes: Vec<Change>,
}

/// What an outbox entry asks the delivery engine to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOp {
    Send,
    Recall,
    /// Tell the platform the merchant read up to this (inbound) message.
    Read,
}

impl OutboxOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutboxOp::Send => "send",
            OutboxOp::Recall => "recall",
            OutboxOp::Read => "read",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "send" => OutboxOp::Send,
            "recall" => OutboxOp::Recall,
            "read" => OutboxOp::Read,
            _ => return None,
        })
    }
}

/// One leased outbox entry with everything the adapter needs.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub account_id: AccountId,
    pub op: OutboxOp,
    pub message: Message,
    pub target: OutboundTarget,
    /// Attempts before this one.
    pub attempts: i64,
    /// This lease's own token (`{owner}#{n}`): only the holder of this very
    /// lease can complete the entry, even if the same node leases it again
    /// after the lease expired.
    pub lease: String,
}

/// How an outbox entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxResult {
    Done {
        platform_message_id: Option<String>,
    },
    /// Not attempted (a rate limit kept it waiting too long): try again at
    /// `at`, without counting an attempt.
    Defer {
        at: Timestamp,
    },
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        code: String,
        text: String,
    },
}

/// All of imhub's storage. Implemented once over SQLite and PostgreSQL.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    // Workspaces, tokens, agents, sessions.
    /// A new merchant.
    async fn create_workspace(&self, name: &str) -> Result<Workspace, StoreError>;
    /// Every workspace (operators only; also the readiness probe).
    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError>;
    /// Stores a token by its hash.
    async fn create_api_token(
        &self,
        ws: WorkspaceId,
        name: &str,
        role: Role,
        token_hash: &str,
    ) -> Result<(), StoreError>;
    /// Who a token (by hash) belongs to.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<Principal>, StoreError>;
    /// Adds an agent; emails are unique within a workspace (the same email
    /// may exist in another workspace, and nothing here tells).
    async fn create_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<StoredUser, StoreError>;
    /// The oldest agent with this email in any workspace. Emails are unique
    /// per workspace only: login uses [`Store::find_login_users`].
    async fn find_user_by_email(&self, email: &str) -> Result<Option<StoredUser>, StoreError>;
    /// An agent of the workspace.
    async fn get_user(&self, ws: WorkspaceId, id: UserId) -> Result<StoredUser, StoreError>;
    /// Stores a login session by its hash.
    async fn create_session(
        &self,
        user: &StoredUser,
        token_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Who an unexpired session (by hash) belongs to.
    async fn find_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError>;
    /// Ends a session (logout).
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Stores a token by its hash, refused after `expires_at` when given.
    async fn create_api_token_expiring(
        &self,
        ws: WorkspaceId,
        name: &str,
        role: Role,
        token_hash: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<ApiTokenInfo, StoreError>;
    /// The workspace's API tokens, oldest first.
    async fn list_api_tokens(&self, ws: WorkspaceId) -> Result<Vec<ApiTokenInfo>, StoreError>;
    /// Deletes a token of the workspace: its next call is refused.
    async fn revoke_api_token(&self, ws: WorkspaceId, id: i64) -> Result<(), StoreError>;
    /// Records that a token (by hash) was used now (callers throttle this).
    async fn touch_api_token(&self, token_hash: &str, now: Timestamp) -> Result<(), StoreError>;
    /// The users a login with this email may mean: in `ws` only when given,
    /// else in every workspace (at most a few, oldest first).
    async fn find_login_users(
        &self,
        email: &str,
        ws: Option<WorkspaceId>,
    ) -> Result<Vec<StoredUser>, StoreError>;
    /// The workspace's agents, oldest first.
    async fn list_users(&self, ws: WorkspaceId) -> Result<Vec<StoredUser>, StoreError>;
    /// Disables (ending every session, returning their unresolved
    /// conversations to the queue) or enables an agent.
    async fn set_user_disabled(
        &self,
        ws: WorkspaceId,
        id: UserId,
        disabled: bool,
    ) -> Result<(StoredUser, Vec<Change>), StoreError>;
    /// Replaces an agent's password hash and ends the agent's sessions, all
    /// but `keep_session` (a session hash: the caller's own, when they
    /// changed their own password).
    async fn set_user_password(
        &self,
        ws: WorkspaceId,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Deletes an agent with every session, personal quick reply and
    /// mention; their conversations return to the queue.
    async fn delete_user(&self, ws: WorkspaceId, id: UserId) -> Result<Vec<Change>, StoreError>;
    /// Ends every session of an agent ("sign out everywhere"); returns how many.
    async fn end_user_sessions(&self, ws: WorkspaceId, id: UserId) -> Result<u64, StoreError>;

    // Channels and accounts.
    /// Connects a platform app with its configuration.
    async fn create_channel(
        &self,
        ws: WorkspaceId,
        platform: Platform,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<StoredChannel, StoreError>;
    /// The workspace's channels.
    async fn list_channels(&self, ws: WorkspaceId) -> Result<Vec<StoredChannel>, StoreError>;
    /// One channel of the workspace.
    async fn get_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
    ) -> Result<StoredChannel, StoreError>;
    /// For webhooks, whose URL names only the channel.
    async fn find_channel(&self, id: ChannelId) -> Result<Option<StoredChannel>, StoreError>;
    /// Adds a merchant account to a channel.
    async fn create_account(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        external_id: &str,
        name: &str,
    ) -> Result<Account, StoreError>;
    /// The workspace's accounts.
    async fn list_accounts(&self, ws: WorkspaceId) -> Result<Vec<Account>, StoreError>;
    /// One account of the workspace.
    async fn get_account(&self, ws: WorkspaceId, id: AccountId) -> Result<Account, StoreError>;
    /// Marks an account active or needing re-authorization.
    async fn set_account_state(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<Account, StoreError>;

    /// An account by its platform id, if the channel has it.
    async fn find_account(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        external_id: &str,
    ) -> Result<Option<Account>, StoreError>;
    /// A value an adapter keeps for its channel (tokens), if any.
    async fn get_channel_state(
        &self,
        channel: ChannelId,
        key: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Stores (replaces) a value an adapter keeps for its channel.
    async fn put_channel_state(
        &self,
        channel: ChannelId,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError>;

    // Ingest.
    /// Records a verified push: raw event, contacts, conversations, messages, in one group commit; a replay is a no-op.
    async fn record_push(
        &self,
        ws: WorkspaceId,
        push: PushRecord,
    ) -> Result<PushRecorded, StoreError>;
    /// Kept pushes by status (`processed`, `unprocessable`).
    async fn list_raw_events(
        &self,
        ws: WorkspaceId,
        status: &str,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError>;

    /// Processes the events of a kept raw push again (after its cause was
    /// fixed, e.g. the account was created) without storing it twice.
    async fn replay_raw_event(
        &self,
        ws: WorkspaceId,
        raw_id: i64,
        events: Vec<InboundEvent>,
        create_unknown_accounts: bool,
    ) -> Result<PushRecorded, StoreError>;

    // Outgoing webhooks to the merchant's systems.
    /// Subscribes a URL to events.
    async fn create_webhook(
        &self,
        ws: WorkspaceId,
        url: &str,
        secret: &str,
        event_types: &[String],
    ) -> Result<crate::events::WebhookSubscription, StoreError>;
    /// The workspace's active subscriptions.
    async fn list_webhooks(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<crate::events::WebhookSubscription>, StoreError>;
    /// Ends a subscription.
    async fn delete_webhook(&self, ws: WorkspaceId, id: WebhookId) -> Result<(), StoreError>;
    /// A subscription's newest deliveries.
    async fn list_webhook_deliveries(
        &self,
        ws: WorkspaceId,
        id: WebhookId,
        limit: u32,
    ) -> Result<Vec<crate::events::WebhookDelivery>, StoreError>;
    /// Takes due webhook deliveries for a while.
    async fn lease_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::events::WebhookJob>, StoreError>;
    /// Records how a delivery attempt ended.
    async fn complete_webhook_delivery(
        &self,
        id: i64,
        outcome: crate::events::WebhookOutcome,
    ) -> Result<(), StoreError>;

    /// Changes committed by any node, for live events, where the backend
    /// can tell (PostgreSQL LISTEN/NOTIFY). `None` on SQLite, whose only
    /// writer is this process.
    fn remote_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>>;

    // Conversations.
    /// The chat list, newest activity first.
    async fn list_conversations(
        &self,
        ws: WorkspaceId,
        filter: ConversationFilter,
    ) -> Result<Vec<Conversation>, StoreError>;
    /// One conversation of the workspace.
    async fn get_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<Conversation, StoreError>;
    /// The stored reply context and target of a conversation, for adapters.
    async fn outbound_target(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<(ChannelId, OutboundTarget), StoreError>;
    /// Open, pending or resolved.
    async fn set_conversation_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
    ) -> Result<(Conversation, Vec<Change>), StoreError>;
    /// Resets unread; with `read_receipt`, queues a read receipt for the
    /// newest inbound message.
    async fn mark_read(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        read_receipt: bool,
    ) -> Result<(Conversation, Vec<Change>), StoreError>;

    // Messages and the outbox.
    /// A conversation's messages, newest first, without internal entries
    /// (notes, activity lines): what integrations may see. The inbox's
    /// timeline with them is [`Store::list_timeline`].
    async fn list_messages(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// One message of the workspace.
    async fn get_message(&self, ws: WorkspaceId, id: MessageId) -> Result<Message, StoreError>;
    /// Stores a reply as queued with its outbox entry, once per idempotency key.
    async fn enqueue_message(
        &self,
        ws: WorkspaceId,
        outbound: NewOutbound,
    ) -> Result<Enqueued, StoreError>;
    /// Queues a recall of a sent message.
    async fn request_recall(&self, ws: WorkspaceId, id: MessageId) -> Result<Message, StoreError>;
    /// Queues a failed message again.
    async fn retry_message(
        &self,
        ws: WorkspaceId,
        id: MessageId,
    ) -> Result<(Message, Vec<Change>), StoreError>;
    /// Takes up to `limit` due entries for `lease_ms`, at most one per
    /// conversation and only the oldest of each, so order is kept.
    async fn lease_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxJob>, StoreError>;
    /// As [`Store::lease_outbox`], and no workspace or account ends up
    /// holding more leases in force (on every node together) than its
    /// share: the delivery engine's fair lease.
    async fn lease_outbox_shared(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        shares: crate::LeaseShares,
    ) -> Result<Vec<OutboxJob>, StoreError>;
    /// Records how a leased entry ended; refused if the lease was lost.
    async fn complete_outbox(
        &self,
        job: &OutboxJob,
        result: OutboxResult,
    ) -> Result<Vec<Change>, StoreError>;
    /// Frees the leases `owner` holds: called by a node that restarted under
    /// the same name, so its crashed predecessor's entries go out at once
    /// instead of after the lease expires. Returns how many were freed.
    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError>;
    /// When the next entry is due, to let the delivery engine sleep.
    async fn next_outbox_due(&self) -> Result<Option<Timestamp>, StoreError>;

    // Send rate limits shared by nodes (rate_slots.rs).
    /// Whether the delivery engine must share send rate limits with other
    /// nodes through [`Store::claim_rate_slots`]: true on PostgreSQL, which
    /// several nodes may share; false on SQLite, whose one node keeps its
    /// limits in memory.
    fn shares_rate_limits(&self) -> bool;
    /// Takes, for each claim, up to `want` of the sends its key allows in
    /// the Unix second `second`, counted over all nodes together; returns
    /// what each claim got, in order. The grants of one key and second never
    /// add up to more than its limit; a second older than the one a key
    /// already counts gets nothing. One statement, committed before it
    /// returns, never queued behind a group commit.
    async fn claim_rate_slots(
        &self,
        second: i64,
        claims: Vec<crate::RateClaim>,
    ) -> Result<Vec<u32>, StoreError>;

    // Uploaded media for the inbox's attachments.
    /// Stores an upload under an unguessable `key` (platforms fetch it by URL).
    /// `quota_bytes` bounds the workspace's media in all:
    /// [`StoreError::QuotaExceeded`] when this upload would pass it.
    async fn put_media(
        &self,
        ws: WorkspaceId,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
        quota_bytes: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Bytes of media the workspace stores (for its quota).
    async fn media_usage(&self, ws: WorkspaceId) -> Result<u64, StoreError>;

    // Retention.
    /// Prunes one batch of records older than `policy` allows (see
    /// [`crate::RetentionPolicy`]); call again while a kind prunes a full batch.
    async fn prune(
        &self,
        policy: crate::RetentionPolicy,
        now: Timestamp,
        batch: u32,
    ) -> Result<crate::Pruned, StoreError>;
    /// An upload's content type and bytes.
    async fn get_media(&self, key: &str) -> Result<(String, Vec<u8>), StoreError>;

    // Team inbox: assignment, availability, status and snooze, timers.
    /// Assigns a conversation to an agent of the workspace, or unassigns
    /// it (`None`), with an activity line; role rules as in
    /// [`crate::assignment::Actor`]: refusals `unknown_agent`,
    /// `agent_disabled`, `forbidden`, `needs_user`.
    async fn assign_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        assignee: Option<UserId>,
        actor: crate::Actor,
        now: Timestamp,
    ) -> Result<(Conversation, Vec<Change>), StoreError>;
    /// Changes a conversation's status, `by` an agent (or the system); a
    /// snooze schedules its durable end (refusal `snooze_in_past`).
    async fn change_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        change: crate::StatusChange,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<(Conversation, Vec<Change>), StoreError>;
    /// An account's auto-assignment settings.
    async fn get_account_assignment(
        &self,
        ws: WorkspaceId,
        account: AccountId,
    ) -> Result<crate::AccountAssignment, StoreError>;
    /// Replaces an account's auto-assignment settings.
    async fn set_account_assignment(
        &self,
        ws: WorkspaceId,
        account: AccountId,
        settings: crate::AccountAssignment,
        now: Timestamp,
    ) -> Result<(crate::AccountAssignment, Vec<Change>), StoreError>;
    /// The workspace's team settings (defaults until set).
    async fn get_team_settings(&self, ws: WorkspaceId) -> Result<crate::TeamSettings, StoreError>;
    /// Replaces the workspace's team settings.
    async fn set_team_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::TeamSettings,
    ) -> Result<crate::TeamSettings, StoreError>;
    /// The workspace's enabled agents with availability and load.
    async fn list_agents(&self, ws: WorkspaceId) -> Result<Vec<crate::AgentInfo>, StoreError>;
    /// Sets an agent's capacity for auto-assignment.
    async fn set_capacity(
        &self,
        ws: WorkspaceId,
        user: UserId,
        capacity: u32,
        now: Timestamp,
    ) -> Result<(crate::AgentInfo, Vec<Change>), StoreError>;
    /// Sets an agent's availability (and counts as seeing them now).
    async fn set_availability(
        &self,
        ws: WorkspaceId,
        user: UserId,
        availability: Availability,
        now: Timestamp,
    ) -> Result<(crate::AgentInfo, Vec<Change>), StoreError>;
    /// Records that an agent's inbox is connected (callers throttle this).
    async fn touch_presence(
        &self,
        ws: WorkspaceId,
        user: UserId,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Sets offline the agents of every workspace not seen for its
    /// `offline_after_minutes`; safe on several nodes at once.
    async fn sweep_presence(&self, now: Timestamp) -> Result<Vec<Change>, StoreError>;
    /// The chat list's live counts for `me`.
    async fn conversation_counts(
        &self,
        ws: WorkspaceId,
        me: Option<UserId>,
    ) -> Result<crate::ConversationCounts, StoreError>;
    /// Schedules a durable timer; returns its id.
    async fn schedule_timer(
        &self,
        ws: WorkspaceId,
        timer: crate::NewTimer,
        now: Timestamp,
    ) -> Result<i64, StoreError>;
    /// Cancels a conversation's timers of a kind; returns how many.
    async fn cancel_timers(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        kind: &str,
    ) -> Result<u64, StoreError>;
    /// Takes due timers for `lease_ms` (any node; oldest first).
    async fn lease_timers(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::Timer>, StoreError>;
    /// Completes a leased timer in one transaction with what its kind does
    /// in the store (`snooze_end` wakes the conversation); nothing when the
    /// lease was lost or the timer cancelled.
    async fn fire_timer(
        &self,
        timer: &crate::Timer,
        now: Timestamp,
    ) -> Result<Vec<Change>, StoreError>;
    /// Gives a leased timer back, due again at `at`.
    async fn postpone_timer(&self, timer: &crate::Timer, at: Timestamp) -> Result<(), StoreError>;
    /// When the next timer is due, to let the timer engine sleep.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError>;

    // Team inbox: notes and mentions, labels, quick replies, contact details.
    /// A conversation's timeline, newest first; with `internal`, notes and
    /// activity lines too (the inbox), else as [`Store::list_messages`].
    async fn list_timeline(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: Option<MessageCursor>,
        limit: u32,
        internal: bool,
    ) -> Result<Vec<Message>, StoreError>;
    /// Writes a private note (no outbox entry, unread and preview left as
    /// they are) and a mention for each agent its `@name`s name.
    /// Refused: `invalid_request` (blank), `note_too_long`.
    async fn create_note(
        &self,
        ws: WorkspaceId,
        note: crate::NewNote,
    ) -> Result<crate::NoteWritten, StoreError>;
    /// Mentions of an agent, newest first (`before`: older than this
    /// (created_at, message id)).
    async fn list_mentions(
        &self,
        ws: WorkspaceId,
        user: UserId,
        unread_only: bool,
        before: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<crate::Mention>, StoreError>;
    /// Marks an agent's mentions read: these notes' (`Some`) or all; returns
    /// how many were unread.
    async fn mark_mentions_read(
        &self,
        ws: WorkspaceId,
        user: UserId,
        message_ids: Option<Vec<MessageId>>,
    ) -> Result<u64, StoreError>;
    /// A new workspace label; a taken name is a `Conflict`.
    async fn create_label(
        &self,
        ws: WorkspaceId,
        name: &str,
        color: &str,
    ) -> Result<crate::Label, StoreError>;
    /// The workspace's labels by name.
    async fn list_labels(&self, ws: WorkspaceId) -> Result<Vec<crate::Label>, StoreError>;
    /// Renames or recolours a label; a taken name is a `Conflict`.
    async fn update_label(
        &self,
        ws: WorkspaceId,
        id: imhub_core::LabelId,
        name: Option<String>,
        color: Option<String>,
    ) -> Result<crate::Label, StoreError>;
    /// Deletes a label and takes it off every conversation and contact.
    async fn delete_label(
        &self,
        ws: WorkspaceId,
        id: imhub_core::LabelId,
    ) -> Result<Vec<Change>, StoreError>;
    /// A conversation's labels, in id order.
    async fn conversation_labels(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<Vec<imhub_core::LabelId>, StoreError>;
    /// Replaces a conversation's labels (every one the workspace's, else
    /// `NotFound`); returns them in id order.
    async fn set_conversation_labels(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        labels: Vec<imhub_core::LabelId>,
    ) -> Result<(Vec<imhub_core::LabelId>, Vec<Change>), StoreError>;
    /// Adds and removes labels on up to 200 conversations at once, all or
    /// nothing (a foreign conversation or label is `NotFound`).
    async fn bulk_label_conversations(
        &self,
        ws: WorkspaceId,
        conversations: Vec<ConversationId>,
        add: Vec<imhub_core::LabelId>,
        remove: Vec<imhub_core::LabelId>,
    ) -> Result<Vec<Change>, StoreError>;
    /// Replaces a contact's labels; returns them in id order.
    async fn set_contact_labels(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
        labels: Vec<imhub_core::LabelId>,
    ) -> Result<Vec<imhub_core::LabelId>, StoreError>;
    /// Saves a quick reply; a taken shortcut is a `Conflict`.
    async fn create_quick_reply(
        &self,
        ws: WorkspaceId,
        reply: crate::NewQuickReply,
    ) -> Result<crate::QuickReply, StoreError>;
    /// The shared replies and `viewer`'s own, filtered.
    async fn list_quick_replies(
        &self,
        ws: WorkspaceId,
        viewer: Option<UserId>,
        filter: crate::QuickReplyFilter,
    ) -> Result<Vec<crate::QuickReply>, StoreError>;
    /// One quick reply `viewer` may see (another agent's is `NotFound`).
    async fn get_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
    ) -> Result<crate::QuickReply, StoreError>;
    /// Changes a quick reply `viewer` may see (the caller checks the role).
    async fn update_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
        patch: crate::QuickReplyPatch,
    ) -> Result<crate::QuickReply, StoreError>;
    /// Deletes a quick reply `viewer` may see (the caller checks the role).
    async fn delete_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
    ) -> Result<(), StoreError>;
    /// A contact with labels, notes and conversations, for the panel.
    async fn get_contact(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
    ) -> Result<crate::ContactDetails, StoreError>;
    /// Replaces the free-text notes about a contact (`None` or blank clears).
    async fn set_contact_notes(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
        notes: Option<String>,
    ) -> Result<crate::ContactDetails, StoreError>;

    // Full-text search.
    /// Messages of the workspace whose text contains `query.text` (any
    /// case, Chinese or not), newest first, with a highlighted snippet; see
    /// [`crate::search`] for how short queries are bounded.
    async fn search_messages(
        &self,
        ws: WorkspaceId,
        query: crate::search::SearchQuery,
    ) -> Result<crate::search::SearchPage, StoreError>;

    // Automation.
    /// The workspace's rules in evaluation order.
    async fn list_rules(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<crate::automation::StoredRule>, StoreError>;
    /// One rule of the workspace (another's is `NotFound`).
    async fn get_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
    ) -> Result<crate::automation::StoredRule, StoreError>;
    /// Saves a new rule last in the order. Refused (`Refused`) with the
    /// [`imhub_core::automation::RuleError`] code, `unknown_variable`,
    /// `unknown_quick_reply`, `unknown_label`, `unknown_agent` or
    /// `invalid_request`.
    async fn create_rule(
        &self,
        ws: WorkspaceId,
        rule: crate::automation::RuleBody,
        now: Timestamp,
    ) -> Result<crate::automation::StoredRule, StoreError>;
    /// Replaces a rule (same refusals as [`Store::create_rule`]).
    async fn update_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
        rule: crate::automation::RuleBody,
        now: Timestamp,
    ) -> Result<crate::automation::StoredRule, StoreError>;
    /// Deletes a rule with its counters.
    async fn delete_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
    ) -> Result<(), StoreError>;
    /// Puts every rule of the workspace in the given order.
    async fn reorder_rules(
        &self,
        ws: WorkspaceId,
        ids: Vec<imhub_core::automation::RuleId>,
    ) -> Result<Vec<crate::automation::StoredRule>, StoreError>;
    /// Business hours and limits (defaults until set).
    async fn get_automation_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<imhub_core::automation::AutomationSettings, StoreError>;
    /// Replaces business hours and limits (refusal `invalid_hours`).
    async fn set_automation_settings(
        &self,
        ws: WorkspaceId,
        settings: imhub_core::automation::AutomationSettings,
    ) -> Result<imhub_core::automation::AutomationSettings, StoreError>;
    /// A rule's counters for the last 7 days and its recent failures.
    async fn rule_stats(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
        now: Timestamp,
    ) -> Result<crate::automation::RuleStats, StoreError>;
    /// Which rules would fire on a sample, and what they would send;
    /// stores and sends nothing.
    async fn test_rules(
        &self,
        ws: WorkspaceId,
        sample: crate::automation::RuleTest,
    ) -> Result<crate::automation::RuleTestOutcome, StoreError>;

    // Reply-time KPIs.
    /// The counting window and reply-time thresholds (defaults until set).
    async fn get_kpi_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::turns::KpiSettings, StoreError>;
    /// Replaces them (refusals `invalid_window`, `invalid_target`); turns
    /// already counted keep the waits they were counted with.
    async fn set_kpi_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::turns::KpiSettings,
    ) -> Result<crate::turns::KpiSettings, StoreError>;
    /// Open and pending conversations whose customer waits for a human
    /// reply, longest wait first, with the wait counted by `now`.
    async fn waiting_conversations(
        &self,
        ws: WorkspaceId,
        account: Option<AccountId>,
        limit: u32,
        now: Timestamp,
    ) -> Result<crate::turns::WaitingQueue, StoreError>;
    /// Per-day account totals of the daily rows over a range of days.
    async fn kpi_days(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
    ) -> Result<Vec<crate::turns::KpiDay>, StoreError>;
    /// Per-account (`agents` false) or per-agent totals over a range.
    async fn kpi_groups(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        agents: bool,
    ) -> Result<Vec<crate::turns::KpiGroup>, StoreError>;
    /// The range's turns, closed then open, for the CSV export.
    async fn list_turns(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        now: Timestamp,
    ) -> Result<Vec<crate::turns::TurnRecord>, StoreError>;
    /// The range's turns summed per conversation, for the CSV export.
    async fn conversation_turns(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        now: Timestamp,
    ) -> Result<Vec<crate::turns::ConversationTurns>, StoreError>;

    // Leads.
    /// The lead list, newest first (merged leads left out).
    async fn list_leads(
        &self,
        ws: WorkspaceId,
        filter: crate::leads::LeadFilter,
    ) -> Result<Vec<crate::leads::Lead>, StoreError>;
    /// One lead of the workspace (another's is `NotFound`).
    async fn get_lead(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
    ) -> Result<crate::leads::Lead, StoreError>;
    /// The lead a contact belongs to, if any.
    async fn contact_lead(
        &self,
        ws: WorkspaceId,
        contact: imhub_core::ContactId,
    ) -> Result<Option<crate::leads::Lead>, StoreError>;
    /// Edits a lead, with a history entry for what changed; refused
    /// `unknown_agent` / `agent_disabled` (owner), `invalid_phone`,
    /// `invalid_request` (lengths).
    async fn update_lead(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
        patch: crate::leads::LeadPatch,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(crate::leads::Lead, Vec<Change>), StoreError>;
    /// Sets stage and/or owner on several leads, all or nothing; returns
    /// the leads that changed.
    async fn bulk_update_leads(
        &self,
        ws: WorkspaceId,
        ids: Vec<imhub_core::leads::LeadId>,
        stage: Option<imhub_core::leads::LeadStage>,
        owner: Option<Option<UserId>>,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(Vec<imhub_core::leads::LeadId>, Vec<Change>), StoreError>;
    /// A lead's history, oldest first.
    async fn lead_history(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
    ) -> Result<Vec<crate::leads::LeadHistoryEntry>, StoreError>;
    /// The merchant's own numbers.
    async fn get_lead_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::leads::LeadSettings, StoreError>;
    /// Replaces the merchant's own numbers (refusal `invalid_phone`).
    async fn set_lead_settings(
        &self,
        ws: WorkspaceId,
        own_numbers: Vec<String>,
    ) -> Result<crate::leads::LeadSettings, StoreError>;
    /// Merge proposals, newest first, of one status or all.
    async fn list_merge_proposals(
        &self,
        ws: WorkspaceId,
        status: Option<String>,
        limit: u32,
    ) -> Result<Vec<crate::leads::MergeProposal>, StoreError>;
    /// Accepts (merges) or rejects a pending proposal; a decided one is
    /// `InvalidState`.
    async fn decide_merge_proposal(
        &self,
        ws: WorkspaceId,
        id: i64,
        accept: bool,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(crate::leads::MergeProposal, Vec<Change>), StoreError>;

    // Alerts.
    /// Saves an alert target (its secret sealed); refusal
    /// `too_many_alert_targets`.
    async fn create_alert_target(
        &self,
        ws: WorkspaceId,
        target: crate::alerts::NewAlertTarget,
        now: Timestamp,
    ) -> Result<crate::alerts::AlertTarget, StoreError>;
    /// The workspace's alert targets, oldest first.
    async fn list_alert_targets(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<crate::alerts::AlertTarget>, StoreError>;
    /// One alert target of the workspace (another's is `NotFound`).
    async fn get_alert_target(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> Result<crate::alerts::AlertTarget, StoreError>;
    /// Changes an alert target.
    async fn update_alert_target(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: crate::alerts::AlertTargetPatch,
        now: Timestamp,
    ) -> Result<crate::alerts::AlertTarget, StoreError>;
    /// Deletes an alert target with its deliveries.
    async fn delete_alert_target(&self, ws: WorkspaceId, id: i64) -> Result<(), StoreError>;
    /// A target's kind, full URL and secret, for a test send.
    async fn alert_target_job(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> Result<crate::alerts::AlertJob, StoreError>;
    /// Shows how an attempt (the test) ended on the target.
    async fn record_alert_result(
        &self,
        ws: WorkspaceId,
        id: i64,
        result: crate::alerts::AlertResult,
    ) -> Result<(), StoreError>;
    /// A target's newest deliveries.
    async fn list_alert_deliveries(
        &self,
        ws: WorkspaceId,
        id: i64,
        limit: u32,
    ) -> Result<Vec<crate::alerts::AlertDelivery>, StoreError>;
    /// The workspace's alert settings (defaults until set).
    async fn get_alert_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::alerts::AlertSettings, StoreError>;
    /// Replaces the alert settings (refusal `invalid_request`).
    async fn set_alert_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::alerts::AlertSettings,
    ) -> Result<crate::alerts::AlertSettings, StoreError>;
    /// Takes due alert deliveries for `lease_ms`, holding back targets at
    /// their robot's messages-per-minute.
    async fn lease_alert_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::alerts::AlertJob>, StoreError>;
    /// Records how a delivery attempt ended (on the delivery and its target).
    async fn complete_alert_delivery(
        &self,
        job: &crate::alerts::AlertJob,
        result: crate::alerts::AlertResult,
        next: crate::alerts::AlertNext,
    ) -> Result<(), StoreError>;
    /// Raises an alert now in its own transaction (the store raises its own
    /// causes' alerts inside theirs; this is for tests and tools).
    async fn raise_alert(
        &self,
        ws: WorkspaceId,
        alert: imhub_core::alerts::Alert,
        throttle_key: Option<String>,
    ) -> Result<usize, StoreError>;

    // The operator (issue 15, helper O): status, quotas, deletion.
    /// Every workspace with status, quotas and usage, oldest first.
    async fn operator_workspaces(
        &self,
        now: Timestamp,
    ) -> Result<Vec<crate::operator::OperatorWorkspace>, StoreError>;
    /// One workspace with status, quotas and usage.
    async fn operator_workspace(
        &self,
        ws: WorkspaceId,
        now: Timestamp,
    ) -> Result<crate::operator::OperatorWorkspace, StoreError>;
    /// Renames a workspace.
    async fn rename_workspace(&self, ws: WorkspaceId, name: &str) -> Result<(), StoreError>;
    /// Replaces a workspace's quotas (`None`: the operator's default).
    async fn set_workspace_quotas(
        &self,
        ws: WorkspaceId,
        quotas: crate::operator::Quotas,
    ) -> Result<(), StoreError>;
    /// Replaces the operator's default quotas (each node at start).
    async fn set_quota_defaults(
        &self,
        defaults: crate::operator::QuotaDefaults,
    ) -> Result<(), StoreError>;
    /// Suspends a workspace: it sends nothing and holds its pushes.
    async fn suspend_workspace(&self, ws: WorkspaceId, now: Timestamp) -> Result<(), StoreError>;
    /// Starts resuming a suspended workspace; [`Store::drain_held_pushes`]
    /// finishes it.
    async fn begin_resume(&self, ws: WorkspaceId) -> Result<(), StoreError>;
    /// Processes up to `limit` held pushes of a resuming workspace in
    /// order, and turns it active once none is left.
    async fn drain_held_pushes(
        &self,
        ws: WorkspaceId,
        limit: u32,
    ) -> Result<crate::operator::Drained, StoreError>;
    /// Workspaces being resumed.
    async fn resuming_workspaces(&self) -> Result<Vec<WorkspaceId>, StoreError>;
    /// Refuses another message today past the workspace's
    /// `messages_per_day` (`Refused` with `quota_exceeded`).
    async fn check_daily_sends(&self, ws: WorkspaceId, now: Timestamp) -> Result<(), StoreError>;
    /// Deletes a workspace with every row of it (uploads included).
    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<(), StoreError>;

    // The admin console (issue 15, helper C).
    /// Renames a connected channel and/or replaces its whole configuration
    /// (merged and checked by the caller); not found once disconnected.
    async fn update_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        name: Option<&str>,
        config: Option<&serde_json::Value>,
    ) -> Result<StoredChannel, StoreError>;
    /// Disconnects a channel: kept as history, gone from lists, its queued
    /// replies failed `channel_disconnected` (their changes returned).
    async fn disconnect_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        now: Timestamp,
    ) -> Result<Vec<Change>, StoreError>;
    /// Every connected channel's last push, pushes since `since`, last
    /// failed send and accounts.
    async fn channel_health(
        &self,
        ws: WorkspaceId,
        since: Timestamp,
    ) -> Result<Vec<crate::ChannelHealth>, StoreError>;
    /// Renames, disables or enables an account (`None` keeps each).
    async fn update_account(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        name: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<Account, StoreError>;
    /// Changes an agent's role, name, disabled flag (refusal `last_admin`).
    async fn update_user(
        &self,
        ws: WorkspaceId,
        id: UserId,
        update: crate::UserUpdate,
    ) -> Result<(StoredUser, Vec<Change>), StoreError>;
    /// Changes a user's own name, avatar and language (refusal `invalid_avatar`).
    async fn update_profile(
        &self,
        ws: WorkspaceId,
        id: UserId,
        update: crate::ProfileUpdate,
    ) -> Result<StoredUser, StoreError>;
    /// Makes a webhook delivery due now (refusal `already_delivered`).
    async fn retry_webhook_delivery(
        &self,
        ws: WorkspaceId,
        subscription: WebhookId,
        id: i64,
        now: Timestamp,
    ) -> Result<crate::events::WebhookDelivery, StoreError>;
    /// Kept (unprocessable) pushes of connected channels, in id order after `after`.
    async fn list_kept_pushes(
        &self,
        ws: WorkspaceId,
        channel: Option<ChannelId>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError>;
    /// One kept push of a connected channel.
    async fn get_kept_push(&self, ws: WorkspaceId, id: i64) -> Result<RawEvent, StoreError>;
}
