//! Synthetic data for the store benchmark (`imhub bench store`): one
//! workspace with many conversations and messages, inserted set-wise so
//! that seeding ten million rows takes minutes, not hours.

use imhub_core::{AccountId, ChannelId, Platform, Timestamp, WorkspaceId};

use crate::{
    SqlStore, Store, StoreError,
    db::{Db, Dialect},
};

/// What was seeded.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
    pub first_conversation: i64,
    pub conversations: i64,
    pub messages: i64,
}

/// Numbers 1..=n as a row source, in each dialect.
fn series(dialect: Dialect, n: i64) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
        ),
        Dialect::Postgres => format!("WITH n(i) AS (SELECT generate_series(1, {n})::BIGINT) "),
    }
}

/// Seeds `conversations` direct conversations over ten accounts, each with
/// `per_conversation` messages; a third of the conversations are unread.
pub async fn seed(
    store: &SqlStore,
    conversations: i64,
    per_conversation: i64,
) -> Result<Seeded, StoreError> {
    let ws = store.create_workspace("benchmark").await?;
    let channel = store
        .create_channel(
            ws.id,
            Platform::Custom,
            "bench",
            &serde_json::json!({"secret": "benchmark-secret-0000"}),
        )
        .await?;
    let mut accounts: Vec<AccountId> = Vec::new();
    for i in 0..10 {
        accounts.push(
            store
                .create_account(
                    ws.id,
                    channel.id,
                    &format!("acc-{i}"),
                    &format!("Store {i}"),
                )
                .await?
                .id,
        );
    }
    let (w, ch, acc0) = (ws.id.0, channel.id.0, accounts[0].0);
    let t0 = Timestamp::now().millis() - conversations * 1000;
    store
        .write_raw(move |db: &mut dyn Db| {
            let n = series(db.dialect(), conversations);
            db.execute(
                &format!(
                    "{n}INSERT INTO contacts (workspace_id, channel_id, external_id, nickname) \
                     SELECT {w}, {ch}, 'c' || i, 'customer ' || i FROM n"
                ),
                &[],
            )?;
            let c0 = db
                .query_one(
                    "SELECT MIN(id) FROM contacts WHERE channel_id = $1",
                    &[ch.into()],
                )?
                .int(0)?;
            db.execute(
                &format!(
                    "{n}INSERT INTO conversations (workspace_id, channel_id, account_id, platform, \
                       kind, contact_id, peer_external_id, title, status, unread_count, \
                       last_message_preview, last_activity_at, last_inbound_at, created_at) \
                     SELECT {w}, {ch}, {acc0} + (i % 10), 'custom', 'direct', {c0} + i - 1, \
                       'c' || i, 'customer ' || i, 'open', i % 3, 'the last message', \
                       {t0} + i * 1000, {t0} + i * 1000, {t0} FROM n"
                ),
                &[],
            )?;
            Ok(())
        })
        .await?;
    for j in 0..per_conversation {
        store
            .write_raw(move |db: &mut dyn Db| {
                db.execute(
                    &format!(
                        "INSERT INTO messages (workspace_id, conversation_id, channel_id, \
                           direction, content, status, platform_message_id, created_at, updated_at) \
                         SELECT {w}, id, {ch}, CASE WHEN {j} % 2 = 0 THEN 'in' ELSE 'out' END, \
                           '{{\"type\":\"text\",\"text\":\"message number {j} of a long chat\"}}', \
                           'delivered', 'p' || id || '-{j}', \
                           last_activity_at - ({per_conversation} - {j}) * 10, \
                           last_activity_at FROM conversations WHERE channel_id = {ch}"
                    ),
                    &[],
                )?;
                Ok(())
            })
            .await?;
    }
    let first_conversation = store
        .write_raw(move |db: &mut dyn Db| {
            db.batch("ANALYZE")?;
            db.query_one(
                "SELECT MIN(id) FROM conversations WHERE channel_id = $1",
                &[ch.into()],
            )?
            .int(0)
        })
        .await?;
    Ok(Seeded {
        workspace: ws.id,
        channel: channel.id,
        first_conversation,
        conversations,
        messages: conversations * per_conversation,
    })
}

/// The data an earlier run seeded into this database, to measure again
/// without seeding again.
pub async fn find_seeded(store: &SqlStore) -> Result<Option<Seeded>, StoreError> {
    store
        .read_raw(|db: &mut dyn Db| {
            let Some(row) = db.query_opt(
                "SELECT w.id, c.id, MIN(v.id), COUNT(v.id) FROM workspaces w \
                 JOIN channels c ON c.workspace_id = w.id \
                 JOIN conversations v ON v.channel_id = c.id \
                 WHERE w.name = 'benchmark' GROUP BY w.id, c.id ORDER BY w.id DESC LIMIT 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let (ws, channel, first, count) = (row.int(0)?, row.int(1)?, row.int(2)?, row.int(3)?);
            let messages = db
                .query_one(
                    "SELECT COUNT(*) FROM messages WHERE channel_id = $1",
                    &[channel.into()],
                )?
                .int(0)?;
            Ok(Some(Seeded {
                workspace: WorkspaceId(ws),
                channel: ChannelId(channel),
                first_conversation: first,
                conversations: count,
                messages,
            }))
        })
        .await
}

/// Gives these conversations unread messages again, so that marking them
/// read is a real write.
pub async fn make_unread(store: &SqlStore, conversations: Vec<i64>) -> Result<(), StoreError> {
    store
        .write_raw(move |db: &mut dyn Db| {
            for id in conversations {
                db.execute(
                    "UPDATE conversations SET unread_count = 3 WHERE id = $1",
                    &[id.into()],
                )?;
            }
            Ok(())
        })
        .await
}

/// The cheapest read through the same path (pool, blocking thread): the
/// baseline the benchmark's figures are compared with.
pub async fn baseline_read(store: &SqlStore) -> Result<(), StoreError> {
    store
        .read_raw(|db: &mut dyn Db| db.query_one("SELECT 1", &[]).map(|_| ()))
        .await
}
