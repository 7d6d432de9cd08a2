//! Group messages and fan groups (粉丝群, reference §5): what the seed's Go
//! `DouYinIMGroupClient` offers — Send, Recall, Count, Create, FanList,
//! SetGroupSetting, DisableGroupSetting, GetUserEnterAudit, SetUserEnterAudit.

use serde::{Deserialize, Serialize};

use crate::{
    client::{DouyinClient, UserAuth},
    envelope::{ErrNoResponse, Extra, de_i64, de_opt_i64, de_string},
    errors::DouyinError,
    messages::{
        MessageContent, RECALL_MSG_PATH, RecallMessageRequest, SendMessageResponse,
        conversation_type, msg_type,
    },
};

/// `POST /im/send/msg/group/?open_id=`
pub const GROUP_SEND_PATH: &str = "/im/send/msg/group/";
/// `GET /im/group/fans/count/` (one SDK says `/im/group/count/`; the sandbox 404s it).
pub const FANS_COUNT_PATH: &str = "/im/group/fans/count/";
/// `POST /im/group/fans/create/`
pub const FANS_CREATE_PATH: &str = "/im/group/fans/create/";
/// `GET /im/group/fans/list/`
pub const FANS_LIST_PATH: &str = "/im/group/fans/list/";
/// `POST /im/group/setting/set/` (envelope C)
pub const SETTING_SET_PATH: &str = "/im/group/setting/set/";
/// `POST /im/group/setting/disable/` (envelope C)
pub const SETTING_DISABLE_PATH: &str = "/im/group/setting/disable/";
/// `GET /im/group/enter/audit/get/`
pub const AUDIT_GET_PATH: &str = "/im/group/enter/audit/get/";
/// `POST /im/group/enter/audit/set/`
pub const AUDIT_SET_PATH: &str = "/im/group/enter/audit/set/";

/// `msg_type`s a group send may carry (§5.1).
pub const GROUP_MSG_TYPES: &[i64] = &[
    msg_type::TEXT,
    msg_type::IMAGE,
    msg_type::VIDEO,
    msg_type::RETAIN_CONSULT_CARD,
    msg_type::APPLET_CARD,
];
/// `msg_type`s a greeting/announcement may carry (§5.3).
pub const GROUP_SETTING_MSG_TYPES: &[i64] = &[
    msg_type::TEXT,
    msg_type::APPLET_CARD,
    msg_type::APPLET_COUPON,
];
/// Page size bounds of the join-request list.
pub const AUDIT_PAGE_MAX: u32 = 50;

/// Body of a group send. We send `group_id` only: the two ids are documented
/// as either-or and `group_token`'s provenance is undocumented.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupSendRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_token: Option<String>,
    pub content: MessageContent,
}

impl GroupSendRequest {
    /// A message to the group `group_id`.
    pub fn to_group(group_id: impl Into<String>, content: MessageContent) -> Self {
        GroupSendRequest {
            group_id: Some(group_id.into()),
            group_token: None,
            content,
        }
    }
}

/// Answer of Count: remaining fan-group creation quota.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FansCountResponse {
    #[serde(default, deserialize_with = "de_i64")]
    pub left_count: i64,
    #[serde(default)]
    pub extra: Extra,
}

/// Body of Create. Only the fields that are set are sent: the documented
/// minimal body (R-SKIT's doc-copied sample) carries no `group_type` and no
/// thresholds, so a zero default would ask for something the merchant never
/// chose (`group_type: 0` is not a group type at all). Flags are integers
/// 1/0 on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateFansGroupRequest {
    /// Avatar: an https URL in one source, an uploaded `image_id` in another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The group's name; required.
    pub group_name: String,
    /// 0 none, 1 must be an active fan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_fans: Option<i64>,
    /// 1 members may invite friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_invite: Option<i64>,
    /// Fan-club level threshold: 0, 1, 3, 5, 9, 12, 15, 17, 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fans_limit: Option<i64>,
    /// 2 主播粉丝群, 5 万粉群 ([`FANS_GROUP_TYPES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_auto_sync: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_auto_sync: Option<i64>,
    /// 1 joining needs approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_audit_switch: Option<i64>,
    /// 0 none, 1 follower, 7/30/60 following for more than N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_at_profile: Option<i64>,
}

/// `group_type` values of Create: 2 主播粉丝群, 5 万粉群 (reference §5.3).
pub const FANS_GROUP_TYPES: &[i64] = &[2, 5];

