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

const CHANNEL_COLUMNS: &str = "id, workspace_id, platform, name, config, created_at";

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
        &format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE workspace_id = $1 ORDER BY id"),
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
            &format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND workspace_id = $2"),
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
        "SELECT id FROM channels WHERE id = $1 AND workspace_id = $2",
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
             WHERE a.workspace_id = $1 ORDER BY a.id"
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
