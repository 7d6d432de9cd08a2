//! The quick-reply library (话术库): saved answers, shared by the
//! workspace (`owner_user_id` NULL, managed by admins) or an agent's own.
//! A shortcut is unique within its scope (the shared library, or one
//! agent's replies), compared case-insensitively. The texts' variables are
//! checked by the API with `imhub_core::template` before they get here.

use imhub_core::{Content, QuickReplyId, Timestamp, UserId, WorkspaceId};

use crate::{StoreError, db::Db};

/// Most quick replies one search answers.
pub const MAX_QUICK_REPLY_PAGE: u32 = 200;

/// Whose a quick reply is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QuickReplyScope {
    /// The workspace's library: every agent uses it, admins manage it.
    Shared,
    /// One agent's own.
    Personal,
}

/// A saved answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QuickReply {
    pub id: QuickReplyId,
    pub scope: QuickReplyScope,
    /// The agent a personal reply belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// Where it is filed (`""` for the top level).
    pub folder: String,
    pub title: String,
    /// Typed after `/` in the composer to pick it (lowercase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<String>,
    /// The text, with `{{variables}}`.
    pub text: String,
    /// An image or a card sent with (or instead of) the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A quick reply to save; `owner` `None` is a shared one.
#[derive(Debug, Clone)]
pub struct NewQuickReply {
    pub owner: Option<UserId>,
    pub folder: String,
    pub title: String,
    pub shortcut: Option<String>,
    pub text: String,
    pub content: Option<Content>,
}

/// What a change of a quick reply sets; `None` keeps the field, and
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct QuickReplyPatch {
    pub folder: Option<String>,
    pub title: Option<String>,
    pub shortcut: Option<Option<String>>,
    pub text: Option<String>,
    pub content: Option<Option<Content>>,
}

/// Which quick replies a search returns.
#[derive(Debug, Clone, Default)]
pub struct QuickReplyFilter {
    /// Substring of the title, shortcut or text, case-insensitive.
    pub query: Option<String>,
    /// Only this folder.
    pub folder: Option<String>,
    pub limit: u32,
}

const COLUMNS: &str =
    "id, owner_user_id, folder, title, shortcut, text, content, created_at, updated_at";

fn reply(row: &crate::db::Row) -> Result<QuickReply, StoreError> {
    let owner = row.opt_int(1)?.map(UserId);
    Ok(QuickReply {
        id: QuickReplyId(row.int(0)?),
        scope: if owner.is_some() {
            QuickReplyScope::Personal
        } else {
            QuickReplyScope::Shared
        },
        owner_id: owner,
        folder: row.text(2)?,
        title: row.text(3)?,
        shortcut: row.opt_text(4)?,
        text: row.text(5)?,
        content: row
            .opt_text(6)?
            .map(|t| serde_json::from_str(&t))
            .transpose()?,
        created_at: Timestamp(row.int(7)?),
        updated_at: Timestamp(row.int(8)?),
    })
}

fn shortcut_taken(shortcut: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the shortcut {shortcut:?} is taken in this library"
    ))
}

/// The stored form of a shortcut: lowercase, so `/Hi` and `/hi` are one.
pub fn normalize_shortcut(shortcut: &str) -> String {
    shortcut.trim().to_lowercase()
}

fn content_text(content: &Option<Content>) -> Result<Option<String>, StoreError> {
    Ok(content.as_ref().map(serde_json::to_string).transpose()?)
}

pub(crate) fn create_quick_reply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    new: NewQuickReply,
) -> Result<QuickReply, StoreError> {
    let shortcut = new.shortcut.as_deref().map(normalize_shortcut);
    let now = Timestamp::now().millis();
    // The one unique index is the shortcut's: a conflict is a taken shortcut.
    let row = db.query_opt(
        &format!(
            "INSERT INTO quick_replies (workspace_id, owner_user_id, folder, title, shortcut, \
               text, content, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING \
             RETURNING {COLUMNS}"
        ),
        &[
            ws.0.into(),
            new.owner.map(|u| u.0).into(),
            new.folder.trim().into(),
            new.title.trim().into(),
            shortcut.clone().into(),
            new.text.into(),
            content_text(&new.content)?.into(),
            now.into(),
        ],
    )?;
    match row {
        Some(row) => reply(&row),
        None => Err(shortcut_taken(shortcut.as_deref().unwrap_or_default())),
    }
}