impl CreateFansGroupRequest {
    /// A request with only the (required) name set.
    pub fn named(group_name: impl Into<String>) -> Self {
        CreateFansGroupRequest {
            group_name: group_name.into(),
            ..Default::default()
        }
    }

    /// Refuses what the platform documents as invalid before sending.
    pub fn validate(&self) -> Result<(), DouyinError> {
        if self.group_name.trim().is_empty() {
            return Err(DouyinError::InvalidRequest(
                "group_name must not be empty".into(),
            ));
        }
        if let Some(t) = self.group_type
            && !FANS_GROUP_TYPES.contains(&t)
        {
            return Err(DouyinError::InvalidRequest(format!(
                "group_type must be 2 (主播粉丝群) or 5 (万粉群), not {t}"
            )));
        }
        Ok(())
    }
}

/// Answer of Create.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateFansGroupResponse {
    #[serde(default)]
    pub group_id: String,
    #[serde(default)]
    pub extra: Extra,
}

/// One fan group in FanList.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FansGroup {
    #[serde(default)]
    pub group_id: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub avatar_uri: String,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub group_type: Option<i64>,
    /// `Normal`, `Ban`, `Full`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub entry_limit: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub exist_num: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub max_num: Option<i64>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Answer of FanList.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FansGroupListResponse {
    #[serde(default)]
    pub group_list: Vec<FansGroup>,
    #[serde(default)]
    pub extra: Extra,
}

/// `group_setting_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSettingType {
    /// 1 进群问候语
    Welcome = 1,
    /// 2 群公告
    Notice = 2,
}

/// Body of SetGroupSetting (we send `group_id`; one SDK omits it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetGroupSettingRequest {
    pub group_id: String,
    pub group_setting_type: i64,
    pub msg_list: Vec<MessageContent>,
}

/// Body of DisableGroupSetting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisableGroupSettingRequest {
    pub group_id: String,
    pub group_setting_type: i64,
}

/// One join request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EnterApply {
    #[serde(default, deserialize_with = "de_string")]
    pub apply_id: String,
    /// 1 pending, 2 approved, 3 rejected.
    #[serde(default, deserialize_with = "de_i64")]
    pub apply_status: i64,
    /// Milliseconds.
    #[serde(default, deserialize_with = "de_i64")]
    pub create_time: i64,
    #[serde(default)]
    pub group_id: String,
    /// The applicant's open_id.
    #[serde(default)]
    pub user_id: String,
}

/// `apply_list` of GetUserEnterAudit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApplyList {
    #[serde(default, deserialize_with = "de_i64")]
    pub cursor: i64,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub list: Vec<EnterApply>,
}

/// Answer of GetUserEnterAudit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EnterAuditResponse {
    #[serde(default)]
    pub apply_list: ApplyList,
    #[serde(default)]
    pub extra: Extra,
}

/// Decision on a join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDecision {
    /// status 2
    Approve = 2,
    /// status 3
    Reject = 3,
}

#[derive(Serialize)]
struct AuditSetBody<'a> {
    apply_id: &'a str,
    status: i64,
}

/// Answer of SetUserEnterAudit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EnterAuditSetResponse {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub extra: Extra,
}

impl DouyinClient {
    /// Sends a group message (scope `im.group_message`); only text, image,
    /// video, lead card and guide card are accepted in groups.
    pub async fn send_group_message(
        &self,
        auth: &UserAuth,
        req: &GroupSendRequest,
    ) -> Result<SendMessageResponse, DouyinError> {
        if req.group_id.is_none() && req.group_token.is_none() {
            return Err(DouyinError::InvalidRequest(
                "group_id or group_token is required".into(),
            ));
        }
        if !GROUP_MSG_TYPES.contains(&req.content.msg_type) || !req.content.is_well_formed() {
            return Err(DouyinError::InvalidRequest(format!(
                "msg_type {} cannot be sent to a group",
                req.content.msg_type
            )));
        }
        self.post_user(GROUP_SEND_PATH, auth, &[], req).await
    }

    /// Recalls a group message (`/im/recall/msg/` with conversation_type 2).
    pub async fn recall_group_message(
        &self,
        auth: &UserAuth,
        group_id: &str,
        msg_id: &str,
    ) -> Result<ErrNoResponse, DouyinError> {
        let req = RecallMessageRequest {
            conversation_id: group_id.to_string(),
            conversation_type: conversation_type::GROUP,
            msg_id: msg_id.to_string(),
        };
        self.post_user(RECALL_MSG_PATH, auth, &[], &req).await
    }

