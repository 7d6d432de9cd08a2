//! Workspaces, API tokens, agents and their login sessions.

use imhub_core::{Role, Timestamp, UserId, Workspace, WorkspaceId};

use crate::{
    Principal, StoreError, StoredUser,
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
    db.query_one("SELECT id FROM workspaces WHERE id = $1", &[ws.0.into()])?;
    db.execute(
        "INSERT INTO api_tokens (workspace_id, name, role, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            ws.0.into(),
            name.into(),
            role.as_str().into(),
            token_hash.into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    Ok(())
}

pub(crate) fn find_api_token(
    db: &mut dyn Db,
    token_hash: &str,
) -> Result<Option<Principal>, StoreError> {
    let Some(row) = db.query_opt(
        "SELECT workspace_id, role FROM api_tokens WHERE token_hash = $1",
        &[token_hash.into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        workspace_id: WorkspaceId(row.int(0)?),
        role: role(&row.text(1)?)?,
        user_id: None,
    }))
}

const USER_COLUMNS: &str = "id, workspace_id, email, name, role, password_hash";

fn user(row: &Row) -> Result<StoredUser, StoreError> {
    Ok(StoredUser {
        id: UserId(row.int(0)?),
        workspace_id: WorkspaceId(row.int(1)?),
        email: row.text(2)?,
        name: row.text(3)?,
        role: role(&row.text(4)?)?,
        password_hash: row.text(5)?,
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
    let email = email.trim().to_lowercase();
    if db
        .query_opt(
            "SELECT id FROM users WHERE email = $1",
            &[email.clone().into()],
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
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
        &[email.trim().to_lowercase().into()],
    )?
    .as_ref()
    .map(user)
    .transpose()
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
        "SELECT s.workspace_id, u.role, u.id FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
        &[token_hash.into(), now.millis().into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(Principal {
        workspace_id: WorkspaceId(row.int(0)?),
        role: role(&row.text(1)?)?,
        user_id: Some(UserId(row.int(2)?)),
    }))
}

pub(crate) fn delete_session(db: &mut dyn Db, token_hash: &str) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM sessions WHERE token_hash = $1",
        &[token_hash.into()],
    )?;
    Ok(())
}
