//! Uploads for the inbox's attachments, kept under an unguessable key.

use imhub_core::{Timestamp, WorkspaceId};

use crate::{StoreError, db::Db};

/// Stores an upload unless it would take the workspace's media past
/// `quota_bytes` (checked in the same transaction, so concurrent uploads
/// cannot overshoot it together).
pub(crate) fn put_media(
    db: &mut dyn Db,
    ws: WorkspaceId,
    key: &str,
    content_type: &str,
    bytes: Vec<u8>,
    quota_bytes: Option<u64>,
) -> Result<(), StoreError> {
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    if let Some(quota) = quota_bytes {
        let used = media_usage(db, ws)?;
        let quota = i64::try_from(quota).unwrap_or(i64::MAX);
        if used.saturating_add(size) > quota {
            return Err(StoreError::QuotaExceeded(format!(
                "the workspace's media would take {} bytes; its quota is {quota}",
                used.saturating_add(size)
            )));
        }
    }
    db.execute(
        "INSERT INTO media (key, workspace_id, content_type, bytes, created_at, size) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            key.into(),
            ws.0.into(),
            content_type.into(),
            bytes.into(),
            Timestamp::now().millis().into(),
            size.into(),
        ],
    )?;
    Ok(())
}

/// Bytes of media a workspace stores.
pub(crate) fn media_usage(db: &mut dyn Db, ws: WorkspaceId) -> Result<i64, StoreError> {
    db.query_one(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM media WHERE workspace_id = $1",
        &[ws.0.into()],
    )?
    .int(0)
}

pub(crate) fn get_media(db: &mut dyn Db, key: &str) -> Result<(String, Vec<u8>), StoreError> {
    let row = db.query_one(
        "SELECT content_type, bytes FROM media WHERE key = $1",
        &[key.into()],
    )?;
    Ok((row.text(0)?, row.blob(1)?))
}
