//! Channels (connected platform apps) and the merchant accounts inside them.
//! A channel's configuration and its state values hold credentials and
//! tokens: both are stored encrypted (see [`crate::secrets`]).

use imhub_core::{Account, AccountId, AccountState, ChannelId, Platform, Timestamp, WorkspaceId};

use crate::{
    StoreError, StoredChannel,
    db::{Db, Row},
    rows::{ACCOUNT_COLUMNS, account, platform},
    secrets::{KeyRing, Slot},
};

const CHANNEL_COLUMNS: &str =
    "id, workspace_id, platform, name, config, created_at, updated_at, disconnected_at";

fn channel(row: &Row, keys: &KeyRing) -> Result<StoredChannel, StoreError> {
    let id = row.int(0)?;
    let config = keys.open(Slot::ChannelConfig { channel: id }, &row.text(4)?)?;
    Ok(StoredChannel {
        id: ChannelId(id),
        workspace_id: WorkspaceId(row.int(1)?),
        platform: platform(&row.text(2)?)?,
        name: row.text(3)?,
        config: serde_json::from_str(&config)?,
        created_at: Timestamp(row.int(5)?),
        updated_at: Timestamp(row.opt_int(6)?.unwrap_or(row.int(5)?)),
        disconnected_at: row.opt_int(7)?.map(Timestamp),
    })
}

pub(crate) fn create_channel(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    platform: Platform,
    name: &str,
    config: &serde_json::Value,
) -> Result<StoredChannel, StoreError> {
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    crate::operator::check_quota(db, ws, crate::operator::QuotaKind::Channels)?;
    // The row's id is part of the encryption's associated data, so the
    // configuration is written once the id is known, in the same
    // transaction; the placeholder is never visible to anyone.
    let id = db
        .query_one(
            "INSERT INTO channels (workspace_id, platform, name, config, created_at) \
             VALUES ($1, $2, $3, '', $4) RETURNING id",
            &[
                ws.0.into(),
                platform.as_str().into(),
                name.into(),
                Timestamp::now().millis().into(),
            ],
        )?
        .int(0)?;
    let sealed = keys.seal(Slot::ChannelConfig { channel: id }, &config.to_string())?;
    db.execute(
        "UPDATE channels SET config = $1 WHERE id = $2",
        &[sealed.into(), id.into()],
    )?;
    find_channel(db, keys, ChannelId(id))?.ok_or(StoreError::NotFound)
}

pub(crate) fn list_channels(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
) -> Result<Vec<StoredChannel>, StoreError> {
    db.query(
        &format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 \
             AND disconnected_at IS NULL ORDER BY id"
        ),
        &[ws.0.into()],
    )?
    .iter()
    .map(|row| channel(row, keys))
    .collect()
}

pub(crate) fn get_channel(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    id: ChannelId,
) -> Result<StoredChannel, StoreError> {
    channel(
        &db.query_one(
            &format!(
                "SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND workspace_id = $2 \
                 AND disconnected_at IS NULL"
            ),
            &[id.0.into(), ws.0.into()],
        )?,
        keys,
    )
}

pub(crate) fn find_channel(
    db: &mut dyn Db,
    keys: &KeyRing,
    id: ChannelId,
) -> Result<Option<StoredChannel>, StoreError> {
    db.query_opt(
        &format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1"),
        &[id.0.into()],
    )?
    .as_ref()
    .map(|row| channel(row, keys))
    .transpose()
}

pub(crate) fn create_account(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: ChannelId,
    external_id: &str,
    name: &str,
) -> Result<Account, StoreError> {
    db.query_one(
        "SELECT id FROM channels WHERE id = $1 AND workspace_id = $2 \
         AND disconnected_at IS NULL",
        &[channel.0.into(), ws.0.into()],
    )?;
    if find_account_id(db, channel, external_id)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "account {external_id} already exists in this channel"
        )));
    }
    let id = db
        .query_one(
            "INSERT INTO accounts (workspace_id, channel_id, external_id, name, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                ws.0.into(),
                channel.0.into(),
                external_id.into(),
                name.into(),
                AccountState::Active.as_str().into(),
                Timestamp::now().millis().into(),
            ],
        )?
        .int(0)?;
    get_account(db, ws, AccountId(id))
}

