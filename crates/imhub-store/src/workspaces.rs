//! Workspaces, API tokens, agents and their login sessions.

use imhub_core::{Role, Timestamp, UserId, Workspace, WorkspaceId};

use crate::{
    ApiTokenInfo, Change, Principal, StoreError, StoredUser,
    db::{Db, Row},
};

fn workspace(row: &Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: WorkspaceId(row.int(0)?),
        name: row.text(1)?,
        created_at: Timestamp(row.int(2)?),
    })
}

fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Database(format!("unknown role {text:?}")))
}

pub(crate) fn create_workspace(db: &mut dyn Db, name: &str) -> Result<Workspace, StoreError> {
    let row = db.query_one(
        "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at",
        &[name.into(), Timestamp::now().millis().into()],
    )?;
    workspace(&row)
}

pub(crate) fn list_workspaces(db: &mut dyn Db) -> Result<Vec<Workspace>, StoreError> {
    db.query(
        "SELECT id, name, created_at FROM workspaces ORDER BY id",
        &[],
    )?
    .iter()
    .map(workspace)
    .collect()
}

pub(crate) fn create_api_token(
    db: &mut dyn Db,
    ws: WorkspaceId,
    name: &str,
    role: Role,
    token_hash: &str,
) -> Result<(), StoreError> {
    create_api_token_expiring(db, ws, name, role, token_hash, None).map(|_| ())
}

const TOKEN_COLUMNS: &str = "id, name, role, created_at, expires_at, last_used_at";

fn token_info(row: &Row) -> Result<ApiTokenInfo, StoreError> {
    Ok(ApiTokenInfo {
        id: row.int(0)?,
        name: row.text(1)?,
        role: role(&row.text(2)?)?,
        created_at: Timestamp(row.int(3)?),
        expires_at: row.opt_int(4)?.map(Timestamp),
        last_used_at: row.opt_int(5)?.map(Timestamp),
    })
}

pub(crate) fn create_api_token_expiring(
    db: &mut dyn Db,
    ws: WorkspaceId,
    name: &str,
    role: Role,
    token_hash: &str,
    expires_at: Option<Timestamp>,
) -> Result<ApiTokenInfo, StoreError> {
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    let row = db.query_one(
        &format!(
            "INSERT INTO api_tokens (workspace_id, name, role, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        ),
        &[
            ws.0.into(),
            name.into(),
            role.as_str().into(),
            token_hash.into(),
            Timestamp::now().millis().into(),
            expires_at.map(|t| t.millis()).into(),
        ],
    )?;
    token_info(&row)
}

pub(crate) fn list_api_tokens(
    db: &mut dyn Db,
    ws: WorkspaceId,
) -> Result<Vec<ApiTokenInfo>, StoreError> {
    db.query(
        &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE workspace_id = $1 ORDER BY id"),
        &[ws.0.into()],
    )?
    .iter()
    .map(token_info)
    .collect()
}

pub(crate) fn revoke_api_token(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: i64,
) -> Result<(), StoreError> {
    let n = db.execute(
        "DELETE FROM api_tokens WHERE id = $1 AND workspace_id = $2",
        &[id.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn touch_api_token(
    db: &mut dyn Db,
    token_hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1",
        &[token_hash.into(), now.millis().into()],
    )?;
    Ok(())
}

pub(crate) fn find_api_token(
    db: &mut dyn Db,
    token_hash: &str,
) -> Result<Option<Principal>, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT t.workspace_id, t.role, w.status FROM api_tokens t \
         JOIN workspaces w ON w.id = t.workspace_id \
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        &[token_hash.into(), Timestamp::now().millis().into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        workspace_id: WorkspaceId(row.int(0)?),
        role: role(&row.text(1)?)?,
        user_id: None,
        suspended: row.text(2)? != "active",
    }))
}

const USER_COLUMNS: &str = "id, workspace_id, email, name, role, password_hash, created_at, disabled_at, avatar_key, \
     language";

fn user(row: &Row) -> Result<StoredUser, StoreError> {
    Ok(StoredUser {
        id: UserId(row.int(0)?),
        workspace_id: WorkspaceId(row.int(1)?),
        email: row.text(2)?,
        name: row.text(3)?,
        role: role(&row.text(4)?)?,
        password_hash: row.text(5)?,
        created_at: Timestamp(row.int(6)?),
        disabled_at: row.opt_int(7)?.map(Timestamp),
        avatar_key: row.opt_text(8)?,
        language: row.opt_text(9)?,
    })
}

