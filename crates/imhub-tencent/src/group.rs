//! Group (群聊) REST bodies: `create_group`, `send_group_msg`,
//! `group_msg_recall`, `group_msg_get_simple` (reference §5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::elements::{MsgElement, OfflinePushInfo, parse_msg_body};

/// Most initial members `create_group` takes (more → 10005).
pub const CREATE_GROUP_MAX_MEMBERS: usize = 100;
/// Most targeted receivers in one `send_group_msg`.
pub const SEND_GROUP_MSG_MAX_TO_ACCOUNT: usize = 50;
/// Most seqs one `group_msg_recall` takes.
pub const GROUP_RECALL_MAX_SEQS: usize = 10;
/// Most messages one `group_msg_get_simple` page returns.
pub const GROUP_HISTORY_MAX_PAGE: u32 = 20;
/// Messages per second one group accepts (all group types).
pub const GROUP_SEND_RATE_PER_GROUP: u32 = 40;

/// A `{Key, Value}` pair of app-defined group data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// One initial member of `create_group`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupMember {
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// Only `Admin` is accepted.
    #[serde(rename = "Role", skip_serializing_if = "Option::is_none", default)]
    pub role: Option<String>,
    #[serde(
        rename = "AppMemberDefinedData",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub app_member_defined_data: Vec<KeyValue>,
}

/// `create_group` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateGroupRequest {
    /// `Private`, `Public`, `ChatRoom`, `AVChatRoom` or `Community`.
    #[serde(rename = "Type")]
    pub group_type: String,
    /// At most 30 bytes of UTF-8.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(
        rename = "Owner_Account",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub owner_account: Option<String>,
    #[serde(rename = "GroupId", skip_serializing_if = "Option::is_none", default)]
    pub group_id: Option<String>,
    #[serde(
        rename = "Introduction",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub introduction: Option<String>,
    #[serde(
        rename = "Notification",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub notification: Option<String>,
    #[serde(rename = "FaceUrl", skip_serializing_if = "Option::is_none", default)]
    pub face_url: Option<String>,
    #[serde(
        rename = "MaxMemberCount",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub max_member_count: Option<u32>,
    /// `FreeAccess`, `NeedPermission` (default) or `DisableApply`.
    #[serde(
        rename = "ApplyJoinOption",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub apply_join_option: Option<String>,
    #[serde(
        rename = "AppDefinedData",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub app_defined_data: Vec<KeyValue>,
    #[serde(rename = "MemberList", skip_serializing_if = "Vec::is_empty", default)]
    pub member_list: Vec<GroupMember>,
    #[serde(
        rename = "SupportTopic",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub support_topic: Option<u8>,
}

/// `create_group` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateGroupResponse {
    #[serde(rename = "GroupId", default)]
    pub group_id: String,
}

/// An @-mention in `send_group_msg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAtInfo {
    /// 1 = @all, 0 = one member.
    #[serde(rename = "GroupAtAllFlag")]
    pub group_at_all_flag: u8,
    #[serde(
        rename = "GroupAt_Account",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub group_at_account: Option<String>,
}

/// `send_group_msg` request, every documented field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SendGroupMsgRequest {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// Same content + same Random within 5 minutes is dropped as a duplicate.
    #[serde(rename = "Random")]
    pub random: u32,
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    #[serde(
        rename = "From_Account",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub from_account: Option<String>,
    /// `High`, `Normal` or `Low` (case-sensitive).
    #[serde(
        rename = "MsgPriority",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub msg_priority: Option<String>,
    #[serde(
        rename = "OfflinePushInfo",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub offline_push_info: Option<OfflinePushInfo>,
    #[serde(
        rename = "ForbidCallbackControl",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub forbid_callback_control: Vec<String>,
    #[serde(
        rename = "OnlineOnlyFlag",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub online_only_flag: Option<u8>,
    #[serde(
        rename = "SendMsgControl",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub send_msg_control: Vec<String>,
    #[serde(
        rename = "CloudCustomData",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub cloud_custom_data: Option<String>,
    #[serde(
        rename = "SupportMessageExtension",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub support_message_extension: Option<u8>,
    #[serde(rename = "To_Account", skip_serializing_if = "Vec::is_empty", default)]
    pub to_account: Vec<String>,
    #[serde(rename = "GroupAtInfo", skip_serializing_if = "Vec::is_empty", default)]
    pub group_at_info: Vec<GroupAtInfo>,
    #[serde(rename = "TopicId", skip_serializing_if = "Option::is_none", default)]
    pub topic_id: Option<String>,
}

