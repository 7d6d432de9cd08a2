//! Fan-group join requests and members, as the platform's pushes report
//! them (Douyin `enter_group_audit_change` and `group_fans_event`). Written
//! in the ingest transaction of the push; deduplicated by unique indexes, so
//! a replayed push changes nothing, and guarded so a late push cannot undo a
//! newer state: a decided request is never reopened, and membership moves
//! only with a push dated at least as late as the one that set it.

use imhub_core::{
    AccountId, ChannelId, ContactId, Timestamp, WorkspaceId, channel::JoinRequestStatus,
};

use crate::{
    StoreError,
    db::{Db, Row},
};

/// One join request as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJoinRequest {
    pub group_id: String,
    pub request_id: String,
    pub applicant_id: Option<ContactId>,
    pub applicant_name: Option<String>,
    pub applicant_avatar: Option<String>,
    pub status: JoinRequestStatus,
    pub requested_at: Timestamp,
}

/// One member of a group as kept; `joined` is false once the member left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroupMember {
    pub group_id: String,
    pub member_external_id: String,
    pub contact_id: Option<ContactId>,
    pub joined: bool,
    pub changed_at: Timestamp,
}

/// Who asked to join: the contact and what the push said about them.
pub(crate) struct Applicant {
    pub contact: Option<ContactId>,
    pub name: Option<String>,
    pub avatar: Option<String>,
}

/// Records a join request or its decision; returns whether anything changed.
/// A pending request that is already known is left alone; a decision moves
/// a pending request on, and a decided request stays as it was decided.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_join_request(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: ChannelId,
    account: AccountId,
    group_id: &str,
    request_id: &str,
    applicant: Applicant,
    status: JoinRequestStatus,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let changed = db.execute(
        "INSERT INTO group_join_requests (workspace_id, channel_id, account_id, group_id, \
           request_id, applicant_id, applicant_name, applicant_avatar, status, requested_at, \
           updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (channel_id, request_id) DO UPDATE SET \
           status = excluded.status, \
           applicant_id = COALESCE(group_join_requests.applicant_id, excluded.applicant_id), \
           applicant_name = COALESCE(excluded.applicant_name, group_join_requests.applicant_name), \
           applicant_avatar = COALESCE(excluded.applicant_avatar, group_join_requests.applicant_avatar), \
           updated_at = excluded.updated_at \
         WHERE group_join_requests.status = 'pending' AND excluded.status <> 'pending'",
        &[
            ws.0.into(),
            channel.0.into(),
            account.0.into(),
            group_id.into(),
            request_id.into(),
            applicant.contact.map(|c| c.0).into(),
            applicant.name.into(),
            applicant.avatar.into(),
            status.as_str().into(),
            at.millis().into(),
            Timestamp::now().millis().into(),
        ],
    )?;
    Ok(changed > 0)
}

/// Records that a member joined or left; returns whether anything changed.
/// The same state again, or a push older than the one that set the current
/// state, changes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_membership(
    db: &mut dyn Db,
    ws: WorkspaceId,
    channel: ChannelId,
    account: AccountId,
    group_id: &str,
    member_external_id: &str,
    contact: Option<ContactId>,
    joined: bool,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let state = if joined { "member" } else { "left" };
    let changed = db.execute(
        "INSERT INTO group_members (workspace_id, channel_id, account_id, group_id, \
           member_external_id, contact_id, state, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (channel_id, group_id, member_external_id) DO UPDATE SET \
           state = excluded.state, changed_at = excluded.changed_at, \
           contact_id = COALESCE(group_members.contact_id, excluded.contact_id) \
         WHERE group_members.state <> excluded.state \
           AND excluded.changed_at >= group_members.changed_at",
        &[
            ws.0.into(),
            channel.0.into(),
            account.0.into(),
            group_id.into(),
            member_external_id.into(),
            contact.map(|c| c.0).into(),
            state.into(),
            at.millis().into(),
        ],
    )?;
    Ok(changed > 0)
}

/// The join requests to an account's groups (one group, or all), oldest first.
pub fn list_join_requests(
    db: &mut dyn Db,
    ws: WorkspaceId,
    account: AccountId,
    group_id: Option<&str>,
) -> Result<Vec<StoredJoinRequest>, StoreError> {
    db.query(
        "SELECT group_id, request_id, applicant_id, applicant_name, applicant_avatar, status, \
           requested_at FROM group_join_requests \
         WHERE workspace_id = $1 AND account_id = $2 \
           AND (CAST($3 AS TEXT) IS NULL OR group_id = $3) \
         ORDER BY requested_at, id",
        &[ws.0.into(), account.0.into(), group_id.into()],
    )?
    .iter()
    .map(|row: &Row| {
        let status = row.text(5)?;
        Ok(StoredJoinRequest {
            group_id: row.text(0)?,
            request_id: row.text(1)?,
            applicant_id: row.opt_int(2)?.map(ContactId),
            applicant_name: row.opt_text(3)?,
            applicant_avatar: row.opt_text(4)?,
            status: JoinRequestStatus::parse(&status).ok_or_else(|| {
                StoreError::Database(format!("unknown join request status {status:?}"))
            })?,
            requested_at: Timestamp(row.int(6)?),
        })
    })
    .collect()
}

/// Everyone who ever joined one of an account's groups, with whether they
/// are still in it.
pub fn list_group_members(
    db: &mut dyn Db,
    ws: WorkspaceId,
    account: AccountId,
    group_id: &str,
) -> Result<Vec<StoredGroupMember>, StoreError> {
    db.query(
        "SELECT group_id, member_external_id, contact_id, state, changed_at FROM group_members \
         WHERE workspace_id = $1 AND account_id = $2 AND group_id = $3 \
         ORDER BY member_external_id",
        &[ws.0.into(), account.0.into(), group_id.into()],
    )?
    .iter()
    .map(|row: &Row| {
        Ok(StoredGroupMember {
            group_id: row.text(0)?,
            member_external_id: row.text(1)?,
            contact_id: row.opt_int(2)?.map(ContactId),
            joined: row.text(3)? == "member",
            changed_at: Timestamp(row.int(4)?),
        })
    })
    .collect()
}
