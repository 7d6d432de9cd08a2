//! Uploads for the inbox's attachments, kept under an unguessable key.

use imhub_core::{Timestamp, WorkspaceId};

use crate::{StoreError, db::Db};

pub(crate) fn put_media(
    db: &mut dyn Db,
    ws: WorkspaceId,
    key: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO media (key, workspace_id, content_type, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            key.into(),
            ws.0.into(),
            content_type.into(),
            bytes.into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    Ok(())
}

pub(crate) fn get_media(db: &mut dyn Db, key: &str) -> Result<(String, Vec<u8>), StoreError> {
    let row = db.query_one(
        "SELECT content_type, bytes FROM media WHERE key = $1",
        &[key.into()],
    )?;
    Ok((row.text(0)?, row.blob(1)?))
}