/// A quick reply `viewer` may see: a shared one, or the viewer's own
/// (another agent's personal reply is `NotFound`).
pub(crate) fn get_quick_reply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: QuickReplyId,
    viewer: Option<UserId>,
) -> Result<QuickReply, StoreError> {
    let found = reply(&db.query_one(
        &format!("SELECT {COLUMNS} FROM quick_replies WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)?;
    match found.owner_id {
        Some(owner) if Some(owner) != viewer => Err(StoreError::NotFound),
        _ => Ok(found),
    }
}

pub(crate) fn list_quick_replies(
    db: &mut dyn Db,
    ws: WorkspaceId,
    viewer: Option<UserId>,
    filter: &QuickReplyFilter,
) -> Result<Vec<QuickReply>, StoreError> {
    let rows = match viewer {
        Some(user) => db.query(
            &format!(
                "SELECT {COLUMNS} FROM quick_replies WHERE workspace_id = $1 \
                 AND (owner_user_id IS NULL OR owner_user_id = $2)"
            ),
            &[ws.0.into(), user.0.into()],
        )?,
        None => db.query(
            &format!(
                "SELECT {COLUMNS} FROM quick_replies WHERE workspace_id = $1 \
                 AND owner_user_id IS NULL"
            ),
            &[ws.0.into()],
        )?,
    };
    // A library holds hundreds of replies, not millions: matching here
    // gives both backends the same Unicode case folding.
    let query = filter
        .query
        .as_deref()
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    // Ordered here, not by SQL: the databases' collations differ.
    let mut replies = rows.iter().map(reply).collect::<Result<Vec<_>, _>>()?;
    replies.sort_by(|a, b| (&a.folder, &a.title, a.id).cmp(&(&b.folder, &b.title, b.id)));
    let mut found: Vec<(u8, QuickReply)> = Vec::new();
    for r in replies {
        if filter
            .folder
            .as_deref()
            .is_some_and(|f| f.trim() != r.folder)
        {
            continue;
        }
        let rank = match &query {
            None => 0,
            Some(q) => {
                let shortcut = r.shortcut.as_deref().unwrap_or_default();
                let title = r.title.to_lowercase();
                if shortcut == q {
                    0
                } else if shortcut.starts_with(q.as_str()) {
                    1
                } else if title.starts_with(q.as_str()) {
                    2
                } else if shortcut.contains(q.as_str()) || title.contains(q.as_str()) {
                    3
                } else if r.text.to_lowercase().contains(q.as_str()) {
                    4
                } else {
                    continue;
                }
            }
        };
        found.push((rank, r));
    }
    // Stable: within a rank the library's order (folder, title) stays.
    found.sort_by_key(|(rank, _)| *rank);
    Ok(found
        .into_iter()
        .take(filter.limit.clamp(1, MAX_QUICK_REPLY_PAGE) as usize)
        .map(|(_, r)| r)
        .collect())
}

pub(crate) fn update_quick_reply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: QuickReplyId,
    viewer: Option<UserId>,
    patch: QuickReplyPatch,
) -> Result<QuickReply, StoreError> {
    let before = get_quick_reply(db, ws, id, viewer)?;
    let shortcut = match patch.shortcut {
        Some(s) => s.as_deref().map(normalize_shortcut),
        None => before.shortcut.clone(),
    };
    if let Some(s) = shortcut
        .as_deref()
        .filter(|s| Some(*s) != before.shortcut.as_deref())
    {
        let taken = db
            .query_opt(
                "SELECT 1 FROM quick_replies WHERE workspace_id = $1 \
                 AND COALESCE(owner_user_id, 0) = $2 AND shortcut = $3 AND id <> $4",
                &[
                    ws.0.into(),
                    before.owner_id.map_or(0, |u| u.0).into(),
                    s.into(),
                    id.0.into(),
                ],
            )?
            .is_some();
        if taken {
            return Err(shortcut_taken(s));
        }
    }
    let content = match patch.content {
        Some(c) => c,
        None => before.content.clone(),
    };
    db.execute(
        "UPDATE quick_replies SET folder = $1, title = $2, shortcut = $3, text = $4, \
         content = $5, updated_at = $6 WHERE id = $7 AND workspace_id = $8",
        &[
            patch
                .folder
                .as_deref()
                .map_or(before.folder.clone(), |f| f.trim().to_string())
                .into(),
            patch
                .title
                .as_deref()
                .map_or(before.title.clone(), |t| t.trim().to_string())
                .into(),
            shortcut.into(),
            patch.text.unwrap_or(before.text).into(),
            content_text(&content)?.into(),
            Timestamp::now().millis().into(),
            id.0.into(),
            ws.0.into(),
        ],
    )?;
    get_quick_reply(db, ws, id, viewer)
}

pub(crate) fn delete_quick_reply(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: QuickReplyId,
    viewer: Option<UserId>,
) -> Result<(), StoreError> {
    get_quick_reply(db, ws, id, viewer)?;
    db.execute(
        "DELETE FROM quick_replies WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    Ok(())
}
