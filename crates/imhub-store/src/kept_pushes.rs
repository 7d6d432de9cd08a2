//! Kept pushes: the raw events that could not be processed (an unknown
//! account, an event type the adapter did not know), listed per channel so
//! an admin sees why and can replay them once the cause is fixed. Pushes
//! `held` for a suspended workspace are not among them. Only connected
//! channels' pushes are listed: a disconnected channel's cannot be replayed.

use imhub_core::{ChannelId, Timestamp, WorkspaceId};

use crate::{
    RawEvent, StoreError,
    db::{Db, Row, Value},
};

/// Most kept pushes one page lists.
pub const MAX_PAGE: u32 = 200;

fn raw_event(row: &Row) -> Result<RawEvent, StoreError> {
    Ok(RawEvent {
        id: row.int(0)?,
        channel_id: ChannelId(row.int(1)?),
        event_key: row.opt_text(2)?,
        body: row.blob(3)?,
        status: row.text(4)?,
        reason: row.opt_text(5)?,
        received_at: Timestamp(row.int(6)?),
        request: row
            .opt_text(7)?
            .map(|t| serde_json::from_str(&t))
            .transpose()?,
    })
}

const COLUMNS: &str = "r.id, r.channel_id, r.event_key, r.body, r.status, r.reason, \
    r.received_at, r.request";

/// The workspace's kept pushes in id order after `after` (a cursor), of
/// one channel when given: a range of `raw_events_by_status`.
pub(crate) fn list(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: Option<ChannelId>,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<RawEvent>, StoreError> {
    let mut params: Vec<Value> = vec![
        ws.0.into(),
        after.unwrap_or(0).into(),
        i64::from(limit.clamp(1, MAX_PAGE)).into(),
    ];
    let mut filter = String::new();
    if let Some(channel) = channel {
        params.push(channel.0.into());
        filter = " AND r.channel_id = $4".into();
    }
    db.query(
        &format!(
            "SELECT {COLUMNS} FROM raw_events r JOIN channels c ON c.id = r.channel_id \
             WHERE r.workspace_id = $1 AND r.status = 'unprocessable' AND r.id > $2{filter} \
             AND c.disconnected_at IS NULL ORDER BY r.id LIMIT $3"
        ),
        &params,
    )?
    .iter()
    .map(raw_event)
    .collect()
}

/// One kept push of a connected channel of the workspace.
pub(crate) fn get(db: &mut dyn Db, ws: WorkspaceId, id: i64) -> Result<RawEvent, StoreError> {
    raw_event(&db.query_one(
        &format!(
            "SELECT {COLUMNS} FROM raw_events r JOIN channels c ON c.id = r.channel_id \
             WHERE r.id = $1 AND r.workspace_id = $2 AND r.status = 'unprocessable' \
             AND c.disconnected_at IS NULL"
        ),
        &[id.into(), ws.0.into()],
    )?)
}