pub(crate) fn create_user(
    db: &mut dyn Db,
    ws: WorkspaceId,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<StoredUser, StoreError> {
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    crate::operator::check_quota(db, ws, crate::operator::QuotaKind::Agents)?;
    let email = email.trim().to_lowercase();
    if db
        .query_opt(
            "SELECT id FROM users WHERE workspace_id = $1 AND email = $2",
            &[ws.0.into(), email.clone().into()],
        )?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "a user with email {email} exists"
        )));
    }
    let row = db.query_one(
        &format!(
            "INSERT INTO users (workspace_id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        ),
        &[
            ws.0.into(),
            email.into(),
            name.into(),
            role.as_str().into(),
            password_hash.into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    user(&row)
}

pub(crate) fn find_user_by_email(
    db: &mut dyn Db,
    email: &str,
) -> Result<Option<StoredUser>, StoreError> {
    db.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 ORDER BY id LIMIT 1"),
        &[email.trim().to_lowercase().into()],
    )?
    .as_ref()
    .map(user)
    .transpose()
}

/// At most this many users with one email are considered by a login that
/// names no workspace.
pub(crate) const MAX_LOGIN_CANDIDATES: i64 = 8;

pub(crate) fn find_login_users(
    db: &mut dyn Db,
    email: &str,
    ws: Option<WorkspaceId>,
) -> Result<Vec<StoredUser>, StoreError> {
    let email = email.trim().to_lowercase();
    let rows = match ws {
        Some(ws) => db.query(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND email = $2"),
            &[ws.0.into(), email.into()],
        )?,
        None => db.query(
            &format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = $1 ORDER BY id LIMIT {MAX_LOGIN_CANDIDATES}"
            ),
            &[email.into()],
        )?,
    };
    rows.iter().map(user).collect()
}

pub(crate) fn list_users(db: &mut dyn Db, ws: WorkspaceId) -> Result<Vec<StoredUser>, StoreError> {
    db.query(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 ORDER BY id"),
        &[ws.0.into()],
    )?
    .iter()
    .map(user)
    .collect()
}

/// Ends every session of a user of the workspace but `keep` (a session
/// hash); returns how many ended.
pub(crate) fn end_user_sessions(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    keep: Option<&str>,
) -> Result<u64, StoreError> {
    db.execute(
        "DELETE FROM sessions WHERE user_id = $1 AND workspace_id = $2 \
         AND token_hash <> $3",
        &[id.0.into(), ws.0.into(), keep.unwrap_or("").into()],
    )
}

pub(crate) fn set_user_disabled(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    disabled: bool,
) -> Result<(StoredUser, Vec<Change>), StoreError> {
    let row = if disabled {
        db.query_one(
            &format!(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, $3) \
                 WHERE id = $1 AND workspace_id = $2 RETURNING {USER_COLUMNS}"
            ),
            &[id.0.into(), ws.0.into(), Timestamp::now().millis().into()],
        )?
    } else {
        db.query_one(
            &format!(
                "UPDATE users SET disabled_at = NULL \
                 WHERE id = $1 AND workspace_id = $2 RETURNING {USER_COLUMNS}"
            ),
            &[id.0.into(), ws.0.into()],
        )?
    };
    let mut changes = Vec::new();
    if disabled {
        end_user_sessions(db, ws, id, None)?;
        changes = crate::assignment::release_agent(db, ws, id, Timestamp::now())?;
    }
    Ok((user(&row)?, changes))
}

pub(crate) fn set_user_password(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<(), StoreError> {
    let n = db.execute(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into(), password_hash.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    end_user_sessions(db, ws, id, keep_session)?;
    Ok(())
}

/// Deletes an agent: their sessions, personal quick replies and mentions
/// go with them, their conversations return to the queue, and messages
/// they wrote lose the author (a later user must not inherit the id's
/// history, as SQLite may reuse the id).
pub(crate) fn delete_user(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
) -> Result<Vec<Change>, StoreError> {
    get_user(db, ws, id)?;
    end_user_sessions(db, ws, id, None)?;
    let changes = crate::assignment::release_agent(db, ws, id, Timestamp::now())?;
    for sql in [
        "DELETE FROM quick_replies WHERE workspace_id = $1 AND owner_user_id = $2",
        "DELETE FROM mentions WHERE workspace_id = $1 AND user_id = $2",
        "UPDATE messages SET author_id = NULL WHERE workspace_id = $1 AND author_id = $2",
    ] {
        db.execute(sql, &[ws.0.into(), id.0.into()])?;
    }
    let n = db.execute(
        "DELETE FROM users WHERE id = $1 AND workspace_id = $2",
        &[id.0.into(), ws.0.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(changes)
}

pub(crate) fn get_user(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
) -> Result<StoredUser, StoreError> {
    user(&db.query_one(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND workspace_id = $2"),
        &[id.0.into(), ws.0.into()],
    )?)
}

pub(crate) fn create_session(
    db: &mut dyn Db,
    user: &StoredUser,
    token_hash: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    // Sweep this user's expired sessions while we are here.
    db.execute(
        "DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2",
        &[user.id.0.into(), Timestamp::now().millis().into()],
    )?;
    db.execute(
        "INSERT INTO sessions (token_hash, user_id, workspace_id, expires_at) \
         VALUES ($1, $2, $3, $4)",
        &[
            token_hash.into(),
            user.id.0.into(),
            user.workspace_id.0.into(),
            expires_at.millis().into(),
        ],
    )?;
    Ok(())
}

pub(crate) fn find_session(
    db: &mut dyn Db,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Principal>, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT s.workspace_id, u.role, u.id, w.status FROM sessions s \
         JOIN users u ON u.id = s.user_id JOIN workspaces w ON w.id = s.workspace_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        &[token_hash.into(), now.millis().into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        workspace_id: WorkspaceId(row.int(0)?),
        role: role(&row.text(1)?)?,
        user_id: Some(UserId(row.int(2)?)),
        suspended: row.text(3)? != "active",
    }))
}

pub(crate) fn delete_session(db: &mut dyn Db, token_hash: &str) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM sessions WHERE token_hash = $1",
        &[token_hash.into()],
    )?;
    Ok(())
}