/// `send_group_msg` answer; `MsgSeq` is what recall needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendGroupMsgResponse {
    #[serde(rename = "MsgTime", default)]
    pub msg_time: i64,
    #[serde(rename = "MsgSeq", default)]
    pub msg_seq: u64,
    #[serde(rename = "MsgDropReason", default)]
    pub msg_drop_reason: String,
}

/// One `{ "MsgSeq": n }` of a recall list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgSeqItem {
    #[serde(rename = "MsgSeq")]
    pub msg_seq: u64,
}

/// `group_msg_recall` request (at most 10 seqs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupMsgRecallRequest {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "MsgSeqList")]
    pub msg_seq_list: Vec<MsgSeqItem>,
    #[serde(rename = "TopicId", skip_serializing_if = "Option::is_none", default)]
    pub topic_id: Option<String>,
}

/// Per-seq outcome of a group recall; `RetCode` 0 = recalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallRet {
    #[serde(rename = "MsgSeq")]
    pub msg_seq: u64,
    #[serde(rename = "RetCode")]
    pub ret_code: i64,
}

/// `group_msg_recall` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupMsgRecallResponse {
    #[serde(rename = "RecallRetList", default)]
    pub recall_ret_list: Vec<RecallRet>,
}

/// `group_msg_get_simple` request; page with `ReqMsgSeq` = smallest seq − 1.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleRequest {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// At most 20.
    #[serde(rename = "ReqMsgNumber")]
    pub req_msg_number: u32,
    #[serde(rename = "ReqMsgSeq", skip_serializing_if = "Option::is_none", default)]
    pub req_msg_seq: Option<u64>,
    #[serde(
        rename = "WithRecalledMsg",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub with_recalled_msg: Option<u8>,
    #[serde(rename = "TopicId", skip_serializing_if = "Option::is_none", default)]
    pub topic_id: Option<String>,
}

/// One group history message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupMsg {
    #[serde(rename = "From_Account", default)]
    pub from_account: String,
    /// 0 normal; 1 deleted/expired; 2 recalled.
    #[serde(rename = "IsPlaceMsg", default)]
    pub is_place_msg: i64,
    #[serde(rename = "MsgPriority", default)]
    pub msg_priority: i64,
    #[serde(rename = "MsgRandom", default)]
    pub msg_random: i64,
    #[serde(rename = "MsgSeq", default)]
    pub msg_seq: u64,
    #[serde(rename = "MsgTimeStamp", default)]
    pub msg_time_stamp: i64,
    #[serde(rename = "MsgBody", default)]
    pub msg_body: Value,
    #[serde(rename = "IsSystemMsg", default)]
    pub is_system_msg: i64,
}

impl GroupMsg {
    /// The typed elements of the body.
    pub fn elements(&self) -> Vec<MsgElement> {
        parse_msg_body(&self.msg_body)
    }
}

/// `group_msg_get_simple` answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleResponse {
    #[serde(rename = "GroupId", default)]
    pub group_id: String,
    /// 1: whole range returned; 0: more; 2: the rest expired.
    #[serde(rename = "IsFinished", default)]
    pub is_finished: i64,
    #[serde(rename = "RspMsgList", default)]
    pub rsp_msg_list: Vec<GroupMsg>,
}