    /// Count: the remaining fan-group creation quota.
    pub async fn fans_group_count(
        &self,
        auth: &UserAuth,
    ) -> Result<FansCountResponse, DouyinError> {
        self.get_user(FANS_COUNT_PATH, auth, &[]).await
    }

    /// Create: a new fan group; 28003017 when the quota is used up.
    pub async fn create_fans_group(
        &self,
        auth: &UserAuth,
        req: &CreateFansGroupRequest,
    ) -> Result<CreateFansGroupResponse, DouyinError> {
        req.validate()?;
        self.post_user(FANS_CREATE_PATH, auth, &[], req).await
    }

    /// FanList: the account's fan groups.
    pub async fn list_fans_groups(
        &self,
        auth: &UserAuth,
    ) -> Result<FansGroupListResponse, DouyinError> {
        self.get_user(FANS_LIST_PATH, auth, &[]).await
    }

    /// SetGroupSetting: the welcome message or announcement (text, guide card, coupon).
    pub async fn set_group_setting(
        &self,
        auth: &UserAuth,
        group_id: &str,
        kind: GroupSettingType,
        msg_list: Vec<MessageContent>,
    ) -> Result<ErrNoResponse, DouyinError> {
        if let Some(bad) = msg_list
            .iter()
            .find(|m| !GROUP_SETTING_MSG_TYPES.contains(&m.msg_type) || !m.is_well_formed())
        {
            return Err(DouyinError::InvalidRequest(format!(
                "msg_type {} is not allowed in a group setting",
                bad.msg_type
            )));
        }
        let req = SetGroupSettingRequest {
            group_id: group_id.to_string(),
            group_setting_type: kind as i64,
            msg_list,
        };
        self.post_user(SETTING_SET_PATH, auth, &[], &req).await
    }

    /// DisableGroupSetting: turns the welcome message or announcement off.
    pub async fn disable_group_setting(
        &self,
        auth: &UserAuth,
        group_id: &str,
        kind: GroupSettingType,
    ) -> Result<ErrNoResponse, DouyinError> {
        let req = DisableGroupSettingRequest {
            group_id: group_id.to_string(),
            group_setting_type: kind as i64,
        };
        self.post_user(SETTING_DISABLE_PATH, auth, &[], &req).await
    }

    /// GetUserEnterAudit: join requests, `cursor` 0 for the first page, `count` 1…50.
    pub async fn list_enter_audits(
        &self,
        auth: &UserAuth,
        cursor: i64,
        count: u32,
    ) -> Result<EnterAuditResponse, DouyinError> {
        if !(1..=AUDIT_PAGE_MAX).contains(&count) {
            return Err(DouyinError::InvalidRequest(
                "count must be between 1 and 50".into(),
            ));
        }
        let cursor = cursor.to_string();
        let count = count.to_string();
        self.get_user(
            AUDIT_GET_PATH,
            auth,
            &[("cursor", cursor.as_str()), ("count", count.as_str())],
        )
        .await
    }

    /// SetUserEnterAudit: approves or rejects a join request.
    pub async fn set_enter_audit(
        &self,
        auth: &UserAuth,
        apply_id: &str,
        decision: AuditDecision,
    ) -> Result<EnterAuditSetResponse, DouyinError> {
        let body = AuditSetBody {
            apply_id,
            status: decision as i64,
        };
        self.post_user(AUDIT_SET_PATH, auth, &[], &body).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fans_group_create_sends_only_the_fields_that_are_set() {
        let minimal = CreateFansGroupRequest::named("福利群");
        assert_eq!(
            serde_json::to_value(&minimal).unwrap(),
            json!({"group_name": "福利群"})
        );
        let req = CreateFansGroupRequest {
            avatar_uri: Some("https://p3.example/g.jpeg".into()),
            group_type: Some(5),
            open_audit_switch: Some(1),
            ..CreateFansGroupRequest::named("万粉群")
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"avatar_uri": "https://p3.example/g.jpeg", "group_name": "万粉群",
                   "group_type": 5, "open_audit_switch": 1})
        );
        assert!(req.validate().is_ok());
    }

    #[test]
    fn fans_group_type_other_than_2_or_5_and_empty_name_are_refused() {
        for bad in [0, 1, 3, 4, 6, -2, i64::MAX] {
            let req = CreateFansGroupRequest {
                group_type: Some(bad),
                ..CreateFansGroupRequest::named("g")
            };
            assert!(
                matches!(req.validate(), Err(DouyinError::InvalidRequest(_))),
                "{bad}"
            );
        }
        assert!(CreateFansGroupRequest::named("  ").validate().is_err());
    }
}
