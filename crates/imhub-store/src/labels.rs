//! Workspace labels (name and colour) and where they are put: on
//! conversations (one at a time or in bulk from the chat list) and on
//! contacts. A label of another workspace is `NotFound`, wherever it is
//! named; deleting a label takes it off everything.

use std::collections::BTreeSet;

use imhub_core::{ContactId, ConversationId, LabelId, Timestamp, WorkspaceId};

use crate::{Change, StoreError, db::Db};

/// Most labels one conversation or contact carries.
pub const MAX_LABELS_PER_ITEM: usize = 50;

/// Most conversations one bulk change names.
pub const MAX_BULK_CONVERSATIONS: usize = 200;

/// A workspace label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Label {
    pub id: LabelId,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    pub created_at: Timestamp,
}

const LABEL_COLUMNS: &str = "id, name, color, created_at";

fn label(row: &crate::db::Row) -> Result<Label, StoreError> {
    Ok(Label {
        id: LabelId(row.int(0)?),
        name: row.text(1)?,
        color: row.text(2)?,
        created_at: Timestamp(row.int(3)?),
    })
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a label named {name:?} exists"))
}

pub(crate) fn create_label(
    db: &mut dyn Db,
    ws: WorkspaceId,
    name: &str,
    color: &str,
) -> Result<Label, StoreError> {
    let row = db.query_opt(
        &format!(
            "INSERT INTO labels (workspace_id, name, color, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, name) DO NOTHING RETURNING {LABEL_COLUMNS}"
        ),
        &[
            ws.0.into(),
            name.into(),
            color.into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    label(&row.ok_or_else(|| name_taken(name))?)
}

pub(crate) fn list_labels(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<Label>, StoreError> {
    let mut labels = db
        .query(
            &format!("SELECT {LABEL_COLUMNS} FROM labels WHERE workspace_id = $1"),
            &[ws.0.into()],
        )?
        .iter()
        .map(label)
        .collect::<Result<Vec<_>, _>>()?;
    // Ordered here, not by SQL: the databases' collations differ.
    labels.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    Ok(labels)
}

pub(crate) fn get_label(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LabelId,
) -> Result<Label, StoreError> {
    label(&db.query_one(
        &format!("SELECT {LABEL_COLUMNS} FROM labels WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)
}

pub(crate) fn update_label(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LabelId,
    name: Option<&str>,
    color: Option<&str>,
) -> Result<Label, StoreError> {
    let before = get_label(db, ws, id)?;
    if let Some(name) = name.filter(|n| *n != before.name) {
        let taken = db
            .query_opt(
                "SELECT 1 FROM labels WHERE workspace_id = $1 AND name = $2 AND id <> $3",
                &[ws.0.into(), name.into(), id.0.into()],
            )?
            .is_some();
        if taken {
            return Err(name_taken(name));
        }
    }
    db.execute(
        "UPDATE labels SET name = $1, color = $2 WHERE id = $3 AND workspace_id = $4",
        &[
            name.unwrap_or(&before.name).into(),
            color.unwrap_or(&before.color).into(),
            id.0.into(),
            ws.0.into(),
        ],
    )?;
    get_label(db, ws, id)
}

fn labels_changed(ws: WorkspaceId, conversations: impl IntoIterator<Item = i64>) -> Vec<Change> {
    conversations
        .into_iter()
        .map(|c| Change::ConversationLabelsChanged {
            workspace_id: ws,
            conversation_id: ConversationId(c),
        })
        .collect()
}

pub(crate) fn delete_label(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: LabelId,
) -> Result<Vec<Change>, StoreError> {
    get_label(db, ws, id)?;
    let affected: Vec<i64> = db
        .query(
            "SELECT conversation_id FROM conversation_labels WHERE workspace_id = $1 \
             AND label_id = $2 ORDER BY conversation_id",
            &[ws.0.into(), id.0.into()],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_, _>>()?;
    db.execute(
        "DELETE FROM conversation_labels WHERE workspace_id = $1 AND label_id = $2",
        &[ws.0.into(), id.0.into()],
    )?;
    db.execute(
        "DELETE FROM contact_labels WHERE workspace_id = $1 AND label_id = $2",
        &[ws.0.into(), id.0.into()],
    )?;
    db.execute(
        "DELETE FROM labels WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    Ok(labels_changed(ws, affected))
}

/// The labels, deduplicated and in id order, after checking every one is
/// the workspace's (`NotFound` otherwise).
fn checked(
    db: &mut dyn Db,
    ws: WorkspaceId,
    labels: &[LabelId],
) -> Result<BTreeSet<LabelId>, StoreError> {
    let set: BTreeSet<LabelId> = labels.iter().copied().collect();
    for id in &set {
        db.query_one(
            "SELECT id FROM labels WHERE id = $1 AND workspace_id = $2",
            &[id.0.into(), ws.0.into()],
        )?;
    }
    Ok(set)
}

fn ids(rows: Vec<crate::db::Row>) -> Result<Vec<LabelId>, StoreError> {
    rows.iter().map(|r| r.int(0).map(LabelId)).collect()
}

pub(crate) fn conversation_labels(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
) -> Result<Vec<LabelId>, StoreError> {
    ids(db.query(
        "SELECT label_id FROM conversation_labels WHERE conversation_id = $1 \
         AND workspace_id = $2 ORDER BY label_id",
        &[conversation.0.into(), ws.0.into()],
    )?)
}

fn too_many() -> StoreError {
    StoreError::Refused {
        code: "invalid_request",
        detail: format!("at most {MAX_LABELS_PER_ITEM} labels"),
    }
}

pub(crate) fn set_conversation_labels(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversation: ConversationId,
    labels: &[LabelId],
) -> Result<(Vec<LabelId>, Vec<Change>), StoreError> {
    db.query_one(
        "SELECT id FROM conversations WHERE id = $1 AND workspace_id = $2",
        &[conversation.0.into(), ws.0.into()],
    )?;
    let wanted = checked(db, ws, labels)?;
    if wanted.len() > MAX_LABELS_PER_ITEM {
        return Err(too_many());
    }
    let before: BTreeSet<LabelId> = conversation_labels(db, ws, conversation)?
        .into_iter()
        .collect();
    if before == wanted {
        return Ok((wanted.into_iter().collect(), Vec::new()));
    }
    for gone in before.difference(&wanted) {
        db.execute(
            "DELETE FROM conversation_labels WHERE conversation_id = $1 AND label_id = $2",
            &[conversation.0.into(), gone.0.into()],
        )?;
    }
    for new in wanted.difference(&before) {
        db.execute(
            "INSERT INTO conversation_labels (conversation_id, label_id, workspace_id) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[conversation.0.into(), new.0.into(), ws.0.into()],
        )?;
    }
    Ok((
        wanted.into_iter().collect(),
        labels_changed(ws, [conversation.0]),
    ))
}

pub(crate) fn bulk_label_conversations(
    db: &mut dyn Db,
    ws: WorkspaceId,
    conversations: &[ConversationId],
    add: &[LabelId],
    remove: &[LabelId],
) -> Result<Vec<Change>, StoreError> {
    let targets: BTreeSet<ConversationId> = conversations.iter().copied().collect();
    if targets.len() > MAX_BULK_CONVERSATIONS {
        return Err(StoreError::Refused {
            code: "invalid_request",
            detail: format!("at most {MAX_BULK_CONVERSATIONS} conversations at once"),
        });
    }
    let add = checked(db, ws, add)?;
    let remove = checked(db, ws, remove)?;
    if let Some(both) = add.intersection(&remove).next() {
        return Err(StoreError::Refused {
            code: "invalid_request",
            detail: format!("label {both} is both added and removed"),
        });
    }
    // Every conversation must be the caller's: all or nothing.
    for c in &targets {
        db.query_one(
            "SELECT id FROM conversations WHERE id = $1 AND workspace_id = $2",
            &[c.0.into(), ws.0.into()],
        )?;
    }
    let mut changed = Vec::new();
    for c in &targets {
        let mut n = 0;
        for l in &add {
            n += db.execute(
                "INSERT INTO conversation_labels (conversation_id, label_id, workspace_id) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[c.0.into(), l.0.into(), ws.0.into()],
            )?;
        }
        for l in &remove {
            n += db.execute(
                "DELETE FROM conversation_labels WHERE conversation_id = $1 AND label_id = $2",
                &[c.0.into(), l.0.into()],
            )?;
        }
        if n > 0 {
            let count = db
                .query_one(
                    "SELECT COUNT(*) FROM conversation_labels WHERE conversation_id = $1",
                    &[c.0.into()],
                )?
                .int(0)?;
            if count > MAX_LABELS_PER_ITEM as i64 {
                return Err(too_many());
            }
            changed.push(c.0);
        }
    }
    Ok(labels_changed(ws, changed))
}

pub(crate) fn contact_labels(
    db: &mut dyn Db,
    ws: WorkspaceId,
    contact: ContactId,
) -> Result<Vec<LabelId>, StoreError> {
    ids(db.query(
        "SELECT label_id FROM contact_labels WHERE contact_id = $1 AND workspace_id = $2 \
         ORDER BY label_id",
        &[contact.0.into(), ws.0.into()],
    )?)
}

pub(crate) fn set_contact_labels(
    db: &mut dyn Db,
    ws: WorkspaceId,
    contact: ContactId,
    labels: &[LabelId],
) -> Result<Vec<LabelId>, StoreError> {
    db.query_one(
        "SELECT id FROM contacts WHERE id = $1 AND workspace_id = $2",
        &[contact.0.into(), ws.0.into()],
    )?;
    let wanted = checked(db, ws, labels)?;
    if wanted.len() > MAX_LABELS_PER_ITEM {
        return Err(too_many());
    }
    db.execute(
        "DELETE FROM contact_labels WHERE contact_id = $1 AND workspace_id = $2",
        &[contact.0.into(), ws.0.into()],
    )?;
    for l in &wanted {
        db.execute(
            "INSERT INTO contact_labels (contact_id, label_id, workspace_id) VALUES ($1, $2, $3)",
            &[contact.0.into(), l.0.into(), ws.0.into()],
        )?;
    }
    Ok(wanted.into_iter().collect())
}