pub(crate) fn find_account_id(
    db: &mut dyn Db,
    channel: ChannelId,
    external_id: &str,
) -> Result<Option<AccountId>, StoreError> {
    Ok(db
        .query_opt(
            "SELECT id FROM accounts WHERE channel_id = $1 AND external_id = $2",
            &[channel.0.into(), external_id.into()],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .map(AccountId))
}

pub(crate) fn list_accounts(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<Account>, StoreError> {
    db.query(
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN channels c ON c.id = a.channel_id \
             WHERE a.workspace_id = $1 AND c.disconnected_at IS NULL ORDER BY a.id"
        ),
        &[ws.0.into()],
    )?
    .iter()
    .map(account)
    .collect()
}

pub(crate) fn get_account(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<Account, StoreError> {
    account(&db.query_one(
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN channels c ON c.id = a.channel_id \
             WHERE a.id = $1 AND a.workspace_id = $2"
        ),
        &[id.0.into(), ws.0.into()],
    )?)
}

pub(crate) fn set_account_state(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: AccountId,
    state: AccountState,
    reason: Option<&str>,
) -> Result<Account, StoreError> {
    // Alerts (K3) need the state before: active → needs re-authorization alerts.
    let before = get_account(db, ws, id)?.state;
    let n = db.execute(
        "UPDATE accounts SET state = $1, state_reason = $2 WHERE id = $3 AND workspace_id = $4",
        &[
            state.as_str().into(),
            reason.into(),
            id.0.into(),
            ws.0.into(),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    let account = get_account(db, ws, id)?;
    crate::alerts::account_state_set(db, ws, before, &account, imhub_core::Timestamp::now())?;
    Ok(account)
}

pub(crate) fn find_account(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: ChannelId,
    external_id: &str,
) -> Result<Option<Account>, StoreError> {
    match find_account_id(db, channel, external_id)? {
        Some(id) => match get_account(db, ws, id) {
            Ok(account) => Ok(Some(account)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

pub(crate) fn get_channel_state(
    db: &mut dyn Db,
    keys: &KeyRing,
    channel: ChannelId,
    key: &str,
) -> Result<Option<String>, StoreError> {
    let slot = Slot::ChannelState {
        channel: channel.0,
        key,
    };
    db.query_opt(
        "SELECT value FROM channel_state WHERE channel_id = $1 AND key = $2",
        &[channel.0.into(), key.into()],
    )?
    .map(|r| keys.open(slot, &r.text(0)?))
    .transpose()
}

pub(crate) fn put_channel_state(
    db: &mut dyn Db,
    keys: &KeyRing,
    channel: ChannelId,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    let value = keys.seal(
        Slot::ChannelState {
            channel: channel.0,
            key,
        },
        value,
    )?;
    db.execute(
        "INSERT INTO channel_state (channel_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (channel_id, key) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
        &[
            channel.0.into(),
            key.into(),
            value.into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    Ok(())
}

/// Renames a connected channel and/or replaces its configuration (the
/// caller merged and checked it); `updated_at` moves so every node's cached
/// adapter is rebuilt.
pub(crate) fn update_channel(
    db: &mut dyn Db,
    keys: &KeyRing,
    ws: WorkspaceId,
    id: ChannelId,
    name: Option<&str>,
    config: Option<&serde_json::Value>,
) -> Result<StoredChannel, StoreError> {
    get_channel(db, keys, ws, id)?;
    let now = Timestamp::now().millis();
    if let Some(name) = name {
        db.execute(
            "UPDATE channels SET name = $1, updated_at = $2 WHERE id = $3",
            &[name.into(), now.into(), id.0.into()],
        )?;
    }
    if let Some(config) = config {
        let sealed = keys.seal(Slot::ChannelConfig { channel: id.0 }, &config.to_string())?;
        db.execute(
            "UPDATE channels SET config = $1, updated_at = $2 WHERE id = $3",
            &[sealed.into(), now.into(), id.0.into()],
        )?;
    }
    get_channel(db, keys, ws, id)
}

/// Disconnects a channel: it stays as the history of its conversations but
/// leaves every list, its pushes are refused, and the replies still queued
/// through it fail for good with `channel_disconnected` (a send a delivery
/// worker holds right now finishes; the engine refuses the channel after).
pub(crate) fn disconnect_channel(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: ChannelId,
    now: Timestamp,
) -> Result<Vec<crate::Change>, StoreError> {
    let n = db.execute(
        "UPDATE channels SET disconnected_at = $1, updated_at = $1 \
         WHERE id = $2 AND workspace_id = $3 AND disconnected_at IS NULL",
        &[now.millis().into(), id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    let queued = db.query(
        "SELECT o.id, o.message_id, o.conversation_id FROM outbox o \
         JOIN conversations c ON c.id = o.conversation_id \
         WHERE o.workspace_id = $1 AND c.channel_id = $2 AND o.op = 'send' \
         AND (o.lease_until IS NULL OR o.lease_until < $3) ORDER BY o.id",
        &[ws.0.into(), id.0.into(), now.millis().into()],
    )?;
    let mut changes = Vec::with_capacity(queued.len());
    for row in queued {
        let (entry, message, conversation) = (row.int(0)?, row.int(1)?, row.int(2)?);
        db.execute("DELETE FROM outbox WHERE id = $1", &[entry.into()])?;
        db.execute(
            "UPDATE messages SET status = 'failed', error_code = $1, error_text = $2, \
             updated_at = $3 WHERE id = $4 AND status IN ('queued', 'sending')",
            &[
                CHANNEL_DISCONNECTED.into(),
                "the channel was disconnected before this reply was sent".into(),
                now.millis().into(),
                message.into(),
            ],
        )?;
        changes.push(crate::Change::MessageUpdated {
            workspace_id: ws,
            conversation_id: imhub_core::ConversationId(conversation),
            message_id: imhub_core::MessageId(message),
        });
    }
    // A disconnected channel is not "silent": no alert for it any more.
    db.execute(
        "DELETE FROM channel_activity WHERE channel_id = $1",
        &[id.0.into()],
    )?;
    Ok(changes)
}

/// The error code of replies that could not go out because their channel
/// was disconnected.
pub const CHANNEL_DISCONNECTED: &str = "channel_disconnected";

/// Renames, disables or enables an account of a connected channel.
pub(crate) fn update_account(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: AccountId,
    name: Option<&str>,
    disabled: Option<bool>,
) -> Result<Account, StoreError> {
    let account = get_account(db, ws, id)?;
    db.query_one(
        "SELECT id FROM channels WHERE id = $1 AND disconnected_at IS NULL",
        &[account.channel_id.0.into()],
    )?;
    if let Some(name) = name {
        db.execute(
            "UPDATE accounts SET name = $1 WHERE id = $2",
            &[name.into(), id.0.into()],
        )?;
    }
    match disabled {
        Some(true) => db.execute(
            "UPDATE accounts SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2",
            &[Timestamp::now().millis().into(), id.0.into()],
        )?,
        Some(false) => db.execute(
            "UPDATE accounts SET disabled_at = NULL WHERE id = $1",
            &[id.0.into()],
        )?,
        None => 0,
    };
    get_account(db, ws, id)
}

/// A reply that failed for good, as the channel health page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub code: String,
    pub text: String,
    pub at: Timestamp,
}

/// What the channel health page shows of one connected channel, read
/// from kept counters and indexes (no platform call).
#[derive(Debug, Clone)]
pub struct ChannelHealth {
    pub channel_id: ChannelId,
    pub platform: Platform,
    pub name: String,
    pub created_at: Timestamp,
    /// The newest push (`channel_activity`, which the ingest writer keeps).
    pub last_push_at: Option<Timestamp>,
    /// Pushes received since `since` (a range of `raw_events_by_channel`).
    pub pushes_since: i64,
    pub last_send_error: Option<SendFailure>,
    pub accounts: Vec<Account>,
}

/// The health of every connected channel of the workspace; `since` is the
/// start of the day `pushes_since` counts.
pub(crate) fn channel_health(
    db: &mut dyn Db,
    ws: WorkspaceId,
    since: Timestamp,
) -> Result<Vec<ChannelHealth>, StoreError> {
    let channels = db.query(
        "SELECT c.id, c.platform, c.name, c.created_at, a.last_push_at FROM channels c \
         LEFT JOIN channel_activity a ON a.channel_id = c.id \
         WHERE c.workspace_id = $1 AND c.disconnected_at IS NULL ORDER BY c.id",
        &[ws.0.into()],
    )?;
    let accounts = list_accounts(db, ws)?;
    let mut out = Vec::with_capacity(channels.len());
    for row in channels {
        let id = row.int(0)?;
        let pushes_since = db
            .query_one(
                "SELECT COUNT(*) FROM raw_events WHERE channel_id = $1 AND received_at >= $2",
                &[id.into(), since.millis().into()],
            )?
            .int(0)?;
        let last_send_error = db
            .query_opt(
                "SELECT error_code, error_text, updated_at FROM messages \
                 WHERE channel_id = $1 AND status = 'failed' \
                 ORDER BY updated_at DESC LIMIT 1",
                &[id.into()],
            )?
            .map(|r| -> Result<SendFailure, StoreError> {
                Ok(SendFailure {
                    code: r.opt_text(0)?.unwrap_or_default(),
                    text: r.opt_text(1)?.unwrap_or_default(),
                    at: Timestamp(r.int(2)?),
                })
            })
            .transpose()?;
        out.push(ChannelHealth {
            channel_id: ChannelId(id),
            platform: platform(&row.text(1)?)?,
            name: row.text(2)?,
            created_at: Timestamp(row.int(3)?),
            last_push_at: row.opt_int(4)?.map(Timestamp),
            pushes_since,
            last_send_error,
            accounts: accounts
                .iter()
                .filter(|a| a.channel_id.0 == id)
                .cloned()
                .collect(),
        });
    }
    Ok(out)
}