/// What an admin changes about an agent; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub disabled: Option<bool>,
    pub role: Option<Role>,
    pub name: Option<String>,
}

/// Refuses a change that would leave the workspace without an enabled
/// admin: `last_admin`. The workspace's admins are locked first on
/// PostgreSQL, so two admins demoting each other at once cannot both pass.
fn keep_an_admin(db: &mut dyn Db, ws: WorkspaceId, id: UserId) -> Result<(), StoreError> {
    let lock = match db.dialect() {
        crate::db::Dialect::Postgres => " FOR UPDATE",
        crate::db::Dialect::Sqlite => "",
    };
    let admins = db.query(
        &format!(
            "SELECT id FROM users WHERE workspace_id = $1 AND role = 'admin' \
             AND disabled_at IS NULL ORDER BY id{lock}"
        ),
        &[ws.0.into()],
    )?;
    let others = admins
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|&a| a != id.0)
        .count();
    let target_is_admin = admins.iter().any(|r| r.int(0).ok() == Some(id.0));
    if target_is_admin && others == 0 {
        return Err(StoreError::Refused {
            code: "last_admin",
            detail: "this is the workspace's last enabled admin; make another user admin first"
                .into(),
        });
    }
    Ok(())
}

/// Changes an agent's role, name and whether they are disabled, in one
/// transaction; disabling ends their sessions and returns their
/// conversations to the queue. Refused `last_admin` when no enabled admin
/// would be left.
pub(crate) fn update_user(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    update: &UserUpdate,
) -> Result<(StoredUser, Vec<Change>), StoreError> {
    get_user(db, ws, id)?;
    if update.disabled == Some(true) || update.role == Some(Role::Agent) {
        keep_an_admin(db, ws, id)?;
    }
    if let Some(role) = update.role {
        db.execute(
            "UPDATE users SET role = $1 WHERE id = $2 AND workspace_id = $3",
            &[role.as_str().into(), id.0.into(), ws.0.into()],
        )?;
    }
    if let Some(name) = &update.name {
        db.execute(
            "UPDATE users SET name = $1 WHERE id = $2 AND workspace_id = $3",
            &[name.clone().into(), id.0.into(), ws.0.into()],
        )?;
    }
    match update.disabled {
        Some(disabled) => set_user_disabled(db, ws, id, disabled),
        None => Ok((get_user(db, ws, id)?, Vec::new())),
    }
}

/// Refuses deleting the workspace's last enabled admin (`last_admin`).
pub(crate) fn check_user_deletable(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
) -> Result<(), StoreError> {
    get_user(db, ws, id)?;
    keep_an_admin(db, ws, id)
}

/// A user's own profile change; `None` keeps a field, `Some(None)` clears
/// the avatar or the language.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub avatar_key: Option<Option<String>>,
    pub language: Option<Option<String>>,
}

/// Content types an avatar may have: images the browser shows inline.
pub const AVATAR_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Changes the caller's own name, avatar (an image uploaded to this
/// workspace, else refused `invalid_avatar`) and language.
pub(crate) fn update_profile(
    db: &mut dyn Db,
    ws: WorkspaceId,
    id: UserId,
    update: &ProfileUpdate,
) -> Result<StoredUser, StoreError> {
    get_user(db, ws, id)?;
    if let Some(Some(key)) = &update.avatar_key {
        let content_type = db
            .query_opt(
                "SELECT content_type FROM media WHERE key = $1 AND workspace_id = $2",
                &[key.clone().into(), ws.0.into()],
            )?
            .map(|r| r.text(0))
            .transpose()?;
        match content_type {
            Some(t) if AVATAR_TYPES.contains(&t.as_str()) => {}
            Some(t) => {
                return Err(StoreError::Refused {
                    code: "invalid_avatar",
                    detail: format!("an avatar must be a PNG, JPEG, GIF or WebP image, not {t}"),
                });
            }
            None => {
                return Err(StoreError::Refused {
                    code: "invalid_avatar",
                    detail: "no upload of this workspace has this key".into(),
                });
            }
        }
    }
    if let Some(name) = &update.name {
        db.execute(
            "UPDATE users SET name = $1 WHERE id = $2",
            &[name.clone().into(), id.0.into()],
        )?;
    }
    if let Some(key) = &update.avatar_key {
        db.execute(
            "UPDATE users SET avatar_key = $1 WHERE id = $2",
            &[key.clone().into(), id.0.into()],
        )?;
    }
    if let Some(language) = &update.language {
        db.execute(
            "UPDATE users SET language = $1 WHERE id = $2",
            &[language.clone().into(), id.0.into()],
        )?;
    }
    get_user(db, ws, id)
}
