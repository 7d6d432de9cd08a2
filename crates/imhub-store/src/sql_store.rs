//! [`SqlStore`]: the [`Store`] over either backend.

use std::{path::PathBuf, sync::Arc};

use imhub_core::{
    Account, AccountId, AccountState, ChannelId, Conversation, ConversationId, ConversationStatus,
    InboundEvent, Message, MessageId, OutboundTarget, Platform, Role, Timestamp, UserId, WebhookId,
    Workspace, WorkspaceId,
};

use crate::{
    ApiTokenInfo, Change, ConversationFilter, Enqueued, MessageCursor, NewOutbound, OutboxJob,
    OutboxResult, Principal, PushRecord, PushRecorded, RawEvent, Store, StoreError, StoredChannel,
    StoredUser, WebhookDelivery, WebhookJob, WebhookOutcome, WebhookSubscription, channels,
    conversations,
    db::{Db, Dialect},
    engine::{Connect, Readers, Writer},
    events, ingest, media, messages, migrations, outbox,
    postgres::{PgConnector, PgDb},
    secrets::{self, KeyRing, Resealed, SecretKey},
    sqlite::{Durability, SqliteDb},
    workspaces,
};

// The team inbox's store logic (helper T).
use crate::{assignment, timers};
use imhub_core::Availability;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`.
    pub url: String,
    /// SQLite only: `Full` (default) survives power loss, `Normal` a crash.
    pub durability: Durability,
    /// Reader connections.
    pub readers: usize,
    /// The key stored secrets are encrypted with. When `None`, a SQLite
    /// store uses (creating it on first start) the key file beside the
    /// database ([`secrets::default_key_path`]); a PostgreSQL store refuses
    /// to open, since its nodes must share a key the operator keeps.
    pub secret_key: Option<SecretKey>,
    /// Keys that are only read: values under them are re-encrypted under
    /// `secret_key` when the store opens (how `imhub secrets rotate` works).
    pub old_secret_keys: Vec<SecretKey>,
}

impl StoreOptions {
    /// Defaults for `url`: full durability, four readers, the default key.
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            durability: Durability::Full,
            readers: 4,
            secret_key: None,
            old_secret_keys: Vec::new(),
        }
    }
}

/// The message a PostgreSQL store without a key fails with.
pub const POSTGRES_NEEDS_KEY: &str = "a PostgreSQL database needs a configured secret key for the \
     credentials it stores (all nodes share it): set secret_key or secret_key_file in imhub.toml, \
     or IMHUB_SECRET_KEY / IMHUB_SECRET_KEY_FILE, to 32 random bytes in base64 or hex (for \
     example the output of `openssl rand -base64 32`)";

/// The URL without anything after its scheme, for errors (a URL may hold a password).
fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None => "(no scheme)".to_string(),
    }
}

/// The key a store without a configured one uses, if it may have one.
fn default_key(
    options: &StoreOptions,
    sqlite: Option<&std::path::Path>,
) -> Result<SecretKey, StoreError> {
    if let Some(key) = &options.secret_key {
        return Ok(key.clone());
    }
    #[cfg(feature = "testing")]
    if let Some(key) = crate::testing::secret_key_for(&options.url) {
        return Ok(key);
    }
    let Some(database) = sqlite else {
        return Err(StoreError::Secrets(POSTGRES_NEEDS_KEY.to_string()));
    };
    let path = secrets::default_key_path(database);
    let (key, created) =
        SecretKey::load_or_create(&path).map_err(|e| StoreError::Secrets(e.to_string()))?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "created a new secret key for the stored credentials; keep it with the database \
             (a backup of the database is useless without it)"
        );
    }
    Ok(key)
}

/// The store: a writer for group-committed writes and a pool of readers.
pub struct SqlStore {
    writer: Writer,
    readers: Arc<Readers>,
    dialect: Dialect,
    /// How to reach PostgreSQL, for the LISTEN connection of live events.
    listen: Option<PgConnector>,
    /// The keys stored secrets are sealed and opened with.
    keys: Arc<KeyRing>,
    /// What the encryption pass at open changed.
    resealed: Resealed,
    /// PostgreSQL only: the connection send-rate claims run on, autocommitted
    /// and never queued behind a group commit or the readers (rate_slots.rs).
    rate_slots: Option<Arc<Readers>>,
}

impl SqlStore {
    /// Opens the database named by the options and applies pending migrations.
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
        let (dialect, key, listen, write, read, flush_wal): (
            Dialect,
            SecretKey,
            Option<PgConnector>,
            Connect,
            Connect,
            Option<PathBuf>,
        ) = if let Some(path) = options.url.strip_prefix("sqlite://") {
            let path = PathBuf::from(path);
            if path.as_os_str().is_empty() {
                return Err(StoreError::BadUrl(scheme_of(&options.url)));
            }
            let key = default_key(&options, Some(&path))?;
            let durability = options.durability;
            let write_path = path.clone();
            (
                Dialect::Sqlite,
                key,
                None,
                Arc::new(move || {
                    Ok(Box::new(SqliteDb::open_writer(&write_path, durability)?) as Box<dyn Db>)
                }),
                Arc::new({
                    let path = path.clone();
                    move || Ok(Box::new(SqliteDb::open_reader(&path)?) as Box<dyn Db>)
                }),
                // Full durability: the engine flushes the log itself, off
                // the writer thread (engine/wal_sync.rs).
                (durability == Durability::Full).then_some(path),
            )
        } else if options.url.starts_with("postgres://") || options.url.starts_with("postgresql://")
        {
            let connector = PgConnector::from_url(&options.url)?;
            let key = default_key(&options, None)?;
            let with = connector.clone();
            let connect: Connect =
                Arc::new(move || Ok(Box::new(PgDb::connect_with(&with)?) as Box<dyn Db>));
            (
                Dialect::Postgres,
                key,
                Some(connector),
                Arc::clone(&connect),
                connect,
                None,
            )
        } else {
            return Err(StoreError::BadUrl(scheme_of(&options.url)));
        };
        let keys = Arc::new(KeyRing::new(key, options.old_secret_keys.clone()));
        // Migrate on a connection of its own before the writer starts, so the
        // readers never see a half-made schema.
        // Secrets written before encryption existed, or under an old key,
        // are sealed under the current key on the same connection.
        let migrate_with = Arc::clone(&write);
        let seal_with = Arc::clone(&keys);
        let resealed = tokio::task::spawn_blocking(move || {
            let mut db = migrate_with()?;
            migrations::migrate(db.as_mut())?;
            secrets::seal_all(db.as_mut(), &seal_with)
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
        if resealed != Resealed::default() {
            tracing::info!(
                encrypted = resealed.encrypted,
                rotated = resealed.rotated,
                key = keys.current_id(),
                "stored secrets sealed under the current key"
            );
        }
        let rate_slots =
            (dialect == Dialect::Postgres).then(|| Arc::new(Readers::new(Arc::clone(&read), 1)));
        let writer = tokio::task::spawn_blocking(move || {
            Writer::start(write, dialect, flush_wal.as_deref())
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
        Ok(SqlStore {
            writer,
            readers: Arc::new(Readers::new(read, options.readers)),
            dialect,
            listen,
            keys,
            resealed,
            rate_slots,
        })
    }

    /// What opening the store encrypted (plaintext from before) and
    /// re-encrypted (values under an old key).
    pub fn resealed(&self) -> Resealed {
        self.resealed
    }

    /// The id of the key secrets are written with (safe to show).
    pub fn secret_key_id(&self) -> &str {
        self.keys.current_id()
    }

    /// Which backend this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Runs `f` in the next group commit; for tools (benchmarks, seeding)
    /// that need raw access.
    pub async fn write_raw<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Runs `f` on a reader connection; for tools that need raw access.
    pub async fn read_raw<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(f).await
    }
}

/// Tries a write again, in a new transaction, when it lost a deadlock or a
/// serialization conflict to another node; `$make` builds the job anew.
macro_rules! write_retrying {
    ($self:ident, $make:expr) => {{
        let mut attempt = 0;
        loop {
            match $self.writer.write($make()).await {
                Err(StoreError::Retryable(reason)) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(%reason, attempt, "write conflict; retrying");
                    let jitter = 5 + (std::process::id() as u64 + attempt * 13) % 45;
                    tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                }
                other => break other,
            }
        }
    }};
}

macro_rules! read {
    ($self:ident, |$db:ident| $body:expr) => {
        $self.readers.read(move |$db: &mut dyn Db| $body).await
    };
}
macro_rules! write {
    ($self:ident, |$db:ident| $body:expr) => {
        $self.writer.write(move |$db: &mut dyn Db| $body).await
    };
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn create_workspace(&self, name: &str) -> Result<Workspace, StoreError> {
        let name = name.to_string();
        write!(self, |db| workspaces::create_workspace(db, &name))
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        read!(self, |db| workspaces::list_workspaces(db))
    }

    async fn create_api_token(
        &self,
        ws: WorkspaceId,
        name: &str,
        role: Role,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        write!(self, |db| workspaces::create_api_token(
            db, ws, &name, role, &hash
        ))
    }

    async fn find_api_token(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
        let hash = token_hash.to_string();
        read!(self, |db| workspaces::find_api_token(db, &hash))
    }

    async fn create_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<StoredUser, StoreError> {
        let (email, name, hash) = (
            email.to_string(),
            name.to_string(),
            password_hash.to_string(),
        );
        write!(self, |db| workspaces::create_user(
            db, ws, &email, &name, role, &hash
        ))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<StoredUser>, StoreError> {
        let email = email.to_string();
        read!(self, |db| workspaces::find_user_by_email(db, &email))
    }

    async fn get_user(&self, ws: WorkspaceId, id: UserId) -> Result<StoredUser, StoreError> {
        read!(self, |db| workspaces::get_user(db, ws, id))
    }

    async fn create_session(
        &self,
        user: &StoredUser,
        token_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let (user, hash) = (user.clone(), token_hash.to_string());
        write!(self, |db| workspaces::create_session(
            db, &user, &hash, expires_at
        ))
    }

    async fn find_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError> {
        let hash = token_hash.to_string();
        read!(self, |db| workspaces::find_session(db, &hash, now))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        write!(self, |db| workspaces::delete_session(db, &hash))
    }

    async fn create_api_token_expiring(
        &self,
        ws: WorkspaceId,
        name: &str,
        role: Role,
        token_hash: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<ApiTokenInfo, StoreError> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        write!(self, |db| workspaces::create_api_token_expiring(
            db, ws, &name, role, &hash, expires_at
        ))
    }

    async fn list_api_tokens(&self, ws: WorkspaceId) -> Result<Vec<ApiTokenInfo>, StoreError> {
        read!(self, |db| workspaces::list_api_tokens(db, ws))
    }

    async fn revoke_api_token(&self, ws: WorkspaceId, id: i64) -> Result<(), StoreError> {
        write!(self, |db| workspaces::revoke_api_token(db, ws, id))
    }

    async fn touch_api_token(&self, token_hash: &str, now: Timestamp) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        write!(self, |db| workspaces::touch_api_token(db, &hash, now))
    }

    async fn find_login_users(
        &self,
        email: &str,
        ws: Option<WorkspaceId>,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let email = email.to_string();
        read!(self, |db| workspaces::find_login_users(db, &email, ws))
    }

    async fn list_users(&self, ws: WorkspaceId) -> Result<Vec<StoredUser>, StoreError> {
        read!(self, |db| workspaces::list_users(db, ws))
    }

    async fn set_user_disabled(
        &self,
        ws: WorkspaceId,
        id: UserId,
        disabled: bool,
    ) -> Result<(StoredUser, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = workspaces::set_user_disabled(db, ws, id, disabled)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn set_user_password(
        &self,
        ws: WorkspaceId,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError> {
        let hash = password_hash.to_string();
        let keep = keep_session.map(str::to_string);
        write!(self, |db| workspaces::set_user_password(
            db,
            ws,
            id,
            &hash,
            keep.as_deref()
        ))
    }

    async fn delete_user(&self, ws: WorkspaceId, id: UserId) -> Result<Vec<Change>, StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            // The console (C): never the workspace's last enabled admin.
            workspaces::check_user_deletable(db, ws, id)?;
            let changes = workspaces::delete_user(db, ws, id)?;
            events::emit(db, &changes)?;
            Ok(changes)
        })
    }

    async fn end_user_sessions(&self, ws: WorkspaceId, id: UserId) -> Result<u64, StoreError> {
        write!(self, |db| workspaces::end_user_sessions(db, ws, id, None))
    }

    async fn create_channel(
        &self,
        ws: WorkspaceId,
        platform: Platform,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<StoredChannel, StoreError> {
        let (name, config, keys) = (name.to_string(), config.clone(), Arc::clone(&self.keys));
        write!(self, |db| channels::create_channel(
            db, &keys, ws, platform, &name, &config
        ))
    }

    async fn list_channels(&self, ws: WorkspaceId) -> Result<Vec<StoredChannel>, StoreError> {
        let keys = Arc::clone(&self.keys);
        read!(self, |db| channels::list_channels(db, &keys, ws))
    }

    async fn get_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
    ) -> Result<StoredChannel, StoreError> {
        let keys = Arc::clone(&self.keys);
        read!(self, |db| channels::get_channel(db, &keys, ws, id))
    }

    async fn find_channel(&self, id: ChannelId) -> Result<Option<StoredChannel>, StoreError> {
        let keys = Arc::clone(&self.keys);
        read!(self, |db| channels::find_channel(db, &keys, id))
    }

    async fn create_account(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        external_id: &str,
        name: &str,
    ) -> Result<Account, StoreError> {
        let (external_id, name) = (external_id.to_string(), name.to_string());
        write!(self, |db| channels::create_account(
            db,
            ws,
            channel,
            &external_id,
            &name
        ))
    }

    async fn list_accounts(&self, ws: WorkspaceId) -> Result<Vec<Account>, StoreError> {
        read!(self, |db| channels::list_accounts(db, ws))
    }

    async fn get_account(&self, ws: WorkspaceId, id: AccountId) -> Result<Account, StoreError> {
        read!(self, |db| channels::get_account(db, ws, id))
    }

    async fn set_account_state(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<Account, StoreError> {
        let reason = reason.map(str::to_string);
        write!(self, |db| channels::set_account_state(
            db,
            ws,
            id,
            state,
            reason.as_deref()
        ))
    }

    async fn find_account(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        external_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let external_id = external_id.to_string();
        read!(self, |db| channels::find_account(
            db,
            ws,
            channel,
            &external_id
        ))
    }

    async fn get_channel_state(
        &self,
        channel: ChannelId,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let (key, keys) = (key.to_string(), Arc::clone(&self.keys));
        read!(self, |db| channels::get_channel_state(
            db, &keys, channel, &key
        ))
    }

    async fn put_channel_state(
        &self,
        channel: ChannelId,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let (key, value, keys) = (key.to_string(), value.to_string(), Arc::clone(&self.keys));
        write!(self, |db| channels::put_channel_state(
            db, &keys, channel, &key, &value
        ))
    }

    async fn record_push(
        &self,
        ws: WorkspaceId,
        push: PushRecord,
    ) -> Result<PushRecorded, StoreError> {
        write_retrying!(self, || {
            let push = push.clone();
            move |db: &mut dyn Db| {
                let recorded = ingest::record_push(db, ws, push)?;
                events::emit(db, &recorded.changes)?;
                Ok(recorded)
            }
        })
    }

    async fn list_raw_events(
        &self,
        ws: WorkspaceId,
        status: &str,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let status = status.to_string();
        read!(self, |db| ingest::list_raw_events(db, ws, &status, limit))
    }

    async fn replay_raw_event(
        &self,
        ws: WorkspaceId,
        raw_id: i64,
        events: Vec<InboundEvent>,
        create_unknown_accounts: bool,
    ) -> Result<PushRecorded, StoreError> {
        write!(self, |db| {
            let recorded =
                ingest::replay_raw_event(db, ws, raw_id, &events, create_unknown_accounts)?;
            events::emit(db, &recorded.changes)?;
            Ok(recorded)
        })
    }

    async fn create_webhook(
        &self,
        ws: WorkspaceId,
        url: &str,
        secret: &str,
        event_types: &[String],
    ) -> Result<WebhookSubscription, StoreError> {
        let (url, secret, types) = (url.to_string(), secret.to_string(), event_types.to_vec());
        let keys = Arc::clone(&self.keys);
        write!(self, |db| events::create_webhook(
            db, &keys, ws, &url, &secret, &types
        ))
    }

    async fn list_webhooks(&self, ws: WorkspaceId) -> Result<Vec<WebhookSubscription>, StoreError> {
        read!(self, |db| events::list_webhooks(db, ws))
    }

    async fn delete_webhook(&self, ws: WorkspaceId, id: WebhookId) -> Result<(), StoreError> {
        write!(self, |db| events::delete_webhook(db, ws, id))
    }

    async fn list_webhook_deliveries(
        &self,
        ws: WorkspaceId,
        id: WebhookId,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        read!(self, |db| events::list_webhook_deliveries(
            db, ws, id, limit
        ))
    }

    async fn lease_webhook_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookJob>, StoreError> {
        let keys = Arc::clone(&self.keys);
        write!(self, |db| events::lease_webhook_deliveries(
            db, &keys, now, lease_ms, limit
        ))
    }

    async fn complete_webhook_delivery(
        &self,
        id: i64,
        outcome: WebhookOutcome,
    ) -> Result<(), StoreError> {
        write!(self, |db| events::complete_webhook_delivery(
            db, id, outcome
        ))
    }

    fn remote_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        let connector = self.listen.clone()?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("imhub-store-listen".into())
            .spawn(move || crate::postgres::listen(&connector, events::NOTIFY_CHANNEL, &tx))
            .ok()?;
        Some(rx)
    }

    async fn list_conversations(
        &self,
        ws: WorkspaceId,
        filter: ConversationFilter,
    ) -> Result<Vec<Conversation>, StoreError> {
        read!(self, |db| conversations::list_conversations(
            db, ws, &filter
        ))
    }

    async fn get_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<Conversation, StoreError> {
        read!(self, |db| conversations::get_conversation(db, ws, id))
    }

    async fn outbound_target(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<(ChannelId, OutboundTarget), StoreError> {
        read!(self, |db| conversations::outbound_target(db, ws, id))
    }

    async fn set_conversation_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
    ) -> Result<(Conversation, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = conversations::set_conversation_status(db, ws, id, status)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn mark_read(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        read_receipt: bool,
    ) -> Result<(Conversation, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = conversations::mark_read(db, ws, id, read_receipt)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn list_messages(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        read!(self, |db| messages::list_messages(
            db,
            ws,
            conversation,
            before,
            limit,
            false
        ))
    }

    async fn get_message(&self, ws: WorkspaceId, id: MessageId) -> Result<Message, StoreError> {
        read!(self, |db| messages::get_message(db, ws, id))
    }

    async fn enqueue_message(
        &self,
        ws: WorkspaceId,
        outbound: NewOutbound,
    ) -> Result<Enqueued, StoreError> {
        write_retrying!(self, || {
            let outbound = outbound.clone();
            move |db: &mut dyn Db| {
                let out = messages::enqueue_message(db, ws, outbound)?;
                events::emit(db, &out.changes)?;
                Ok(out)
            }
        })
    }

    async fn request_recall(&self, ws: WorkspaceId, id: MessageId) -> Result<Message, StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| messages::request_recall(
            db, ws, id
        ))
    }

    async fn retry_message(
        &self,
        ws: WorkspaceId,
        id: MessageId,
    ) -> Result<(Message, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = messages::retry_message(db, ws, id)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn lease_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxJob>, StoreError> {
        let owner = owner.to_string();
        write_retrying!(self, || {
            let owner = owner.clone();
            move |db: &mut dyn Db| {
                outbox::lease(
                    db,
                    &owner,
                    now,
                    lease_ms,
                    limit,
                    crate::LeaseShares::UNLIMITED,
                )
            }
        })
    }

    async fn lease_outbox_shared(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        shares: crate::LeaseShares,
    ) -> Result<Vec<OutboxJob>, StoreError> {
        let owner = owner.to_string();
        write_retrying!(self, || {
            let owner = owner.clone();
            move |db: &mut dyn Db| outbox::lease(db, &owner, now, lease_ms, limit, shares)
        })
    }

    async fn complete_outbox(
        &self,
        job: &OutboxJob,
        result: OutboxResult,
    ) -> Result<Vec<Change>, StoreError> {
        let job = job.clone();
        write_retrying!(self, || {
            let (job, result) = (job.clone(), result.clone());
            move |db: &mut dyn Db| {
                let changes = outbox::complete(db, &job, result)?;
                events::emit(db, &changes)?;
                Ok(changes)
            }
        })
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_string();
        write!(self, |db| outbox::release_leases(db, &owner))
    }

    async fn next_outbox_due(&self) -> Result<Option<Timestamp>, StoreError> {
        read!(self, |db| outbox::next_due(db))
    }

    fn shares_rate_limits(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    async fn claim_rate_slots(
        &self,
        second: i64,
        claims: Vec<crate::RateClaim>,
    ) -> Result<Vec<u32>, StoreError> {
        match &self.rate_slots {
            // One autocommitted statement: the grant is committed (visible
            // to every node) before it is used.
            Some(slots) => {
                slots
                    .read(move |db: &mut dyn Db| crate::rate_slots::claim(db, second, &claims))
                    .await
            }
            // SQLite's one writer connection; only the conformance tests
            // claim here (a SQLite node keeps its limits in memory).
            None => write!(self, |db| crate::rate_slots::claim(db, second, &claims)),
        }
    }

    async fn put_media(
        &self,
        ws: WorkspaceId,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
        quota_bytes: Option<u64>,
    ) -> Result<(), StoreError> {
        let (key, content_type) = (key.to_string(), content_type.to_string());
        write!(self, |db| media::put_media(
            db,
            ws,
            &key,
            &content_type,
            bytes,
            quota_bytes
        ))
    }

    async fn media_usage(&self, ws: WorkspaceId) -> Result<u64, StoreError> {
        read!(self, |db| media::media_usage(db, ws))
            .map(|used| u64::try_from(used).unwrap_or_default())
    }

    async fn prune(
        &self,
        policy: crate::RetentionPolicy,
        now: Timestamp,
        batch: u32,
    ) -> Result<crate::Pruned, StoreError> {
        write!(self, |db| crate::retention::prune(db, &policy, now, batch))
    }

    async fn get_media(&self, key: &str) -> Result<(String, Vec<u8>), StoreError> {
        let key = key.to_string();
        read!(self, |db| media::get_media(db, &key))
    }

    // Team inbox: assignment, availability, status and snooze, timers.
    async fn assign_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        assignee: Option<UserId>,
        actor: crate::Actor,
        now: Timestamp,
    ) -> Result<(Conversation, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let changes = assignment::assign(db, ws, id, assignee, actor, now)?;
            events::emit(db, &changes)?;
            Ok((conversations::get_conversation(db, ws, id)?, changes))
        })
    }

    async fn change_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        change: crate::StatusChange,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<(Conversation, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let changes = assignment::change_status(db, ws, id, change, by, now)?;
            events::emit(db, &changes)?;
            Ok((conversations::get_conversation(db, ws, id)?, changes))
        })
    }

    async fn get_account_assignment(
        &self,
        ws: WorkspaceId,
        account: AccountId,
    ) -> Result<crate::AccountAssignment, StoreError> {
        read!(self, |db| assignment::get_account_assignment(
            db, ws, account
        ))
    }

    async fn set_account_assignment(
        &self,
        ws: WorkspaceId,
        account: AccountId,
        settings: crate::AccountAssignment,
        now: Timestamp,
    ) -> Result<(crate::AccountAssignment, Vec<Change>), StoreError> {
        write_retrying!(self, || {
            let settings = settings.clone();
            move |db: &mut dyn Db| {
                let out = assignment::set_account_assignment(db, ws, account, &settings, now)?;
                events::emit(db, &out.1)?;
                Ok(out)
            }
        })
    }

    async fn get_team_settings(&self, ws: WorkspaceId) -> Result<crate::TeamSettings, StoreError> {
        read!(self, |db| assignment::get_team_settings(db, ws))
    }

    async fn set_team_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::TeamSettings,
    ) -> Result<crate::TeamSettings, StoreError> {
        write!(self, |db| assignment::set_team_settings(db, ws, settings))
    }

    async fn list_agents(&self, ws: WorkspaceId) -> Result<Vec<crate::AgentInfo>, StoreError> {
        read!(self, |db| assignment::list_agents(db, ws))
    }

    async fn set_capacity(
        &self,
        ws: WorkspaceId,
        user: UserId,
        capacity: u32,
        now: Timestamp,
    ) -> Result<(crate::AgentInfo, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = assignment::set_capacity(db, ws, user, capacity, now)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn set_availability(
        &self,
        ws: WorkspaceId,
        user: UserId,
        availability: Availability,
        now: Timestamp,
    ) -> Result<(crate::AgentInfo, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = assignment::set_availability(db, ws, user, availability, None, now)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    async fn touch_presence(
        &self,
        ws: WorkspaceId,
        user: UserId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write!(self, |db| assignment::touch_presence(db, ws, user, now))
    }

    async fn sweep_presence(&self, now: Timestamp) -> Result<Vec<Change>, StoreError> {
        let stale = read!(self, |db| assignment::stale_agents(db, now))?;
        let mut all = Vec::new();
        // One agent per transaction: each change is conditional on the
        // agent still being unseen, so another node sweeping at the same
        // time changes nothing twice, and no transaction holds many
        // agents' conversations at once.
        for (ws, user, before) in stale {
            let changes = write_retrying!(self, || move |db: &mut dyn Db| {
                let (_, changes) = assignment::set_availability(
                    db,
                    ws,
                    user,
                    Availability::Offline,
                    Some(before),
                    now,
                )?;
                events::emit(db, &changes)?;
                Ok(changes)
            })?;
            all.extend(changes);
        }
        Ok(all)
    }

    async fn conversation_counts(
        &self,
        ws: WorkspaceId,
        me: Option<UserId>,
    ) -> Result<crate::ConversationCounts, StoreError> {
        read!(self, |db| assignment::counts(db, ws, me))
    }

    async fn schedule_timer(
        &self,
        ws: WorkspaceId,
        timer: crate::NewTimer,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        write!(self, |db| timers::schedule(db, ws, &timer, now))
    }

    async fn cancel_timers(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        kind: &str,
    ) -> Result<u64, StoreError> {
        let kind = kind.to_string();
        write!(self, |db| timers::cancel(db, ws, conversation, &kind))
    }

    async fn lease_timers(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::Timer>, StoreError> {
        let owner = owner.to_string();
        write_retrying!(self, || {
            let owner = owner.clone();
            move |db: &mut dyn Db| timers::lease(db, &owner, now, lease_ms, limit)
        })
    }

    async fn fire_timer(
        &self,
        timer: &crate::Timer,
        now: Timestamp,
    ) -> Result<Vec<Change>, StoreError> {
        let timer = timer.clone();
        write_retrying!(self, || {
            let timer = timer.clone();
            move |db: &mut dyn Db| {
                if !timers::take(db, &timer)? {
                    return Ok(Vec::new());
                }
                let changes = match (timer.kind.as_str(), timer.conversation_id) {
                    (timers::SNOOZE_END, Some(conversation)) => {
                        assignment::end_snooze(db, timer.workspace_id, conversation, now)?
                    }
                    (crate::automation::ESCALATION, Some(conversation)) => {
                        crate::automation::escalate(
                            db,
                            timer.workspace_id,
                            conversation,
                            timer.payload.as_ref(),
                            now,
                        )?
                        .changes
                    }
                    // Alerts (K3): a breach, the periodic silence check.
                    (crate::alerts::BREACH | crate::alerts::SILENCE_CHECK, _) => {
                        crate::alerts::fire_timer(db, &timer, now)?;
                        Vec::new()
                    }
                    _ => Vec::new(),
                };
                events::emit(db, &changes)?;
                Ok(changes)
            }
        })
    }

    async fn postpone_timer(&self, timer: &crate::Timer, at: Timestamp) -> Result<(), StoreError> {
        let timer = timer.clone();
        write!(self, |db| timers::postpone(db, &timer, at))
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        read!(self, |db| timers::next_due(db))
    }

    // Team inbox: notes and mentions, labels, quick replies, contact details.
    async fn list_timeline(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: Option<MessageCursor>,
        limit: u32,
        internal: bool,
    ) -> Result<Vec<Message>, StoreError> {
        read!(self, |db| messages::list_messages(
            db,
            ws,
            conversation,
            before,
            limit,
            internal
        ))
    }

    async fn create_note(
        &self,
        ws: WorkspaceId,
        note: crate::NewNote,
    ) -> Result<crate::NoteWritten, StoreError> {
        write_retrying!(self, || {
            let note = note.clone();
            move |db: &mut dyn Db| {
                let out = crate::notes::create_note(db, ws, note)?;
                events::emit(db, &out.changes)?;
                Ok(out)
            }
        })
    }

    async fn list_mentions(
        &self,
        ws: WorkspaceId,
        user: UserId,
        unread_only: bool,
        before: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<crate::Mention>, StoreError> {
        read!(self, |db| crate::notes::list_mentions(
            db,
            ws,
            user,
            unread_only,
            before,
            limit
        ))
    }

    async fn mark_mentions_read(
        &self,
        ws: WorkspaceId,
        user: UserId,
        message_ids: Option<Vec<MessageId>>,
    ) -> Result<u64, StoreError> {
        write!(self, |db| crate::notes::mark_mentions_read(
            db,
            ws,
            user,
            message_ids.as_deref()
        ))
    }

    async fn create_label(
        &self,
        ws: WorkspaceId,
        name: &str,
        color: &str,
    ) -> Result<crate::Label, StoreError> {
        let (name, color) = (name.to_string(), color.to_string());
        write!(self, |db| crate::labels::create_label(
            db, ws, &name, &color
        ))
    }

    async fn list_labels(&self, ws: WorkspaceId) -> Result<Vec<crate::Label>, StoreError> {
        read!(self, |db| crate::labels::list_labels(db, ws))
    }

    async fn update_label(
        &self,
        ws: WorkspaceId,
        id: imhub_core::LabelId,
        name: Option<String>,
        color: Option<String>,
    ) -> Result<crate::Label, StoreError> {
        write!(self, |db| crate::labels::update_label(
            db,
            ws,
            id,
            name.as_deref(),
            color.as_deref()
        ))
    }

    async fn delete_label(
        &self,
        ws: WorkspaceId,
        id: imhub_core::LabelId,
    ) -> Result<Vec<Change>, StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let changes = crate::labels::delete_label(db, ws, id)?;
            events::emit(db, &changes)?;
            Ok(changes)
        })
    }

    async fn conversation_labels(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<Vec<imhub_core::LabelId>, StoreError> {
        read!(self, |db| crate::labels::conversation_labels(db, ws, id))
    }

    async fn set_conversation_labels(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        labels: Vec<imhub_core::LabelId>,
    ) -> Result<(Vec<imhub_core::LabelId>, Vec<Change>), StoreError> {
        write_retrying!(self, || {
            let labels = labels.clone();
            move |db: &mut dyn Db| {
                let out = crate::labels::set_conversation_labels(db, ws, id, &labels)?;
                events::emit(db, &out.1)?;
                Ok(out)
            }
        })
    }

    async fn bulk_label_conversations(
        &self,
        ws: WorkspaceId,
        conversations: Vec<ConversationId>,
        add: Vec<imhub_core::LabelId>,
        remove: Vec<imhub_core::LabelId>,
    ) -> Result<Vec<Change>, StoreError> {
        write_retrying!(self, || {
            let (conversations, add, remove) = (conversations.clone(), add.clone(), remove.clone());
            move |db: &mut dyn Db| {
                let changes =
                    crate::labels::bulk_label_conversations(db, ws, &conversations, &add, &remove)?;
                events::emit(db, &changes)?;
                Ok(changes)
            }
        })
    }

    async fn set_contact_labels(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
        labels: Vec<imhub_core::LabelId>,
    ) -> Result<Vec<imhub_core::LabelId>, StoreError> {
        write!(self, |db| crate::labels::set_contact_labels(
            db, ws, id, &labels
        ))
    }

    async fn create_quick_reply(
        &self,
        ws: WorkspaceId,
        reply: crate::NewQuickReply,
    ) -> Result<crate::QuickReply, StoreError> {
        write!(self, |db| crate::quick_replies::create_quick_reply(
            db, ws, reply
        ))
    }

    async fn list_quick_replies(
        &self,
        ws: WorkspaceId,
        viewer: Option<UserId>,
        filter: crate::QuickReplyFilter,
    ) -> Result<Vec<crate::QuickReply>, StoreError> {
        read!(self, |db| crate::quick_replies::list_quick_replies(
            db, ws, viewer, &filter
        ))
    }

    async fn get_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
    ) -> Result<crate::QuickReply, StoreError> {
        read!(self, |db| crate::quick_replies::get_quick_reply(
            db, ws, id, viewer
        ))
    }

    async fn update_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
        patch: crate::QuickReplyPatch,
    ) -> Result<crate::QuickReply, StoreError> {
        write!(self, |db| crate::quick_replies::update_quick_reply(
            db, ws, id, viewer, patch
        ))
    }

    async fn delete_quick_reply(
        &self,
        ws: WorkspaceId,
        id: imhub_core::QuickReplyId,
        viewer: Option<UserId>,
    ) -> Result<(), StoreError> {
        write!(self, |db| crate::quick_replies::delete_quick_reply(
            db, ws, id, viewer
        ))
    }

    async fn get_contact(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
    ) -> Result<crate::ContactDetails, StoreError> {
        read!(self, |db| crate::contacts::get_contact(db, ws, id))
    }

    async fn set_contact_notes(
        &self,
        ws: WorkspaceId,
        id: imhub_core::ContactId,
        notes: Option<String>,
    ) -> Result<crate::ContactDetails, StoreError> {
        write!(self, |db| crate::contacts::set_contact_notes(
            db,
            ws,
            id,
            notes.as_deref()
        ))
    }

    // Full-text search.
    async fn search_messages(
        &self,
        ws: WorkspaceId,
        query: crate::search::SearchQuery,
    ) -> Result<crate::search::SearchPage, StoreError> {
        read!(self, |db| crate::search::search(db, ws, &query))
    }

    // Automation.
    async fn list_rules(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<crate::automation::StoredRule>, StoreError> {
        read!(self, |db| crate::automation::list_rules(db, ws))
    }

    async fn get_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
    ) -> Result<crate::automation::StoredRule, StoreError> {
        read!(self, |db| crate::automation::get_rule(db, ws, id))
    }

    async fn create_rule(
        &self,
        ws: WorkspaceId,
        rule: crate::automation::RuleBody,
        now: Timestamp,
    ) -> Result<crate::automation::StoredRule, StoreError> {
        write_retrying!(self, || {
            let rule = rule.clone();
            move |db: &mut dyn Db| crate::automation::create_rule(db, ws, rule, now)
        })
    }

    async fn update_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
        rule: crate::automation::RuleBody,
        now: Timestamp,
    ) -> Result<crate::automation::StoredRule, StoreError> {
        write_retrying!(self, || {
            let rule = rule.clone();
            move |db: &mut dyn Db| crate::automation::update_rule(db, ws, id, rule, now)
        })
    }

    async fn delete_rule(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
    ) -> Result<(), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            crate::automation::delete_rule(db, ws, id)
        })
    }

    async fn reorder_rules(
        &self,
        ws: WorkspaceId,
        ids: Vec<imhub_core::automation::RuleId>,
    ) -> Result<Vec<crate::automation::StoredRule>, StoreError> {
        write_retrying!(self, || {
            let ids = ids.clone();
            move |db: &mut dyn Db| crate::automation::reorder_rules(db, ws, &ids)
        })
    }

    async fn get_automation_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<imhub_core::automation::AutomationSettings, StoreError> {
        read!(self, |db| crate::automation::get_settings(db, ws))
    }

    async fn set_automation_settings(
        &self,
        ws: WorkspaceId,
        settings: imhub_core::automation::AutomationSettings,
    ) -> Result<imhub_core::automation::AutomationSettings, StoreError> {
        write_retrying!(self, || {
            let settings = settings.clone();
            move |db: &mut dyn Db| crate::automation::set_settings(db, ws, settings)
        })
    }

    async fn rule_stats(
        &self,
        ws: WorkspaceId,
        id: imhub_core::automation::RuleId,
        now: Timestamp,
    ) -> Result<crate::automation::RuleStats, StoreError> {
        read!(self, |db| crate::automation::rule_stats(db, ws, id, now))
    }

    async fn test_rules(
        &self,
        ws: WorkspaceId,
        sample: crate::automation::RuleTest,
    ) -> Result<crate::automation::RuleTestOutcome, StoreError> {
        read!(self, |db| crate::automation::test_rules(db, ws, &sample))
    }

    // Reply-time KPIs.
    async fn get_kpi_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::turns::KpiSettings, StoreError> {
        read!(self, |db| crate::turns::get_settings(db, ws))
    }

    async fn set_kpi_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::turns::KpiSettings,
    ) -> Result<crate::turns::KpiSettings, StoreError> {
        write_retrying!(self, || {
            let settings = settings.clone();
            move |db: &mut dyn Db| crate::turns::set_settings(db, ws, settings)
        })
    }

    async fn waiting_conversations(
        &self,
        ws: WorkspaceId,
        account: Option<AccountId>,
        limit: u32,
        now: Timestamp,
    ) -> Result<crate::turns::WaitingQueue, StoreError> {
        read!(self, |db| crate::turns::waiting(
            db, ws, account, limit, now
        ))
    }

    async fn kpi_days(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
    ) -> Result<Vec<crate::turns::KpiDay>, StoreError> {
        read!(self, |db| crate::turns::report_days(db, ws, range))
    }

    async fn kpi_groups(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        agents: bool,
    ) -> Result<Vec<crate::turns::KpiGroup>, StoreError> {
        read!(self, |db| crate::turns::report_groups(
            db, ws, range, agents
        ))
    }

    async fn list_turns(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        now: Timestamp,
    ) -> Result<Vec<crate::turns::TurnRecord>, StoreError> {
        read!(self, |db| crate::turns::list_turns(db, ws, range, now))
    }

    async fn conversation_turns(
        &self,
        ws: WorkspaceId,
        range: crate::turns::ReportRange,
        now: Timestamp,
    ) -> Result<Vec<crate::turns::ConversationTurns>, StoreError> {
        read!(self, |db| crate::turns::conversation_turns(
            db, ws, range, now
        ))
    }

    // Leads.
    async fn list_leads(
        &self,
        ws: WorkspaceId,
        filter: crate::leads::LeadFilter,
    ) -> Result<Vec<crate::leads::Lead>, StoreError> {
        read!(self, |db| crate::leads::list_leads(db, ws, &filter))
    }

    async fn get_lead(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
    ) -> Result<crate::leads::Lead, StoreError> {
        read!(self, |db| crate::leads::get_lead(db, ws, id))
    }

    async fn contact_lead(
        &self,
        ws: WorkspaceId,
        contact: imhub_core::ContactId,
    ) -> Result<Option<crate::leads::Lead>, StoreError> {
        read!(self, |db| crate::leads::contact_lead(db, ws, contact))
    }

    async fn update_lead(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
        patch: crate::leads::LeadPatch,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(crate::leads::Lead, Vec<Change>), StoreError> {
        write_retrying!(self, || {
            let patch = patch.clone();
            move |db: &mut dyn Db| {
                let out = crate::leads::update_lead(db, ws, id, &patch, actor, now)?;
                events::emit(db, &out.1)?;
                Ok(out)
            }
        })
    }

    async fn bulk_update_leads(
        &self,
        ws: WorkspaceId,
        ids: Vec<imhub_core::leads::LeadId>,
        stage: Option<imhub_core::leads::LeadStage>,
        owner: Option<Option<UserId>>,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(Vec<imhub_core::leads::LeadId>, Vec<Change>), StoreError> {
        write_retrying!(self, || {
            let ids = ids.clone();
            move |db: &mut dyn Db| {
                let out = crate::leads::bulk_update(db, ws, &ids, stage, owner, actor, now)?;
                events::emit(db, &out.1)?;
                Ok(out)
            }
        })
    }

    async fn lead_history(
        &self,
        ws: WorkspaceId,
        id: imhub_core::leads::LeadId,
    ) -> Result<Vec<crate::leads::LeadHistoryEntry>, StoreError> {
        read!(self, |db| crate::leads::lead_history(db, ws, id))
    }

    async fn get_lead_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::leads::LeadSettings, StoreError> {
        read!(self, |db| crate::leads::get_settings(db, ws))
    }

    async fn set_lead_settings(
        &self,
        ws: WorkspaceId,
        own_numbers: Vec<String>,
    ) -> Result<crate::leads::LeadSettings, StoreError> {
        write!(self, |db| crate::leads::set_settings(db, ws, &own_numbers))
    }

    async fn list_merge_proposals(
        &self,
        ws: WorkspaceId,
        status: Option<String>,
        limit: u32,
    ) -> Result<Vec<crate::leads::MergeProposal>, StoreError> {
        read!(self, |db| crate::leads::list_merge_proposals(
            db,
            ws,
            status.as_deref(),
            limit
        ))
    }

    async fn decide_merge_proposal(
        &self,
        ws: WorkspaceId,
        id: i64,
        accept: bool,
        actor: crate::leads::LeadActor,
        now: Timestamp,
    ) -> Result<(crate::leads::MergeProposal, Vec<Change>), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let out = crate::leads::decide_merge(db, ws, id, accept, actor, now)?;
            events::emit(db, &out.1)?;
            Ok(out)
        })
    }

    // Alerts.
    async fn create_alert_target(
        &self,
        ws: WorkspaceId,
        target: crate::alerts::NewAlertTarget,
        now: Timestamp,
    ) -> Result<crate::alerts::AlertTarget, StoreError> {
        let keys = Arc::clone(&self.keys);
        write!(self, |db| crate::alerts::create_target(
            db, &keys, ws, target, now
        ))
    }

    async fn list_alert_targets(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<crate::alerts::AlertTarget>, StoreError> {
        read!(self, |db| crate::alerts::list_targets(db, ws))
    }

    async fn get_alert_target(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> Result<crate::alerts::AlertTarget, StoreError> {
        read!(self, |db| crate::alerts::get_target(db, ws, id))
    }

    async fn update_alert_target(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: crate::alerts::AlertTargetPatch,
        now: Timestamp,
    ) -> Result<crate::alerts::AlertTarget, StoreError> {
        let keys = Arc::clone(&self.keys);
        write!(self, |db| crate::alerts::update_target(
            db, &keys, ws, id, patch, now
        ))
    }

    async fn delete_alert_target(&self, ws: WorkspaceId, id: i64) -> Result<(), StoreError> {
        write!(self, |db| crate::alerts::delete_target(db, ws, id))
    }

    async fn alert_target_job(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> Result<crate::alerts::AlertJob, StoreError> {
        let keys = Arc::clone(&self.keys);
        read!(self, |db| crate::alerts::target_job(db, &keys, ws, id))
    }

    async fn record_alert_result(
        &self,
        ws: WorkspaceId,
        id: i64,
        result: crate::alerts::AlertResult,
    ) -> Result<(), StoreError> {
        write!(self, |db| crate::alerts::record_result(db, ws, id, &result))
    }

    async fn list_alert_deliveries(
        &self,
        ws: WorkspaceId,
        id: i64,
        limit: u32,
    ) -> Result<Vec<crate::alerts::AlertDelivery>, StoreError> {
        read!(self, |db| crate::alerts::list_deliveries(db, ws, id, limit))
    }

    async fn get_alert_settings(
        &self,
        ws: WorkspaceId,
    ) -> Result<crate::alerts::AlertSettings, StoreError> {
        read!(self, |db| crate::alerts::get_settings(db, ws))
    }

    async fn set_alert_settings(
        &self,
        ws: WorkspaceId,
        settings: crate::alerts::AlertSettings,
    ) -> Result<crate::alerts::AlertSettings, StoreError> {
        write!(self, |db| crate::alerts::set_settings(db, ws, settings))
    }

    async fn lease_alert_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::alerts::AlertJob>, StoreError> {
        let keys = Arc::clone(&self.keys);
        write_retrying!(self, || {
            let keys = Arc::clone(&keys);
            move |db: &mut dyn Db| crate::alerts::lease(db, &keys, now, lease_ms, limit)
        })
    }

    async fn complete_alert_delivery(
        &self,
        job: &crate::alerts::AlertJob,
        result: crate::alerts::AlertResult,
        next: crate::alerts::AlertNext,
    ) -> Result<(), StoreError> {
        let job = job.clone();
        write!(self, |db| crate::alerts::complete(db, &job, &result, next))
    }

    async fn raise_alert(
        &self,
        ws: WorkspaceId,
        alert: imhub_core::alerts::Alert,
        throttle_key: Option<String>,
    ) -> Result<usize, StoreError> {
        let now = alert.at;
        write_retrying!(self, || {
            let (alert, key) = (alert.clone(), throttle_key.clone());
            move |db: &mut dyn Db| crate::alerts::raise(db, ws, &alert, key.as_deref(), now)
        })
    }

    // The operator (issue 15, helper O).

    async fn operator_workspaces(
        &self,
        now: Timestamp,
    ) -> Result<Vec<crate::operator::OperatorWorkspace>, StoreError> {
        read!(self, |db| crate::operator::list(db, now))
    }

    async fn operator_workspace(
        &self,
        ws: WorkspaceId,
        now: Timestamp,
    ) -> Result<crate::operator::OperatorWorkspace, StoreError> {
        read!(self, |db| crate::operator::get(db, ws, now))
    }

    async fn rename_workspace(&self, ws: WorkspaceId, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        write!(self, |db| crate::operator::rename(db, ws, &name))
    }

    async fn set_workspace_quotas(
        &self,
        ws: WorkspaceId,
        quotas: crate::operator::Quotas,
    ) -> Result<(), StoreError> {
        write!(self, |db| crate::operator::set_quotas(db, ws, quotas))
    }

    async fn set_quota_defaults(
        &self,
        defaults: crate::operator::QuotaDefaults,
    ) -> Result<(), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            crate::operator::set_defaults(db, defaults)
        })
    }

    async fn suspend_workspace(&self, ws: WorkspaceId, now: Timestamp) -> Result<(), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            crate::operator::suspend(db, ws, now)
        })
    }

    async fn begin_resume(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            crate::operator::begin_resume(db, ws)
        })
    }

    async fn drain_held_pushes(
        &self,
        ws: WorkspaceId,
        limit: u32,
    ) -> Result<crate::operator::Drained, StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let drained = crate::operator::drain_held(db, ws, limit)?;
            events::emit(db, &drained.changes)?;
            Ok(drained)
        })
    }

    async fn resuming_workspaces(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        read!(self, |db| crate::operator::resuming(db))
    }

    async fn check_daily_sends(&self, ws: WorkspaceId, now: Timestamp) -> Result<(), StoreError> {
        read!(self, |db| crate::operator::check_daily_sends(db, ws, now))
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            crate::operator::delete_workspace(db, ws)
        })
    }

    // The admin console (issue 15, helper C).

    async fn update_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        name: Option<&str>,
        config: Option<&serde_json::Value>,
    ) -> Result<StoredChannel, StoreError> {
        let (name, config) = (name.map(str::to_string), config.cloned());
        let keys = Arc::clone(&self.keys);
        write!(self, |db| channels::update_channel(
            db,
            &keys,
            ws,
            id,
            name.as_deref(),
            config.as_ref()
        ))
    }

    async fn disconnect_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        now: Timestamp,
    ) -> Result<Vec<Change>, StoreError> {
        write_retrying!(self, || move |db: &mut dyn Db| {
            let changes = channels::disconnect_channel(db, ws, id, now)?;
            events::emit(db, &changes)?;
            Ok(changes)
        })
    }

    async fn channel_health(
        &self,
        ws: WorkspaceId,
        since: Timestamp,
    ) -> Result<Vec<crate::ChannelHealth>, StoreError> {
        read!(self, |db| channels::channel_health(db, ws, since))
    }

    async fn update_account(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        name: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<Account, StoreError> {
        let name = name.map(str::to_string);
        write!(self, |db| channels::update_account(
            db,
            ws,
            id,
            name.as_deref(),
            disabled
        ))
    }

    async fn update_user(
        &self,
        ws: WorkspaceId,
        id: UserId,
        update: crate::UserUpdate,
    ) -> Result<(StoredUser, Vec<Change>), StoreError> {
        write_retrying!(self, || {
            let update = update.clone();
            move |db: &mut dyn Db| {
                let out = workspaces::update_user(db, ws, id, &update)?;
                events::emit(db, &out.1)?;
                Ok(out)
            }
        })
    }

    async fn update_profile(
        &self,
        ws: WorkspaceId,
        id: UserId,
        update: crate::ProfileUpdate,
    ) -> Result<StoredUser, StoreError> {
        write!(self, |db| workspaces::update_profile(db, ws, id, &update))
    }

    async fn retry_webhook_delivery(
        &self,
        ws: WorkspaceId,
        subscription: WebhookId,
        id: i64,
        now: Timestamp,
    ) -> Result<WebhookDelivery, StoreError> {
        write!(self, |db| events::retry_webhook_delivery(
            db,
            ws,
            subscription,
            id,
            now
        ))
    }

    async fn list_kept_pushes(
        &self,
        ws: WorkspaceId,
        channel: Option<ChannelId>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        read!(self, |db| crate::kept_pushes::list(
            db, ws, channel, after, limit
        ))
    }

    async fn get_kept_push(&self, ws: WorkspaceId, id: i64) -> Result<RawEvent, StoreError> {
        read!(self, |db| crate::kept_pushes::get(db, ws, id))
    }
}
